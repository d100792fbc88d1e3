/** Hang detection's choice of the hung rank and the reasons its job's ranks are stopped with (worker/hang-watch.ts). */
import { describe, expect, it } from 'vitest';
import { findHung } from '../../worker/hang-watch.js';

const rank = (jobId: string, r: number, activity: string, idleMs: number) => ({ key: `${jobId}/1/${r}`, jobId, rank: r, activity, idleMs, timeoutMs: 3000 });

describe('findHung', () => {
  it('finds none while every rank changed its activity within the timeout', () => {
    expect(findHung([rank('a', 0, 'step 7', 2900), rank('a', 1, 'step 7', 100)])).toBeUndefined();
  });

  it('names the rank idle longest, and stops its job\'s ranks here with every rank\'s last activity', () => {
    const found = findHung([
      rank('a', 1, 'step 12', 4200), // stopped before its peer entered the collective it waits in
      rank('a', 0, 'step 12: all_reduce #40 (16 float32) on rank 0 of 2', 3400),
      rank('b', 0, 'step 3', 10_000 - 9000), // another job: untouched
    ])!;
    expect(found.jobId).toBe('a');
    const last = 'last activities: rank 0: step 12: all_reduce #40 (16 float32) on rank 0 of 2 (unchanged for 3s); rank 1: step 12 (unchanged for 4s)';
    expect(found.reasons).toEqual(new Map([
      ['a/1/1', `made no progress for 4s (progress_timeout_s 3s); ${last}`],
      ['a/1/0', `was stopped: rank 1 made no progress for 4s (progress_timeout_s 3s); ${last}`],
    ]));
  });
});
