import { z } from 'zod';

/** The building blocks of the settings' schemas (see settings.ts): env text in, checked value out. */

export const MiB = 1024 * 1024;

/** Reads an integer env var; empty strings count as unset. */
export function int(min: number, max: number) {
  return z
    .string()
    .trim()
    .regex(/^-?\d+$/, { message: `must be a whole number from ${min} to ${max}` })
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(min, { message: `must be a whole number from ${min} to ${max}` })
        .max(max, { message: `must be a whole number from ${min} to ${max}` }),
    );
}

/** Reads a decimal env var (`0.5`, `30`); empty strings count as unset. */
export function decimal(min: number, max: number) {
  const message = `must be a number from ${min} to ${max}`;
  return z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, { message })
    .transform(Number)
    .pipe(z.number().min(min, { message }).max(max, { message }));
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(values, { message: `must be one of: ${values.join(', ')}` }));
}

/** A URL whose scheme is one of `protocols` (with the colon, e.g. `redis:`) and that has a host. */
export function urlWith(protocols: string[], message: string) {
  return z
    .string()
    .trim()
    .refine(
      (value) => {
        try {
          const url = new URL(value);
          return protocols.includes(url.protocol) && url.hostname !== '';
        } catch {
          return false;
        }
      },
      { message },
    );
}

export const redisUrl = urlWith(
  ['redis:', 'rediss:'],
  'must be a URL like redis://[user:password@]host:port[/db] or rediss://… for TLS',
);

/** A comma-separated list of `host:port` (Sentinels, or Redis Cluster seed nodes). */
export const hostPorts = (example: string) =>
  z
    .string()
    .trim()
    .transform((value, ctx) => {
      const nodes = value
        .split(',')
        .map((part) => part.trim())
        .filter(Boolean)
        .map((part) => {
          const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(part);
          const port = match ? Number(match[2]) : NaN;
          if (!match || port < 1 || port > 65535) {
            ctx.addIssue({
              code: 'custom',
              message: `"${part}" is not host:port; expected a comma-separated list such as ${example}`,
            });
            return { host: '', port: 0 };
          }
          return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
        });
      if (nodes.length === 0) {
        ctx.addIssue({ code: 'custom', message: 'must list at least one host:port' });
      }
      return nodes;
    });

export const sentinels = hostPorts('sentinel-0:26379,sentinel-1:26379');
export const clusterNodes = hostPorts('redis-0:6379,redis-1:6379,redis-2:6379');

export const queueName = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_.-]{1,100}$/, {
    message: 'must be 1-100 characters of letters, digits, "_", "." or "-"',
  });

export const queuePrefix = z
  .string()
  .trim()
  .regex(/^(\{[A-Za-z0-9_.-]{1,50}\}|[A-Za-z0-9_.-]{1,50})$/, {
    message:
      'must be 1-50 characters of letters, digits, "_", "." or "-", optionally in a hash tag such as {bull} for Redis Cluster',
  });

export const httpUrl = urlWith(['http:', 'https:'], 'must be an http:// or https:// URL');

export const nonEmpty = z.string().min(1, { message: 'must not be empty' });

/**
 * A bearer token: 16+ characters, and not the placeholder of k8s/base/secret.yaml — left in
 * place it would be a publicly known token that passes the length check.
 */
export const secretToken = z
  .string()
  .min(16, { message: 'must be at least 16 characters' })
  .refine((token) => !/^replace-me/i.test(token), {
    message:
      'is the placeholder of k8s/base/secret.yaml: set a long random token (openssl rand -hex 24)',
  });
