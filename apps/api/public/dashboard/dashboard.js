// @ts-check
/**
 * The Conveyor dashboard: queue depth polled from GET /v1/queues (job queues and the internal
 * ones), the tenant's outcomes per minute from GET /v1/stats (failed, cancelled and expired
 * apart), live throughput counted from the tenant's event stream (GET /v1/events, read with
 * fetch so the API key goes in a header), failed and recent jobs from GET /v1/jobs, schedules
 * (pause/resume), webhooks and their failed deliveries (redeliver), with retry, cancel and
 * pause/resume buttons; each queue's rate limit and global concurrency; "Retry all failed…"
 * (POST /v1/jobs/retry by filter, once the dry run's count is confirmed). A flow node's
 * details show its flow's tree (GET /v1/flows/:id); a click on another node opens that job.
 * Plain DOM (textContent only: job data can never inject markup), no inline script or style,
 * so it runs under the API's strict Content-Security-Policy.
 */

/**
 * @typedef {{ code: string, message: string, retryable?: boolean, attempt?: number, at?: string }} ErrorRecord
 * @typedef {{ id: string, type: string, queue: string, status: string, attempts: number, maxAttempts: number,
 *   error: ErrorRecord | null, attemptErrors: ErrorRecord[], data: unknown, result: unknown, logs: string[],
 *   createdAt: string, startedAt: string | null, finishedAt: string | null,
 *   flowId: string | null, parentId: string | null, childIds: string[] }} JobView
 * @typedef {{ id: string, type: string, queue: string, parentId: string | null, path: string,
 *   onFailure: string, status: string }} FlowNode
 * @typedef {{ id: string, status: string, createdAt: string, nodes: FlowNode[] }} FlowView
 * @typedef {Map<string, FlowView | string>} Flows each shown flow by id, or why it could not be read
 * @typedef {{ waiting: number, prioritized: number, delayed: number, active: number, completed: number, failed: number }} Counts
 * @typedef {{ rateLimit: { max: number, durationMs: number } | null, concurrency: number | null }} QueueLimits
 * @typedef {{ name: string, internal: boolean, counts: Counts | null, paused: boolean, workers: number | null,
 *   partitions: number, limits: QueueLimits, held: { jobs: number, by: string[] } | null }} QueueInfo
 * @typedef {{ matched: number, retried: number, skipped: { id: string, reason: string }[], nextCursor: string | null,
 *   dryRun: boolean }} BulkRetryResult
 * @typedef {{ status: string[], createdBefore: string }} RetryFilter
 * @typedef {{ completed: number, failed: number, cancelled: number, expired: number }} Outcomes
 * @typedef {{ minutes: number, totals: Outcomes, perMinute: (Outcomes & { at: string })[] }} JobStats
 * @typedef {{ id: string, name: string | null, type: string, cron: string | null, tz: string | null,
 *   everyMs: number | null, state: 'active' | 'paused' | 'finished', runCount: number, lastRunAt: string | null,
 *   nextRuns: string[] }} ScheduleView
 * @typedef {{ id: string, url: string, types: string[], statuses: string[], enabled: boolean }} WebhookView
 * @typedef {{ id: string, webhookId: string | null, jobId: string, url: string, status: string, attempts: number,
 *   lastStatusCode: number | null, lastError: string | null, event: StatusEvent, updatedAt: string,
 *   redeliveryOf: string | null, redelivering?: boolean }} DeliveryView
 * @typedef {{ jobId: string, status: string, type: string, queue: string, ts: string }} StatusEvent
 */

const KEY_STORAGE = 'conveyor.apiKey';
/** Seconds of throughput history kept for the sparklines. */
const WINDOW_S = 120;
/** Polls of backlog history kept per queue. */
const BACKLOG_POINTS = 60;
const LIST_LIMIT = 20;
/** What the failed list shows, and so what "Retry all failed…" retries (every match, not only those listed). */
const FAILED_STATUSES = ['failed', 'expired'];
/** Minutes of history in the per-minute chart and the "last hour" figures. */
const STATS_MINUTES = 60;
/** GET /v1/stats is read at most this often (it counts an hour of rows). */
const STATS_EVERY_MS = 10_000;
/** The webhooks and their deliveries (one request per webhook) are read at most this often. */
const WEBHOOKS_EVERY_MS = 5_000;
/** Webhooks whose failed deliveries are read on each poll. */
const WEBHOOK_LIMIT = 20;
/** Latest deliveries read per webhook, to find the failed ones and their redeliveries. */
const DELIVERY_WINDOW = 100;

/** @param {string} id */
function $(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing`);
  return element;
}

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {{ className?: string, text?: string, title?: string }} [options]
 * @param {(Node | string)[]} [children]
 * @returns {HTMLElementTagNameMap[K]}
 */
function el(tag, options = {}, children = []) {
  const element = document.createElement(tag);
  if (options.className) element.className = options.className;
  if (options.text !== undefined) element.textContent = options.text;
  if (options.title) element.title = options.title;
  element.append(...children);
  return element;
}

/** A problem+json answer, as an Error. */
class ApiError extends Error {
  /** @param {number} status @param {string} message */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const state = {
  key: '',
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  timer: undefined,
  intervalMs: 2_000,
  /** @type {AbortController | undefined} */
  stream: undefined,
  /** Completed and failed events per second, keyed by epoch second. */
  /** @type {Map<number, { completed: number, failed: number }>} */
  perSecond: new Map(),
  /** @type {Map<string, number[]>} */
  backlog: new Map(),
  /** Job ids whose details row is open. */
  /** @type {Set<string>} */
  expanded: new Set(),
  /** Jobs opened from a flow's tree: shown under "Opened jobs" while no list holds them. */
  /** @type {Set<string>} */
  opened: new Set(),
  /** A job whose details to scroll into view once they are drawn. */
  /** @type {string | undefined} */
  reveal: undefined,
  refreshing: false,
  /** A refresh was asked for while one ran: run another when it ends (a click shows its effect at once). */
  again: false,
  /** "Retry all failed…" between its dry run and the end of its run: the filter it counted. */
  /** @type {{ filter: RetryFilter, matched: number } | undefined} */
  pendingRetry: undefined,
};

/**
 * Calls the API with the key; throws ApiError with the problem's detail on a non-2xx answer.
 * @param {string} path
 * @param {RequestInit} [init]
 * @returns {Promise<any>}
 */
async function api(path, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${state.key}`);
  const response = await fetch(path, { ...init, headers });
  if (response.status === 401) {
    signOut('That API key is not valid (or was revoked).');
    throw new ApiError(401, 'unauthenticated');
  }
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body?.detail ?? `HTTP ${response.status}`);
  return body;
}

/** @param {string} message @param {'ok' | 'bad'} [kind] */
function toast(message, kind = 'bad') {
  const box = $('toast');
  box.textContent = message;
  box.className = kind;
  box.hidden = false;
  clearTimeout(Number(box.dataset.timer));
  box.dataset.timer = String(setTimeout(() => (box.hidden = true), 5_000));
}

/** @param {string | null} iso */
function ago(iso) {
  if (!iso) return '–';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1_000));
  if (s < 60) return `${s}s ago`;
  if (s < 3_600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3_600)}h ago`;
  return new Date(iso).toLocaleString();
}

/**
 * Draws `values` as a filled sparkline into an SVG (attributes only, no style).
 * @param {Element} svg @param {number[]} values
 */
function sparkline(svg, values) {
  const ns = 'http://www.w3.org/2000/svg';
  const width = 240;
  const height = 48;
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values.map(
    (value, i) => `${(i * step).toFixed(1)},${(height - (value / max) * (height - 2)).toFixed(1)}`,
  );
  const area = document.createElementNS(ns, 'polygon');
  area.setAttribute('class', 'area');
  area.setAttribute('points', `0,${height} ${points.join(' ')} ${width},${height}`);
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('class', 'line');
  line.setAttribute('points', points.join(' '));
  const title = document.createElementNS(ns, 'title');
  title.textContent = `peak ${max}`;
  svg.replaceChildren(title, area, line);
}

/** The last WINDOW_S seconds of completed and failed counts, oldest first. */
function series() {
  const now = Math.floor(Date.now() / 1_000);
  const completed = [];
  const failed = [];
  for (let s = now - WINDOW_S + 1; s <= now; s++) {
    const bucket = state.perSecond.get(s);
    completed.push(bucket?.completed ?? 0);
    failed.push(bucket?.failed ?? 0);
  }
  for (const second of state.perSecond.keys()) if (second <= now - WINDOW_S) state.perSecond.delete(second);
  return { completed, failed };
}

function renderRates() {
  const { completed, failed } = series();
  sparkline($('spark-completed'), completed);
  sparkline($('spark-failed'), failed);
  const done = completed.slice(-60).reduce((a, b) => a + b, 0);
  $('stat-rate').textContent = `${(done / 60).toFixed(done >= 60 ? 0 : 2)}/s`;
}

/** The "last hour" figures and the per-minute chart, from GET /v1/stats. @param {JobStats} stats */
function renderStats(stats) {
  const { totals } = stats;
  $('stat-completed').textContent = String(totals.completed);
  $('stat-failed').textContent = String(totals.failed);
  $('stat-cancelled').textContent = String(totals.cancelled);
  $('stat-expired').textContent = String(totals.expired);
  const ran = totals.completed + totals.failed;
  $('stat-failrate').textContent = ran === 0 ? '–' : `${((100 * totals.failed) / ran).toFixed(1)}%`;
  bars($('chart-minutes'), stats.perMinute);
}

/**
 * Draws one stacked bar per minute: completed, failed, then cancelled or expired.
 * @param {Element} svg @param {(Outcomes & { at: string })[]} minutes
 */
function bars(svg, minutes) {
  const ns = 'http://www.w3.org/2000/svg';
  const width = 600;
  const height = 80;
  const total = (/** @type {Outcomes} */ m) => m.completed + m.failed + m.cancelled + m.expired;
  const max = Math.max(1, ...minutes.map(total));
  const step = width / Math.max(1, minutes.length);
  const title = document.createElementNS(ns, 'title');
  title.textContent = `peak ${max} per minute`;
  /** @type {Element[]} */
  const shapes = [title];
  minutes.forEach((minute, i) => {
    let top = height;
    for (const [kind, n] of /** @type {const} */ ([
      ['ok', minute.completed],
      ['bad', minute.failed],
      ['warn', minute.cancelled + minute.expired],
    ])) {
      if (n === 0) continue;
      const h = (n / max) * (height - 2);
      top -= h;
      const rect = document.createElementNS(ns, 'rect');
      rect.setAttribute('class', kind);
      rect.setAttribute('x', (i * step + 0.5).toFixed(1));
      rect.setAttribute('y', top.toFixed(1));
      rect.setAttribute('width', Math.max(1, step - 1).toFixed(1));
      rect.setAttribute('height', h.toFixed(1));
      const tip = document.createElementNS(ns, 'title');
      tip.textContent = `${new Date(minute.at).toLocaleTimeString()}: ${minute.completed} completed, ${minute.failed} failed, ${minute.cancelled} cancelled, ${minute.expired} expired`;
      rect.append(tip);
      shapes.push(rect);
    }
  });
  svg.replaceChildren(...shapes);
  svg.setAttribute('data-total', String(minutes.reduce((n, m) => n + total(m), 0)));
}

/**
 * A queue's row for a key without the operator scope: its name and paused flag only.
 * @param {QueueInfo} queue
 */
function restrictedQueueRow(queue) {
  const name = el('td', {}, [
    queue.name,
    ...(queue.paused ? [el('span', { className: 'pill paused', text: 'paused' })] : []),
  ]);
  const cells = Array.from({ length: 7 }, () =>
    el('td', { className: 'num', text: '–', title: 'needs the operator scope' }),
  );
  const row = el('tr', {}, [name, ...cells, limitsCell(queue.limits), el('td'), el('td')]);
  row.dataset.queue = queue.name;
  return row;
}

/**
 * "100 / 1 min · 4 at once", then how many jobs they hold back now ("37 held"), or "–" for a
 * queue without limits.
 * @param {QueueLimits} limits
 * @param {QueueInfo['held']} [held]
 */
function limitsCell({ rateLimit, concurrency }, held = null) {
  const parts = [];
  const said = [];
  if (rateLimit) {
    parts.push(`${rateLimit.max} / ${duration(rateLimit.durationMs)}`);
    said.push(`at most ${rateLimit.max} jobs started per ${duration(rateLimit.durationMs)}`);
  }
  if (concurrency !== null) {
    parts.push(`${concurrency} at once`);
    said.push(`at most ${concurrency} running at once`);
  }
  if (held && held.jobs > 0) {
    parts.push(`${held.jobs} held`);
    said.push(`${held.jobs} waiting jobs held back now by its ${held.by.join(' and ')}`);
  }
  return el('td', {
    className: 'limits',
    text: parts.length === 0 ? '–' : parts.join(' · '),
    title:
      said.length === 0 ? 'No rate limit or global concurrency' : `${said.join(', ')}, across every worker`,
  });
}

/** @param {QueueInfo[]} queues */
function renderQueues(queues) {
  const totals = { waiting: 0, active: 0, delayed: 0 };
  renderInternalQueues(queues.filter((q) => q.internal));
  const rows = queues
    .filter((q) => !q.internal)
    .map((queue) => {
      // Without the operator scope a queue shows no depth (it is every tenant's) and no buttons.
      if (!queue.counts) return restrictedQueueRow(queue);
      const { counts } = queue;
      totals.waiting += counts.waiting + counts.prioritized;
      totals.active += counts.active;
      totals.delayed += counts.delayed;
      const history = state.backlog.get(queue.name) ?? [];
      history.push(counts.waiting + counts.prioritized);
      if (history.length > BACKLOG_POINTS) history.shift();
      state.backlog.set(queue.name, history);

      const spark = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
      spark.setAttribute('class', 'spark mini');
      spark.setAttribute('viewBox', '0 0 240 48');
      spark.setAttribute('preserveAspectRatio', 'none');
      sparkline(spark, history);
      const toggle = el('button', { text: queue.paused ? 'Resume' : 'Pause' });
      toggle.type = 'button';
      toggle.addEventListener('click', () =>
        act(`Queue ${queue.name} ${queue.paused ? 'resumed' : 'paused'}`, () =>
          api(`v1/queues/${encodeURIComponent(queue.name)}/${queue.paused ? 'resume' : 'pause'}`, {
            method: 'POST',
          }),
        ),
      );
      const name = el('td', {}, [
        queue.name,
        ...(queue.partitions > 1
          ? [el('span', { className: 'pill', text: `${queue.partitions} partitions` })]
          : []),
        ...(queue.paused ? [el('span', { className: 'pill paused', text: 'paused' })] : []),
      ]);
      const row = el('tr', {}, [
        name,
        ...[
          counts.waiting,
          counts.prioritized,
          counts.delayed,
          counts.active,
          counts.failed,
          counts.completed,
          queue.workers,
        ].map((n) => el('td', { className: 'num', text: String(n) })),
        limitsCell(queue.limits, queue.held),
        el('td', {}, [spark]),
        el('td', {}, [toggle]),
      ]);
      row.dataset.queue = queue.name;
      return row;
    });
  $('queues')
    .querySelector('tbody')
    ?.replaceChildren(...rows);
  $('stat-waiting').textContent = String(totals.waiting);
  $('stat-active').textContent = String(totals.active);
  $('stat-delayed').textContent = String(totals.delayed);
  if (queues.every((q) => q.counts === null)) {
    for (const id of ['stat-waiting', 'stat-active', 'stat-delayed']) $(id).textContent = '–';
  }
}

/** Conveyor's own queues: depth only, no buttons. @param {QueueInfo[]} queues */
function renderInternalQueues(queues) {
  const rows = queues.map((queue) => {
    const { counts } = queue;
    const cells = counts
      ? [
          counts.waiting + counts.prioritized,
          counts.delayed,
          counts.active,
          counts.failed,
          counts.completed,
          queue.workers,
        ].map((n) => el('td', { className: 'num', text: String(n) }))
      : Array.from({ length: 6 }, () =>
          el('td', { className: 'num', text: '–', title: 'needs the operator scope' }),
        );
    const row = el('tr', {}, [el('td', { text: queue.name }), ...cells]);
    row.dataset.queue = queue.name;
    return row;
  });
  $('internal-queues')
    .querySelector('tbody')
    ?.replaceChildren(...rows);
}

/** "every 30 s", "0 9 * * 1-5 (Europe/Paris)". @param {ScheduleView} schedule */
function when(schedule) {
  if (schedule.cron) return schedule.tz ? `${schedule.cron} (${schedule.tz})` : schedule.cron;
  return `every ${duration(schedule.everyMs ?? 0)}`;
}

/** "30 s", "5 min", "1 h", "250 ms". @param {number} ms */
function duration(ms) {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return ms % 1_000 === 0 ? `${ms / 1_000} s` : `${ms} ms`;
}

/** @param {string | null | undefined} iso */
function until(iso) {
  if (!iso) return '–';
  const s = Math.round((Date.parse(iso) - Date.now()) / 1_000);
  if (s <= 0) return 'now';
  if (s < 60) return `in ${s}s`;
  if (s < 3_600) return `in ${Math.floor(s / 60)}m`;
  return new Date(iso).toLocaleString();
}

/** @param {ScheduleView[]} schedules */
function renderSchedules(schedules) {
  const rows = schedules.map((schedule) => {
    const actions = el('td', { className: 'actions' });
    if (schedule.state !== 'finished') {
      const paused = schedule.state === 'paused';
      const toggle = el('button', { text: paused ? 'Resume' : 'Pause' });
      toggle.type = 'button';
      toggle.addEventListener('click', () =>
        act(`Schedule ${schedule.name ?? schedule.id.slice(0, 8)} ${paused ? 'resumed' : 'paused'}`, () =>
          api(`v1/schedules/${schedule.id}`, {
            method: 'PATCH',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ paused: !paused }),
          }),
        ),
      );
      actions.append(toggle);
    }
    const row = el('tr', {}, [
      el('td', { text: schedule.name ?? schedule.id.slice(0, 8), title: schedule.id }),
      el('td', { text: schedule.type }),
      el('td', { className: 'mono', text: when(schedule) }),
      el('td', {}, [el('span', { className: `pill ${schedule.state}`, text: schedule.state })]),
      el('td', {
        className: 'next-run',
        text: until(schedule.nextRuns[0]),
        title: schedule.nextRuns[0] ?? '',
      }),
      el('td', { className: 'last-run', text: ago(schedule.lastRunAt), title: schedule.lastRunAt ?? '' }),
      el('td', { className: 'num', text: String(schedule.runCount) }),
      actions,
    ]);
    row.dataset.schedule = schedule.id;
    row.dataset.state = schedule.state;
    return row;
  });
  fill('schedules', rows, 8, 'no schedules');
}

/**
 * The webhooks, and the deliveries they gave up on. A key without the admin scope sees a note.
 * @param {{ webhooks: WebhookView[], failed: Map<string, DeliveryView[]> } | null} hooks
 */
function renderWebhooks(hooks) {
  const note = $('webhooks-note');
  note.hidden = hooks !== null;
  note.textContent = hooks === null ? 'Webhooks and their deliveries need a key with the admin scope.' : '';
  const webhooks = hooks?.webhooks ?? [];
  const failed = hooks?.failed ?? new Map();
  const hookRows = webhooks.map((hook) => {
    const row = el('tr', {}, [
      el('td', { className: 'mono', text: hook.url }),
      el('td', { text: hook.types.length === 0 ? 'all' : hook.types.join(', ') }),
      el('td', { text: hook.statuses.length === 0 ? 'all' : hook.statuses.join(', ') }),
      el('td', {}, [
        el('span', {
          className: `pill ${hook.enabled ? 'on' : 'paused'}`,
          text: hook.enabled ? 'enabled' : 'disabled',
        }),
      ]),
      el('td', { className: 'num', text: String(failed.get(hook.id)?.length ?? 0) }),
    ]);
    row.dataset.webhook = hook.id;
    return row;
  });
  fill('webhooks', hookRows, 5, hooks === null ? '–' : 'no webhooks');

  const deliveries = [...failed.values()]
    .flat()
    .sort((a, b) => Date.parse(b.updatedAt) - Date.parse(a.updatedAt));
  const deliveryRows = deliveries.map((delivery) => {
    const redeliver = el('button', { text: delivery.redelivering ? 'Redelivering…' : 'Redeliver' });
    redeliver.type = 'button';
    redeliver.disabled = delivery.redelivering === true;
    redeliver.addEventListener('click', () =>
      act(`Delivery ${delivery.id.slice(0, 8)} sent again`, () =>
        api(`v1/webhooks/${delivery.webhookId}/deliveries/${delivery.id}/redeliver`, { method: 'POST' }),
      ),
    );
    const row = el('tr', {}, [
      el('td', { className: 'mono', text: delivery.id.slice(0, 8), title: delivery.id }),
      el('td', { className: 'mono', text: delivery.url }),
      el('td', { className: 'mono', text: delivery.jobId.slice(0, 8), title: delivery.jobId }),
      el('td', { text: `${delivery.event.type} ${delivery.event.status}` }),
      el('td', { className: 'num', text: String(delivery.attempts) }),
      el('td', { text: ago(delivery.updatedAt), title: delivery.updatedAt }),
      el('td', {
        className: 'error-text',
        text:
          delivery.lastError ??
          (delivery.lastStatusCode === null ? '' : `answered ${delivery.lastStatusCode}`),
      }),
      el('td', { className: 'actions' }, [redeliver]),
    ]);
    row.dataset.delivery = delivery.id;
    return row;
  });
  fill('failed-deliveries', deliveryRows, 8, hooks === null ? '–' : 'none');
}

/**
 * Puts `rows` in a table's body, or one row saying `empty`.
 * @param {string} tableId @param {HTMLTableRowElement[]} rows @param {number} columns @param {string} empty
 */
function fill(tableId, rows, columns, empty) {
  if (rows.length === 0) {
    const cell = el('td', { className: 'empty', text: empty });
    cell.setAttribute('colspan', String(columns));
    rows.push(el('tr', {}, [cell]));
  }
  $(tableId)
    .querySelector('tbody')
    ?.replaceChildren(...rows);
}

/**
 * @param {string} tableId
 * @param {JobView[]} jobs
 * @param {'createdAt' | 'finishedAt'} when
 * @param {Flows} flows the flows of the jobs whose details are open
 */
function renderJobs(tableId, jobs, when, flows) {
  const rows = jobs.flatMap((job) => {
    const actions = el('td', { className: 'actions' });
    if (['failed', 'cancelled', 'expired'].includes(job.status)) {
      const retry = el('button', { text: 'Retry' });
      retry.type = 'button';
      retry.addEventListener('click', () =>
        act(`Job ${job.id.slice(0, 8)} queued again`, () =>
          api(`v1/jobs/${job.id}/retry`, { method: 'POST' }),
        ),
      );
      actions.append(retry);
    }
    if (['queued', 'active'].includes(job.status)) {
      const cancel = el('button', { text: 'Cancel', className: 'danger' });
      cancel.type = 'button';
      cancel.addEventListener('click', () =>
        act(`Job ${job.id.slice(0, 8)} cancelled`, () => api(`v1/jobs/${job.id}/cancel`, { method: 'POST' })),
      );
      actions.append(cancel);
    }
    const open = el('button', { text: job.id.slice(0, 8), className: 'link', title: job.id });
    open.type = 'button';
    open.addEventListener('click', () => {
      if (state.expanded.has(job.id)) state.expanded.delete(job.id);
      else state.expanded.add(job.id);
      void refresh();
    });
    const row = el('tr', {}, [
      el('td', { className: 'mono' }, [open]),
      el('td', { text: job.type }),
      el('td', { text: job.queue }),
      el('td', {}, [el('span', { className: `pill ${job.status}`, text: job.status })]),
      el('td', { className: 'num', text: `${job.attempts}/${job.maxAttempts}` }),
      el('td', { text: ago(job[when]), title: job[when] ?? '' }),
      el('td', { className: 'error-text', text: job.error ? `${job.error.code}: ${job.error.message}` : '' }),
      actions,
    ]);
    row.dataset.job = job.id;
    row.dataset.status = job.status;
    if (!state.expanded.has(job.id)) return [row];
    const { data, result, error, attemptErrors, logs, startedAt, finishedAt } = job;
    const details = el('tr', { className: 'details' }, [
      el('td', {}, []),
      el('td', {}, [
        ...(job.flowId ? [renderFlow(job.flowId, flows.get(job.flowId), job.id)] : []),
        el('pre', {
          text: JSON.stringify({ data, result, error, attemptErrors, logs, startedAt, finishedAt }, null, 2),
        }),
      ]),
    ]);
    details.lastElementChild?.setAttribute('colspan', '7');
    details.dataset.details = job.id;
    return [row, details];
  });
  fill(tableId, rows, 8, 'none');
}

/**
 * A flow's tree in a job's details: nested lists in the order GET /v1/flows/:id gives (root
 * first, depth-first), each node with its type, short id and status, the job `current` marked.
 * A click on another node opens that job's details.
 * @param {string} flowId @param {FlowView | string | undefined} flow @param {string} current
 */
function renderFlow(flowId, flow, current) {
  const heading = el('h4', {}, [
    'Flow ',
    el('span', { className: 'mono', text: flowId.slice(0, 8), title: flowId }),
    ...(typeof flow === 'object'
      ? [el('span', { className: `pill ${flow.status}`, text: flow.status })]
      : []),
  ]);
  const box = el('div', { className: 'flow' }, [heading]);
  box.dataset.flow = flowId;
  if (typeof flow !== 'object') {
    box.append(el('p', { className: 'note', text: flow ?? 'Reading the flow…' }));
    return box;
  }
  /** @type {Map<string | null, FlowNode[]>} */
  const below = new Map();
  const ids = new Set(flow.nodes.map((node) => node.id));
  for (const node of flow.nodes) {
    // A node whose parent is not listed would be lost: show it at the top instead.
    const parent = node.parentId !== null && ids.has(node.parentId) ? node.parentId : null;
    const siblings = below.get(parent);
    if (siblings) siblings.push(node);
    else below.set(parent, [node]);
  }
  /** @param {FlowNode} node */
  const item = (node) => {
    const parts = [
      el('span', { className: 'type', text: node.type }),
      el('span', { className: 'mono', text: node.id.slice(0, 8) }),
      el('span', { className: `pill ${node.status}`, text: node.status }),
    ];
    /** @type {HTMLElement} */
    let line;
    if (node.id === current) {
      line = el('span', { className: 'flow-node current', title: `${node.id} (this job)` }, parts);
      line.setAttribute('aria-current', 'true');
    } else {
      const open = el('button', { className: 'flow-node', title: `Open job ${node.id}` }, parts);
      open.type = 'button';
      open.addEventListener('click', () => openJob(node.id));
      line = open;
    }
    const li = el('li', {}, [line]);
    const children = below.get(node.id);
    if (children) li.append(el('ul', {}, children.map(item)));
    li.dataset.job = node.id;
    li.dataset.status = node.status;
    return li;
  };
  box.append(el('ul', { className: 'flow-tree' }, (below.get(null) ?? []).map(item)));
  return box;
}

/**
 * Opens a job's details from a flow's tree, as a click on its row does: in the lists' rows
 * that show it, else under "Opened jobs"; then scrolls to them.
 * @param {string} id
 */
function openJob(id) {
  state.expanded.add(id);
  state.opened.add(id);
  state.reveal = id;
  void refresh();
}

/** Scrolls to the details `state.reveal` names, once drawn (a poll begun before the click may not draw them). */
function reveal() {
  if (!state.reveal) return;
  if (!state.expanded.has(state.reveal)) {
    state.reveal = undefined;
    return;
  }
  const details = document.querySelector(`tr[data-details="${CSS.escape(state.reveal)}"]`);
  if (!details) return;
  details.scrollIntoView({ block: 'nearest' });
  state.reveal = undefined;
}

/**
 * Runs a button's action, then refreshes at once.
 * @param {string} done @param {() => Promise<unknown>} action
 */
async function act(done, action) {
  try {
    await action();
    toast(done, 'ok');
  } catch (error) {
    if (error instanceof ApiError && error.status !== 401) toast(error.message);
  }
  await refresh(true);
}

const numbers = new Intl.NumberFormat();
/** "1 failed or expired job", "4,213 failed or expired jobs". @param {number} n */
const failedJobs = (n) => `${numbers.format(n)} failed or expired job${n === 1 ? '' : 's'}`;

/** POST /v1/jobs/retry. @param {RetryFilter & { dryRun?: boolean, cursor?: string }} body */
async function bulkRetry(body) {
  return /** @type {BulkRetryResult} */ (
    await api('v1/jobs/retry', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
  );
}

/**
 * "Retry all failed…", step one: a dry run of POST /v1/jobs/retry counts every failed or
 * expired job of the tenant (not only the listed ones), and an inline confirmation states the
 * count. The filter is pinned to the dry run's moment (`createdBefore`), so the retry that
 * follows covers the jobs counted and none submitted since (by this browser's clock: one far
 * off the API's moves the bound with it). A job submitted before the count that fails only
 * after it is still included: the list's filters have no bound on the finish time.
 */
async function askRetryAll() {
  const button = /** @type {HTMLButtonElement} */ ($('retry-all'));
  if (state.pendingRetry) return;
  button.disabled = true;
  try {
    /** @type {RetryFilter} */
    const filter = { status: FAILED_STATUSES, createdBefore: new Date().toISOString() };
    const { matched } = await bulkRetry({ ...filter, dryRun: true });
    if (matched === 0) {
      toast('No failed or expired jobs to retry', 'ok');
      button.disabled = false;
      return;
    }
    state.pendingRetry = { filter, matched };
    $('retry-confirm-text').textContent = `Retry ${failedJobs(matched)}?`;
    const yes = $('retry-confirm-yes');
    yes.textContent = `Retry ${numbers.format(matched)} job${matched === 1 ? '' : 's'}`;
    yes.hidden = false;
    $('retry-confirm-no').hidden = false;
    $('retry-progress').hidden = true;
    $('retry-progress-text').textContent = '';
    $('retry-confirm').hidden = false;
    yes.focus();
  } catch (error) {
    button.disabled = false;
    if (error instanceof ApiError && error.status !== 401) toast(error.message);
    else if (!(error instanceof ApiError)) toast('The API did not answer; nothing was retried.');
  }
}

/** Takes the confirmation away with the count it asked about (a run under way stops after its request). */
function closeRetryConfirm() {
  state.pendingRetry = undefined;
  $('retry-confirm').hidden = true;
  /** @type {HTMLButtonElement} */ ($('retry-all')).disabled = false;
}

/**
 * "Retry all failed…", confirmed: POST /v1/jobs/retry with the counted filter, then with each
 * answer's `nextCursor` until it is null (the API retries at most 1,000 a request), the
 * progress shown as it goes and the outcome in a toast. A request that fails stops the run
 * there: what was retried stays retried, and a new click counts what is left.
 */
async function retryAll() {
  const pending = state.pendingRetry;
  if (!pending) return;
  const { filter, matched } = pending;
  const progress = /** @type {HTMLProgressElement} */ ($('retry-progress'));
  const said = $('retry-progress-text');
  $('retry-confirm-yes').hidden = true;
  $('retry-confirm-no').hidden = true;
  progress.max = matched;
  progress.value = 0;
  progress.hidden = false;
  said.textContent = `Retrying ${failedJobs(matched)}…`;
  let seen = 0;
  let retried = 0;
  /** @type {{ id: string, reason: string }[]} */
  const skipped = [];
  try {
    /** @type {string | null} */
    let cursor = null;
    do {
      const answer = await bulkRetry(cursor ? { ...filter, cursor } : filter);
      seen += answer.matched;
      retried += answer.retried;
      skipped.push(...answer.skipped);
      cursor = answer.nextCursor;
      progress.value = Math.min(seen, matched);
      said.textContent = `${numbers.format(seen)} of ${numbers.format(Math.max(seen, matched))} gone through…`;
    } while (cursor !== null && state.pendingRetry === pending);
    const first = skipped[0];
    const more = first ? `; ${numbers.format(skipped.length)} skipped (${first.reason})` : '';
    toast(`${failedJobs(retried)} queued again${more}`, first ? 'bad' : 'ok');
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) {
      const why = error instanceof ApiError ? error.message : 'the API did not answer';
      toast(`Stopped after ${failedJobs(retried)} queued again: ${why}`);
    }
  } finally {
    if (state.pendingRetry === pending) closeRetryConfirm();
  }
  await refresh(true);
}

/**
 * The jobs opened from a flow's tree whose details are still open (GET /v1/jobs/:id each);
 * a job that is gone (pruned) is forgotten.
 * @returns {Promise<JobView[]>}
 */
async function readOpened() {
  for (const id of state.opened) if (!state.expanded.has(id)) state.opened.delete(id);
  const jobs = await Promise.all(
    [...state.opened].map(async (id) => {
      try {
        return /** @type {JobView} */ (await api(`v1/jobs/${encodeURIComponent(id)}`));
      } catch (error) {
        if (!(error instanceof ApiError) || error.status !== 404) throw error;
        state.opened.delete(id);
        state.expanded.delete(id);
        return null;
      }
    }),
  );
  return jobs.filter((job) => job !== null);
}

/**
 * The flows of the jobs among `jobs` whose details are open, each read once (GET /v1/flows/:id).
 * A flow that cannot be read is shown as why, without failing the poll.
 * @param {JobView[]} jobs
 * @returns {Promise<Flows>}
 */
async function readFlows(jobs) {
  const ids = new Set(jobs.flatMap((job) => (job.flowId && state.expanded.has(job.id) ? [job.flowId] : [])));
  /** @type {Flows} */
  const flows = new Map();
  await Promise.all(
    [...ids].map(async (id) => {
      try {
        flows.set(id, /** @type {FlowView} */ (await api(`v1/flows/${encodeURIComponent(id)}`)));
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) throw error;
        flows.set(id, `The flow could not be read: ${error instanceof Error ? error.message : error}`);
      }
    }),
  );
  return flows;
}

/**
 * The tenant's webhooks and, per webhook, the deliveries it gave up on that no redelivery has
 * delivered since (a pending redelivery is shown on the row); null for a key without admin.
 */
async function readWebhooks() {
  try {
    /** @type {{ items: WebhookView[] }} */
    const { items } = await api('v1/webhooks');
    const webhooks = items.slice(0, WEBHOOK_LIMIT);
    const pages = await Promise.all(
      webhooks.map((hook) => api(`v1/webhooks/${hook.id}/deliveries?limit=${DELIVERY_WINDOW}`)),
    );
    /** @type {Map<string, DeliveryView[]>} */
    const failed = new Map();
    webhooks.forEach((hook, i) => {
      /** @type {DeliveryView[]} */
      const deliveries = pages[i].items;
      /** @type {Map<string, string>} the newest redelivery's status, per original */
      const redone = new Map();
      for (const d of deliveries) {
        if (d.redeliveryOf && !redone.has(d.redeliveryOf)) redone.set(d.redeliveryOf, d.status);
      }
      failed.set(
        hook.id,
        deliveries
          .filter((d) => d.status === 'failed' && redone.get(d.id) !== 'delivered')
          .map((d) => ({ ...d, redelivering: redone.get(d.id) === 'pending' })),
      );
    });
    return { webhooks, failed };
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) return null;
    throw error;
  }
}

/**
 * `read`, its answer reused for `everyMs` (reads that cost the API more than a poll's worth);
 * read again at once when forced: after a button, and for a new key.
 * @template T @param {number} everyMs @param {() => Promise<T>} read
 * @returns {(force: boolean) => Promise<T>}
 */
function throttled(everyMs, read) {
  /** @type {{ at: number, value: T } | undefined} */
  let last;
  return async (force) => {
    if (!force && last && Date.now() - last.at < everyMs) return last.value;
    last = { at: Date.now(), value: await read() };
    return last.value;
  };
}

const readStats = throttled(
  STATS_EVERY_MS,
  async () => /** @type {JobStats} */ (await api(`v1/stats?minutes=${STATS_MINUTES}`)),
);
const readWebhooksThrottled = throttled(WEBHOOKS_EVERY_MS, readWebhooks);

/** One poll: queues, stats, jobs, schedules and webhooks in parallel. @param {boolean} [force] */
async function refresh(force = false) {
  if (!state.key) return;
  if (state.refreshing) {
    state.again = true;
    return;
  }
  state.refreshing = true;
  state.again = false;
  try {
    const [queues, stats, failed, recent, schedules, hooks, opened] = await Promise.all([
      api('v1/queues'),
      readStats(force),
      // Expired jobs never ran: like failed ones, they are worth a look and a retry.
      api(`v1/jobs?status=${FAILED_STATUSES.join(',')}&limit=${LIST_LIMIT}`),
      api(`v1/jobs?limit=${LIST_LIMIT}`),
      api('v1/schedules?limit=50'),
      readWebhooksThrottled(force),
      readOpened(),
    ]);
    /** @type {JobView[]} */
    const listed = [...failed.items, ...recent.items];
    const unlisted = opened.filter((job) => !listed.some((other) => other.id === job.id));
    const flows = await readFlows([...listed, ...unlisted]);
    showApp();
    renderQueues(queues.items);
    renderStats(stats);
    renderJobs('failed-jobs', failed.items, 'finishedAt', flows);
    $('retry-all').hidden = failed.items.length === 0;
    renderJobs('recent-jobs', recent.items, 'createdAt', flows);
    $('opened').hidden = unlisted.length === 0;
    renderJobs('opened-jobs', unlisted, 'createdAt', flows);
    renderSchedules(schedules.items);
    renderWebhooks(hooks);
    renderRates();
    reveal();
  } catch (error) {
    if (error instanceof ApiError && error.status !== 401) toast(error.message);
    else if (!(error instanceof ApiError)) toast('The API did not answer; retrying.');
  } finally {
    state.refreshing = false;
  }
  if (state.again) await refresh(true);
}

function schedule() {
  clearTimeout(state.timer);
  if (!state.key || state.intervalMs === 0) return;
  state.timer = setTimeout(async () => {
    await refresh();
    schedule();
  }, state.intervalMs);
}

/**
 * Follows GET /v1/events with fetch (EventSource cannot send the Authorization header) and
 * counts completions and failures per second. Reconnects after a drop with Last-Event-ID,
 * so the events of the gap are replayed (and counted in the second they happened).
 */
async function follow() {
  state.stream?.abort();
  const controller = new AbortController();
  state.stream = controller;
  const live = $('live');
  let backoffMs = 1_000;
  /** The id of the last frame read: where a reconnect resumes. */
  const cursor = { lastId: '' };
  while (!controller.signal.aborted && state.key) {
    try {
      /** @type {Record<string, string>} */
      const headers = { authorization: `Bearer ${state.key}` };
      if (cursor.lastId) headers['last-event-id'] = cursor.lastId;
      const response = await fetch('v1/events?status=completed,failed', {
        headers,
        signal: controller.signal,
      });
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      live.textContent = 'live';
      live.className = 'pill on';
      backoffMs = 1_000;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        const frames = buffer.split('\n\n');
        buffer = frames.pop() ?? '';
        for (const frame of frames) onFrame(frame, cursor);
      }
    } catch {
      if (controller.signal.aborted) return;
    }
    live.textContent = 'reconnecting';
    live.className = 'pill off';
    await new Promise((resolve) => setTimeout(resolve, backoffMs));
    backoffMs = Math.min(backoffMs * 2, 15_000);
  }
}

/**
 * Counts one SSE frame if it is a status event, and notes its id in `cursor`.
 * @param {string} frame one SSE frame
 * @param {{ lastId: string }} cursor
 */
function onFrame(frame, cursor) {
  const lines = frame.split('\n');
  /** @param {string} field */
  const values = (field) =>
    lines
      .filter((line) => line.startsWith(`${field}:`))
      .map((line) => line.slice(field.length + 1).trimStart());
  const id = values('id').at(-1);
  if (id) cursor.lastId = id;
  const data = values('data').join('\n');
  // `connected` and `reset` carry only where the stream stands.
  if (!data || (values('event')[0] ?? 'message') !== 'status') return;
  /** @type {StatusEvent} */
  const event = JSON.parse(data);
  const at = Date.parse(event.ts);
  const second = Math.floor((Number.isNaN(at) ? Date.now() : at) / 1_000);
  const bucket = state.perSecond.get(second) ?? { completed: 0, failed: 0 };
  if (event.status === 'completed') bucket.completed++;
  else if (event.status === 'failed') bucket.failed++;
  state.perSecond.set(second, bucket);
}

function showApp() {
  $('login').hidden = true;
  $('app').hidden = false;
  $('signout').hidden = false;
}

/** @param {string} [reason] */
function signOut(reason) {
  state.key = '';
  sessionStorage.removeItem(KEY_STORAGE);
  state.stream?.abort();
  clearTimeout(state.timer);
  // A count read with this key is never confirmed with the next one.
  closeRetryConfirm();
  $('app').hidden = true;
  $('signout').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = reason ?? '';
  $('live').textContent = 'offline';
  $('live').className = 'pill off';
}

/** @param {string} key */
async function signIn(key) {
  state.key = key;
  sessionStorage.setItem(KEY_STORAGE, key);
  $('login-error').textContent = '';
  // Forced: nothing read with another key is shown for this one.
  await refresh(true);
  if (!state.key) return;
  schedule();
  void follow();
}

function start() {
  // A key may come in the URL fragment (never sent to the server): keep it, then drop it from the URL.
  const fragment = new URLSearchParams(location.hash.slice(1)).get('key');
  if (fragment) history.replaceState(null, '', location.pathname + location.search);
  const key = fragment ?? sessionStorage.getItem(KEY_STORAGE) ?? '';

  $('login-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = /** @type {HTMLInputElement} */ ($('key'));
    void signIn(input.value.trim());
    input.value = '';
  });
  $('signout').addEventListener('click', () => signOut());
  $('interval').addEventListener('change', (event) => {
    state.intervalMs = Number(/** @type {HTMLSelectElement} */ (event.target).value);
    schedule();
  });
  $('retry-all').addEventListener('click', () => void askRetryAll());
  $('retry-confirm-yes').addEventListener('click', () => void retryAll());
  $('retry-confirm-no').addEventListener('click', () => closeRetryConfirm());
  $('retry-confirm').addEventListener('keydown', (event) => {
    // Before the run only: once confirmed, the run goes on to the end.
    if (event.key === 'Escape' && !$('retry-confirm-no').hidden) closeRetryConfirm();
  });
  // Redraw the rate stats every second even when the poll interval is longer.
  setInterval(() => state.key && !$('app').hidden && renderRates(), 1_000);

  if (key) void signIn(key);
  else signOut();
}

start();
