// qscale's public library API: what `import … from 'qscale'` gives. Everything else is internal.
export {
  instrumentWorker,
  type InstrumentWorkerOptions,
  type WorkerInstrumentation,
} from './worker/instrument-worker.js';
