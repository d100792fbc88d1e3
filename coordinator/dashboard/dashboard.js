// The dashboard page: the queue and the workers from /api/events, and the job chosen in the
// address's #fragment (else the running or newest one) from /api/jobs/<id>/events, both
// Server-Sent Events that the browser reconnects by itself. Text from the coordinator is only ever
// set with textContent.
import { lineChart } from '/charts.js';

const LOG_LINES = 500; // the log tail kept on the page
const COLORS = { train: '#2563eb', validation: '#ea580c', lr: '#7c3aed', throughput: '#0d9488' };

const $ = (id) => document.getElementById(id);

/** An element with text (and a class); `children` are appended after the text. */
function el(tag, text = '', className = '', ...children) {
  const e = document.createElement(tag);
  e.textContent = text;
  if (className) e.className = className;
  e.append(...children);
  return e;
}

const fmt = {
  time: (ms) => (ms ? new Date(ms).toLocaleTimeString([], { hour12: false }) : '–'),
  loss: (x) => (x == null ? '–' : x.toFixed(4)),
  lr: (x) => (x == null ? '–' : x === 0 ? '0' : x.toExponential(1)),
  /** Three significant digits and a k, M or G: "950", "11.2k". */
  rate(x) {
    if (x == null) return '–';
    if (x === 0) return '0';
    const units = ['', 'k', 'M', 'G'];
    let unit = 0;
    while (Math.abs(x) >= 999.5 && unit < units.length - 1) {
      x /= 1000;
      unit += 1;
    }
    return `${x.toPrecision(3)}${units[unit]}`;
  },
  /** "val loss 1.9020 perplexity 6.70", as the CLI writes an evaluation. */
  metrics(m) {
    if (!m) return '–';
    return Object.entries(m).map(([key, v]) => {
      const name = key.replace('_', ' ');
      if (key.endsWith('accuracy')) return `${name} ${(100 * v).toFixed(2)}%`;
      return `${name} ${key.endsWith('perplexity') ? v.toFixed(2) : v.toFixed(4)}`;
    }).join(', ');
  },
};

/** A job's state, or a worker's status, as a coloured label. */
function stateBadge(state) {
  const badge = el('span', state, 'state');
  badge.dataset.state = state;
  return badge;
}

/** Shows whether the page is live, reconnecting, or cut off for good. */
function trackConnection(source) {
  const indicator = $('connection');
  const show = (state, text) => {
    indicator.dataset.state = state;
    indicator.textContent = text;
  };
  source.addEventListener('open', () => show('live', 'live'));
  source.addEventListener('error', () => {
    if (source.readyState === EventSource.CLOSED) show('closed', 'disconnected: reload the page');
    else show('connecting', 'reconnecting…');
  });
}

// ---- the queue and the workers

function renderJobs(jobs) {
  $('jobs-empty').hidden = jobs.length > 0;
  $('jobs').tBodies[0].replaceChildren(...jobs.map((j) => {
    const row = el('tr');
    row.dataset.jobId = j.id;
    row.classList.toggle('selected', j.id === shown?.id);
    const link = el('a', j.id);
    link.href = `#${encodeURIComponent(j.id)}`;
    const progress = el('td');
    if (j.totalSteps) {
      const bar = el('progress');
      bar.max = j.totalSteps;
      bar.value = j.step;
      progress.append(bar, el('span', ` ${j.step}/${j.totalSteps}`, 'muted'));
    } else progress.textContent = '–';
    row.append(el('td', '', '', link), el('td', '', '', stateBadge(j.state)), progress, el('td', fmt.loss(j.loss), 'num'),
      el('td', `${j.slots} × ${j.device}`), el('td', String(j.priority), 'num'), el('td', fmt.time(j.submittedAt)));
    row.addEventListener('click', () => (location.hash = encodeURIComponent(j.id)));
    return row;
  }));
}

function renderWorkers(workers) {
  $('workers-empty').hidden = workers.length > 0;
  $('workers').tBodies[0].replaceChildren(...workers.map((w) => {
    const status = w.draining ? 'draining' : w.connected ? 'connected' : 'gone';
    return el('tr', '', '', el('td', w.id), el('td', w.hostname), el('td', w.slots), el('td', String(w.busySlots), 'num'),
      el('td', '', '', stateBadge(status)), el('td', fmt.time(w.lastSeen)));
  }));
}

// ---- one job

const chart = (name, curves, format) => lineChart(document.querySelector(`[data-chart=${name}]`), curves, format);
const charts = {
  loss: chart('loss', [{ label: 'train', color: COLORS.train }, { label: 'validation', color: COLORS.validation, sparse: true }], { legend: fmt.loss }),
  lr: chart('lr', [{ label: 'lr', color: COLORS.lr }], { legend: fmt.lr, axis: fmt.lr }),
  throughput: chart('throughput', [{ label: 'throughput', color: COLORS.throughput }], { legend: fmt.rate, axis: fmt.rate }),
};

/** The job on show: its id, stream, and what the charts and tables draw from. */
let shown;

function showJob(id) {
  if (shown?.id === id) return;
  shown?.source.close();
  const source = new EventSource(`/api/jobs/${encodeURIComponent(id)}/events`);
  shown = { id, source, job: undefined, spec: undefined, progress: [], evaluations: [], checkpoints: [], drawPending: false };
  for (const row of $('jobs').tBodies[0].rows) row.classList.toggle('selected', row.dataset.jobId === id);
  const on = (event, handle) => source.addEventListener(event, (e) => handle(JSON.parse(e.data)));
  on('snapshot', showSnapshot);
  on('job', showFacts);
  on('progress', (p) => {
    addPoint(shown.progress, p);
    showFacts({ step: p.step, totalSteps: p.totalSteps, loss: p.loss });
    drawSoon();
  });
  on('evaluation', (e) => {
    addPoint(shown.evaluations, e);
    showFacts({ evaluation: e.metrics });
    drawSoon();
  });
  on('checkpoint', (c) => {
    const keep = shown.spec?.checkpoint?.keep ?? Infinity;
    shown.checkpoints = [...shown.checkpoints.filter((k) => k.step !== c.step), c].sort((a, b) => a.step - b.step).slice(-keep);
    showCheckpoints();
  });
  on('state', (s) => $('states').append(stateItem(s)));
  on('log', (line) => appendLog([line]));
}

function showSnapshot(detail) {
  Object.assign(shown, { job: undefined, spec: detail.spec, progress: detail.progress, evaluations: detail.evaluations, checkpoints: detail.checkpoints });
  $('job').hidden = false;
  $('job-id').textContent = detail.job.id;
  $('spec').textContent = JSON.stringify(detail.spec, null, 2);
  $('states').replaceChildren(...detail.states.map(stateItem));
  $('log').replaceChildren();
  appendLog(detail.log);
  showFacts(detail.job);
  showCheckpoints();
  drawSoon();
}

/** A restarted attempt goes back to its checkpoint's step: the points past it are replaced. */
function addPoint(points, point) {
  while (points.length > 0 && points[points.length - 1].step >= point.step) points.pop();
  points.push(point);
}

/** Shows the job with `changes` (a whole job, or the fields a progress report or evaluation changed). */
function showFacts(changes) {
  const job = (shown.job = { ...shown.job, ...changes });
  $('job-state').replaceChildren(stateBadge(job.state));
  $('job-reason').textContent = job.reason;
  const facts = [
    ['Name', job.name],
    ['Slots', `${job.slots} × ${job.device}`],
    ['Step', job.totalSteps ? `${job.step} of ${job.totalSteps} (${Math.floor((100 * job.step) / job.totalSteps)}%)` : '–'],
    ['Loss', fmt.loss(job.loss)],
    ['Evaluation', fmt.metrics(job.evaluation)],
    ['Attempt', `${job.attempt}${job.restarts ? ` (${job.restarts} restart${job.restarts === 1 ? '' : 's'})` : ''}`],
    ['Submitted', fmt.time(job.submittedAt)],
    ['Started', fmt.time(job.startedAt)],
    ['Ended', fmt.time(job.endedAt)],
  ];
  if (job.result) facts.push(['Result', fmt.metrics(job.result)]);
  $('job-facts').replaceChildren(...facts.map(([term, value]) => el('div', '', '', el('dt', term), el('dd', value))));
}

function stateItem(s) {
  const change = el('span', '', 'change', ...(s.from ? [stateBadge(s.from), el('span', ' → ', 'arrow')] : []), stateBadge(s.to));
  return el('li', '', '', el('time', fmt.time(s.at)), change, el('span', s.reason, 'reason'));
}

function showCheckpoints() {
  $('checkpoints-empty').hidden = shown.checkpoints.length > 0;
  $('checkpoints').tBodies[0].replaceChildren(...[...shown.checkpoints].reverse().map((c) =>
    el('tr', '', '', el('td', String(c.step), 'num'), el('td', String(c.attempt), 'num'), el('td', fmt.time(c.publishedAt)), el('td', c.dir, 'path'))));
}

function appendLog(lines) {
  const log = $('log');
  const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.append(...lines.map((l) => el('div', '', `line ${l.source === 'coordinator' ? 'coordinator' : ''}`,
    el('span', fmt.time(l.at), 'muted'), el('span', ` [${l.source}] `, 'source'), el('span', l.text))));
  while (log.childElementCount > LOG_LINES) log.firstElementChild.remove();
  if (atBottom) log.scrollTop = log.scrollHeight;
}

/** Redraws the charts once per frame however many points arrive. */
function drawSoon() {
  if (shown.drawPending) return;
  shown.drawPending = true;
  requestAnimationFrame(() => {
    shown.drawPending = false;
    drawCharts();
  });
}

function drawCharts() {
  const { progress, evaluations } = shown;
  const metricKeys = Object.keys(evaluations[0]?.metrics ?? {});
  const validationKey = metricKeys.find((k) => k === 'val_loss') ?? metricKeys.find((k) => k.endsWith('_loss'));
  const rows = new Map(progress.map((p) => [p.step, [p.loss, null]]));
  for (const e of evaluations) {
    const value = e.metrics[validationKey];
    if (value !== undefined) rows.set(e.step, [rows.get(e.step)?.[0] ?? null, value]);
  }
  const steps = [...rows.keys()].sort((a, b) => a - b);
  charts.loss.setData(steps, steps.map((s) => rows.get(s)[0]), steps.map((s) => rows.get(s)[1]));
  const tokens = progress.some((p) => p.tokensPerSec);
  $('throughput-title').textContent = tokens ? 'Throughput (tokens/s)' : 'Throughput (samples/s)';
  const xs = progress.map((p) => p.step);
  charts.lr.setData(xs, progress.map((p) => p.lr));
  charts.throughput.setData(xs, progress.map((p) => (tokens ? p.tokensPerSec : p.samplesPerSec)));
}

// ---- start

const queue = new EventSource('/api/events');
trackConnection(queue);
queue.addEventListener('queue', (e) => {
  const { jobs, workers } = JSON.parse(e.data);
  renderJobs(jobs);
  renderWorkers(workers);
  const wanted = jobInAddress() ?? (jobs.find((j) => j.state === 'running') ?? jobs[0])?.id;
  if (!shown && wanted) showJob(wanted);
});
window.addEventListener('hashchange', () => {
  const id = jobInAddress();
  if (id) showJob(id);
});

/** The job the address's #fragment names, if any. */
function jobInAddress() {
  try {
    return decodeURIComponent(location.hash.slice(1)) || undefined;
  } catch {
    return undefined; // a malformed %-escape
  }
}
