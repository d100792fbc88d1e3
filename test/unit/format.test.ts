/** How `ringmaster status` shows a job's automatic restarts (cli/format.ts). */
import { describe, expect, it } from 'vitest';
import { jobDetail, jobJson } from '../../cli/format.js';
import type { Job__Output } from '../../proto/gen/ringmaster/v1/Job.js';

function job(restarts: number, restartedAfter: string): Job__Output {
  return {
    id: 'mlp-7f3a', name: 'mlp', state: 'JOB_STATE_RUNNING', reason: 'all 1 rank(s) started', priority: 0, slots: 1,
    device: 'cpu', attempt: restarts + 1, submitted_at_ms: 1, started_at_ms: 2, ended_at_ms: 0,
    spec_json: JSON.stringify({ max_restarts: 2 }), progress: null, evaluation: null, result: null,
    restarts, restarted_after: restartedAfter,
  };
}

describe('status of a restarted job', () => {
  it('names the restarts and the failure before the latest one', () => {
    expect(jobDetail(job(1, 'rank 0 was killed by SIGKILL')).split('\n')).toContain('restarts  1 of 2, the latest after: rank 0 was killed by SIGKILL');
    expect(jobJson(job(1, 'rank 0 was killed by SIGKILL'))).toMatchObject({ attempt: 2, restarts: 1, restartedAfter: 'rank 0 was killed by SIGKILL' });
  });

  it('says nothing of restarts for a job that had none', () => {
    expect(jobDetail(job(0, ''))).not.toContain('restarts');
    expect(jobJson(job(0, ''))).toMatchObject({ restarts: 0, restartedAfter: null });
  });
});
