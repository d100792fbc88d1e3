/**
 * Where a job's checkpoints live and what a resume request starts from. Every attempt of a job
 * publishes into the same root, `<spec checkpoint.dir>/<job id>`, so a new attempt finds the
 * checkpoints of the ones before it; each attempt stages under its own token, so a dead
 * attempt's half-written directories are never mistaken for the live one's.
 */
import path from 'node:path';
import { RingmasterError } from '../common/errors.js';
import type { CheckpointTarget } from '../common/checkpoint-names.js';
import type { JobSpec } from '../jobs/types.js';
import type { CheckpointRecord, JobRecord, ResumeRecord } from './store.js';

/** The part of a job's spec that says where and how often it checkpoints. */
export type CheckpointSpec = Pick<JobSpec['checkpoint'], 'every' | 'dir' | 'keep'>;

export function checkpointSpecOf(job: Pick<JobRecord, 'specJson'>): CheckpointSpec {
  return (JSON.parse(job.specJson) as Pick<JobSpec, 'checkpoint'>).checkpoint;
}

export function checkpointRoot(jobId: string, spec: CheckpointSpec): string {
  return path.join(spec.dir, jobId);
}

/** The job's root, and the token `<job id>-a<attempt>` in the characters a token allows. */
export function checkpointTarget(jobId: string, attempt: number, spec: CheckpointSpec): CheckpointTarget {
  return { root: checkpointRoot(jobId, spec), token: `${jobId}-a${attempt}`.replace(/[^A-Za-z0-9_-]/g, '_') };
}

/** Why a job in this state cannot be resumed, with what to do instead; undefined when it can. */
function refusalFor(job: JobRecord): string | undefined {
  switch (job.state) {
    case 'failed':
    case 'cancelled':
      return undefined;
    case 'queued':
      return `job ${job.id} is already queued (it starts when its slots are free; ringmaster status ${job.id} says why it waits)`;
    case 'starting':
    case 'running':
      return `job ${job.id} is ${job.state} (attempt ${job.attempt}); only a failed or cancelled job can be resumed (to restart it from a checkpoint: ringmaster cancel ${job.id}, then resume it)`;
    case 'cancelling':
      return `job ${job.id} is being cancelled; resume it once it is cancelled (ringmaster status ${job.id})`;
    case 'succeeded':
      return `job ${job.id} succeeded: there is nothing left to train (to train again: ringmaster submit the spec)`;
  }
}

/**
 * What the next attempt of `job` starts from: exactly the recorded checkpoint of `step`, or,
 * without a step, the newest valid checkpoint under the job's root (the ranks pass over invalid
 * ones and say so). Refuses, in one line with the fix, a job that is not failed or cancelled
 * (WRONG_STATE), one with no recorded checkpoint (WRONG_STATE), and a step never recorded
 * (BAD_ARGUMENT, naming the steps there are).
 */
export function planResume(job: JobRecord, recorded: readonly CheckpointRecord[], step: number | undefined): ResumeRecord {
  const refusal = refusalFor(job);
  if (refusal) throw new RingmasterError('WRONG_STATE', refusal);
  const spec = checkpointSpecOf(job);
  const root = checkpointRoot(job.id, spec);
  if (recorded.length === 0) {
    const why = spec.every === 0 ? 'checkpoint.every = 0 writes only the final checkpoint' : `it stopped before its first checkpoint at step ${spec.every}`;
    throw new RingmasterError('WRONG_STATE', `job ${job.id} has no checkpoints to resume from (${why}; to start over: ringmaster submit the spec again)`);
  }
  if (step === undefined) return { root };
  if (!recorded.some((c) => c.step === step)) {
    const steps = recorded.map((c) => c.step).join(', ');
    throw new RingmasterError('BAD_ARGUMENT', `job ${job.id} has no checkpoint of step ${step} (its checkpoints: ${steps}; ringmaster checkpoints ${job.id} lists them)`);
  }
  return { root, step };
}

/** The reason the job is queued again, for its state line. */
export function describeResume(resume: ResumeRecord, recorded: readonly CheckpointRecord[]): string {
  if (resume.step !== undefined) return `resume requested from step ${resume.step}`;
  const newest = Math.max(...recorded.map((c) => c.step));
  return `resume requested from the newest valid checkpoint (step ${newest} recorded)`;
}
