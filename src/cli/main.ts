#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { ConfigError } from '../config/config-error.js';
import type { Config } from '../config/config.js';
import { loadConfig, type Env } from '../config/load-config.js';
import { createLogger } from '../config/logger.js';
import { Lifecycle, shutdownDeadlineMs } from '../supervisor/lifecycle.js';
import { wantsPrivateRedis, readPrivateRedisUrl } from '../supervisor/private-redis.js';
import type { KubernetesFindings } from '../doctor/doctor.js';
import { addJobsCommand } from './jobs-command.js';
import { settingOption, settingsFromFlags } from './setting-options.js';
import { TerminalStatus } from './terminal-status.js';

// Each command loads only the parts it runs (a worker needs no gRPC, no Kubernetes client, no
// Express): less memory per process and a quicker start when workers are scaled out.
const load = {
  stack: () => import('./run-stack.js'),
  app: () => import('./run-app.js'),
  worker: () => import('./run-worker.js'),
  exporter: () => import('./run-exporter.js'),
  autoscaledWorkers: () => import('./run-autoscaled-workers.js'),
  status: () => import('./status.js'),
  doctor: () => import('../doctor/doctor.js'),
  kubeConfig: () => import('../k8s/kube-config.js'),
  kubeFindings: () => import('../doctor/kubernetes/doctor-findings.js'),
};

type Flags = Partial<Record<string, string | boolean>>;

/**
 * The settings of a command: the environment, overridden by the setting flags given on its
 * command line. `qscale start` is the laptop command: without HOST or --host it listens on
 * loopback only (containers set HOST).
 */
function configFrom(command: Command | undefined, defaults: Env = {}): Config {
  const env: Env = { ...process.env };
  for (const [variable, value] of Object.entries(defaults)) {
    if (env[variable] === undefined || env[variable] === '') env[variable] = value;
  }
  return loadConfig({ ...env, ...(command ? settingsFromFlags(command) : {}) });
}

/** Without REDIS_URL, commands other than `start` use the private Redis of a running `qscale start`. */
async function withPrivateRedisUrl(config: Config): Promise<Config> {
  if (!wantsPrivateRedis(config.redis)) return config;
  const url = await readPrivateRedisUrl(config.redis.dataDir);
  return url ? { ...config, redis: { ...config.redis, url } } : config;
}

/** The local autoscaler's flags, for `start` and `workers`. */
function autoscaleOptions(command: Command): Command {
  return command
    .addOption(
      settingOption(
        'AUTOSCALE',
        'size worker processes like the KEDA scaler: up at once, down after the stabilization window, idle ones first',
      ),
    )
    .addOption(settingOption('MIN_WORKERS'))
    .addOption(settingOption('MAX_WORKERS'))
    .addOption(settingOption('AUTOSCALE_MODE'))
    .addOption(settingOption('AUTOSCALE_TARGET'));
}

/** Where to find the queue, and the log level: every command has these. */
function queueOptions(command: Command): Command {
  return command
    .addOption(settingOption('REDIS_URL'))
    .addOption(settingOption('QUEUE_NAME'))
    .addOption(settingOption('QUEUE_PREFIX'))
    .addOption(settingOption('LOG_LEVEL'));
}

const serverOptions = queueOptions;

interface DoctorFlags {
  json?: boolean;
  expectedWorkers?: string;
  maxJobAge: string;
  stuckAfter: string;
  kubeconfig?: string;
  namespace?: string;
  workerDeployment: string;
  scaledObject: string;
  exporterService: string;
}

/** A flag that must be a number ≥ 0; a bad one is a usage error (exit 2), like a bad setting. */
function positive(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) {
    throw new ConfigError([`${flag}=${JSON.stringify(value)}: must be a number ≥ 0`]);
  }
  return n;
}

/** Asks the cluster, when there is one (see src/k8s). */
async function kubernetesFindings(
  config: Config,
  flags: DoctorFlags,
): Promise<KubernetesFindings | undefined> {
  const { loadKubeConfig } = await load.kubeConfig();
  const { kubernetesDoctorFindings } = await load.kubeFindings();
  const kube = loadKubeConfig(
    process.env,
    flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {},
  );
  if (!kube) return undefined;
  const namespace = flags.namespace ?? config.kubernetes.namespace ?? kube.namespace;
  return kubernetesDoctorFindings(kube.kc, namespace, {
    workerDeployment: flags.workerDeployment,
    scaledObject: flags.scaledObject,
    exporterService: flags.exporterService,
  });
}

/**
 * Prints a one-shot command's report and exits once it is written: a connection to a Redis that
 * stopped answering may take its client library seconds to let go of, and the answer is given.
 */
function printAndExit(text: string, code: number): Promise<never> {
  return new Promise(() => {
    process.stdout.write(text, () => process.exit(code));
  });
}

/** The package's version (package.json sits two levels up, from src/cli and from dist/cli). */
function packageVersion(): string {
  const url = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
}

export function buildProgram(): Command {
  const program = new Command('qscale')
    .description('Upload API, workers and autoscaling signals for a BullMQ file-processing queue')
    .version(packageVersion())
    .showHelpAfterError();

  autoscaleOptions(serverOptions(program.command('start')))
    .description(
      'run the single-replica stack: upload API + built-in worker (+ a private redis-server when REDIS_URL is not set)',
    )
    .addOption(settingOption('PORT'))
    .addOption(settingOption('METRICS_PORT'))
    .addOption(settingOption('HOST'))
    .addOption(settingOption('WORKER_CONCURRENCY', 'jobs processed at once by the built-in worker'))
    .addOption(settingOption('UPLOAD_DIR'))
    .action(async (_flags: Flags, command: Command) => {
      const config = configFrom(command, { HOST: '127.0.0.1' });
      // In a terminal: one status line refreshing in place, logs above it; plain logs otherwise.
      const terminal = process.stdout.isTTY ? new TerminalStatus(process.stdout) : undefined;
      const logger = createLogger(config, 'start', terminal?.log, terminal !== undefined);
      const lifecycle = new Lifecycle(logger, {
        deadlineMs: shutdownDeadlineMs(config, config.autoscale.enabled),
      });
      try {
        const { runStack } = await load.stack();
        await runStack(config, logger, lifecycle, terminal);
      } catch (error) {
        await lifecycle.stop();
        throw error;
      }
    });

  serverOptions(program.command('app'))
    .description('run the upload API only (scale it out: it is stateless)')
    .addOption(settingOption('PORT'))
    .addOption(settingOption('HOST'))
    .addOption(settingOption('UPLOAD_DIR'))
    .action(async (_flags: Flags, command: Command) => {
      const config = await withPrivateRedisUrl(configFrom(command));
      const logger = createLogger(config, 'app');
      const { runApp } = await load.app();
      await new Lifecycle(logger, { deadlineMs: shutdownDeadlineMs(config) }).start(() =>
        runApp(config, logger),
      );
    });

  serverOptions(program.command('worker'))
    .description('run a worker only (scale it out: any worker takes any job)')
    .addOption(settingOption('WORKER_CONCURRENCY'))
    .addOption(settingOption('UPLOAD_DIR', 'where uploads are read from'))
    .action(async (_flags: Flags, command: Command) => {
      const config = await withPrivateRedisUrl(configFrom(command));
      const logger = createLogger(config, 'worker');
      const { runWorker } = await load.worker();
      await new Lifecycle(logger, { deadlineMs: shutdownDeadlineMs(config) }).start(() =>
        runWorker(config, logger),
      );
    });

  autoscaleOptions(serverOptions(program.command('workers')))
    .description(
      'run a pool of worker processes on this host: --min-workers of them, or with --autoscale between --min-workers and --max-workers, sized like the KEDA scaler',
    )
    .addOption(settingOption('WORKER_CONCURRENCY', 'jobs each worker process runs at once'))
    .addOption(settingOption('UPLOAD_DIR', 'where uploads are read from'))
    .action(async (_flags: Flags, command: Command) => {
      let config = await withPrivateRedisUrl(configFrom(command));
      if (!config.autoscale.enabled) {
        // A fixed pool: the autoscaler's supervision (restarts, drain) without the sizing.
        const n = Math.max(1, config.autoscale.minWorkers);
        config = { ...config, autoscale: { ...config.autoscale, minWorkers: n, maxWorkers: n } };
      }
      const logger = createLogger(config, 'workers');
      const { runAutoscaledWorkers } = await load.autoscaledWorkers();
      await new Lifecycle(logger, { deadlineMs: shutdownDeadlineMs(config, true) }).start(() =>
        runAutoscaledWorkers(config, logger),
      );
    });

  serverOptions(program.command('exporter'))
    .description(
      'run the sidecar: /metrics, the status page and console, and the KEDA external scaler for every queue in QUEUES',
    )
    .addOption(settingOption('QUEUES'))
    .addOption(settingOption('METRICS_PORT'))
    .addOption(settingOption('KEDA_PORT'))
    .addOption(settingOption('HOST'))
    .action(async (_flags: Flags, command: Command) => {
      const config = await withPrivateRedisUrl(configFrom(command));
      const logger = createLogger(config, 'exporter');
      const { runExporter } = await load.exporter();
      await new Lifecycle(logger, { deadlineMs: shutdownDeadlineMs(config) }).start(() =>
        runExporter(config, logger),
      );
    });

  queueOptions(program.command('doctor'))
    .description(
      'run every troubleshooting check (Redis, queue, workers, Kubernetes, autoscaling): exit 0 all OK, 1 warnings, 2 failures',
    )
    .option('--json', 'print JSON for scripts')
    .option(
      '--expected-workers <n>',
      'workers that should be live (default: the worker Deployment’s replicas)',
    )
    .option('--max-job-age <seconds>', 'warn when the oldest backlog job is older', '600')
    .option(
      '--stuck-after <seconds>',
      'least run time of one job before a worker counts as stuck',
      '60',
    )
    .option(
      '--kubeconfig <path>',
      'kubeconfig to use (default: in-cluster, $KUBECONFIG or ~/.kube/config)',
    )
    .option(
      '--namespace <ns>',
      'namespace of the workers (default: from the kubeconfig or POD_NAMESPACE)',
    )
    .option('--worker-deployment <name>', 'the worker Deployment', 'qscale-worker')
    .option('--scaled-object <name>', 'the workers’ KEDA ScaledObject', 'qscale-worker')
    .option('--exporter-service <name>', 'the exporter Service', 'qscale-exporter')
    .action(async (flags: Flags & DoctorFlags, command: Command) => {
      const config = await withPrivateRedisUrl(configFrom(command));
      const { runDoctor, formatDoctor } = await load.doctor();
      const report = await runDoctor(config, {
        maxJobAgeSeconds: positive(flags.maxJobAge, '--max-job-age'),
        stuckAfterSeconds: positive(flags.stuckAfter, '--stuck-after'),
        ...(flags.expectedWorkers !== undefined && {
          expectedWorkers: positive(flags.expectedWorkers, '--expected-workers'),
        }),
        kubernetes: () => kubernetesFindings(config, flags),
      });
      await printAndExit(
        flags.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatDoctor(report)}\n`,
        report.exitCode,
      );
    });

  // The data directory tells it where a running `qscale start` put its sidecar; METRICS_PORT where
  // another one listens.
  addJobsCommand(program, (logLevel) =>
    loadConfig({ ...process.env, ...(logLevel !== undefined && { LOG_LEVEL: logLevel }) }),
  );

  queueOptions(program.command('status'))
    .description(
      'is Redis reachable, how long is the queue, are workers connected; exit 1 when Redis is unreachable',
    )
    .option('--json', 'print JSON for scripts')
    .action(async (flags: Flags & { json?: boolean }, command: Command) => {
      const config = await withPrivateRedisUrl(configFrom(command));
      const { collectStatus, formatStatus } = await load.status();
      const report = await collectStatus(config);
      await printAndExit(
        flags.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatStatus(report)}\n`,
        report.redis.up ? 0 : 1,
      );
    });

  return program;
}

buildProgram()
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`qscale: ${error.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`qscale: ${(error as Error).message ?? String(error)}\n`);
    process.exit(1);
  });
