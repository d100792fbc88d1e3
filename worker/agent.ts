/**
 * The worker agent: dials the coordinator, registers its slots, heartbeats, runs one rank process
 * per assigned slot and reports what the ranks say. When the session breaks it reconnects with
 * backoff while its ranks train on (their collectives do not go through the coordinator), keeping
 * what they report until a session takes it; when it registers again it names the ranks it runs
 * and the exits it saw lately, so a restarted coordinator adopts the attempts instead of failing
 * them. Ranks left without a coordinator for longer than the orphan grace are stopped. Its link
 * to the coordinator moves through the states of agent-link.ts.
 */
import * as grpc from '@grpc/grpc-js';
import os from 'node:os';
import type { Logger } from '../common/log.js';
import { TOKEN_ENV, TOKEN_FILE_NAME } from '../common/token.js';
import { withToken } from '../proto/auth.js';
import { channelCredentials, type ClientTls } from '../proto/transport.js';
import type { ResumeFrom, StartMessage } from './rank-messages.js';
import type { JobSpec } from '../jobs/types.js';
import type { Assignment__Output } from '../proto/gen/ringmaster/v1/Assignment.js';
import type { CoordinatorMessage__Output } from '../proto/gen/ringmaster/v1/CoordinatorMessage.js';
import type { RankEvent } from '../proto/gen/ringmaster/v1/RankEvent.js';
import type { ResumeFrom__Output } from '../proto/gen/ringmaster/v1/ResumeFrom.js';
import type { RunningRank } from '../proto/gen/ringmaster/v1/RunningRank.js';
import type { WorkerMessage } from '../proto/gen/ringmaster/v1/WorkerMessage.js';
import { ringmasterV1 } from '../proto/load.js';
import { evaluationToWire, progressToWire, reportToWire } from '../proto/records.js';
import { findHung } from './hang-watch.js';
import { outsideRootsOnDisk, type AllowedRoots } from '../jobs/roots.js';
import { checkLinkTransition, type LinkState } from './agent-link.js';
import { RankProcess, type RankTrainingEvent } from './rank-process.js';

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  factor: number;
}

/** Reconnect after 250 ms, doubling up to 5 s. */
export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 250, maxMs: 5_000, factor: 2 };

/** How long a cancelled rank gets between SIGTERM and SIGKILL. */
export const RANK_STOP_GRACE_MS = 5_000;

/** Rank events kept while there is no session (the oldest go first beyond it), and exits remembered for the next registration. */
const MAX_PENDING_EVENTS = 10_000;
const MAX_REMEMBERED_EXITS = 64;

export interface AgentOptions {
  coordinator: string; // host:port
  slots: { kind: string; index: number }[];
  address: string; // where peers reach this machine's ranks
  token: string | undefined; // the coordinator's; its ranks get it too
  tls?: ClientTls; // TLS to the coordinator (undefined: plain TCP); its ranks use it too
  roots: AllowedRoots; // where its jobs may read data and write checkpoints
  drainTimeoutMs?: number; // how long draining ranks get to checkpoint and stop before they are killed; 2 minutes when absent
  orphanGraceMs?: number; // how long ranks train on without a session (the coordinator may be restarting); 5 minutes when absent
  onDrained?(): void; // after a drain the coordinator asked for (`ringmaster drain`) has ended
  onRegistered?(workerId: string): void; // after every registration
  backoff?: BackoffPolicy;
  log: Logger;
}

type SessionCall = grpc.ClientDuplexStream<WorkerMessage, CoordinatorMessage__Output>;

export class WorkerAgent {
  private workerId = '';
  private workerSecret = ''; // proves workerId when the session is made again
  private call: SessionCall | undefined;
  private link: LinkState = 'waiting'; // worker/agent-link.ts
  private readonly pending: WorkerMessage[] = []; // rank events made while no session could take them
  private dropped = 0; // pending events dropped for room
  private readonly exits: RankEvent[] = []; // the latest exits, told again at every registration
  private orphanTimer: NodeJS.Timeout | undefined; // stops the ranks when no session returns in time
  private heartbeat: NodeJS.Timeout | undefined;
  private reconnect: NodeJS.Timeout | undefined;
  private delayMs: number;
  private readonly ranks = new Map<string, { jobId: string; attempt: number; rank: number; process: RankProcess; progressTimeoutMs: number }>();
  private hangWatch: NodeJS.Timeout | undefined;
  private readonly backoff: BackoffPolicy;
  private draining: { done: Promise<void>; end(): void } | undefined;

  constructor(private readonly o: AgentOptions) {
    this.backoff = o.backoff ?? DEFAULT_BACKOFF;
    this.delayMs = this.backoff.initialMs;
  }

  /** Every second: stops the ranks of a job one of whose ranks here is hung (worker/hang-watch.ts). */
  private watchForHangs(): void {
    const now = Date.now();
    const watched = [...this.ranks].map(([key, r]) => ({ key, jobId: r.jobId, rank: r.rank, activity: r.process.activity, idleMs: r.process.idleMs(now), timeoutMs: r.progressTimeoutMs }));
    const hung = findHung(watched);
    if (!hung) return;
    for (const [key, reason] of hung.reasons) {
      const r = this.ranks.get(key)!;
      this.o.log.warn(`rank ${r.rank} of ${r.jobId} ${reason}`, { jobId: r.jobId, rank: r.rank });
      r.process.stopHung(reason);
    }
  }

  start(): void {
    if (!this.hangWatch) {
      this.hangWatch = setInterval(() => this.watchForHangs(), 1000);
      this.hangWatch.unref();
    }
    const { WorkerService } = ringmasterV1();
    const client = new WorkerService(this.o.coordinator, channelCredentials(this.o.tls), this.o.token ? withToken(this.o.token) : {});
    const call = client.Session();
    this.call = call;
    this.moveLink('connecting');
    call.write({ register: {
      worker_id: this.workerId, worker_secret: this.workerSecret, hostname: os.hostname(), address: this.o.address, slots: this.o.slots,
      memory_bytes: os.totalmem(), data_roots: this.o.roots.data, checkpoint_roots: this.o.roots.checkpoints,
      running: this.runningRanks(), ended: this.exits,
    } });
    call.on('data', (m: CoordinatorMessage__Output) => this.onMessage(m));
    let closed = false;
    const onClose = (why: string) => {
      if (closed) return;
      closed = true;
      client.close();
      this.onSessionLost(why);
    };
    call.on('error', (e: grpc.ServiceError) => {
      const refusal =
        e.code === grpc.status.UNAUTHENTICATED ? `missing or wrong token (pass --token-file <its state dir>/${TOKEN_FILE_NAME}, or set ${TOKEN_ENV})`
        : e.code === grpc.status.PERMISSION_DENIED ? e.details
        : undefined;
      if (refusal) {
        // Retrying cannot help: stop, and say why.
        closed = true;
        client.close();
        this.o.log.error(`the coordinator at ${this.o.coordinator} refused this worker: ${refusal}`);
        this.shutdown();
        process.exitCode = 2;
        return;
      }
      onClose(e.code === grpc.status.UNAVAILABLE ? `cannot reach the coordinator at ${this.o.coordinator}` : e.details || e.message);
    });
    call.on('end', () => onClose('the coordinator closed the session'));
  }

  /**
   * Drains (SIGTERM, `ringmaster drain`): tells the coordinator to give it no more work, asks
   * every rank to checkpoint at the next step its job's ranks agree on and stop (PREEMPTED: the
   * job is queued again and resumes from that checkpoint), waits for them (killing what is left
   * after the drain timeout) and shuts down. With the session gone there is nothing to hand
   * the jobs back to: it shuts down at once. Every call returns the same promise.
   */
  drain(): Promise<void> {
    if (this.draining) return this.draining.done;
    const timeoutMs = this.o.drainTimeoutMs ?? 120_000;
    this.send({ draining: {} });
    this.o.log.info(`draining: ${this.ranks.size} rank(s) checkpoint at their next step and stop`);
    for (const r of this.ranks.values()) r.process.drain();
    let end = () => {};
    const done = new Promise<void>((resolve) => {
      const deadline = Date.now() + timeoutMs;
      const poll = setInterval(() => (this.ranks.size === 0 || Date.now() > deadline ? end() : undefined), 100);
      end = () => {
        clearInterval(poll);
        if (this.ranks.size > 0) this.o.log.warn(`${this.ranks.size} rank(s) had not stopped ${((Date.now() - deadline + timeoutMs) / 1000).toFixed(0)}s into the drain; killing them`);
        this.shutdown();
        resolve();
      };
    });
    this.draining = { done, end: () => end() };
    return done;
  }

  /** Stops every rank and the session; the agent does not reconnect afterwards. */
  shutdown(): void {
    if (this.link === 'stopped') return;
    this.moveLink('stopped');
    clearTimeout(this.reconnect);
    clearTimeout(this.orphanTimer);
    clearInterval(this.heartbeat);
    clearInterval(this.hangWatch);
    for (const r of this.ranks.values()) r.process.kill();
    this.call?.end();
  }

  private onMessage(m: CoordinatorMessage__Output): void {
    if (m.kind === 'registered' && m.registered) {
      const first = this.workerId === '';
      this.workerId = m.registered.worker_id;
      this.workerSecret = m.registered.worker_secret;
      this.delayMs = this.backoff.initialMs;
      this.moveLink('registered');
      clearTimeout(this.orphanTimer);
      this.orphanTimer = undefined;
      clearInterval(this.heartbeat);
      this.heartbeat = setInterval(() => this.send({ heartbeat: { running: this.runningRanks() } }), m.registered.heartbeat_interval_ms);
      this.o.log.info(`${first ? 'registered' : 're-registered'} as ${this.workerId} with ${this.o.coordinator}${this.ranks.size > 0 ? `, running ${this.ranks.size} rank(s)` : ''}`);
      this.o.onRegistered?.(this.workerId);
      if (this.dropped > 0) this.o.log.warn(`${this.dropped} rank event(s) made while the coordinator was unreachable were dropped for room`);
      for (const message of this.pending.splice(0)) this.call?.write(message);
      this.dropped = 0;
    } else if (m.kind === 'assignment' && m.assignment) {
      void this.startChecked(m.assignment);
    } else if (m.kind === 'drain') {
      void this.drain().then(() => this.o.onDrained?.());
    } else if (m.kind === 'cancel' && m.cancel) {
      const { job_id: jobId, attempt } = m.cancel;
      for (const r of this.ranks.values()) if (r.jobId === jobId && r.attempt === attempt) r.process.stop(RANK_STOP_GRACE_MS);
    }
  }

  /**
   * Starts the assignment's ranks, unless its paths leave this worker's roots once symlinks are
   * followed: then each of its ranks ends at once with the reason, and nothing runs.
   */
  private async startChecked(a: Assignment__Output): Promise<void> {
    const spec = JSON.parse(a.spec_json) as JobSpec;
    const [code, refusal] = this.draining
      ? ['PREEMPTED', `worker ${this.workerId} is draining`]
      : ['BAD_SPEC', await outsideRootsOnDisk(spec, this.o.roots, `this worker (${this.workerId})`)];
    if (refusal === undefined) return this.startRanks(a, spec);
    this.o.log.warn(`refused ${a.job_id}: ${refusal}`, { jobId: a.job_id });
    for (const { rank } of a.ranks) {
      this.reportExit({ job_id: a.job_id, attempt: a.attempt, rank, exit: { exit_code: -1, signal: '', error_code: code, error_message: refusal, report: null } });
    }
  }

  private startRanks(a: Assignment__Output, spec: JobSpec): void {
    // Ranks sharing this machine split its cores, unless the spec says how many threads.
    const threads = spec.threads > 0 ? spec.threads : Math.max(1, Math.floor(os.availableParallelism() / this.o.slots.length));
    for (const { rank, slot } of a.ranks) {
      const key = `${a.job_id}/${a.attempt}/${rank}`;
      const event = (e: Omit<RankEvent, 'job_id' | 'attempt' | 'rank'>) => this.send({ rank_event: { job_id: a.job_id, attempt: a.attempt, rank, ...e } });
      if (!a.checkpoints) {
        // A coordinator of another version: without a target the rank could not checkpoint.
        this.reportExit({ job_id: a.job_id, attempt: a.attempt, rank, exit: { exit_code: -1, signal: '', error_code: 'BAD_ARGUMENT', error_message: 'the assignment names no checkpoint target (run the same ringmaster version on the coordinator and the workers)', report: null } });
        continue;
      }
      const start: StartMessage = {
        type: 'start',
        spec: { ...spec, threads },
        // the ranks hold the attempt's rendezvous token, not the coordinator's
        distributed: { rank, worldSize: a.world_size, coordinator: this.o.coordinator, scope: `${a.job_id}/${a.attempt}`, hostname: this.o.address, token: a.rendezvous_token || this.o.token, ...(this.o.tls ? { tls: this.o.tls } : {}) },
        checkpoints: { root: a.checkpoints.root, token: a.checkpoints.token },
        ...(a.resume ? { resume: toResumeFrom(a.resume) } : {}),
      };
      const process = new RankProcess(start, {
        onEvent: (e) => event(toWireEvent(e)),
        onStderr: (line) => event({ log_line: line }),
        onExit: (x) => {
          this.ranks.delete(key);
          const report = x.report && reportToWire(x.report);
          this.reportExit({ job_id: a.job_id, attempt: a.attempt, rank, exit: { exit_code: x.exitCode, signal: x.signal, error_code: x.errorCode, error_message: x.errorMessage, report } });
          this.o.log.info(`rank ${rank} of ${a.job_id} exited (${x.signal || `code ${x.exitCode}`})`, { jobId: a.job_id, rank });
        },
      }, slot?.kind === 'cuda' ? slot.index : undefined);
      this.ranks.set(key, { jobId: a.job_id, attempt: a.attempt, rank, process, progressTimeoutMs: spec.progress_timeout_s * 1000 });
      event({ started: { pid: process.pid } });
      const where = slot?.kind === 'cuda' ? `GPU ${slot.index}` : `${threads} thread(s)`;
      this.o.log.info(`rank ${rank} of ${a.job_id} attempt ${a.attempt} started, pid ${process.pid}, ${where}`, { jobId: a.job_id, rank });
    }
  }

  /** The session stream, once the coordinator has said Registered on it; undefined before and between sessions. */
  private get session(): SessionCall | undefined {
    return this.link === 'registered' ? this.call : undefined;
  }

  /** Sends on the session; without one, a rank event waits for the next (heartbeats do not). */
  private send(message: WorkerMessage): void {
    if (this.session) return void this.session.write(message);
    if (!message.rank_event) return;
    if (this.pending.length >= MAX_PENDING_EVENTS) {
      this.pending.shift();
      this.dropped++;
    }
    this.pending.push(message);
  }

  /** A rank's exit: sent when a session takes it, and told again at the next registrations, in case no coordinator recorded it. */
  private reportExit(exit: RankEvent): void {
    this.exits.push(exit);
    if (this.exits.length > MAX_REMEMBERED_EXITS) this.exits.shift();
    this.session?.write({ rank_event: exit });
  }

  private runningRanks(): RunningRank[] {
    const now = Date.now();
    return [...this.ranks.values()].map((r) => ({ job_id: r.jobId, attempt: r.attempt, rank: r.rank, activity: r.process.activity, idle_ms: r.process.idleMs(now) }));
  }

  private onSessionLost(why: string): void {
    clearInterval(this.heartbeat);
    this.call = undefined;
    if (this.link === 'stopped') return;
    this.moveLink('waiting');
    if (this.draining) return this.draining.end(); // no coordinator to hand the jobs back to
    if (this.ranks.size > 0 && !this.orphanTimer) {
      const graceMs = this.o.orphanGraceMs ?? 5 * 60_000;
      this.o.log.warn(`${this.ranks.size} rank(s) train on while this worker reconnects; they are stopped if no coordinator takes them within ${graceMs / 1000}s`);
      this.orphanTimer = setTimeout(() => {
        this.o.log.warn(`stopping ${this.ranks.size} rank(s): no coordinator for ${graceMs / 1000}s`);
        for (const r of this.ranks.values()) r.process.kill();
      }, graceMs);
    }
    this.o.log.warn(`${why}; reconnecting in ${(this.delayMs / 1000).toFixed(1)}s`);
    this.reconnect = setTimeout(() => this.start(), this.delayMs);
    this.delayMs = Math.min(this.backoff.maxMs, this.delayMs * this.backoff.factor);
  }

  private moveLink(to: LinkState): void {
    checkLinkTransition(this.link, to);
    this.link = to;
  }
}

/** A rank's training event as the session stream carries it. */
function toWireEvent(e: RankTrainingEvent): Omit<RankEvent, 'job_id' | 'attempt' | 'rank'> {
  switch (e.type) {
    case 'progress':
      return { progress: progressToWire(e) };
    case 'eval':
      return { evaluation: evaluationToWire(e) };
    case 'checkpoint':
      return { checkpoint: { step: e.step, dir: e.dir } };
    case 'resumed':
      return { resumed: { step: e.step, dir: e.dir, skipped: e.skipped } };
  }
}

function toResumeFrom(r: ResumeFrom__Output): ResumeFrom {
  return r.step === undefined ? { root: r.root } : { root: r.root, step: r.step };
}
