import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import getPort from 'get-port';

/**
 * Listens on `port`, or — when none is configured — on `preferred` if it is free and on any free
 * port otherwise, so a one-machine stack never collides with what already runs there.
 * Resolves with the port actually bound.
 */
export async function listen(
  server: Server,
  port: number | undefined,
  preferred: number,
  host: string,
): Promise<number> {
  server.listen(port ?? (await getPort({ port: preferred })), host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  return (server.address() as AddressInfo).port;
}

/** Stops accepting connections and resolves when the open ones are done. */
export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
