import type { JobDetail, JobPage, JobSummary } from '../queue/queue-jobs.js';

/** `3m 20s ago`, `2h 5m ago`, `-` for none. */
function ago(ms: number | null, now: number): string {
  if (ms === null) return '-';
  const seconds = Math.max(0, Math.round((now - ms) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${seconds % 60}s ago`;
  if (seconds < 86_400)
    return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m ago`;
  return `${Math.floor(seconds / 86_400)}d ${Math.floor((seconds % 86_400) / 3600)}h ago`;
}

function oneLine(text: string | null, max: number): string {
  if (text === null) return '';
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) =>
    Math.max(...rows.map((row) => (row[column] ?? '').length)),
  );
  return rows
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

const label = (job: JobSummary) => job.fileName ?? job.name ?? '';

/** `qscale jobs list`: one line per job, newest first, and how to get the next page. */
export function formatJobList(page: JobPage & { queue: string }, now = Date.now()): string {
  const lines = [
    `${page.queue}: ${page.total} ${page.state} job${page.total === 1 ? '' : 's'}${page.jobs.length < page.total ? `, showing ${page.jobs.length}` : ''}`,
  ];
  if (page.jobs.length > 0) {
    lines.push(
      table([
        ['ID', 'NAME', 'ATTEMPTS', 'CREATED', 'FINISHED', 'ERROR'],
        ...page.jobs.map((job) => [
          job.id,
          oneLine(label(job), 40),
          String(job.attemptsMade),
          ago(job.createdAt, now),
          ago(job.finishedAt, now),
          oneLine(job.error, 60),
        ]),
      ]),
    );
  }
  if (page.nextCursor !== null) lines.push(`more: --cursor ${page.nextCursor}`);
  return lines.join('\n');
}

/** `qscale jobs show`: every field, then the stack traces and the log. */
export function formatJobDetail(queue: string, job: JobDetail, now = Date.now()): string {
  const at = (ms: number | null) =>
    ms === null ? '-' : `${new Date(ms).toISOString()} (${ago(ms, now)})`;
  const lines = [
    `job ${job.id} in ${queue}: ${job.state}`,
    `  name       ${job.name ?? '-'}`,
    ...(job.fileName !== null ? [`  file       ${job.fileName}`] : []),
    `  attempts   ${job.attemptsMade}${job.attempts !== null ? ` of ${job.attempts}` : ''}`,
    `  created    ${at(job.createdAt)}`,
    `  started    ${at(job.startedAt)}`,
    `  finished   ${at(job.finishedAt)}`,
    ...(job.dueAt !== null ? [`  due        ${at(job.dueAt)}`] : []),
    ...(job.error !== null ? [`  error      ${job.error}`] : []),
    ...(job.progress !== null && job.progress !== 0
      ? [`  progress   ${JSON.stringify(job.progress)}`]
      : []),
    `  actions    ${job.actions.length > 0 ? job.actions.join(', ') : 'none in this state'}`,
    `  data       ${job.data ?? '-'}${job.dataTruncated ? ' … (cut)' : ''}`,
    ...(job.result !== null ? [`  result     ${job.result}`] : []),
  ];
  if (job.stacktrace.length > 0) {
    lines.push('', 'stack trace (last attempt):', job.stacktrace[job.stacktrace.length - 1]!);
  }
  if (job.logs.length > 0) {
    lines.push('', `log (${job.logs.length} of ${job.logCount} lines):`, ...job.logs);
  }
  return lines.join('\n');
}
