// The status page's jobs console: list a queue's jobs by state, search, page, open one, and act
// (retry, remove, promote; pause/resume, retry all failed, clean) through the sidecar's console
// API (api/v1/…). Plain browser script, no build step; API text goes in through textContent only.
'use strict';

(() => {
  const REFRESH_MS = 2000;
  const PAGE_SIZE = 20;
  const TOKEN_KEY = 'qscale-action-token';
  const ACTION_LABELS = {
    retry: 'Retry',
    remove: 'Remove',
    promote: 'Run now',
  };

  const $ = (id) => document.getElementById(id);

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  const view = {
    queues: [],
    queue: undefined,
    state: 'failed',
    cursor: 0,
    search: '',
    redisUp: true,
    permission: { allowed: false, needsToken: false, reason: null },
    token: sessionStorage.getItem(TOKEN_KEY) ?? '',
    openId: undefined,
    /** A destructive action waiting for its second click: `remove` or `clean`. */
    confirming: undefined,
  };

  // ---------- API ----------

  class ApiFailure extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (method !== 'GET') {
      headers['Content-Type'] = 'application/json';
      if (view.token) headers.Authorization = `Bearer ${view.token}`;
    }
    const res = await fetch(path, {
      method,
      headers,
      cache: 'no-store',
      credentials: 'same-origin',
      ...(method === 'POST' && { body: JSON.stringify(body ?? {}) }),
    });
    let data;
    try {
      data = await res.json();
    } catch {
      data = undefined;
    }
    if (!res.ok) {
      throw new ApiFailure(
        res.status,
        data?.error?.code,
        data?.error?.message ?? `The sidecar answered HTTP ${res.status}`,
      );
    }
    return data;
  }

  const queuePath = () => `api/v1/queues/${encodeURIComponent(view.queue.name)}`;
  const jobPath = (id) => `${queuePath()}/jobs/${encodeURIComponent(id)}`;

  // ---------- formatting ----------

  function ago(ms) {
    if (ms === null || ms === undefined) return '–';
    const seconds = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (seconds < 60) return `${seconds} s ago`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
    if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
    return `${Math.floor(seconds / 86400)} d ago`;
  }

  function when(ms) {
    return ms === null || ms === undefined
      ? '–'
      : `${new Date(ms).toLocaleString([], { hour12: false })} (${ago(ms)})`;
  }

  function pretty(text) {
    if (text === null || text === undefined) return '–';
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      return text;
    }
  }

  function say(text, kind) {
    const message = $('job-message');
    message.textContent = text ?? '';
    message.dataset.kind = kind ?? '';
  }

  // ---------- rendering ----------

  function renderPermission() {
    const { permission } = view;
    const note = $('job-permission');
    note.textContent = permission.allowed
      ? ''
      : permission.needsToken
        ? 'Actions need the action token.'
        : (permission.reason ?? 'Read-only.');
    $('token-form').hidden = !permission.needsToken;
    for (const button of document.querySelectorAll('#jobs-card button[data-action]')) {
      const supported = view.queue?.actions.includes(button.dataset.action) ?? false;
      button.disabled = !supported || !(permission.allowed || permission.needsToken);
      button.title = supported
        ? ''
        : `Not supported for ${view.queue?.kindLabel ?? view.queue?.kind} queues`;
    }
    $('queue-pause').hidden = view.queue?.paused === true;
    $('queue-resume').hidden = view.queue?.paused !== true;
  }

  function renderTabs() {
    const tabs = $('job-states');
    const states = view.queue?.states ?? [];
    const current = [...tabs.children].map((tab) => tab.dataset.state).join();
    if (current !== states.join()) {
      tabs.replaceChildren(
        ...states.map((state) => {
          const tab = el('button', 'tab', state);
          tab.type = 'button';
          tab.dataset.state = state;
          tab.setAttribute('role', 'tab');
          tab.addEventListener('click', () => {
            view.state = state;
            view.cursor = 0;
            void loadJobs();
          });
          return tab;
        }),
      );
    }
    for (const tab of tabs.children) {
      tab.setAttribute('aria-selected', String(tab.dataset.state === view.state));
    }
    $('clean-state').replaceChildren(
      ...(view.queue?.cleanable ?? []).map((state) => new Option(state, state)),
    );
  }

  function renderJobs(page) {
    const rows = $('job-rows');
    rows.replaceChildren(
      ...page.jobs.map((job) => {
        const row = el('tr');
        row.dataset.id = job.id;
        if (job.id === view.openId) row.className = 'open';
        const link = el('a', 'job-link', job.fileName ?? job.name ?? job.id);
        link.href = `#queue=${encodeURIComponent(view.queue.name)}&job=${encodeURIComponent(job.id)}`;
        const name = el('td', 'job-name');
        name.append(link, el('small', 'job-id', job.id));
        row.append(
          name,
          el('td', 'num', job.attemptsMade),
          el('td', 'job-when', ago(job.finishedAt ?? job.startedAt ?? job.createdAt)),
          el('td', 'job-error', job.error ?? ''),
        );
        return row;
      }),
    );
    if (page.jobs.length === 0) {
      const row = el('tr');
      const cell = el(
        'td',
        'empty',
        page.total === 0
          ? `No ${page.state} jobs.`
          : `No ${page.state} job matches "${view.search}" among the ${page.scanned} read.`,
      );
      cell.colSpan = 4;
      row.append(cell);
      rows.replaceChildren(row);
    }
    const first = page.total === 0 ? 0 : view.cursor + 1;
    $('jobs-range').textContent = view.search
      ? `${page.jobs.length} found · ${page.total} ${page.state}`
      : `${first}–${view.cursor + page.jobs.length} of ${page.total} ${page.state}`;
    $('jobs-older').hidden = page.nextCursor === null;
    $('jobs-older').dataset.cursor = page.nextCursor ?? '';
    $('jobs-newest').hidden = view.cursor === 0;
  }

  function fact(list, label, value) {
    list.append(el('dt', '', label), el('dd', '', value));
  }

  function renderDetail(job) {
    const panel = $('job-detail');
    panel.hidden = false;
    $('job-title').textContent = `${job.fileName ?? job.name ?? 'Job'} · ${job.state}`;
    const facts = $('job-facts');
    facts.replaceChildren();
    fact(facts, 'Id', job.id);
    if (job.name !== null) fact(facts, 'Name', job.name);
    if (job.fileName !== null) fact(facts, 'File', job.fileName);
    fact(
      facts,
      'Attempts',
      job.attempts !== null ? `${job.attemptsMade} of ${job.attempts}` : job.attemptsMade,
    );
    fact(facts, 'Created', when(job.createdAt));
    fact(facts, 'Started', when(job.startedAt));
    fact(facts, 'Finished', when(job.finishedAt));
    if (job.dueAt !== null) fact(facts, 'Due', when(job.dueAt));
    if (job.error !== null) fact(facts, 'Error', job.error);
    if (job.progress !== null && job.progress !== 0) {
      fact(facts, 'Progress', JSON.stringify(job.progress));
    }
    const actions = $('job-actions');
    actions.replaceChildren(
      ...job.actions.map((action) => {
        const button = el(
          'button',
          action === 'remove' ? 'danger' : '',
          view.confirming === `remove:${job.id}` && action === 'remove'
            ? 'Confirm remove'
            : ACTION_LABELS[action],
        );
        button.type = 'button';
        button.dataset.jobAction = action;
        button.disabled = !(view.permission.allowed || view.permission.needsToken);
        button.addEventListener('click', () => void jobAction(job.id, action));
        return button;
      }),
    );
    if (job.actions.length === 0) actions.append(el('span', 'empty', 'No action in this state.'));
    $('job-data').textContent = pretty(job.data) + (job.dataTruncated ? '\n… (cut at 64 KiB)' : '');
    $('job-stack-wrap').hidden = job.stacktrace.length === 0;
    $('job-stack').textContent = job.stacktrace.slice(-1)[0] ?? '';
    $('job-logs-wrap').hidden = job.logs.length === 0;
    $('job-logs').textContent = job.logs.join('\n');
    $('job-result-wrap').hidden = job.result === null;
    $('job-result').textContent = pretty(job.result);
  }

  // ---------- loading ----------

  async function loadQueues(wanted) {
    const body = await api('GET', 'api/v1/queues');
    view.redisUp = body.redisUp;
    view.queues = body.queues;
    view.permission = body.permission;
    const name = wanted ?? view.queue?.name;
    const next = view.queues.find((queue) => queue.name === name) ?? view.queues[0];
    if (next?.name !== view.queue?.name) {
      view.cursor = 0;
      if (next && !next.states.includes(view.state)) view.state = 'failed';
    }
    view.queue = next;
    renderTabs();
    renderPermission();
  }

  async function loadJobs() {
    if (!view.queue) return;
    renderTabs();
    if (!view.redisUp) {
      // Unknown, not empty: nothing is listed as if it were current.
      $('job-rows').replaceChildren();
      $('jobs-range').textContent = '';
      say('Jobs are unknown while Redis cannot be reached.', 'error');
      return;
    }
    if ($('job-message').textContent.startsWith('Jobs are unknown')) say('');
    const query = new URLSearchParams({
      state: view.state,
      limit: String(PAGE_SIZE),
      cursor: String(view.cursor),
    });
    if (view.search) query.set('search', view.search);
    try {
      renderJobs(await api('GET', `${queuePath()}/jobs?${query}`));
      $('jobs-card').dataset.loaded = 'true';
    } catch (error) {
      say(`Jobs could not be read: ${error.message}`, 'error');
    }
  }

  async function openJob(id) {
    if (!view.queue) return;
    view.openId = id;
    try {
      renderDetail((await api('GET', jobPath(id))).job);
    } catch (error) {
      if (error.status === 404) {
        $('job-detail').hidden = true;
        view.openId = undefined;
      }
      say(error.message, 'error');
    }
  }

  async function refresh() {
    try {
      await loadQueues();
      await loadJobs();
      if (view.openId !== undefined && view.redisUp) {
        const job = await api('GET', jobPath(view.openId)).catch(() => undefined);
        if (job) renderDetail(job.job);
      }
    } catch (error) {
      say(`The console API cannot be reached: ${error.message}`, 'error');
    }
  }

  // ---------- actions ----------

  function refused(error) {
    if (error.status === 401 && error.code === 'unauthorized') {
      view.permission = { ...view.permission, needsToken: true };
      renderPermission();
      say(`${error.message}. Enter the action token.`, 'error');
      $('token-input').focus();
      return;
    }
    say(error.message, 'error');
  }

  async function jobAction(id, action) {
    if (action === 'remove' && view.confirming !== `remove:${id}`) {
      view.confirming = `remove:${id}`;
      say(`Click "Confirm remove" to delete job ${id}.`);
      await openJob(id);
      return;
    }
    view.confirming = undefined;
    try {
      const result =
        action === 'remove'
          ? await api('DELETE', jobPath(id))
          : await api('POST', `${jobPath(id)}/${action}`);
      say(
        action === 'remove'
          ? `Removed job ${id}.`
          : `${ACTION_LABELS[action]}: job ${id} is now ${result.state}.`,
        'ok',
      );
      if (action === 'remove') {
        view.openId = undefined;
        $('job-detail').hidden = true;
      }
      await refresh();
    } catch (error) {
      refused(error);
      if (view.openId !== undefined) await openJob(view.openId);
    }
  }

  async function queueAction(action, body) {
    try {
      const result = await api('POST', `${queuePath()}/${action}`, body);
      const messages = {
        pause: 'Queue paused: workers take no new jobs.',
        resume: 'Queue resumed.',
        'retry-failed': `${result.count} failed job${result.count === 1 ? '' : 's'} moved back to waiting.`,
        'ack-failures': 'Failures so far acknowledged: qscale doctor warns only about new ones.',
        clean: `Removed ${result.count} ${body?.state} job${result.count === 1 ? '' : 's'}.`,
      };
      say(messages[action], 'ok');
      await refresh();
    } catch (error) {
      refused(error);
    }
  }

  // ---------- wiring ----------

  for (const button of document.querySelectorAll('#queue-actions button[data-action]')) {
    const action = button.dataset.action;
    if (action === 'clean') continue;
    button.addEventListener('click', () => void queueAction(action));
  }
  $('queue-clean').addEventListener('click', () => {
    $('clean-form').hidden = false;
  });
  $('clean-cancel').addEventListener('click', () => {
    $('clean-form').hidden = true;
  });
  $('clean-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const hours = Number($('clean-age').value);
    if (!Number.isFinite(hours) || hours < 0) {
      say('The age must be a number of hours, 0 or more.', 'error');
      return;
    }
    $('clean-form').hidden = true;
    void queueAction('clean', {
      state: $('clean-state').value,
      olderThanSeconds: Math.round(hours * 3600),
    });
  });
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    view.token = $('token-input').value.trim();
    sessionStorage.setItem(TOKEN_KEY, view.token);
    $('token-input').value = '';
    say('Token kept for this tab; try the action again.', 'ok');
  });
  $('job-search').addEventListener('submit', (event) => {
    event.preventDefault();
    view.search = $('job-search-input').value.trim();
    view.cursor = 0;
    void loadJobs();
  });
  $('job-search-input').addEventListener('search', () => {
    view.search = $('job-search-input').value.trim();
    view.cursor = 0;
    void loadJobs();
  });
  $('jobs-older').addEventListener('click', () => {
    view.cursor = Number($('jobs-older').dataset.cursor);
    void loadJobs();
  });
  $('jobs-newest').addEventListener('click', () => {
    view.cursor = 0;
    void loadJobs();
  });
  $('job-close').addEventListener('click', () => {
    view.openId = undefined;
    $('job-detail').hidden = true;
    if (location.hash.includes('job=')) window.history.replaceState(null, '', location.pathname);
  });

  /** `#queue=<name>&job=<id>` (the failures list and the job table link here) opens that job. */
  async function followHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    const id = params.get('job');
    if (!id) return;
    await loadQueues(params.get('queue') ?? undefined).catch(() => undefined);
    await openJob(id);
    $('job-detail').scrollIntoView({ block: 'nearest' });
  }
  window.addEventListener('hashchange', () => void followHash());

  // The status page's queue picker chooses the queue here too.
  window.addEventListener('qscale:queue', (event) => {
    if (event.detail === view.queue?.name) return;
    void loadQueues(event.detail).then(loadJobs);
  });

  async function start() {
    await refresh();
    await followHash();
    const tick = async () => {
      if (document.visibilityState === 'visible') await refresh();
      setTimeout(tick, REFRESH_MS);
    };
    setTimeout(tick, REFRESH_MS);
  }
  void start();
})();
