/**
 * One supervised rank process: started with its StartMessage over IPC, its messages and stderr turned
 * into callbacks, its exit (code or signal) reported exactly once. A rank that misbehaves never
 * takes its supervisor down. Used by the worker agent and by `ringmaster train` alike.
 *
 * | state      | meaning                                        | moves on when                       |
 * | ---------- | ---------------------------------------------- | ----------------------------------- |
 * | `running`  | training                                       | drain() → draining; stop(), kill(), |
 * |            |                                                | stopHung() → stopping; exit → exited|
 * | `draining` | asked to checkpoint at its next step and stop  | stop(), kill(), stopHung() →        |
 * |            | (PREEMPTED)                                    | stopping; exit → exited             |
 * | `stopping` | signalled (SIGTERM, then SIGKILL after grace)  | exit → exited                       |
 * | `exited`   | terminal: its exit was reported                | never                               |
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { CheckpointEvent, EvalEvent, ProgressEvent, ParentMessage, RankMessage, ResumeEvent, StartMessage, TrainingReport } from './rank-messages.js';

const RANK_ENTRY = fileURLToPath(new URL('./rank.js', import.meta.url));

export interface RankExitInfo {
  exitCode: number; // -1 when killed by a signal
  signal: string;
  errorCode: string;
  errorMessage: string;
  report: TrainingReport | null;
}

/** What a rank reports while it trains, passed on as it comes. */
export type RankTrainingEvent = ProgressEvent | EvalEvent | CheckpointEvent | ResumeEvent;

export interface RankCallbacks {
  onEvent(event: RankTrainingEvent): void;
  onStderr(line: string): void;
  onExit(info: RankExitInfo): void;
}

export type RankProcessState = 'running' | 'draining' | 'stopping' | 'exited';

const RANK_TRANSITIONS: Readonly<Record<RankProcessState, readonly RankProcessState[]>> = {
  running: ['draining', 'stopping', 'exited'],
  draining: ['stopping', 'exited'],
  stopping: ['exited'],
  exited: [],
};

export class RankProcess {
  readonly pid: number;
  private state: RankProcessState = 'running';
  private readonly child: ChildProcess;
  private report: TrainingReport | null = null;
  private error: { code: string; message: string } | null = null;
  private killTimer: NodeJS.Timeout | undefined;
  /** Asks the rank to checkpoint at its next step boundary and stop (PREEMPTED): its worker drains. */
  drain(): void {
    if (!this.move('draining')) return;
    if (this.child.connected) this.child.send({ type: 'drain' } satisfies ParentMessage);
  }

  /** What the rank last said it was doing (its liveness reports), and when that last changed. */
  activity = 'starting';
  private changedAt = Date.now();

  /** `gpu`: the index of the GPU the rank runs on (a cuda slot); the rank sees that one only, as cuda:0. */
  constructor(start: StartMessage, callbacks: RankCallbacks, gpu?: number) {
    const env = gpu === undefined ? process.env : { ...process.env, CUDA_VISIBLE_DEVICES: String(gpu) };
    this.child = fork(RANK_ENTRY, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env });
    this.pid = this.child.pid ?? -1;
    this.child.send(start);
    this.child.on('message', (m: RankMessage) => {
      if (m.type === 'done') this.report = m.report;
      else if (m.type === 'error') this.error = { code: m.code, message: m.message };
      else if (m.type === 'alive') this.noteActivity(m.activity);
      else callbacks.onEvent(m);
    });
    if (this.child.stderr) createInterface({ input: this.child.stderr }).on('line', (l) => callbacks.onStderr(l));
    this.child.on('error', (e) => {
      this.error ??= { code: 'SPAWN_FAILED', message: `cannot start the rank process: ${e.message}` };
    });
    this.child.once('exit', (code, signal) => {
      this.move('exited');
      clearTimeout(this.killTimer);
      callbacks.onExit({
        exitCode: signal ? -1 : (code ?? -1),
        signal: signal ?? '',
        errorCode: this.error?.code ?? '',
        errorMessage: this.error?.message ?? '',
        report: this.report,
      });
    });
  }

  /** SIGTERM now, SIGKILL if it is still alive after `graceMs`. */
  stop(graceMs: number): void {
    if (!this.move('stopping')) return;
    this.child.kill('SIGTERM');
    this.killTimer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    this.killTimer.unref();
  }

  kill(): void {
    if (this.state === 'exited') return;
    this.move('stopping');
    this.child.kill('SIGKILL');
  }

  /** Milliseconds since the rank's activity last changed. */
  idleMs(now = Date.now()): number {
    return now - this.changedAt;
  }

  /** Stops a hung rank (SIGKILL: a stopped process ignores SIGTERM), reporting `reason` as its error. */
  stopHung(reason: string): void {
    this.error = { code: 'RANK_HUNG', message: reason };
    this.kill();
  }

  /** Moves to `to` when the table allows it from here; false (nothing changes) otherwise. */
  private move(to: RankProcessState): boolean {
    if (!RANK_TRANSITIONS[this.state].includes(to)) return false;
    this.state = to;
    return true;
  }

  private noteActivity(activity: string): void {
    if (activity === this.activity) return;
    this.activity = activity;
    this.changedAt = Date.now();
  }
}
