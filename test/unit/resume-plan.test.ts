/** The coordinator's checkpoint paths and its decision on a resume request (coordinator/checkpoints.ts). */
import { describe, expect, it } from 'vitest';
import { RingmasterError, type ErrorCode } from '../../common/errors.js';
import { checkpointTarget, describeResume, planResume } from '../../coordinator/checkpoints.js';
import type { JobState } from '../../coordinator/job-state.js';
import type { CheckpointRecord, JobRecord } from '../../coordinator/store.js';

function job(state: JobState, every = 100): JobRecord {
  return {
    id: 'mlp-7f3a', name: 'mlp', specJson: JSON.stringify({ checkpoint: { every, keep: 3, dir: '/ckpt' } }), state, reason: '',
    priority: 0, slots: 1, device: 'cpu', attempt: 1, submittedAt: 1, startedAt: 2, endedAt: null,
    progress: null, evaluation: null, result: null, resume: null, restarts: 0, restartedAfter: null,
  };
}

const RECORDED: CheckpointRecord[] = [100, 200].map((step) => ({ jobId: 'mlp-7f3a', step, attempt: 1, dir: `/ckpt/mlp-7f3a/step-${step}`, publishedAt: step }));

function refusal(fn: () => unknown): RingmasterError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(RingmasterError);
    return e as RingmasterError;
  }
  throw new Error('not refused');
}

describe('checkpointTarget', () => {
  it.each([
    ['mlp-7f3a', 1, '/ckpt/mlp-7f3a', 'mlp-7f3a-a1'],
    ['gpt.small-00ff', 12, '/ckpt/gpt.small-00ff', 'gpt_small-00ff-a12'], // '.' is not a token character
  ])('job %s attempt %i → root %s, token %s', (jobId, attempt, root, token) => {
    expect(checkpointTarget(jobId, attempt, { every: 0, keep: 3, dir: '/ckpt' })).toEqual({ root, token });
  });
});

describe('planResume', () => {
  it.each([
    { state: 'failed', step: undefined, plan: { root: '/ckpt/mlp-7f3a' } },
    { state: 'cancelled', step: undefined, plan: { root: '/ckpt/mlp-7f3a' } },
    { state: 'failed', step: 100, plan: { root: '/ckpt/mlp-7f3a', step: 100 } },
  ] as const)('$state job, step $step → $plan', ({ state, step, plan }) => {
    expect(planResume(job(state), RECORDED, step)).toEqual(plan);
  });

  it.each<{ state: JobState; says: RegExp }>([
    { state: 'queued', says: /^job mlp-7f3a is already queued \(/ },
    { state: 'starting', says: /^job mlp-7f3a is starting \(attempt 1\); only a failed or cancelled job can be resumed \(.*ringmaster cancel mlp-7f3a/ },
    { state: 'running', says: /^job mlp-7f3a is running \(attempt 1\); only a failed or cancelled job can be resumed/ },
    { state: 'cancelling', says: /^job mlp-7f3a is being cancelled; resume it once it is cancelled/ },
    { state: 'succeeded', says: /^job mlp-7f3a succeeded: there is nothing left to train/ },
  ])('refuses a $state job with WRONG_STATE', ({ state, says }) => {
    const e = refusal(() => planResume(job(state), RECORDED, undefined));
    expect(e.code).toBe<ErrorCode>('WRONG_STATE');
    expect(e.message).toMatch(says);
  });

  it.each([
    { every: 100, why: 'it stopped before its first checkpoint at step 100' },
    { every: 0, why: 'checkpoint.every = 0 writes only the final checkpoint' },
  ])('refuses a job with no checkpoints (every $every) with WRONG_STATE, saying why', ({ every, why }) => {
    const e = refusal(() => planResume(job('failed', every), [], undefined));
    expect(e.code).toBe<ErrorCode>('WRONG_STATE');
    expect(e.message).toBe(`job mlp-7f3a has no checkpoints to resume from (${why}; to start over: ringmaster submit the spec again)`);
  });

  it('refuses a step with no recorded checkpoint with BAD_ARGUMENT, naming the steps there are', () => {
    const e = refusal(() => planResume(job('failed'), RECORDED, 150));
    expect(e.code).toBe<ErrorCode>('BAD_ARGUMENT');
    expect(e.message).toBe('job mlp-7f3a has no checkpoint of step 150 (its checkpoints: 100, 200; ringmaster checkpoints mlp-7f3a lists them)');
  });
});

describe('describeResume', () => {
  it.each([
    [{ root: '/r', step: 100 }, 'resume requested from step 100'],
    [{ root: '/r' }, 'resume requested from the newest valid checkpoint (step 200 recorded)'],
  ])('%j → %s', (resume, text) => {
    expect(describeResume(resume, RECORDED)).toBe(text);
  });
});
