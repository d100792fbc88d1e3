/** How the CLI prints jobs, workers and checkpoints for a person, and as JSON for scripts. */
import { formatMetrics, headlineMetric } from '../common/metrics.js';
import { formatDuration, formatLr, formatRate } from '../common/progress.js';
import { progressFromWire } from '../proto/records.js';
import { maxRestartsOf } from '../jobs/load.js';
import type { Checkpoint__Output } from '../proto/gen/ringmaster/v1/Checkpoint.js';
import type { Job__Output } from '../proto/gen/ringmaster/v1/Job.js';
import type { Worker__Output } from '../proto/gen/ringmaster/v1/Worker.js';

/** 'JOB_STATE_RUNNING' → 'running'. */
export function stateName(wire: string): string {
  return wire.replace(/^JOB_STATE_/, '').toLowerCase();
}

export function jobJson(j: Job__Output): Record<string, unknown> {
  return {
    id: j.id, name: j.name, state: stateName(j.state), reason: j.reason, priority: j.priority, slots: j.slots,
    device: j.device, attempt: j.attempt, submittedAt: j.submitted_at_ms, startedAt: j.started_at_ms || null,
    endedAt: j.ended_at_ms || null, restarts: j.restarts, restartedAfter: j.restarted_after || null,
    progress: j.progress && progressFromWire(j.progress),
    metrics: j.result?.metrics ?? j.evaluation?.metrics ?? null, // the final evaluation's, else the latest
  };
}

export function jobsTable(jobs: Job__Output[]): string {
  const rows = jobs.map((j) => [j.id, stateName(j.state), String(j.slots), progressCell(j), resultCell(j), j.reason]);
  return table(['JOB', 'STATE', 'SLOTS', 'PROGRESS', 'RESULT', 'REASON'], rows);
}

export function jobDetail(j: Job__Output): string {
  const lines = [
    `job       ${j.id} (${j.name})`,
    `state     ${stateName(j.state)}${j.reason ? ` — ${j.reason}` : ''}`,
    `slots     ${j.slots} ${j.device}, priority ${j.priority}, attempt ${j.attempt}`,
  ];
  if (j.restarts > 0) lines.push(`restarts  ${j.restarts} of ${maxRestartsOf(j.spec_json)}, the latest after: ${j.restarted_after}`);
  if (j.progress) {
    const p = j.progress;
    const rate = p.tokens_per_sec > 0 ? `${formatRate(p.tokens_per_sec)} tokens/s` : `${formatRate(p.samples_per_sec)} samples/s`;
    lines.push(`progress  step ${p.step}/${p.total_steps} epoch ${p.epoch} loss ${p.loss.toFixed(4)} lr ${formatLr(p.lr)} ${rate}`);
  }
  if (j.result) lines.push(`result    ${formatMetrics(j.result.metrics)} in ${formatDuration(j.result.wall_sec)}`);
  return lines.join('\n');
}

export function workersTable(workers: Worker__Output[]): string {
  const rows = workers.map((w) => [w.id, w.connected ? 'connected' : 'lost', w.address, w.slots.map((s) => `${s.kind}:${s.index}`).join(','), `${w.busy_slots}/${w.slots.length}`]);
  return table(['WORKER', 'STATUS', 'ADDRESS', 'SLOTS', 'BUSY'], rows);
}

export function checkpointJson(c: Checkpoint__Output): Record<string, unknown> {
  return { step: c.step, attempt: c.attempt, publishedAt: c.published_at_ms, dir: c.dir };
}

export function checkpointsTable(checkpoints: Checkpoint__Output[]): string {
  const rows = checkpoints.map((c) => [String(c.step), String(c.attempt), localTime(c.published_at_ms), c.dir]);
  return table(['STEP', 'ATTEMPT', 'TIME', 'DIR'], rows);
}

/** `2025-03-01 17:00:45` in this machine's time zone. */
function localTime(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function progressCell(j: Job__Output): string {
  if (!j.progress) return '-';
  const pct = j.progress.total_steps ? Math.floor((100 * j.progress.step) / j.progress.total_steps) : 0;
  return `${j.progress.step}/${j.progress.total_steps} (${pct}%) loss ${j.progress.loss.toFixed(4)}`;
}

function resultCell(j: Job__Output): string {
  return j.result ? headlineMetric(j.result.metrics) : '-';
}

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}
