/**
 * The coordinator's end of the worker sessions: one bidirectional stream per worker agent.
 * A session starts with Register; afterwards every message counts as a sign of life, and a
 * worker silent for longer than the heartbeat timeout (or whose stream ends) is declared lost.
 */
import * as grpc from '@grpc/grpc-js';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { secretSha256 } from '../common/token.js';
import type { Logger } from '../common/log.js';
import type { CoordinatorMessage } from '../proto/gen/ringmaster/v1/CoordinatorMessage.js';
import type { Register__Output } from '../proto/gen/ringmaster/v1/Register.js';
import type { WorkerMessage__Output } from '../proto/gen/ringmaster/v1/WorkerMessage.js';
import type { JobManager, WorkerDirectory } from './job-manager.js';
import type { Store } from './store.js';
import type { AllowedRoots } from '../jobs/roots.js';
import { RingmasterError } from '../common/errors.js';

export interface HeartbeatPolicy {
  intervalMs: number; // how often workers send a heartbeat
  timeoutMs: number; // silence after which a worker is lost (also the wait for Register)
  forgetMs: number; // a lost worker leaves the list (and the store) this long after it was last seen
}

export const DEFAULT_HEARTBEAT: HeartbeatPolicy = { intervalMs: 1_000, timeoutMs: 10_000, forgetMs: 10 * 60_000 };

type SessionCall = grpc.ServerDuplexStream<WorkerMessage__Output, CoordinatorMessage>;

interface Session {
  workerId: string;
  slots: { kind: string; index: number }[];
  memoryBytes: number; // the machine's, shared by its slots; 0: not known
  roots: AllowedRoots | undefined; // where its jobs may read and write; undefined: it did not say
  call: SessionCall;
  lastSeen: number;
  draining: boolean; // checkpointing its ranks to leave: no new work
  running: number; // ranks its last heartbeat said it runs
}

export class WorkerSessions implements WorkerDirectory {
  private readonly sessions = new Map<string, Session>();
  private manager: JobManager | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly policy: HeartbeatPolicy = DEFAULT_HEARTBEAT,
  ) {
    this.timer = setInterval(() => this.checkHeartbeats(), Math.max(100, policy.intervalMs / 2));
    this.timer.unref();
  }

  attach(manager: JobManager): void {
    this.manager = manager;
  }

  /** Serves one worker's Session stream. */
  handle(call: SessionCall): void {
    let session: Session | undefined;
    const registerTimer = setTimeout(() => call.end(), this.policy.timeoutMs);
    call.on('data', (m: WorkerMessage__Output) => {
      if (m.kind === 'register' && m.register) {
        clearTimeout(registerTimer);
        session = this.register(call, m.register);
        return;
      }
      if (!session) return;
      session.lastSeen = Date.now();
      if (m.kind === 'rank_event' && m.rank_event) this.manager?.onRankEvent(session.workerId, m.rank_event);
      if (m.kind === 'heartbeat' && m.heartbeat) {
        session.running = m.heartbeat.running.length;
        this.manager?.onHeartbeat(session.workerId, m.heartbeat.running);
      }
      if (m.kind === 'draining' && !session.draining) {
        session.draining = true;
        this.log.info(`worker ${session.workerId} is draining: its ranks checkpoint and stop, and it gets no more work`);
      }
    });
    const ended = (why: string) => {
      clearTimeout(registerTimer);
      if (session) this.lose(session, why);
    };
    call.on('end', () => ended('its session ended'));
    call.on('error', (e: Error) => ended(`its session broke (${e.message})`));
    call.on('cancelled', () => ended('its session was cancelled'));
  }

  connected(): { workerId: string; slots: { kind: string; index: number }[]; memoryBytes: number; roots: AllowedRoots | undefined; draining: boolean }[] {
    return [...this.sessions.values()].map((s) => ({ workerId: s.workerId, slots: s.slots, memoryBytes: s.memoryBytes, roots: s.roots, draining: s.draining }));
  }

  /**
   * Tells a connected worker to drain: its ranks checkpoint at their next step and stop, their
   * jobs are queued again, and it leaves. Returns the ranks it last said it runs; NOT_FOUND when
   * no such worker is connected.
   */
  drain(workerId: string): number {
    const session = this.sessions.get(workerId);
    if (!session) throw new RingmasterError('NOT_FOUND', `no connected worker ${workerId} (see ringmaster workers)`);
    session.draining = true;
    session.call.write({ drain: {} });
    this.log.info(`worker ${workerId} told to drain (${session.running} rank(s) running)`);
    return session.running;
  }

  send(workerId: string, message: CoordinatorMessage): boolean {
    const session = this.sessions.get(workerId);
    if (!session) return false;
    session.call.write(message);
    return true;
  }

  isConnected(workerId: string): boolean {
    return this.sessions.has(workerId);
  }

  close(): void {
    clearInterval(this.timer);
    for (const s of this.sessions.values()) s.call.end();
    this.sessions.clear();
  }

  /**
   * The id a registration may use, with its secret: a known id only with the secret it was given
   * (null: refused, an impostor); otherwise a new id (an unknown one asked for is not granted:
   * ids are the coordinator's to give) and a new secret.
   */
  private identify(r: Register__Output): { workerId: string; secret: string } | null {
    const stored = r.worker_id ? this.store.workerSecretSha256(r.worker_id) : undefined;
    if (stored === undefined) return { workerId: `${r.hostname}-${randomBytes(2).toString('hex')}`, secret: randomBytes(32).toString('hex') };
    const presented = secretSha256(r.worker_secret);
    // A row from before secrets: the first to reconnect under its id sets the secret.
    if (stored !== '' && !timingSafeEqual(Buffer.from(presented), Buffer.from(stored))) return null;
    return { workerId: r.worker_id, secret: stored === '' ? randomBytes(32).toString('hex') : r.worker_secret };
  }

  private register(call: SessionCall, r: Register__Output): Session | undefined {
    const identity = this.identify(r);
    if (!identity) {
      this.log.warn(`refused a registration as worker ${r.worker_id} from ${call.getPeer()}: it did not prove the id`);
      call.emit('error', { code: grpc.status.PERMISSION_DENIED, details: `worker id ${r.worker_id} belongs to another worker (start this one without an id)` });
      return undefined;
    }
    const { workerId, secret } = identity;
    const previous = this.sessions.get(workerId);
    if (previous) this.lose(previous, 'it registered again');
    const now = Date.now();
    const slots = r.slots.map((s) => ({ kind: s.kind, index: s.index }));
    const roots = r.data_roots.length > 0 || r.checkpoint_roots.length > 0 ? { data: r.data_roots, checkpoints: r.checkpoint_roots } : undefined;
    const session: Session = { workerId, slots, memoryBytes: r.memory_bytes ?? 0, roots, call, lastSeen: now, draining: false, running: 0 };
    this.sessions.set(workerId, session);
    const known = this.store.listWorkers().find((w) => w.id === workerId);
    this.store.upsertWorker({ id: workerId, hostname: r.hostname, address: r.address, slots, firstSeen: known?.firstSeen ?? now, lastSeen: now, connected: true });
    this.store.setWorkerSecretSha256(workerId, secretSha256(secret));
    call.write({ registered: { worker_id: workerId, heartbeat_interval_ms: this.policy.intervalMs, heartbeat_timeout_ms: this.policy.timeoutMs, worker_secret: secret } });
    const ranks = r.running.length > 0 ? `, running ${r.running.length} rank(s)` : '';
    this.log.info(`worker ${workerId} registered from ${r.address || r.hostname} with ${slots.map((s) => `${s.kind}:${s.index}`).join(', ')}${ranks}`);
    session.running = r.running.length;
    this.manager?.onWorkerReturned(workerId, r.running, r.ended);
    this.manager?.scheduleJobs();
    return session;
  }

  private lose(session: Session, reason: string): void {
    if (this.sessions.get(session.workerId) !== session) return;
    this.sessions.delete(session.workerId);
    this.store.setWorkerConnected(session.workerId, false, session.lastSeen);
    this.log.warn(`worker ${session.workerId} lost: ${reason}`);
    session.call.end();
    this.manager?.onWorkerLost(session.workerId, reason);
  }

  private checkHeartbeats(): void {
    const now = Date.now();
    for (const s of [...this.sessions.values()]) {
      const silent = now - s.lastSeen;
      if (silent > this.policy.timeoutMs) this.lose(s, `no heartbeat for ${(silent / 1000).toFixed(1)}s`);
    }
    const forgotten = this.store.forgetWorkersSeenBefore(now - this.policy.forgetMs);
    if (forgotten > 0) this.log.info(`forgot ${forgotten} worker(s) gone for more than ${this.policy.forgetMs / 1000}s`);
  }
}

