/** What the coordinator does after a failed attempt (coordinator/restarts.ts): restart, or give up and why. */
import { describe, expect, it } from 'vitest';
import { FINAL_RANK_ERRORS, planRestart, type AttemptFailure } from '../../coordinator/restarts.js';
import type { CheckpointRecord, JobRecord } from '../../coordinator/store.js';

function job(o: { maxRestarts?: number; restarts?: number }): JobRecord {
  const spec = { checkpoint: { every: 100, keep: 3, dir: '/ckpt' }, ...(o.maxRestarts === undefined ? {} : { max_restarts: o.maxRestarts }) };
  return {
    id: 'mlp-7f3a', name: 'mlp', specJson: JSON.stringify(spec), state: 'running', reason: '',
    priority: 0, slots: 1, device: 'cpu', attempt: 1 + (o.restarts ?? 0), submittedAt: 1, startedAt: 2, endedAt: null,
    progress: null, evaluation: null, result: null, resume: null, restarts: o.restarts ?? 0, restartedAfter: null,
  };
}

const RECORDED: CheckpointRecord[] = [100, 200].map((step) => ({ jobId: 'mlp-7f3a', step, attempt: 1, dir: `/ckpt/mlp-7f3a/step-${step}`, publishedAt: step }));
const KILLED: AttemptFailure = { reason: 'rank 0 was killed by SIGKILL', errorCode: '' };

describe('planRestart', () => {
  it.each([
    { what: 'no checkpoints', recorded: [], from: 'from the start: no checkpoint recorded', resume: null },
    { what: 'checkpoints', recorded: RECORDED, from: 'from the newest valid checkpoint, step 200 recorded', resume: { root: '/ckpt/mlp-7f3a' } },
  ])('restarts within the budget, with $what', ({ recorded, from, resume }) => {
    expect(planRestart(job({ maxRestarts: 2, restarts: 1 }), KILLED, recorded)).toEqual({
      to: 'queued',
      reason: `restarting after failure (restart 2 of 2, ${from}): rank 0 was killed by SIGKILL`,
      patch: { resume, restarts: 2, restartedAfter: 'rank 0 was killed by SIGKILL' },
    });
  });

  it.each([
    { what: 'max_restarts 0', job: job({ maxRestarts: 0 }), reason: 'rank 0 was killed by SIGKILL' },
    { what: 'a spec stored before max_restarts existed', job: job({}), reason: 'rank 0 was killed by SIGKILL' },
    { what: 'an exhausted budget', job: job({ maxRestarts: 2, restarts: 2 }), reason: 'rank 0 was killed by SIGKILL (gave up after 2 restarts)' },
    { what: 'an exhausted budget of one', job: job({ maxRestarts: 1, restarts: 1 }), reason: 'rank 0 was killed by SIGKILL (gave up after 1 restart)' },
  ])('fails the job with $what', ({ job, reason }) => {
    expect(planRestart(job, KILLED, RECORDED)).toEqual({ to: 'failed', reason });
  });

  it.each([...FINAL_RANK_ERRORS])('does not restart after a rank error %s: it would recur', (code) => {
    const failure = { reason: 'rank 0 exited with code 1: …', errorCode: code };
    expect(planRestart(job({ maxRestarts: 3 }), failure, RECORDED)).toEqual({
      to: 'failed',
      reason: `rank 0 exited with code 1: … (not restarted: ${code} would fail a new attempt the same way)`,
    });
  });

  it.each(['NATIVE', 'INTERNAL', 'SPAWN_FAILED', 'UNAVAILABLE', ''])('restarts after a rank error "%s"', (code) => {
    expect(planRestart(job({ maxRestarts: 1 }), { reason: 'rank 1 exited with code 1', errorCode: code }, []).to).toBe('queued');
  });
});
