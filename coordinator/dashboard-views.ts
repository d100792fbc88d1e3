/**
 * What the dashboard shows, as JSON: the queue (recent and unfinished jobs), the workers, and
 * one job in detail (its state history, progress and evaluation points, checkpoints, log tail).
 * Read-only views over the store, the job logs and the worker sessions; nothing here changes state.
 */
import type { Progress } from '../common/progress.js';
import type { Metrics } from '../common/metrics.js';
import type { JobLogLine, JobLogs } from './job-logs.js';
import { isTerminal, TRANSITIONS, type JobState } from './job-state.js';
import type { CheckpointRecord, JobRecord, Store } from './store.js';

/** Where the views read from: the coordinator's store and logs, and who is connected now. */
export interface DashboardSources {
  store: Store;
  logs: JobLogs;
  busySlots(workerId: string): number;
  connected(): { workerId: string; draining: boolean }[];
}

/** How much the views hold; documented defaults in DEFAULT_VIEW_LIMITS. */
export interface ViewLimits {
  finishedJobs: number; // finished jobs listed beside every unfinished one, newest first
  logLines: number; // the log tail of a job's detail
  chartPoints: number; // progress points of a job's detail; a longer history is thinned evenly
}

export const DEFAULT_VIEW_LIMITS: ViewLimits = { finishedJobs: 50, logLines: 200, chartPoints: 4000 };

export interface JobView {
  id: string; name: string; state: JobState; reason: string; priority: number; slots: number; device: string;
  attempt: number; restarts: number; submittedAt: number; startedAt: number | null; endedAt: number | null;
  step: number | null; totalSteps: number | null; loss: number | null;
  evaluation: Metrics | null; result: Metrics | null;
}
export interface WorkerView { id: string; hostname: string; address: string; slots: string; busySlots: number; connected: boolean; draining: boolean; lastSeen: number }
export interface ProgressPoint { step: number; totalSteps: number; at: number; loss: number; lr: number; samplesPerSec: number; tokensPerSec: number | null }
export interface EvaluationPoint { step: number; at: number; metrics: Metrics }
export interface CheckpointView { step: number; attempt: number; dir: string; publishedAt: number }
export interface StateChange { at: number; from: JobState | null; to: JobState; reason: string }
export interface LogLineView { at: number; source: string; text: string }
export interface JobDetail {
  job: JobView; spec: unknown; states: StateChange[]; progress: ProgressPoint[];
  evaluations: EvaluationPoint[]; checkpoints: CheckpointView[]; log: LogLineView[];
}

/** What a job id looks like (a spec name and a random suffix); anything else is never looked up. */
const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export function isJobId(text: string): boolean {
  return JOB_ID.test(text);
}

export function jobView(j: JobRecord): JobView {
  return {
    id: j.id, name: j.name, state: j.state, reason: j.reason, priority: j.priority, slots: j.slots, device: j.device,
    attempt: j.attempt, restarts: j.restarts, submittedAt: j.submittedAt, startedAt: j.startedAt, endedAt: j.endedAt,
    step: j.progress?.step ?? null, totalSteps: j.progress?.totalSteps ?? null, loss: j.progress?.loss ?? null,
    evaluation: j.evaluation?.metrics ?? null, result: j.result?.metrics ?? null,
  };
}

export function progressPoint(step: number, at: number, p: Progress): ProgressPoint {
  return { step, totalSteps: p.totalSteps, at, loss: p.loss, lr: p.lr, samplesPerSec: p.samplesPerSec, tokensPerSec: p.tokensPerSec ?? null };
}

export function checkpointView(c: CheckpointRecord): CheckpointView {
  return { step: c.step, attempt: c.attempt, dir: c.dir, publishedAt: c.publishedAt };
}

export function logLineView(l: JobLogLine): LogLineView {
  return { at: l.at, source: l.rank < 0 ? 'coordinator' : `rank ${l.rank}`, text: l.text };
}

const STATES = Object.keys(TRANSITIONS) as JobState[];
const FINISHED = STATES.filter(isTerminal);
const UNFINISHED = STATES.filter((state) => !isTerminal(state));
/** A transition as the job manager writes it into the job's log: `running → queued: reason`. */
const TRANSITION_LINE = new RegExp(`^(${STATES.join('|')}) → (${STATES.join('|')})(?:: (.*))?$`);

/** The state change a coordinator line of a job's log records; undefined for any other line. */
export function stateChange(l: JobLogLine): StateChange | undefined {
  const m = l.rank < 0 ? TRANSITION_LINE.exec(l.text) : null;
  return m ? { at: l.at, from: m[1] as JobState, to: m[2] as JobState, reason: m[3] ?? '' } : undefined;
}

/**
 * Every unfinished job and the newest finished ones, newest first; none with its spec. Two
 * indexed queries, however many jobs the store has kept (the queue stream reads this every second).
 */
export function jobsView(s: DashboardSources, limits: ViewLimits = DEFAULT_VIEW_LIMITS): JobView[] {
  const unfinished = s.store.jobsInStates(UNFINISHED);
  const finished = s.store.newestJobsInStates(FINISHED, limits.finishedJobs);
  return [...unfinished, ...finished].sort((a, b) => b.submittedAt - a.submittedAt).map(jobView);
}

export function workersView(s: DashboardSources): WorkerView[] {
  const live = new Map(s.connected().map((w) => [w.workerId, w]));
  return s.store.listWorkers().map((w) => ({
    id: w.id, hostname: w.hostname, address: w.address,
    slots: summarizeSlots(w.slots), busySlots: s.busySlots(w.id),
    connected: live.has(w.id), draining: live.get(w.id)?.draining ?? false, lastSeen: w.lastSeen,
  }));
}

/** "cpu:4 cuda:2": a worker's slots counted by kind. */
function summarizeSlots(slots: { kind: string }[]): string {
  const counts = new Map<string, number>();
  for (const s of slots) counts.set(s.kind, (counts.get(s.kind) ?? 0) + 1);
  return [...counts].map(([kind, n]) => `${kind}:${n}`).join(' ');
}

/** One job with its history; undefined for an id that names no job (never a prefix). */
export function jobDetail(s: DashboardSources, id: string, limits: ViewLimits = DEFAULT_VIEW_LIMITS): JobDetail | undefined {
  const job = isJobId(id) ? s.store.getJob(id) : undefined;
  if (!job) return undefined;
  const lines = s.logs.read(job.id);
  const submitted: StateChange = { at: job.submittedAt, from: null, to: 'queued', reason: 'submitted' };
  const states = [submitted, ...lines.flatMap((l) => stateChange(l) ?? [])];
  return {
    job: jobView(job),
    spec: JSON.parse(job.specJson) as unknown,
    states,
    progress: thin(s.store.metricsHistory(job.id), limits.chartPoints).map((p) => progressPoint(p.step, p.at, p.progress)),
    evaluations: s.store.evaluationHistory(job.id).map((e) => ({ step: e.step, at: e.at, metrics: e.evaluation.metrics })),
    checkpoints: s.store.listCheckpoints(job.id).map(checkpointView),
    log: lines.slice(-limits.logLines).map(logLineView),
  };
}

/** At most `max` of `items`, evenly spaced, always with the last. */
function thin<T>(items: T[], max: number): T[] {
  if (items.length <= max) return items;
  const stride = Math.ceil(items.length / max);
  return items.filter((_, i) => i % stride === 0 || i === items.length - 1);
}
