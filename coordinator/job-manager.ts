/**
 * The coordinator's model of jobs: submission, gang placement, the lifecycle of each attempt,
 * cancellation, resume from a checkpoint, automatic restarts after a failed attempt
 * (coordinator/restarts.ts), and what ranks and workers report. Every state change
 * goes through `transition`, which checks it against coordinator/job-state.ts, stores it and
 * logs it.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from '../common/log.js';
import { formatMetrics } from '../common/metrics.js';
import { formatCheckpoint, formatLr, formatProgressLine, formatResume, tagged } from '../common/progress.js';
import { RingmasterError } from '../common/errors.js';
import { printable } from '../common/printable.js';
import { checkPriority, checkSpecSize } from '../jobs/load.js';
import { estimateMemory, formatBytes } from '../jobs/memory.js';
import { outsideRoots, type AllowedRoots } from '../jobs/roots.js';
import type { JobSpec } from '../jobs/types.js';
import { validateSpec } from '../jobs/validate.js';
import type { CoordinatorMessage } from '../proto/gen/ringmaster/v1/CoordinatorMessage.js';
import type { RankEvent__Output } from '../proto/gen/ringmaster/v1/RankEvent.js';
import type { Resumed__Output } from '../proto/gen/ringmaster/v1/Resumed.js';
import { checkpointSpecOf, checkpointTarget, describeResume, planResume } from './checkpoints.js';
import type { JobLogs } from './job-logs.js';
import { checkTransition, isTerminal, type JobState } from './job-state.js';
import { attemptScope, type RendezvousStore } from './rendezvous.js';
import { schedule, slotKey, type SlotRef } from './scheduler.js';
import type { CheckpointRecord, EvaluationRecord, JobPatch, JobRecord, ProgressRecord, ReportRecord, Store } from './store.js';
import { rankFailure, toEvaluation, toProgress, toReport, type RankOutcome } from './rank-events.js';
import { planRestart, type AttemptFailure } from './restarts.js';

/** The connected workers, as the worker sessions see them. */
export interface WorkerDirectory {
  connected(): { workerId: string; slots: { kind: string; index: number }[]; memoryBytes?: number; roots?: AllowedRoots; draining?: boolean }[];
  send(workerId: string, message: CoordinatorMessage): boolean;
}

export interface JobManagerPolicy {
  cancelGraceMs: number; // how long cancelled ranks get to confirm their exit
  // How long the ranks of a new attempt have to report that they started; after that the
  // attempt is taken back from its workers and the job queued again (no restart is spent).
  startTimeoutMs: number;
}

export const DEFAULT_JOB_POLICY: JobManagerPolicy = { cancelGraceMs: 15_000, startTimeoutMs: 60_000 };

export type JobEvent =
  | { kind: 'job'; job: JobRecord }
  | { kind: 'progress'; progress: ProgressRecord }
  | { kind: 'evaluation'; evaluation: EvaluationRecord }
  | { kind: 'checkpoint'; checkpoint: CheckpointRecord }
  | { kind: 'resumed'; resumed: { step: number; dir: string; skipped: string[] } };

interface ActiveAttempt {
  attempt: number;
  placement: SlotRef[]; // rank i runs on placement[i]
  started: Set<number>;
  exits: Map<number, RankOutcome>;
  startStep: number; // 0, or the step of the checkpoint the ranks resumed from
  cancelTimer?: NodeJS.Timeout;
  startTimer?: NodeJS.Timeout; // until every rank has started
}

export class JobManager {
  private readonly active = new Map<string, ActiveAttempt>();
  private readonly events = new EventEmitter().setMaxListeners(0);

  constructor(
    private readonly store: Store,
    private readonly workers: WorkerDirectory,
    private readonly logs: JobLogs,
    private readonly rendezvous: RendezvousStore,
    private readonly log: Logger,
    private readonly policy: JobManagerPolicy = DEFAULT_JOB_POLICY,
    private readonly metrics?: { started(queuedSeconds: number): void },
  ) {}

  /**
   * Jobs that were active when the previous coordinator stopped cannot be running any more (the
   * agents stop their ranks when the session breaks). A starting or running job's attempt has
   * failed, and restarts as after any other failure when its max_restarts allows; a cancelling
   * job fails, since a person asked it to stop. Restarted jobs wait for their workers to return.
   */
  recover(): void {
    for (const job of this.store.jobsInStates(['starting', 'running', 'cancelling'])) {
      const reason = `the coordinator restarted while the job was ${job.state}`;
      this.store.endAttempt(job.id, job.attempt, Date.now(), 'failed', 'coordinator restarted');
      if (job.state === 'cancelling') this.transition(job.id, 'failed', reason);
      else this.afterFailure(job, { reason, errorCode: '' });
    }
  }

  /** Validates and queues a job; a bad spec is refused with the same error `ringmaster train` gives. */
  submit(specJson: string, priority: number): JobRecord {
    checkPriority(priority);
    checkSpecSize(Buffer.byteLength(specJson), 'the submitted spec');
    let raw: unknown;
    try {
      raw = JSON.parse(specJson);
    } catch {
      throw new RingmasterError('BAD_SPEC', 'spec: not valid JSON');
    }
    const spec = validateSpec(raw, { specDir: '/', checkFiles: false }); // the data is on the workers' machines
    this.checkFits(spec);
    this.checkRoots(spec);
    const id = `${spec.name}-${randomBytes(2).toString('hex')}`;
    const slots = spec.parallel.data * spec.parallel.pipeline;
    const job = this.store.insertJob({ id, name: spec.name, specJson: JSON.stringify(spec), priority, slots, device: spec.device, submittedAt: Date.now() });
    this.log.info(`job ${id} submitted: ${slots} ${spec.device} slot${slots === 1 ? '' : 's'}, priority ${priority}`, { jobId: id });
    this.emit(job);
    this.scheduleJobs();
    return this.store.getJob(id) ?? job;
  }

  /**
   * Refuses a job whose rank needs more memory (estimated from the spec: jobs/memory.ts) than any
   * connected worker's slot of its kind has, the machine's memory shared by its slots. With no
   * such worker connected, or none that says its memory, the job waits for one as before.
   */
  private checkFits(spec: JobSpec): void {
    const shares = this.workers.connected().flatMap((w) => {
      const mine = w.slots.filter((s) => s.kind === spec.device).length;
      return mine > 0 && w.memoryBytes ? [{ workerId: w.workerId, share: w.memoryBytes / w.slots.length, memory: w.memoryBytes, slots: w.slots.length }] : [];
    });
    if (shares.length === 0) return;
    const best = shares.reduce((a, b) => (b.share > a.share ? b : a));
    const need = estimateMemory(spec);
    if (need.bytes <= best.share) return;
    throw new RingmasterError('BAD_SPEC', `spec: a rank of this job needs about ${formatBytes(need.bytes)} (parameters, gradients and optimizer state ${formatBytes(need.parameters)}, activations ${formatBytes(need.activations)}), more than a ${spec.device} slot has (${formatBytes(best.share)}: worker ${best.workerId}'s ${formatBytes(best.memory)} over its ${best.slots} slot${best.slots === 1 ? '' : 's'}) (lower batch.micro or the model's size, or split it with parallel.pipeline)`);
  }

  /**
   * Refuses a job whose data or checkpoint path leaves the allowed roots (jobs/roots.ts) of every
   * connected worker with slots of its kind. With no such worker that says its roots, the job
   * waits; the worker that gets it checks again before it starts a rank.
   */
  private checkRoots(spec: JobSpec): void {
    const workers = this.workers.connected().filter((w) => w.roots && w.slots.some((s) => s.kind === spec.device));
    const refusals = workers.map((w) => outsideRoots(spec, w.roots!, `worker ${w.workerId}`));
    if (refusals.length === 0 || refusals.some((r) => r === undefined)) return;
    throw new RingmasterError('BAD_SPEC', refusals[0]!);
  }

  /** Looks a job up by id or unique id prefix. */
  find(idOrPrefix: string): JobRecord {
    const matches = this.store.findJobs(idOrPrefix);
    if (matches.length === 1) return matches[0];
    if (matches.length === 0) throw new RingmasterError('NOT_FOUND', `no job ${idOrPrefix} (ringmaster jobs lists them)`);
    throw new RingmasterError('BAD_ARGUMENT', `${idOrPrefix} matches ${matches.length} jobs: ${matches.map((j) => j.id).join(', ')}`);
  }

  /** The one way a job changes state: checked, stored, logged, announced. */
  transition(jobId: string, to: JobState, rawReason: string, patch: JobPatch = {}): JobRecord {
    const reason = printable(rawReason); // reasons quote what ranks and files said: shown to people, on one line
    const job = this.find(jobId);
    checkTransition(job.state, to);
    const now = Date.now();
    const updated = this.store.updateJob(jobId, { ...patch, state: to, reason, ...(isTerminal(to) ? { endedAt: now } : {}) });
    const why = reason ? `: ${reason}` : '';
    this.log.info(`job ${jobId} ${job.state} → ${to}${why}`, { jobId, from: job.state, to, reason });
    this.logs.append(jobId, { rank: -1, text: `${job.state} → ${to}${why}`, at: now });
    this.emit(updated);
    return updated;
  }

  /**
   * Queues a new attempt of a failed or cancelled job that starts from its checkpoint of `step`,
   * or from its newest valid one. Refused (see planResume) for other states, for a job without
   * checkpoints, and for a step it has none of.
   */
  resume(idOrPrefix: string, step?: number): JobRecord {
    const job = this.find(idOrPrefix);
    const recorded = this.store.listCheckpoints(job.id);
    const resume = planResume(job, recorded, step);
    this.transition(job.id, 'queued', describeResume(resume, recorded), { resume, endedAt: null, restarts: 0, restartedAfter: null });
    this.scheduleJobs();
    return this.find(job.id);
  }

  /** The checkpoints of a job that its ranks keep, by step ascending. */
  checkpoints(idOrPrefix: string): CheckpointRecord[] {
    return this.store.listCheckpoints(this.find(idOrPrefix).id);
  }

  cancel(idOrPrefix: string): JobRecord {
    const job = this.find(idOrPrefix);
    if (job.state === 'queued') return this.transition(job.id, 'cancelled', 'cancelled before it started');
    const attempt = this.active.get(job.id);
    if (!attempt || (job.state !== 'starting' && job.state !== 'running')) return job;
    this.transition(job.id, 'cancelling', 'cancel requested');
    this.stopRanks(job.id, attempt);
    attempt.cancelTimer = setTimeout(
      () => this.endAttempt(job.id, 'cancelled', `cancelled; ranks did not confirm their exit within ${this.policy.cancelGraceMs / 1000}s`),
      this.policy.cancelGraceMs,
    );
    return this.find(job.id);
  }

  /** Places whatever queued jobs fit now; the others get a reason saying why they wait. */
  scheduleJobs(): void {
    const queued = this.store.jobsInStates(['queued']);
    if (queued.length === 0) return;
    const busy = new Map<string, Set<string>>();
    for (const a of this.active.values()) {
      for (const s of a.placement) busy.set(s.workerId, (busy.get(s.workerId) ?? new Set()).add(slotKey(s)));
    }
    const capacity = this.workers.connected().filter((w) => !w.draining).map((w) => ({ workerId: w.workerId, slots: w.slots, busy: busy.get(w.workerId) ?? new Set<string>() }));
    const { placements, waiting } = schedule(queued, capacity);
    for (const w of waiting) {
      const job = this.store.getJob(w.jobId);
      if (job && job.reason !== w.reason) this.emit(this.store.updateJob(w.jobId, { reason: w.reason }));
    }
    for (const p of placements) this.start(p.jobId, p.ranks);
  }

  /** What a rank said, through worker `from`: heard only from the worker its attempt placed it on. */
  onRankEvent(from: string, event: RankEvent__Output): void {
    const attempt = this.active.get(event.job_id);
    if (!attempt || attempt.attempt !== event.attempt) return; // a finished attempt's stragglers
    const { job_id: jobId, rank } = event;
    const runsOn = attempt.placement[rank]?.workerId;
    if (runsOn !== from) {
      this.log.warn(`ignored a ${event.kind} of job ${jobId} attempt ${event.attempt} rank ${rank} from worker ${from}: ${runsOn ? `that rank runs on ${runsOn}` : 'the attempt has no such rank'}`, { jobId, rank });
      return;
    }
    if (event.kind === 'started' && event.started) {
      this.logs.append(jobId, { rank: -1, text: `rank ${rank} started (pid ${event.started.pid} on ${attempt.placement[rank]?.workerId})`, at: Date.now() });
      attempt.started.add(rank);
      if (attempt.started.size === attempt.placement.length) clearTimeout(attempt.startTimer);
      if (attempt.started.size === attempt.placement.length && this.find(jobId).state === 'starting') {
        this.transition(jobId, 'running', `all ${attempt.placement.length} rank(s) started`);
      }
    } else if (event.kind === 'progress' && event.progress && rank === 0) {
      this.onProgress(jobId, attempt.attempt, { ...toProgress(event.progress), startStep: attempt.startStep });
    } else if (event.kind === 'evaluation' && event.evaluation && rank === 0) {
      const evaluation = toEvaluation(event.evaluation);
      const at = Date.now();
      this.store.recordEvaluation(jobId, attempt.attempt, at, evaluation);
      this.logs.appendMetrics(jobId, { kind: 'evaluation', attempt: attempt.attempt, at, ...evaluation });
      this.log.line(`[${jobId}] eval at step ${evaluation.step}: ${formatMetrics(evaluation.metrics)}`, { jobId, rank, step: evaluation.step });
      this.events.emit(jobId, { kind: 'evaluation', evaluation } satisfies JobEvent);
    } else if (event.kind === 'checkpoint' && event.checkpoint && rank === 0) {
      this.onCheckpoint(jobId, attempt.attempt, event.checkpoint.step, event.checkpoint.dir);
    } else if (event.kind === 'resumed' && event.resumed && rank === 0) {
      this.onResumed(jobId, attempt, event.resumed);
    } else if (event.kind === 'log_line' && event.log_line !== undefined) {
      this.logs.append(jobId, { rank, text: event.log_line, at: Date.now() });
    } else if (event.kind === 'exit' && event.exit) {
      this.onRankExit(jobId, attempt, rank, { exitCode: event.exit.exit_code, signal: event.exit.signal, errorCode: event.exit.error_code, errorMessage: event.exit.error_message, report: event.exit.report ? toReport(event.exit.report) : null });
    }
  }

  /** A worker's session ended or fell silent: every attempt with a rank there has failed (and may restart). */
  onWorkerLost(workerId: string, reason: string): void {
    for (const [jobId, attempt] of [...this.active]) {
      if (!attempt.placement.some((s) => s.workerId === workerId)) continue;
      const state = this.find(jobId).state;
      if (state === 'cancelling') this.endAttempt(jobId, 'cancelled', `cancelled; worker ${workerId} is gone`);
      else this.failAttempt(jobId, { reason: `worker ${workerId} lost: ${reason}`, errorCode: '' });
    }
    this.scheduleJobs();
  }

  /** Slots of the worker held by active attempts. */
  busySlots(workerId: string): number {
    let n = 0;
    for (const a of this.active.values()) n += a.placement.filter((s) => s.workerId === workerId).length;
    return n;
  }

  watch(jobId: string, listener: (e: JobEvent) => void): () => void {
    this.events.on(jobId, listener);
    return () => this.events.off(jobId, listener);
  }

  private start(jobId: string, placement: SlotRef[]): void {
    const job = this.find(jobId);
    const attempt = job.attempt + 1;
    const now = Date.now();
    if (attempt === 1) this.metrics?.started((now - job.submittedAt) / 1000);
    this.transition(jobId, 'starting', `attempt ${attempt}: ${describePlacement(placement)}`, { attempt, startedAt: job.startedAt ?? now });
    this.store.startAttempt({ jobId, attempt, startedAt: now, placement: placement.map((s, rank) => ({ rank, ...s })) });
    const active: ActiveAttempt = { attempt, placement, started: new Set(), exits: new Map(), startStep: 0 };
    active.startTimer = setTimeout(() => this.takeBack(jobId, active), this.policy.startTimeoutMs);
    active.startTimer.unref();
    this.active.set(jobId, active);
    const checkpoints = checkpointTarget(jobId, attempt, checkpointSpecOf(job));
    const rendezvousToken = randomBytes(24).toString('base64url');
    this.rendezvous.open(attemptScope(jobId, attempt), rendezvousToken);
    const byWorker = new Map<string, { rank: number; slot: { kind: string; index: number } }[]>();
    placement.forEach((s, rank) => byWorker.set(s.workerId, [...(byWorker.get(s.workerId) ?? []), { rank, slot: { kind: s.kind, index: s.index } }]));
    for (const [workerId, ranks] of byWorker) {
      const assignment = { job_id: jobId, attempt, spec_json: job.specJson, world_size: placement.length, ranks, checkpoints, resume: job.resume, rendezvous_token: rendezvousToken };
      const sent = this.workers.send(workerId, { assignment });
      if (!sent) return this.failAttempt(jobId, { reason: `worker ${workerId} went away before rank ${ranks[0].rank} could start`, errorCode: '' });
    }
  }

  /** An attempt some of whose ranks never said they started: its workers stop it, and the job waits for slots again. */
  private takeBack(jobId: string, attempt: ActiveAttempt): void {
    if (this.active.get(jobId) !== attempt || this.find(jobId).state !== 'starting') return;
    const silent = attempt.placement.map((s, rank) => ({ ...s, rank })).filter((s) => !attempt.started.has(s.rank));
    const reason = `attempt ${attempt.attempt} taken back: ${silent.map((s) => `rank ${s.rank} on ${s.workerId}`).join(', ')} did not start within ${this.policy.startTimeoutMs / 1000}s`;
    if (!this.closeAttempt(jobId, 'failed', reason)) return;
    this.transition(jobId, 'queued', reason);
    this.scheduleJobs();
  }

  private onProgress(jobId: string, attempt: number, progress: ProgressRecord): void {
    const at = Date.now();
    this.store.recordProgress(jobId, attempt, at, progress);
    this.logs.appendMetrics(jobId, { kind: 'progress', attempt, at, ...progress });
    const line = formatProgressLine({ name: jobId, step: progress.step, total: progress.totalSteps, epoch: progress.epoch, loss: progress.loss, lr: progress.lr, samplesPerSec: progress.samplesPerSec, elapsedSec: progress.elapsedSec, startStep: progress.startStep, tokensPerSec: progress.tokensPerSec, mfu: progress.mfu, bubble: progress.bubble });
    this.log.line(line, { jobId, rank: 0, step: progress.step, loss: progress.loss, lr: formatLr(progress.lr) });
    this.events.emit(jobId, { kind: 'progress', progress } satisfies JobEvent);
  }

  private onCheckpoint(jobId: string, attempt: number, step: number, dir: string): void {
    const checkpoint: CheckpointRecord = { jobId, step, attempt, dir, publishedAt: Date.now() };
    this.store.recordCheckpoint(checkpoint, checkpointSpecOf(this.find(jobId)).keep);
    const text = formatCheckpoint(step, dir);
    this.logs.append(jobId, { rank: -1, text, at: checkpoint.publishedAt });
    this.log.line(tagged(jobId, text), { jobId, rank: 0, step, dir });
    this.events.emit(jobId, { kind: 'checkpoint', checkpoint } satisfies JobEvent);
  }

  private onResumed(jobId: string, attempt: ActiveAttempt, resumed: Resumed__Output): void {
    attempt.startStep = resumed.step;
    const now = Date.now();
    for (const text of formatResume({ ...resumed, attempt: attempt.attempt })) {
      this.logs.append(jobId, { rank: -1, text, at: now });
      this.log.line(tagged(jobId, text), { jobId, rank: 0, attempt: attempt.attempt, step: resumed.step, dir: resumed.dir });
    }
    this.events.emit(jobId, { kind: 'resumed', resumed: { step: resumed.step, dir: resumed.dir, skipped: resumed.skipped } } satisfies JobEvent);
  }

  private onRankExit(jobId: string, attempt: ActiveAttempt, rank: number, outcome: RankOutcome): void {
    attempt.exits.set(rank, outcome);
    const allExited = attempt.exits.size === attempt.placement.length;
    const state = this.find(jobId).state;
    if (state === 'cancelling') {
      if (allExited) this.endAttempt(jobId, 'cancelled', 'cancelled by request');
      return;
    }
    const failure = rankFailure(rank, outcome);
    if (failure) return this.failAttempt(jobId, failure);
    if (!allExited) return;
    const result: ReportRecord | null = attempt.exits.get(0)?.report ?? null;
    this.endAttempt(jobId, 'succeeded', result ? formatMetrics(result.metrics) : '', { result });
  }

  /** Ends the active attempt, and the job, in `to`. */
  private endAttempt(jobId: string, to: 'succeeded' | 'cancelled', reason: string, patch: JobPatch = {}): void {
    if (!this.closeAttempt(jobId, to, reason)) return;
    this.transition(jobId, to, reason, patch);
    this.scheduleJobs();
  }

  /** Ends the active attempt as failed; the job restarts or fails (see afterFailure). */
  private failAttempt(jobId: string, failure: AttemptFailure): void {
    if (!this.closeAttempt(jobId, 'failed', failure.reason)) return;
    this.afterFailure(this.find(jobId), failure);
    this.scheduleJobs();
  }

  /** Queues the job again as a restart when its spec allows one after `failure`, else fails it. */
  private afterFailure(job: JobRecord, failure: AttemptFailure): void {
    const next = planRestart(job, failure, this.store.listCheckpoints(job.id));
    if (next.to === 'queued') this.transition(job.id, 'queued', next.reason, next.patch);
    else this.transition(job.id, 'failed', next.reason);
  }

  /**
   * Records the active attempt's outcome, stops its ranks still running and frees its slots;
   * false when the job has no active attempt (it ended already).
   */
  private closeAttempt(jobId: string, outcome: JobState, reason: string): boolean {
    const attempt = this.active.get(jobId);
    if (!attempt) return false;
    clearTimeout(attempt.cancelTimer);
    clearTimeout(attempt.startTimer);
    this.active.delete(jobId);
    if (attempt.exits.size < attempt.placement.length) this.stopRanks(jobId, attempt);
    this.rendezvous.drop(attemptScope(jobId, attempt.attempt));
    this.store.endAttempt(jobId, attempt.attempt, Date.now(), outcome, reason);
    return true;
  }

  private stopRanks(jobId: string, attempt: ActiveAttempt): void {
    for (const workerId of new Set(attempt.placement.map((s) => s.workerId))) {
      this.workers.send(workerId, { cancel: { job_id: jobId, attempt: attempt.attempt } });
    }
  }

  /** Stops the attempts' timers (the coordinator is closing; its store goes next). */
  close(): void {
    for (const a of this.active.values()) {
      clearTimeout(a.cancelTimer);
      clearTimeout(a.startTimer);
    }
  }

  private emit(job: JobRecord): void {
    this.events.emit(job.id, { kind: 'job', job } satisfies JobEvent);
  }
}

function describePlacement(placement: SlotRef[]): string {
  return placement.map((s, rank) => `rank ${rank} on ${s.workerId} ${s.kind}:${s.index}`).join(', ');
}
