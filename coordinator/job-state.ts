/**
 * The lifecycle of a job. Every change of state goes through `checkTransition`.
 *
 * | state        | meaning                           | moves on when                           |
 * | ------------ | --------------------------------- | --------------------------------------- |
 * | `queued`     | waiting for its gang of slots     | placed → starting; cancel → cancelled;  |
 * |              | (for its first attempt, a resumed | can never run → failed                  |
 * |              | one, or a restart after a failed  |                                         |
 * |              | one)                              |                                         |
 * | `starting`   | placed; workers spawn its ranks   | all ranks up → running;                 |
 * |              |                                   | a rank fails → failed, or → queued when |
 * |              |                                   | max_restarts allows a restart;          |
 * |              |                                   | cancel → cancelling;                    |
 * |              |                                   | placement could not start (its worker   |
 * |              |                                   | vanished before the ranks began) →      |
 * |              |                                   | failed, or queued as a restart          |
 * | `running`    | every rank started; training      | every rank exits 0 → succeeded;         |
 * |              |                                   | a rank fails → failed, or → queued when |
 * |              |                                   | max_restarts allows a restart (see      |
 * |              |                                   | coordinator/restarts.ts);               |
 * |              |                                   | cancel → cancelling                     |
 * | `cancelling` | cancel asked; ranks stopping      | ranks stopped (or their worker lost) →  |
 * |              |                                   | cancelled                               |
 * | `succeeded`  | terminal: every rank finished     | never                                   |
 * | `failed`     | terminal: gave up (see reason)    | resume (from a checkpoint) → queued     |
 * | `cancelled`  | terminal: a person cancelled it   | resume (from a checkpoint) → queued     |
 *
 * `starting`, `running` and `cancelling` are active: the job holds its slots. A coordinator that
 * restarts finds them so and keeps them: their workers register again and the attempt is adopted
 * (JobManager.recover), or it ends as its workers' loss would end it. Terminal states
 * hold no attempt and change only when a person asks for a resume, which starts a new attempt.
 */
import type { JobState__Output as WireJobState } from '../proto/gen/ringmaster/v1/JobState.js';

export type JobState =
  | 'queued'
  | 'starting'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'cancelling'
  | 'cancelled';

export type { WireJobState };

export const TRANSITIONS: Readonly<Record<JobState, readonly JobState[]>> = {
  queued: ['starting', 'cancelled', 'failed'],
  starting: ['running', 'failed', 'cancelling', 'queued'],
  running: ['succeeded', 'failed', 'cancelling', 'queued'],
  cancelling: ['cancelled', 'failed'],
  succeeded: [],
  failed: ['queued'],
  cancelled: ['queued'],
};

const TERMINAL: ReadonlySet<JobState> = new Set<JobState>(['succeeded', 'failed', 'cancelled']);

/** Thrown by `checkTransition` for a move the table above does not allow. */
export class IllegalTransitionError extends Error {
  readonly code = 'ILLEGAL_TRANSITION';
  constructor(
    readonly from: JobState,
    readonly to: JobState,
  ) {
    super(`illegal job state transition: ${from} → ${to}`);
    this.name = 'IllegalTransitionError';
  }
}

/** The job's attempts are over: it holds no slots, and watchers of it are done. */
export function isTerminal(s: JobState): boolean {
  return TERMINAL.has(s);
}

export function checkTransition(from: JobState, to: JobState): void {
  if (!TRANSITIONS[from].includes(to)) throw new IllegalTransitionError(from, to);
}

const TO_WIRE: Readonly<Record<JobState, WireJobState>> = {
  queued: 'JOB_STATE_QUEUED',
  starting: 'JOB_STATE_STARTING',
  running: 'JOB_STATE_RUNNING',
  succeeded: 'JOB_STATE_SUCCEEDED',
  failed: 'JOB_STATE_FAILED',
  cancelling: 'JOB_STATE_CANCELLING',
  cancelled: 'JOB_STATE_CANCELLED',
};

export function toWireState(s: JobState): WireJobState {
  return TO_WIRE[s];
}

