// The qscale status page: polls api/status every second and renders it. Plain browser script, no
// build step. Every text that comes from the API goes in through textContent, never innerHTML.
'use strict';

const POLL_MS = 1000;
const HISTORY_SECONDS = 300;
const UPLOAD_POLL_MS = 1000;
const STATES = [
  'wait',
  'paused',
  'prioritized',
  'delayed',
  'waiting-children',
  'active',
  'completed',
  'failed',
];

const $ = (id) => document.getElementById(id);

/** Points per queue for the charts, kept in the page for the last HISTORY_SECONDS. */
const history = new Map();
const charts = { backlog: undefined, throughput: undefined };
let latest;
let selected;

// ---------- formatting ----------

const numberFormat = new Intl.NumberFormat('en-US');

function formatCount(value) {
  return typeof value === 'number' && Number.isFinite(value) ? numberFormat.format(value) : '–';
}

function formatRate(value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '–';
  if (value === 0) return '0';
  if (value < 10) return value.toFixed(2);
  if (value < 100) return value.toFixed(1);
  return numberFormat.format(Math.round(value));
}

function formatDuration(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '–';
  if (seconds === 0) return '0 s';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${Math.round(seconds % 60)}s`;
  return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
}

function formatTime(epochMs) {
  return new Date(epochMs).toLocaleTimeString([], { hour12: false });
}

/** An element with a class and text (text is set with textContent, so it is never parsed). */
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// ---------- history and charts ----------

function record(queue, sampledAt) {
  let points = history.get(queue.name);
  if (!points) {
    points = { t: [], backlog: [], done: [], enqueued: [] };
    history.set(queue.name, points);
  }
  const t = sampledAt / 1000;
  if (points.t.length > 0 && points.t[points.t.length - 1] >= t) return;
  points.t.push(t);
  points.backlog.push(queue.backlog);
  points.done.push(queue.throughput.finishedPerSecond);
  points.enqueued.push(queue.throughput.enqueuedPerSecond);
  while (points.t.length > 0 && points.t[0] < t - HISTORY_SECONDS) {
    for (const series of Object.values(points)) series.shift();
  }
}

function cssColor(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

function chartWidth(container) {
  return Math.max(200, Math.floor(container.clientWidth));
}

function formatClock(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], {
    hour12: false,
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

/** The shown time window: the data's span, at least a minute, at most the chosen window. */
function timeRange(_u, min, max) {
  if (min === null || max === null) return [0, 1];
  const span = Math.min(chartSeconds, Math.max(60, max - min));
  return [max - span, max];
}

// ---------- stored history (the sidecar keeps it in Redis: HISTORY=on) ----------

/** The charts' window in seconds: 300 from live points (seeded from storage), longer from storage. */
let chartSeconds = 300;
/** Queues whose live points were seeded from the stored history. */
const seeded = new Set();
/** The stored points of a longer window: { queue, seconds, points, at }. */
let stored;

function historyUrl(queue, seconds) {
  return `api/v1/queues/${encodeURIComponent(queue)}/history?seconds=${seconds}`;
}

async function fetchHistory(queue, seconds) {
  const res = await fetch(historyUrl(queue, seconds), {
    cache: 'no-store',
    credentials: 'same-origin',
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return res.json();
}

/** Puts the stored points older than the page's first live point in front of them. */
async function seedHistory(queue) {
  if (seeded.has(queue)) return;
  seeded.add(queue);
  try {
    const body = await fetchHistory(queue, HISTORY_SECONDS);
    $('chart-source').textContent = body.enabled ? '' : 'history is not kept (HISTORY=off)';
    const points = history.get(queue) ?? { t: [], backlog: [], done: [], enqueued: [] };
    history.set(queue, points);
    const first = points.t[0] ?? Infinity;
    const older = body.points.filter((p) => p[0] < first);
    points.t.unshift(...older.map((p) => p[0]));
    points.backlog.unshift(...older.map((p) => p[1]));
    points.done.unshift(...older.map((p) => p[3]));
    points.enqueued.unshift(...older.map((p) => p[4]));
    if (queue === selected) renderCharts(queue);
  } catch (error) {
    // Not retried every second: the charts go on from live points.
    $('chart-source').textContent = `history could not be read (${error.message})`;
  }
}

/** The stored points of the chosen long window, re-read at most every 10 s. */
async function refreshStored(queue) {
  if (
    stored?.queue === queue &&
    stored.seconds === chartSeconds &&
    Date.now() - stored.at < 10000
  ) {
    return;
  }
  const seconds = chartSeconds;
  try {
    const body = await fetchHistory(queue, seconds);
    stored = { queue, seconds, points: body.points, at: Date.now() };
    $('chart-source').textContent = body.enabled
      ? `one point per ${body.stepSeconds} s, kept in Redis`
      : 'history is not kept (HISTORY=off)';
    if (queue === selected && seconds === chartSeconds) renderCharts(queue);
  } catch (error) {
    $('chart-source').textContent = `history could not be read (${error.message})`;
  }
}

$('chart-window').addEventListener('change', (event) => {
  chartSeconds = Number(event.target.value);
  const label = event.target.selectedOptions[0].textContent;
  for (const span of document.querySelectorAll('.chart-span')) span.textContent = label;
  stored = undefined;
  $('chart-source').textContent = '';
  if (selected) {
    if (chartSeconds > HISTORY_SECONDS) void refreshStored(selected);
    renderCharts(selected);
  }
});

function makeChart(container, series, yValues) {
  const axis = {
    stroke: cssColor('--muted'),
    grid: { stroke: cssColor('--grid'), width: 1 },
    ticks: { stroke: cssColor('--grid'), width: 1 },
  };
  const chart = new window.uPlot(
    {
      width: chartWidth(container),
      height: 180,
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true, range: timeRange },
        // From 0, with some headroom above the highest point.
        y: { range: (_u, _min, max) => [0, Math.max(1, (max ?? 0) * 1.15)] },
      },
      axes: [
        { ...axis, space: 70, values: (_u, splits) => splits.map(formatClock) },
        { ...axis, size: 44, values: (_u, splits) => splits.map(yValues) },
      ],
      series: [{ value: (_u, v) => (v === null ? '–' : formatClock(v)) }, ...series],
    },
    [[], ...series.map(() => [])],
    container,
  );
  // Without a pointer over the chart, the legend shows the latest values.
  let hovered = false;
  container.addEventListener('mouseenter', () => (hovered = true));
  container.addEventListener('mouseleave', () => {
    hovered = false;
    showLatest(chart);
  });
  chart.showLatest = () => {
    if (!hovered) showLatest(chart);
  };
  return chart;
}

function showLatest(chart) {
  const points = chart.data[0].length;
  if (points > 0) chart.setLegend({ idx: points - 1 });
}

function ensureCharts() {
  if (charts.backlog || typeof window.uPlot !== 'function') return;
  charts.backlog = makeChart(
    $('chart-backlog'),
    [
      {
        label: 'backlog',
        stroke: cssColor('--c-backlog'),
        fill: cssColor('--c-backlog-fill'),
        value: (_u, v) => formatCount(v),
      },
    ],
    (v) => (Number.isInteger(v) ? formatCount(v) : ''),
  );
  charts.throughput = makeChart(
    $('chart-throughput'),
    [
      { label: 'done/s', stroke: cssColor('--c-done'), value: (_u, v) => formatRate(v) },
      { label: 'enqueued/s', stroke: cssColor('--c-enqueued'), value: (_u, v) => formatRate(v) },
    ],
    (v) => (Number.isInteger(v) ? formatCount(v) : String(Number(v.toFixed(2)))),
  );
}

function storedPoints(name) {
  const points = { t: [], backlog: [], done: [], enqueued: [] };
  if (stored?.queue !== name || stored.seconds !== chartSeconds) return points;
  for (const p of stored.points) {
    points.t.push(p[0]);
    points.backlog.push(p[1]);
    points.done.push(p[3]);
    points.enqueued.push(p[4]);
  }
  return points;
}

function renderCharts(name) {
  ensureCharts();
  if (!charts.backlog) return;
  if (chartSeconds > HISTORY_SECONDS) void refreshStored(name);
  else void seedHistory(name);
  const points =
    chartSeconds > HISTORY_SECONDS
      ? storedPoints(name)
      : (history.get(name) ?? { t: [], backlog: [], done: [], enqueued: [] });
  charts.backlog.setData([points.t, points.backlog]);
  charts.throughput.setData([points.t, points.done, points.enqueued]);
  charts.backlog.showLatest();
  charts.throughput.showLatest();
}

let resizeTimer;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    if (charts.backlog) {
      charts.backlog.setSize({ width: chartWidth($('chart-backlog')), height: 180 });
      charts.throughput.setSize({ width: chartWidth($('chart-throughput')), height: 180 });
    }
  }, 100);
});

// ---------- rendering ----------

function setConnection(state, text) {
  const pill = $('connection');
  pill.dataset.state = state;
  pill.textContent = text;
}

function setBanner(text) {
  const banner = $('banner');
  banner.hidden = !text;
  banner.textContent = text ?? '';
}

function renderQueuePicker(queues) {
  const picker = $('queue-picker');
  const select = $('queue-select');
  picker.hidden = queues.length < 2;
  $('queue-name').textContent = queues.length === 1 ? queues[0].name : '';
  const names = queues.map((q) => q.name);
  const current = [...select.options].map((o) => o.value);
  if (names.join('\n') !== current.join('\n')) {
    select.replaceChildren(...names.map((name) => new Option(name, name)));
  }
  if (!selected || !names.includes(selected)) selected = names[0];
  select.value = selected ?? '';
  announceQueue();
}

let announced;
/** Tells the jobs console (jobs.js) which queue the page shows. */
function announceQueue() {
  if (selected === announced || selected === undefined) return;
  announced = selected;
  window.dispatchEvent(new CustomEvent('qscale:queue', { detail: selected }));
}

/** `60` → `1 min`, `45` → `45 s`. */
function formatWindow(seconds) {
  return seconds >= 60 && seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`;
}

/** Says over which window each rate and ratio is measured (GET /api/status `windows`). */
function renderWindows(windows) {
  const rate = windows?.rateSeconds;
  const utilization = windows?.utilizationSeconds;
  $('done-label').textContent = rate ? `Done / s · last ${formatWindow(rate)}` : 'Done / s';
  $('p95-label').textContent = 'p95 processing · all jobs';
  $('utilization-head').textContent = utilization
    ? `Utilization · last ${formatWindow(utilization)}`
    : 'Utilization';
}

function renderNumbers(queue) {
  $('backlog').textContent = formatCount(queue.backlog);
  $('backlog-hint').textContent = queue.paused ? 'queue paused' : 'not started';
  $('oldest').textContent = formatDuration(queue.oldestJobAgeSeconds);
  $('done-rate').textContent = formatRate(queue.throughput.finishedPerSecond);
  $('enqueued-rate').textContent = `${formatRate(queue.throughput.enqueuedPerSecond)} enqueued/s`;
  $('p95').textContent = formatDuration(queue.processingSeconds.p95);
  $('mean').textContent =
    queue.processingSeconds.mean === null
      ? 'no jobs yet'
      : `mean ${formatDuration(queue.processingSeconds.mean)}${
          latest?.windows?.rateSeconds ? ` · last ${formatWindow(latest.windows.rateSeconds)}` : ''
        }`;
  // With the local autoscaler, "desired" is its decision; otherwise the workers-mode estimate.
  const autoscaled = latest?.autoscaler && typeof latest.autoscaler.desired === 'number';
  const desired = autoscaled ? latest.autoscaler.desired : queue.workers.desired;
  $('workers').textContent = `${queue.workers.live ?? '?'} / ${desired}`;
  // The workers-mode estimate says which wait it keeps, and why that many (on hover).
  const sizing = queue.workers.sizing;
  $('workers-hint').textContent =
    !autoscaled && sizing
      ? `live / desired · wait ≤ ${formatDuration(sizing.targetWaitSeconds)}`
      : 'live / desired';
  $('workers').title = !autoscaled && sizing ? sizing.reason : '';
  renderTelemetry(queue);
}

/** Says which numbers are exact and which are derived, for workers without qscale telemetry. */
function renderTelemetry(queue) {
  const line = $('telemetry');
  const t = queue.telemetry;
  const kind = queue.kindLabel ?? queue.kind;
  if (!t || t.source !== 'derived') {
    line.hidden = true;
    line.textContent = '';
    return;
  }
  const parts = [
    `${kind} queue "${queue.name}" (prefix ${queue.prefix}): its workers run without qscale telemetry.`,
    'Counts, backlog and oldest job are exact; jobs done, processing time and workers are derived',
    `from ${t.from}, since the sidecar started.`,
  ];
  if (t.concurrencyEstimated) parts.push('Concurrency per worker is estimated.');
  if (!t.workersKnown) {
    parts.push(`Live workers cannot be counted: ${t.workersUnknown ?? 'unknown reason'}.`);
  }
  if (t.eventsMissed > 0) {
    parts.push(
      `${t.eventsMissed} events were trimmed from the events stream before the sidecar read them: jobs done are undercounted.`,
    );
  }
  line.textContent = parts.join(' ');
  line.hidden = false;
}

function renderStates(counts) {
  const bar = $('state-bar');
  const legend = $('state-legend');
  const total = STATES.reduce((sum, state) => sum + (counts[state] ?? 0), 0);
  bar.replaceChildren();
  legend.replaceChildren();
  for (const state of STATES) {
    const count = counts[state] ?? 0;
    if (total > 0 && count > 0) {
      const part = el('span', `seg s-${state}`);
      part.style.width = `${(count / total) * 100}%`;
      part.title = `${state}: ${count}`;
      bar.append(part);
    }
    const item = el('li', count > 0 ? '' : 'zero');
    item.append(
      el('span', `dot s-${state}`),
      el('span', '', state),
      el('b', '', formatCount(count)),
    );
    legend.append(item);
  }
  if (total === 0) bar.append(el('span', 'bar-empty', 'no jobs'));
}

function renderWorkers(workers) {
  const rows = $('worker-rows');
  rows.replaceChildren(
    ...workers.list.map((worker) => {
      const row = el('tr');
      const id = el('td', 'worker-id', worker.id);
      id.title = worker.id;
      const percent = Math.round(Math.min(1, Math.max(0, worker.utilization)) * 100);
      const fill = el('span', 'fill');
      fill.style.width = `${percent}%`;
      const bar = el('span', 'meter');
      bar.append(fill);
      const inner = el('span', 'util');
      inner.append(bar, el('span', 'pct', `${percent}%`));
      const utilization = el('td');
      utilization.append(inner);
      row.append(id, el('td', 'busy', `${worker.busy}/${worker.concurrency}`), utilization);
      return row;
    }),
  );
  // Workers without telemetry have names only (BullMQ's worker list), no per-worker numbers.
  for (const name of workers.names ?? []) {
    const row = el('tr');
    const id = el('td', 'worker-id', name);
    id.title = name;
    row.append(id, el('td', 'busy', '–'), el('td', '', 'no telemetry'));
    rows.append(row);
  }
  $('workers-empty').hidden = workers.list.length + (workers.names ?? []).length > 0;
  $('workers-empty').textContent = 'No live workers.';
}

/** Job states, workers and failures while Redis cannot be read: unknown, not empty. */
function renderUnknown() {
  $('state-bar').replaceChildren();
  $('state-legend').replaceChildren(
    el('span', '', 'Job states unknown while Redis cannot be reached.'),
  );
  $('worker-rows').replaceChildren();
  $('workers-empty').hidden = false;
  $('workers-empty').textContent = 'Unknown while Redis cannot be reached.';
  renderFailures(undefined);
}

function renderFailures(failures) {
  const list = $('failures');
  const empty = $('failures-empty');
  if (failures === null || failures === undefined) {
    // Not read (Redis down, or the read failed): unknown, never "no failed jobs".
    list.replaceChildren();
    empty.hidden = false;
    empty.textContent =
      failures === null
        ? 'Unknown: the failures could not be read from Redis.'
        : 'Unknown while Redis cannot be reached.';
    return;
  }
  list.replaceChildren(
    ...failures.map((failure) => {
      const item = el('li');
      const head = el('div', 'failure-head');
      // Opens the job in the jobs console (jobs.js follows the link).
      const link = el('a', 'failure-name', failure.fileName ?? failure.name ?? failure.id);
      link.href = `#queue=${encodeURIComponent(selected)}&job=${encodeURIComponent(failure.id)}`;
      head.append(
        link,
        el('time', 'failure-time', failure.failedAt ? formatTime(failure.failedAt) : ''),
      );
      item.append(head, el('div', 'failure-error', failure.error ?? '(no error recorded)'));
      item.title = `job ${failure.id}`;
      return item;
    }),
  );
  empty.hidden = failures.length > 0;
  empty.textContent = 'No failed jobs.';
}

function formatBytes(bytes) {
  if (typeof bytes !== 'number' || !Number.isFinite(bytes)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 && unit > 0 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** Redis memory (of its maxmemory) and the uploaded files' bytes; warns from 85 % of the limit. */
function renderStorage(storage) {
  const node = $('storage');
  if (!storage || storage.redisUsedBytes === null) {
    node.textContent = 'Redis memory unknown';
    node.dataset.level = '';
    return;
  }
  const max = storage.redisMaxBytes;
  const ratio = max > 0 ? storage.redisUsedBytes / max : null;
  node.textContent = [
    `Redis ${formatBytes(storage.redisUsedBytes)}${
      max > 0 ? ` of ${formatBytes(max)} (${Math.round(ratio * 100)} %)` : ' (no maxmemory)'
    }`,
    ...(storage.blobBytes !== null ? [`files ${formatBytes(storage.blobBytes)}`] : []),
  ].join(' · ');
  node.dataset.level = ratio !== null && ratio > 0.85 ? 'warn' : '';
  node.title =
    ratio !== null && ratio > 0.85
      ? 'Redis is close to maxmemory: new uploads will be refused. Set retention (FILE_RETENTION_SECONDS, MAX_FILES) or raise maxmemory.'
      : '';
}

function factValue(key, value) {
  if (value === null || value === undefined) return '–';
  // Epoch-ms timestamps by their name: `at`, `decidedAt`, …
  if (typeof value === 'number' && /(^at|At)$/.test(key) && value > 1e12) return formatTime(value);
  if (typeof value === 'number')
    return Number.isInteger(value) ? formatCount(value) : formatRate(value);
  // Lists of workers: `3: vm-auto-1, vm-auto-2 (stopping), …`.
  if (
    Array.isArray(value) &&
    value.every((item) => item && typeof item === 'object' && 'id' in item)
  ) {
    const names = value.map((item) => {
      const notes = [];
      if (item.stopping) notes.push('stopping');
      if (typeof item.busy === 'number') notes.push(`busy ${item.busy}`);
      return notes.length ? `${item.id} (${notes.join(', ')})` : String(item.id);
    });
    return `${value.length}${names.length ? `: ${names.join(', ')}` : ''}`;
  }
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Labels of the local autoscaler's state (`qscale start --autoscale`); other keys are spelled out. */
const AUTOSCALER_LABELS = {
  mode: 'Mode',
  minWorkers: 'Min workers',
  maxWorkers: 'Max workers',
  desired: 'Desired workers',
  workers: 'Worker processes',
  lastDecision: 'Last decision',
  decisions: 'Scaling rounds',
  restarts: 'Crashed workers replaced',
};

/** `drainSeconds` → `Drain seconds`. */
function spellOut(key) {
  const words = key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function autoscalerFact(key, value) {
  if (key === 'lastDecision' && value && typeof value === 'object') {
    const when = typeof value.at === 'number' ? `${formatTime(value.at)}: ` : '';
    const stopped =
      Array.isArray(value.stopped) && value.stopped.length > 0
        ? `; stopped ${factValue('stopped', value.stopped)}`
        : '';
    return `${when}${value.from} → ${value.to} workers, ${value.reason ?? 'no reason given'}${stopped}`;
  }
  if (key === 'decisions' && value && typeof value === 'object') {
    return `${formatCount(value.up ?? 0)} up, ${formatCount(value.down ?? 0)} down`;
  }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value)
      .map(
        ([inner, innerValue]) => `${spellOut(inner).toLowerCase()} ${factValue(inner, innerValue)}`,
      )
      .join(', ');
  }
  return factValue(key, value);
}

function renderAutoscaler(autoscaler) {
  const card = $('autoscaler-card');
  card.hidden = !autoscaler || typeof autoscaler !== 'object';
  if (card.hidden) return;
  const facts = Object.entries(autoscaler).map(([key, value]) => [
    AUTOSCALER_LABELS[key] ?? spellOut(key),
    autoscalerFact(key, value),
  ]);
  $('autoscaler').replaceChildren(
    ...facts.flatMap(([term, value]) => [el('dt', '', term), el('dd', '', value)]),
  );
}

function render() {
  const status = latest;
  if (!status) return;
  if (!status.redisUp) {
    setConnection('down', 'Redis down');
    setBanner('Redis cannot be reached: no queue data. The page keeps trying every second.');
    $('sampled-at').textContent = `checked ${formatTime(Date.now())}`;
  } else {
    setConnection('live', 'live');
    setBanner(status.queues.length === 0 ? 'No queues are configured.' : undefined);
    $('sampled-at').textContent = `sampled ${formatTime(status.sampledAt)}`;
  }
  renderAutoscaler(status.autoscaler);
  renderWindows(status.windows);
  renderStorage(status.storage);
  renderUploadBox(status.uploadUrl);
  if (!status.redisUp || status.queues.length === 0) {
    // No stale numbers presented as current: blank them until Redis answers again, and say
    // that the lists are unknown rather than empty.
    for (const id of ['backlog', 'oldest', 'done-rate', 'p95', 'workers']) $(id).textContent = '–';
    for (const id of ['backlog-hint', 'enqueued-rate', 'mean']) $(id).textContent = '';
    if (!status.redisUp) renderUnknown();
    return;
  }
  renderQueuePicker(status.queues);
  const queue = status.queues.find((q) => q.name === selected);
  if (!queue) return;
  renderNumbers(queue);
  renderStates(queue.counts);
  renderWorkers(queue.workers);
  renderFailures(queue.recentFailures);
  renderCharts(queue.name);
}

// ---------- polling ----------

async function poll() {
  try {
    const res = await fetch('api/status', { cache: 'no-store', credentials: 'same-origin' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    latest = await res.json();
    if (latest.redisUp) for (const queue of latest.queues) record(queue, latest.sampledAt);
    render();
  } catch (error) {
    setConnection('offline', 'offline');
    setBanner(`The exporter cannot be reached (${error.message}); retrying…`);
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

$('queue-select').addEventListener('change', (event) => {
  selected = event.target.value;
  announceQueue();
  render();
});

// ---------- uploads ----------

let uploadUrl = null;

function renderUploadBox(url) {
  uploadUrl = url;
  $('upload-card').hidden = !url;
}

function uploadItem(name) {
  const item = el('li', 'upload');
  const state = el('span', 'upload-status', 'uploading');
  state.dataset.status = 'uploading';
  const detail = el('span', 'upload-detail');
  item.append(el('span', 'upload-name', name), state, detail);
  $('uploads').prepend(item);
  return {
    set(status, text) {
      state.dataset.status = status;
      state.textContent = status;
      detail.textContent = text ?? '';
    },
  };
}

function errorText(body, res) {
  const message = body && body.error && body.error.message;
  return typeof message === 'string' ? message : `HTTP ${res.status}`;
}

async function follow(statusUrl, item) {
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, UPLOAD_POLL_MS));
    let res;
    let body = null;
    try {
      res = await fetch(statusUrl, { cache: 'no-store' });
      body = await res.json().catch(() => null);
    } catch (error) {
      item.set('unknown', `cannot reach the API: ${error.message}`);
      continue;
    }
    if (!res.ok) {
      item.set('unknown', errorText(body, res));
      if (res.status === 404) return;
      continue;
    }
    if (body.status === 'completed') {
      const chunks = body.result ? body.result.chunks : 0;
      item.set('completed', `${chunks} chunk${chunks === 1 ? '' : 's'}`);
      return;
    }
    if (body.status === 'failed') {
      item.set('failed', body.error ?? '');
      return;
    }
    item.set(body.status, body.status === 'processing' ? `${body.progress}%` : '');
  }
}

async function upload(file, item) {
  const target = uploadUrl;
  if (!target) {
    item.set('failed', 'no upload API configured');
    return;
  }
  const form = new FormData();
  form.append('file', file, file.name);
  let res;
  let body = null;
  try {
    res = await fetch(target, { method: 'POST', body: form });
    body = await res.json().catch(() => null);
  } catch (error) {
    item.set('failed', `cannot reach the API: ${error.message}`);
    return;
  }
  if (!res.ok || !body || typeof body.id !== 'string') {
    item.set('failed', errorText(body, res));
    return;
  }
  item.set(body.status ?? 'queued', '');
  const statusUrl = new URL(
    typeof body.statusUrl === 'string' ? body.statusUrl : encodeURIComponent(body.id),
    target,
  );
  await follow(statusUrl, item);
}

function uploadAll(files) {
  for (const file of files) {
    const item = uploadItem(file.name);
    upload(file, item).catch((error) => item.set('failed', error.message));
  }
}

const dropzone = $('dropzone');
const fileInput = $('file-input');
fileInput.addEventListener('change', () => {
  uploadAll([...fileInput.files]);
  fileInput.value = '';
});
for (const type of ['dragenter', 'dragover']) {
  dropzone.addEventListener(type, (event) => {
    event.preventDefault();
    dropzone.classList.add('over');
  });
}
for (const type of ['dragleave', 'drop']) {
  dropzone.addEventListener(type, () => dropzone.classList.remove('over'));
}
dropzone.addEventListener('drop', (event) => {
  event.preventDefault();
  if (event.dataTransfer) uploadAll([...event.dataTransfer.files]);
});

poll();
