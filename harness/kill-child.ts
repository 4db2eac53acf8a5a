import type { ChildProcess } from 'node:child_process';

/**
 * SIGKILLs `child` unless it has exited already, and resolves once it has. A SIGCONT follows the
 * SIGKILL for a child a test froze with SIGSTOP (harmless for one that runs).
 */
export async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  child.kill('SIGCONT');
  await exited;
}
