/**
 * Automatic restarts (DESIGN.md, "Failure"): when an attempt fails and the spec's
 * `max_restarts` allows another, the coordinator queues a new attempt that resumes from the
 * job's newest valid checkpoint (the ranks pass over invalid ones), or starts from step 0 when
 * the job has recorded none. The budget counts the restarts since the job was submitted or last
 * resumed by a person, so `ringmaster resume` of a job that gave up grants it a fresh one.
 *
 * Which failures restart, and why:
 *
 * | failure                                                  | restarts | why                                    |
 * | -------------------------------------------------------- | -------- | -------------------------------------- |
 * | a rank killed by a signal (SIGKILL, the OOM killer, a    | yes      | the process or machine failed, not the |
 * | crash), or exiting non-zero without a result             |          | job                                    |
 * | a rank's error NATIVE (a collective timed out: a peer    | yes      | how the peers of a dead or hung rank   |
 * | died or hung; a connection dropped), INTERNAL,           |          | fail; the others may be transient      |
 * | SPAWN_FAILED, UNAVAILABLE                                |          |                                        |
 * | a worker lost (no heartbeat, session ended), or gone     | yes      | the machine, not the job               |
 * | before the ranks could start                             |          |                                        |
 * | the coordinator restarted while the job was starting or  | yes      | the agents stop the ranks with their   |
 * | running                                                  |          | sessions; the job itself was fine      |
 * | a rank's error in FINAL_RANK_ERRORS (a bad spec or       | no       | the same spec, data and checkpoints    |
 * | argument, data or checkpoint missing or corrupt, a file  |          | fail the same way again; training      |
 * | unreadable or unwritable, no addon, DIVERGED)            |          | resumes bit for bit, so it diverges    |
 * |                                                          |          | again                                  |
 * | cancellation (also a coordinator restart while the job   | no       | a person asked for it to stop          |
 * | was cancelling)                                          |          |                                        |
 *
 * Preemption is not a failure: ranks whose worker drains (SIGTERM, `ringmaster drain`) write a
 * checkpoint at a step they agree on and stop with PREEMPTED; the job is queued again to resume
 * from it, whatever `max_restarts` says, and no restart is spent.
 */
import type { ErrorCode } from '../common/errors.js';
import { maxRestartsOf } from '../jobs/load.js';
import { checkpointRoot, checkpointSpecOf } from './checkpoints.js';
import type { CheckpointRecord, JobPatch, JobRecord } from './store.js';

/** Why an attempt failed. */
export interface AttemptFailure {
  reason: string; // for people: names the rank or worker and what happened
  errorCode: string; // the failing rank's error code; '' when none reported one (killed, worker lost, …)
}

/** Rank error codes that a new attempt would meet again: the job fails at once. */
export const FINAL_RANK_ERRORS: ReadonlySet<string> = new Set<ErrorCode>([
  'BAD_SPEC',
  'BAD_ARGUMENT',
  'DATA_MISSING',
  'DATA_CORRUPT',
  'FILE_UNREADABLE',
  'FILE_UNWRITABLE',
  'ADDON_MISSING',
  'DIVERGED',
]);

/** What follows a failed attempt: a new attempt (queued again) or the end of the job. */
export type AfterFailure = { to: 'queued'; reason: string; patch: JobPatch } | { to: 'failed'; reason: string };

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * Restart or give up after `failure` ended the job's attempt (see the table above). A job that
 * asked for no restarts fails with the bare reason; one that did is told why it stops.
 */
export function planRestart(job: JobRecord, failure: AttemptFailure, recorded: readonly CheckpointRecord[]): AfterFailure {
  const resume = recorded.length === 0 ? null : { root: checkpointRoot(job.id, checkpointSpecOf(job)) };
  if (failure.errorCode === 'PREEMPTED') {
    const from = recorded.length === 0 ? 'from the start' : `from step ${Math.max(...recorded.map((c) => c.step))}`;
    return { to: 'queued', reason: `preempted, resuming ${from}: ${failure.reason}`, patch: { resume, restartedAfter: failure.reason } };
  }
  const max = maxRestartsOf(job.specJson);
  if (max === 0) return { to: 'failed', reason: failure.reason };
  if (FINAL_RANK_ERRORS.has(failure.errorCode)) {
    return { to: 'failed', reason: `${failure.reason} (not restarted: ${failure.errorCode} would fail a new attempt the same way)` };
  }
  if (job.restarts >= max) return { to: 'failed', reason: `${failure.reason} (gave up after ${plural(job.restarts, 'restart')})` };
  const restarts = job.restarts + 1;
  const from = recorded.length === 0
    ? 'from the start: no checkpoint recorded'
    : `from the newest valid checkpoint, step ${Math.max(...recorded.map((c) => c.step))} recorded`;
  return {
    to: 'queued',
    reason: `restarting after failure (restart ${restarts} of ${max}, ${from}): ${failure.reason}`,
    patch: {
      resume,
      restarts,
      restartedAfter: failure.reason,
    },
  };
}
