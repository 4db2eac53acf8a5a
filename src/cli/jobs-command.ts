import { Command, Option } from 'commander';
import type { Config } from '../config/config.js';
import { ConsoleClient } from '../jobs/console-client.js';
import { formatJobDetail, formatJobList } from '../jobs/format-jobs.js';
import { readSidecarUrl } from '../supervisor/sidecar-file.js';
import { settingOption } from './setting-options.js';

interface JobsFlags {
  url?: string;
  queue?: string;
  token?: string;
  json?: boolean;
  logLevel?: string;
}

/** The port a sidecar listens on when METRICS_PORT does not say (it is 0 or unset). */
const DEFAULT_METRICS_PORT = 9464;

/** A sidecar on this host at METRICS_PORT (on HOST when that names one address). */
function localSidecarUrl(config: Config): string {
  const host = config.http.host;
  const address =
    !host || host === '0.0.0.0' || host === '::'
      ? '127.0.0.1'
      : host.includes(':')
        ? `[${host}]`
        : host;
  const port = config.metrics.port || DEFAULT_METRICS_PORT;
  return `http://${address}:${port}`;
}

/**
 * The sidecar to talk to: --url or QSCALE_URL; else the one a `qscale start` running with this
 * REDIS_DATA_DIR recorded (whatever its Redis); else this host's at METRICS_PORT (9464).
 */
async function sidecarUrl(flags: JobsFlags, config: Config): Promise<string> {
  return (
    (flags.url || undefined) ?? // QSCALE_URL="" means unset
    (await readSidecarUrl(config.redis.dataDir)) ??
    localSidecarUrl(config)
  );
}

function withJobsOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--url <url>',
        'the sidecar (exporter) to ask (default: the `qscale start` running with this REDIS_DATA_DIR, else this host at METRICS_PORT, 9464)',
      ).env('QSCALE_URL'),
    )
    .addOption(
      new Option(
        '--queue <name>',
        'queue (default: the only one the sidecar watches, else QUEUE_NAME)',
      ),
    )
    .addOption(new Option('--token <token>', 'action token for changes').env('ACTION_TOKEN'))
    .addOption(settingOption('LOG_LEVEL'))
    .option('--json', 'print the API answer as JSON');
}

function positiveInt(name: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new Error(`${name} must be a whole number, got "${value}"`);
    return Number(value);
  };
}

/**
 * `qscale jobs list|show|retry|remove|promote|retry-failed|pause|resume|clean`: the operator
 * console from a terminal, through the sidecar's console API (the page's own requests).
 * `settings` gives the settings from the environment and --log-level (REDIS_DATA_DIR, HOST and
 * METRICS_PORT say where a sidecar runs).
 */
export function addJobsCommand(
  program: Command,
  settings: (logLevel: string | undefined) => Config,
): void {
  const jobs = program
    .command('jobs')
    .description(
      "list, inspect and act on a watched queue's jobs through the sidecar (BullMQ and RQ queues)",
    );

  const run =
    <A extends unknown[]>(
      action: (
        client: ConsoleClient,
        queue: () => Promise<string>,
        flags: JobsFlags,
        ...args: A
      ) => Promise<void>,
    ) =>
    async (...args: unknown[]) => {
      const command = args[args.length - 1] as Command;
      const flags = command.opts<JobsFlags>();
      const config = settings(flags.logLevel);
      const client = new ConsoleClient(await sidecarUrl(flags, config), {
        ...(flags.token && { actionToken: flags.token }),
        ...(process.env.METRICS_AUTH && { metricsAuth: process.env.METRICS_AUTH }),
      });
      const queue = async () => {
        if (flags.queue) return flags.queue;
        const { queues } = await client.queues();
        const names = queues.map((q) => q.name);
        if (names.length === 1) return names[0]!;
        const fromEnv = process.env.QUEUE_NAME;
        if (fromEnv && names.includes(fromEnv)) return fromEnv;
        throw new Error(`the sidecar watches ${names.join(', ')}: choose one with --queue`);
      };
      await action(client, queue, flags, ...(args.slice(0, -2) as A));
    };

  const print = (flags: JobsFlags, json: unknown, text: string) =>
    process.stdout.write(`${flags.json ? JSON.stringify(json, null, 2) : text}\n`);

  withJobsOptions(jobs.command('list'))
    .description('jobs in one state, newest first')
    .option(
      '--state <state>',
      'job state (BullMQ: waiting, active, delayed, completed, failed, …; RQ: queued, started, finished, failed, …)',
      'failed',
    )
    .option('--limit <n>', 'jobs per page (1-100)', positiveInt('--limit'), 20)
    .option('--cursor <cursor>', 'where the previous page ended (its "more: --cursor …")')
    .option('--search <text>', 'only jobs whose id, name or file name contains this')
    .action(
      run(async (client, queue, flags) => {
        const opts = flags as JobsFlags & {
          state: string;
          limit: number;
          cursor?: string;
          search?: string;
        };
        const page = await client.list(await queue(), {
          state: opts.state,
          limit: opts.limit,
          ...(opts.cursor !== undefined && { cursor: opts.cursor }),
          ...(opts.search !== undefined && { search: opts.search }),
        });
        print(flags, page, formatJobList(page));
      }),
    );

  withJobsOptions(jobs.command('show'))
    .description('one job: data, attempts, error, stack trace, log')
    .argument('<id>', 'job id')
    .action(
      run(async (client, queue, flags, id: string) => {
        const name = await queue();
        const job = await client.get(name, id);
        print(flags, job, formatJobDetail(name, job));
      }),
    );

  for (const [action, verb, help] of [
    ['retry', 'retried', 'run failed (or completed) jobs again'],
    ['remove', 'removed', 'delete jobs (not active ones)'],
    ['promote', 'promoted', 'run delayed (RQ: scheduled) jobs now'],
  ] as const) {
    withJobsOptions(jobs.command(action))
      .description(help)
      .argument('<ids...>', 'job ids')
      .action(
        run(async (client, queue, flags, ids: string[]) => {
          const name = await queue();
          const results: unknown[] = [];
          let failed = 0;
          for (const id of ids) {
            try {
              const result = await client.jobAction(name, id, action);
              results.push(result);
              if (!flags.json) process.stdout.write(`${verb} ${id} (now ${result.state})\n`);
            } catch (error) {
              failed++;
              results.push({ id, error: (error as Error).message });
              process.stderr.write(`qscale: ${id}: ${(error as Error).message}\n`);
            }
          }
          if (flags.json) print(flags, results, '');
          if (failed > 0) process.exitCode = 1;
        }),
      );
  }

  for (const [action, help] of [
    ['retry-failed', 'run every failed job of the queue again'],
    [
      'ack-failures',
      'mark the failures so far as handled: `qscale doctor` warns only about later ones',
    ],
    ['pause', 'stop workers from taking new jobs (BullMQ)'],
    ['resume', 'let workers take jobs again (BullMQ)'],
  ] as const) {
    withJobsOptions(jobs.command(action))
      .description(help)
      .action(
        run(async (client, queue, flags) => {
          const name = await queue();
          const result = await client.queueAction(name, action);
          print(
            flags,
            result,
            action === 'retry-failed'
              ? `${name}: ${result.count} failed job${result.count === 1 ? '' : 's'} moved back to waiting`
              : action === 'ack-failures'
                ? `${name}: failures up to ${new Date(result.acknowledgedAt!).toISOString()} acknowledged`
                : `${name}: ${result.paused ? 'paused' : 'running'}`,
          );
        }),
      );
  }

  withJobsOptions(jobs.command('clean'))
    .description('remove jobs in one state that finished longer ago than --older-than')
    .requiredOption(
      '--state <state>',
      'BullMQ: completed, failed, delayed, waiting, prioritized; RQ: finished, failed, canceled',
    )
    .requiredOption(
      '--older-than <seconds>',
      'age in seconds (0: all)',
      positiveInt('--older-than'),
    )
    .option('--limit <n>', 'most jobs removed (1-100000)', positiveInt('--limit'), 1000)
    .action(
      run(async (client, queue, flags) => {
        const opts = flags as JobsFlags & { state: string; olderThan: number; limit: number };
        const name = await queue();
        const result = await client.clean(name, {
          state: opts.state,
          olderThanSeconds: opts.olderThan,
          limit: opts.limit,
        });
        print(
          flags,
          result,
          `${name}: removed ${result.count} ${opts.state} job${result.count === 1 ? '' : 's'}`,
        );
      }),
    );
}
