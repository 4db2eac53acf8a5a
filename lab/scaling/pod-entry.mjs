// A scaling-lab pod's container, in standby: the node has pulled the image and loaded the worker's
// code; the pod's start-up delay (image pull + container start) is the lab's stated figure, not
// however long 20 processes take to load at once on a 2-core machine. On the lab's "start"
// message (the pod's env), it runs the real `qscale worker` command: main.js's own argument
// parsing, config, Lifecycle and signal handling, with the modules it imports already loaded.
import { existsSync } from 'node:fs';
import process from 'node:process';
import { URL, fileURLToPath } from 'node:url';

const built = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const main = existsSync(built)
  ? built
  : fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const ext = main.endsWith('.ts') ? 'ts' : 'js';
const base = new URL('.', `file://${main}`);

// What `qscale worker` imports (main.js's static imports and its lazy `load.worker()`).
await Promise.all([
  import(new URL(`run-worker.${ext}`, base).href),
  import(new URL(`../supervisor/lifecycle.${ext}`, base).href),
  import(new URL(`../supervisor/private-redis.${ext}`, base).href),
  import(new URL(`terminal-status.${ext}`, base).href),
  import(new URL(`../config/load-config.${ext}`, base).href),
  import(new URL(`../config/logger.${ext}`, base).href),
  import('commander'),
]);

process.once('message', (message) => {
  // The channel stays open: `qscale worker` unrefs it and shuts down when it closes (the lab gone),
  // as it does under `qscale workers`.
  Object.assign(process.env, message.env);
  process.argv = [process.argv[0], main, 'worker'];
  void import(`file://${main}`);
});
process.send({ standby: true });
