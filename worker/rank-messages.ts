/**
 * Messages between a rank process and the process that started it (the CLI's `train`, or
 * a worker agent), over Node's IPC channel. The parent sends one `start`; the rank
 * answers with events and ends with exactly one `done` or `error`.
 */
import type { CheckpointTarget, ResumeFrom } from '../common/checkpoint-names.js';
import type { ErrorCode } from '../common/errors.js';
import type { Evaluation, TrainingReport } from '../common/metrics.js';
import type { Progress } from '../common/progress.js';
import type { JobSpec } from '../jobs/types.js';

export type { CheckpointTarget, ResumeFrom } from '../common/checkpoint-names.js';
export type { TrainingReport } from '../common/metrics.js';

/** Where a rank of a multi-rank job stands and how it finds its peers. */
export interface DistributedPlacement {
  rank: number;
  worldSize: number;
  coordinator: string; // host:port of the rendezvous store
  scope: string; // "<job id>/<attempt>": rendezvous keys of this attempt only
  hostname: string; // the address peers reach this rank at
  machine?: string; // ranks with the same value share memory; absent: this machine's hostname and boot id
  token?: string; // the coordinator's token; absent: common/token.ts's clientToken() finds it
  tls?: { ca: string; cert?: string; key?: string }; // TLS to the coordinator (proto/transport.ts's ClientTls); absent: RINGMASTER_TLS_*, else plain TCP
}

export interface StartMessage {
  type: 'start';
  spec: JobSpec;
  distributed?: DistributedPlacement; // absent for a single-rank job
  checkpoints: CheckpointTarget;
  resume?: ResumeFrom;
}

/** The worker drains: checkpoint at the next step boundary the job's ranks agree on, then stop with PREEMPTED. */
export interface DrainMessage {
  type: 'drain';
}

export type ParentMessage = StartMessage | DrainMessage;

/** Training progress over the last logging interval (startStep is left to the parent, which knows where the run began). */
export interface ProgressEvent extends Omit<Progress, 'startStep'> {
  type: 'progress';
}

export interface EvalEvent extends Evaluation {
  type: 'eval';
}

/** Rank 0 published a checkpoint (every `checkpoint.every` steps, and at the end). */
export interface CheckpointEvent {
  type: 'checkpoint';
  step: number;
  dir: string; // the published step directory
}

/** The ranks start from a checkpoint instead of step 0. */
export interface ResumeEvent {
  type: 'resumed';
  step: number;
  dir: string;
  skipped: string[]; // one line per newer checkpoint refused as invalid, naming the file and why
}

export interface DoneMessage {
  type: 'done';
  report: TrainingReport;
}

export interface ErrorMessage {
  type: 'error';
  code: ErrorCode | 'INTERNAL';
  message: string;
}

/** Sent every few seconds while the rank lives: what it is doing ("step 57: all_reduce #112 (…) on rank 0 of 2"). */
export interface AliveMessage {
  type: 'alive';
  activity: string;
}

export type RankMessage = ProgressEvent | EvalEvent | CheckpointEvent | ResumeEvent | DoneMessage | ErrorMessage | AliveMessage;
