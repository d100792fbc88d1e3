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
import { formatCheckpoint, formatEvalLine, formatLr, formatProgressLine, formatResume, tagged, type Progress } from '../common/progress.js';
import { RingmasterError } from '../common/errors.js';
import { failpoint } from '../common/failpoints.js';
import { secretSha256 } from '../common/token.js';
import { printable } from '../common/printable.js';
import type { AllowedRoots } from '../jobs/roots.js';
import { admit } from './admission.js';
import type { CoordinatorMessage } from '../proto/gen/ringmaster/v1/CoordinatorMessage.js';
import type { RankEvent__Output } from '../proto/gen/ringmaster/v1/RankEvent.js';
import type { RunningRank__Output } from '../proto/gen/ringmaster/v1/RunningRank.js';
import type { Resumed__Output } from '../proto/gen/ringmaster/v1/Resumed.js';
import { checkpointSpecOf, checkpointTarget, describeResume, planResume } from './checkpoints.js';
import type { JobLogs } from './job-logs.js';
import { checkTransition, isTerminal, type JobState } from './job-state.js';
import { attemptScope, type RendezvousStore } from './rendezvous.js';
import { schedule, slotKey, type SlotRef } from './scheduler.js';
import type { CheckpointRecord, EvaluationRecord, JobPatch, JobRecord, ReportRecord, Store } from './store.js';
import { evaluationFromWire, progressFromWire, reportFromWire } from '../proto/records.js';
import { rankFailure, type RankOutcome } from './rank-events.js';
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
  // After a coordinator restart, how long the attempts it found active wait for their workers to
  // register again and report their ranks; ranks not reported by then are lost.
  adoptTimeoutMs: number;
}

export const DEFAULT_JOB_POLICY: JobManagerPolicy = { cancelGraceMs: 15_000, startTimeoutMs: 60_000, adoptTimeoutMs: 30_000 };

export type JobEvent =
  | { kind: 'job'; job: JobRecord }
  | { kind: 'progress'; progress: Progress }
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
  activities: Map<number, { activity: string; idleMs: number; at: number }>; // each rank's, from its worker's heartbeats
  awaiting?: Set<string>; // after a coordinator restart: the workers yet to report its ranks (recover)
  adoptTimer?: NodeJS.Timeout; // until they have
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
   * Takes back the attempts the previous coordinator left active. Their ranks may well still be
   * training: agents keep them through a lost session (worker/agent.ts). Each attempt waits, up
   * to adoptTimeoutMs, for its workers to register again and report its ranks (onWorkerReturned),
   * and its rendezvous scope opens again with the attempt's token.
   */
  recover(): void {
    for (const job of this.store.jobsInStates(['starting', 'running', 'cancelling'])) {
      const record = this.store.listAttempts(job.id).find((a) => a.attempt === job.attempt && a.endedAt === null);
      if (!record) {
        // Only a database written before a state and its attempt were stored together.
        const reason = `the coordinator restarted while the job was ${job.state}, with no record of its attempt`;
        if (job.state === 'cancelling') this.transition(job.id, 'cancelled', reason);
        else this.afterFailure(job, { reason, errorCode: '' });
        continue;
      }
      const placement = record.placement.map(({ workerId, kind, index }) => ({ workerId, kind, index }));
      const awaiting = new Set(placement.map((s) => s.workerId));
      const attempt: ActiveAttempt = { attempt: record.attempt, placement, started: new Set(), exits: new Map(), activities: new Map(), startStep: record.startStep, awaiting };
      attempt.adoptTimer = setTimeout(() => this.abandon(job.id, attempt), this.policy.adoptTimeoutMs);
      attempt.adoptTimer.unref();
      this.active.set(job.id, attempt);
      if (record.rendezvousTokenSha256) this.rendezvous.open(attemptScope(job.id, record.attempt), record.rendezvousTokenSha256);
      const text = `the coordinator restarted while attempt ${record.attempt} was ${job.state}: waiting up to ${this.policy.adoptTimeoutMs / 1000}s for ${[...awaiting].join(', ')} to report its ranks`;
      this.logs.append(job.id, { rank: -1, text, at: Date.now() });
      this.log.info(`job ${job.id}: ${text}`, { jobId: job.id });
    }
  }

  /**
   * Worker `workerId` registered, after a lost session or a coordinator restart, running the ranks
   * `running` and having seen the exits `ended` lately. Its ranks of attempts that are over are
   * stopped; attempts waiting for it since a restart (recover) take in its ranks and exits.
   */
  onWorkerReturned(workerId: string, running: RunningRank__Output[], ended: RankEvent__Output[]): void {
    const over = new Map<string, { job_id: string; attempt: number }>();
    for (const r of running) {
      if (!this.attemptPlacing(r, workerId)) over.set(`${r.job_id}/${r.attempt}`, { job_id: r.job_id, attempt: r.attempt });
    }
    for (const cancel of over.values()) {
      this.log.warn(`stopping the ranks of ${cancel.job_id} attempt ${cancel.attempt} on ${workerId}: that attempt is over`, { jobId: cancel.job_id });
      this.workers.send(workerId, { cancel });
    }
    for (const [jobId, a] of [...this.active]) if (a.awaiting?.has(workerId)) this.adopt(jobId, a, workerId, running, ended);
  }

  /** Keeps what each rank of an active attempt on `workerId` last did, to name it if another rank hangs. */
  onHeartbeat(workerId: string, running: RunningRank__Output[]): void {
    const at = Date.now();
    for (const r of running) this.attemptPlacing(r, workerId)?.activities.set(r.rank, { activity: r.activity, idleMs: r.idle_ms, at });
  }

  /** The active attempt that placed rank `r` on `workerId`; undefined when none did (its attempt is over). */
  private attemptPlacing(r: RunningRank__Output, workerId: string): ActiveAttempt | undefined {
    const a = this.active.get(r.job_id);
    return a?.attempt === r.attempt && a.placement[r.rank]?.workerId === workerId ? a : undefined;
  }

  /** Takes in the ranks and exits worker `workerId` reported for attempt `a` after a coordinator restart. */
  private adopt(jobId: string, a: ActiveAttempt, workerId: string, running: RunningRank__Output[], ended: RankEvent__Output[]): void {
    a.awaiting!.delete(workerId);
    const mine = a.placement.flatMap((s, rank) => (s.workerId === workerId ? [rank] : []));
    const alive = mine.filter((rank) => running.some((r) => r.job_id === jobId && r.attempt === a.attempt && r.rank === rank));
    for (const rank of alive) a.started.add(rank);
    const exits = ended.filter((e) => e.job_id === jobId && e.attempt === a.attempt && e.kind === 'exit');
    const told = alive.map((r) => `rank ${r} running`).concat(exits.map((e) => `rank ${e.rank} exited`));
    this.logs.append(jobId, { rank: -1, text: `${workerId} registered again${told.length > 0 ? `: ${told.join(', ')}` : ', running none of its ranks'}`, at: Date.now() });
    for (const e of exits) this.onRankEvent(workerId, e);
    if (this.active.get(jobId) !== a) return; // an exit ended it
    const state = this.find(jobId).state;
    const gone = mine.filter((rank) => !a.started.has(rank) && !a.exits.has(rank));
    if (state === 'cancelling') {
      for (const rank of gone) a.exits.set(rank, { exitCode: -1, signal: '', errorCode: '', errorMessage: 'gone', report: null });
      this.workers.send(workerId, { cancel: { job_id: jobId, attempt: a.attempt } });
      if (a.exits.size === a.placement.length) return this.endAttempt(jobId, 'cancelled', 'cancelled by request');
      a.cancelTimer ??= setTimeout(() => this.endAttempt(jobId, 'cancelled', `cancelled; ranks did not confirm their exit within ${this.policy.cancelGraceMs / 1000}s`), this.policy.cancelGraceMs);
    } else if (gone.length > 0) {
      const reason = `rank ${gone[0]} was not running on ${workerId} when it registered again after the coordinator restarted`;
      return state === 'starting' ? this.requeue(jobId, reason) : this.failAttempt(jobId, { reason, errorCode: '' });
    }
    if (a.awaiting!.size > 0) return;
    clearTimeout(a.adoptTimer);
    a.awaiting = undefined;
    this.logs.append(jobId, { rank: -1, text: `attempt ${a.attempt} adopted: every rank reported by its worker`, at: Date.now() });
    if (state === 'starting' && a.started.size === a.placement.length) this.transition(jobId, 'running', `all ${a.placement.length} rank(s) started`);
  }

  /** The workers of an attempt being adopted did not all come back in time. */
  private abandon(jobId: string, a: ActiveAttempt): void {
    if (this.active.get(jobId) !== a || !a.awaiting?.size) return;
    const reason = `${[...a.awaiting].join(', ')} did not register again within ${this.policy.adoptTimeoutMs / 1000}s of the coordinator restart`;
    const state = this.find(jobId).state;
    if (state === 'cancelling') this.endAttempt(jobId, 'cancelled', `cancelled; ${reason}`);
    else if (state === 'starting') this.requeue(jobId, reason);
    else this.failAttempt(jobId, { reason, errorCode: '' });
  }

  /** Validates and queues a job; a bad spec is refused with the same error `ringmaster train` gives. */
  submit(specJson: string, priority: number): JobRecord {
    const spec = admit(specJson, priority, this.workers.connected());
    const id = `${spec.name}-${randomBytes(2).toString('hex')}`;
    const slots = spec.parallel.data * spec.parallel.pipeline;
    const job = this.store.insertJob({ id, name: spec.name, specJson: JSON.stringify(spec), priority, slots, device: spec.device, submittedAt: Date.now() });
    this.log.info(`job ${id} submitted: ${slots} ${spec.device} slot${slots === 1 ? '' : 's'}, priority ${priority}`, { jobId: id });
    this.emit(job);
    this.scheduleJobs();
    return this.store.getJob(id) ?? job;
  }

  /** Looks a job up by id or unique id prefix. */
  find(idOrPrefix: string): JobRecord {
    const matches = this.store.findJobs(idOrPrefix);
    if (matches.length === 1) return matches[0];
    if (matches.length === 0) throw new RingmasterError('NOT_FOUND', `no job ${idOrPrefix} (ringmaster jobs lists them)`);
    throw new RingmasterError('BAD_ARGUMENT', `${idOrPrefix} matches ${matches.length} jobs: ${matches.map((j) => j.id).join(', ')}`);
  }

  /**
   * The one way a job changes state: checked, stored, logged, announced. `alongside` holds the
   * writes the change implies (the attempt it opens or closes): they commit in the same
   * transaction. Fault-injection tests kill the coordinator at `<state>:uncommitted` (the
   * transaction written, not committed) and `<state>:committed` (common/failpoints.ts).
   */
  transition(jobId: string, to: JobState, rawReason: string, patch: JobPatch = {}, alongside?: () => void): JobRecord {
    const reason = printable(rawReason); // reasons quote what ranks and files said: shown to people, on one line
    const job = this.find(jobId);
    checkTransition(job.state, to);
    const now = Date.now();
    const updated = this.store.atomically(() => {
      alongside?.();
      const next = this.store.updateJob(jobId, { ...patch, state: to, reason, ...(isTerminal(to) ? { endedAt: now } : {}) });
      failpoint(`${to}:uncommitted`);
      return next;
    });
    failpoint(`${to}:committed`);
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
      this.onProgress(jobId, attempt.attempt, { ...progressFromWire(event.progress), startStep: attempt.startStep });
    } else if (event.kind === 'evaluation' && event.evaluation && rank === 0) {
      const evaluation = evaluationFromWire(event.evaluation);
      const at = Date.now();
      this.store.recordEvaluation(jobId, attempt.attempt, at, evaluation);
      this.logs.appendMetrics(jobId, { kind: 'evaluation', attempt: attempt.attempt, at, ...evaluation });
      this.log.line(formatEvalLine(jobId, evaluation), { jobId, rank, step: evaluation.step });
      this.events.emit(jobId, { kind: 'evaluation', evaluation } satisfies JobEvent);
    } else if (event.kind === 'checkpoint' && event.checkpoint && rank === 0) {
      this.onCheckpoint(jobId, attempt.attempt, event.checkpoint.step, event.checkpoint.dir);
    } else if (event.kind === 'resumed' && event.resumed && rank === 0) {
      this.onResumed(jobId, attempt, event.resumed);
    } else if (event.kind === 'log_line' && event.log_line !== undefined) {
      this.logs.append(jobId, { rank, text: event.log_line, at: Date.now() });
    } else if (event.kind === 'exit' && event.exit) {
      this.onRankExit(jobId, attempt, rank, { exitCode: event.exit.exit_code, signal: event.exit.signal, errorCode: event.exit.error_code, errorMessage: event.exit.error_message, report: event.exit.report ? reportFromWire(event.exit.report) : null });
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
    const rendezvousToken = randomBytes(24).toString('base64url'); // the ranks' alone: only its sha256 is kept
    const rendezvousTokenSha256 = secretSha256(rendezvousToken);
    this.transition(jobId, 'starting', `attempt ${attempt}: ${describePlacement(placement)}`, { attempt, startedAt: job.startedAt ?? now }, () =>
      this.store.startAttempt({ jobId, attempt, startedAt: now, placement: placement.map((s, rank) => ({ rank, ...s })), rendezvousTokenSha256 }));
    const active: ActiveAttempt = { attempt, placement, started: new Set(), exits: new Map(), activities: new Map(), startStep: 0 };
    active.startTimer = setTimeout(() => this.takeBack(jobId, active), this.policy.startTimeoutMs);
    active.startTimer.unref();
    this.active.set(jobId, active);
    const checkpoints = checkpointTarget(jobId, attempt, checkpointSpecOf(job));
    this.rendezvous.open(attemptScope(jobId, attempt), rendezvousTokenSha256);
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
    this.requeue(jobId, `${silent.map((s) => `rank ${s.rank} on ${s.workerId}`).join(', ')} did not start within ${this.policy.startTimeoutMs / 1000}s`);
  }

  /** Takes the active attempt back from its workers (it never started training): the job waits for slots again, spending no restart. */
  private requeue(jobId: string, why: string): void {
    const attempt = this.closeAttempt(jobId);
    if (!attempt) return;
    const reason = `attempt ${attempt.attempt} taken back: ${why}`;
    this.transition(jobId, 'queued', reason, {}, this.attemptEnd(jobId, attempt, 'failed', reason));
    this.scheduleJobs();
  }

  private onProgress(jobId: string, attempt: number, progress: Progress): void {
    const at = Date.now();
    this.store.recordProgress(jobId, attempt, at, progress);
    this.logs.appendMetrics(jobId, { kind: 'progress', attempt, at, ...progress });
    const line = formatProgressLine(jobId, progress);
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
    this.store.setAttemptStartStep(jobId, attempt.attempt, resumed.step);
    const now = Date.now();
    for (const text of formatResume({ ...resumed, attempt: attempt.attempt })) {
      this.logs.append(jobId, { rank: -1, text, at: now });
      this.log.line(tagged(jobId, text), { jobId, rank: 0, attempt: attempt.attempt, step: resumed.step, dir: resumed.dir });
    }
    this.events.emit(jobId, { kind: 'resumed', resumed: { step: resumed.step, dir: resumed.dir, skipped: resumed.skipped } } satisfies JobEvent);
  }

  /** What the attempt's ranks on other workers than `rank`'s last did: its agent names only its own. */
  private elsewhere(attempt: ActiveAttempt, rank: number): string[] {
    const here = attempt.placement[rank]?.workerId;
    const now = Date.now();
    return attempt.placement.flatMap((s, r) => {
      if (s.workerId === here) return [];
      const a = attempt.activities.get(r);
      return [`rank ${r} on ${s.workerId}: ${a ? `${a.activity} (unchanged for ${Math.round((a.idleMs + now - a.at) / 1000)}s)` : 'nothing reported yet'}`];
    });
  }

  private onRankExit(jobId: string, attempt: ActiveAttempt, rank: number, outcome: RankOutcome): void {
    attempt.exits.set(rank, outcome);
    const allExited = attempt.exits.size === attempt.placement.length;
    const state = this.find(jobId).state;
    if (state === 'cancelling') {
      if (allExited) this.endAttempt(jobId, 'cancelled', 'cancelled by request');
      return;
    }
    const failure = rankFailure(rank, outcome, outcome.errorCode === 'RANK_HUNG' ? this.elsewhere(attempt, rank) : []);
    if (failure) return this.failAttempt(jobId, failure);
    if (!allExited) return;
    const result: ReportRecord | null = attempt.exits.get(0)?.report ?? null;
    this.endAttempt(jobId, 'succeeded', result ? formatMetrics(result.metrics) : '', { result });
  }

  /** Ends the active attempt, and the job, in `to`. */
  private endAttempt(jobId: string, to: 'succeeded' | 'cancelled', reason: string, patch: JobPatch = {}): void {
    const attempt = this.closeAttempt(jobId);
    if (!attempt) return;
    this.transition(jobId, to, reason, patch, this.attemptEnd(jobId, attempt, to, reason));
    this.scheduleJobs();
  }

  /** Ends the active attempt as failed; the job restarts or fails (see afterFailure). */
  private failAttempt(jobId: string, failure: AttemptFailure): void {
    const attempt = this.closeAttempt(jobId);
    if (!attempt) return;
    this.afterFailure(this.find(jobId), failure, this.attemptEnd(jobId, attempt, 'failed', failure.reason));
    this.scheduleJobs();
  }

  /** Queues the job again as a restart when its spec allows one after `failure`, else fails it; `alongside` as in transition. */
  private afterFailure(job: JobRecord, failure: AttemptFailure, alongside?: () => void): void {
    const next = planRestart(job, failure, this.store.listCheckpoints(job.id));
    if (next.to === 'queued') this.transition(job.id, 'queued', next.reason, next.patch, alongside);
    else this.transition(job.id, 'failed', next.reason, {}, alongside);
  }

  /**
   * Takes the job's active attempt out of play: stops its ranks still running, frees its slots
   * and its rendezvous scope. Undefined when the job has no active attempt (it ended already).
   * The caller's transition records the attempt's end (attemptEnd).
   */
  private closeAttempt(jobId: string): ActiveAttempt | undefined {
    const attempt = this.active.get(jobId);
    if (!attempt) return undefined;
    clearTimeout(attempt.cancelTimer);
    clearTimeout(attempt.startTimer);
    clearTimeout(attempt.adoptTimer);
    this.active.delete(jobId);
    if (attempt.exits.size < attempt.placement.length) this.stopRanks(jobId, attempt);
    this.rendezvous.drop(attemptScope(jobId, attempt.attempt));
    return attempt;
  }

  /** The write that closes `attempt` with its outcome, for the transition that ends it. */
  private attemptEnd(jobId: string, attempt: ActiveAttempt, outcome: JobState, reason: string): () => void {
    const at = Date.now();
    return () => this.store.endAttempt(jobId, attempt.attempt, at, outcome, printable(reason));
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
      clearTimeout(a.adoptTimer);
    }
  }

  private emit(job: JobRecord): void {
    this.events.emit(job.id, { kind: 'job', job } satisfies JobEvent);
  }
}

function describePlacement(placement: SlotRef[]): string {
  return placement.map((s, rank) => `rank ${rank} on ${s.workerId} ${s.kind}:${s.index}`).join(', ');
}
