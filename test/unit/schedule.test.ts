import { describe, expect, it } from 'vitest';
import { learningRate, restartCycle, scheduleParams, type ScheduleParams } from '../../worker/schedule.js';

// lr 1e-3 → 1e-4 with 100 warmup steps and the decay ending at step 1100, so the decay spans
// 1000 steps and its mid-point is step 600.
const lr = 1e-3;
const minLr = 1e-4;
const warmup = 100;
const cosine: ScheduleParams = { kind: 'cosine', lr, warmup, minLr, total: 1100 };

/** The cosine of every cycle: lr at tCur = 0, minLr at tCur = T. */
const sgdr = (tCur: number, T: number): number => minLr + 0.5 * (1 + Math.cos((Math.PI * tCur) / T)) * (lr - minLr);

describe('learningRate, cosine', () => {
  it.each([
    { step: 0, expected: lr / 101, why: 'first warmup step: lr·1/(warmup+1)' },
    { step: 99, expected: (lr * 100) / 101, why: 'last warmup step: lr·warmup/(warmup+1)' },
    { step: 100, expected: lr, why: 'end of warmup: cos(0) = 1, the peak' },
    { step: 350, expected: minLr + 0.5 * (1 + Math.SQRT1_2) * 9e-4, why: 'quarter of the decay: cos(π/4) = √½' },
    { step: 600, expected: 5.5e-4, why: 'mid-point: cos(π/2) = 0, halfway between lr and minLr' },
    { step: 1100, expected: minLr, why: 'total: cos(π) = −1, minLr' },
    { step: 5000, expected: minLr, why: 'beyond total: minLr' },
  ])('step $step: $why', ({ step, expected }) => {
    expect(learningRate(step, cosine)).toBeCloseTo(expected, 15);
  });

  it('decreases monotonically from the peak to minLr', () => {
    for (let step = 100; step < 1100; step++) {
      expect(learningRate(step + 1, cosine)).toBeLessThanOrEqual(learningRate(step, cosine));
    }
  });

  it('gives minLr after warmup when the decay has no length (total = warmup)', () => {
    const s = { ...cosine, total: 100 };
    expect(learningRate(99, s)).toBeCloseTo((lr * 100) / 101, 15);
    expect(learningRate(100, s)).toBe(minLr);
  });
});

describe('learningRate, constant', () => {
  const constant: ScheduleParams = { kind: 'constant', lr, warmup };
  it.each([
    { step: 0, expected: lr / 101, why: 'first warmup step: lr·1/(warmup+1)' },
    { step: 99, expected: (lr * 100) / 101, why: 'last warmup step: lr·warmup/(warmup+1)' },
    { step: 100, expected: lr, why: 'end of warmup: lr' },
    { step: 600, expected: lr, why: 'mid-run: lr' },
    { step: 1100, expected: lr, why: 'last step of a 1100-step run: lr' },
    { step: 5000, expected: lr, why: 'beyond: lr' },
  ])('step $step: $why', ({ step, expected }) => {
    expect(learningRate(step, constant)).toBeCloseTo(expected, 15);
  });

  it('has no warmup when warmup is 0', () => {
    expect(learningRate(0, { ...constant, warmup: 0 })).toBe(lr);
  });
});

describe('learningRate, cosine_restarts', () => {
  // Cycles of 1000 steps after 100 warmup steps: cycle i starts at step 100 + 1000·i.
  const flat: ScheduleParams = { kind: 'cosine_restarts', lr, warmup, minLr, t0: 1000, tMult: 1 };
  it.each([
    { step: 0, expected: lr / 101, why: 'first warmup step: lr·1/(warmup+1)' },
    { step: 99, expected: (lr * 100) / 101, why: 'last warmup step: lr·warmup/(warmup+1)' },
    { step: 100, expected: lr, why: 'end of warmup, first cycle starts: the peak' },
    { step: 600, expected: sgdr(500, 1000), why: 'mid first cycle: cos(π/2) = 0, halfway (5.5e-4)' },
    { step: 1099, expected: sgdr(999, 1000), why: 'last step of the first cycle: one step short of minLr' },
    { step: 1100, expected: lr, why: 'first step of the second cycle: back to the peak' },
    { step: 1600, expected: sgdr(500, 1000), why: 'mid second cycle: the first cycle again' },
    { step: 100 + 1000 * 1000 + 250, expected: sgdr(250, 1000), why: 'no end: cycle 1000 is the first cycle again' },
  ])('t_mult 1, step $step: $why', ({ step, expected }) => {
    expect(learningRate(step, flat)).toBeCloseTo(expected, 15);
  });

  // Cycles of 1000, 2000, 4000 steps after warmup: they start at steps 100, 1100, 3100, 7100.
  const doubling: ScheduleParams = { ...flat, tMult: 2 };
  it.each([
    { step: 0, expected: lr / 101, why: 'first warmup step: lr·1/(warmup+1)' },
    { step: 99, expected: (lr * 100) / 101, why: 'last warmup step: lr·warmup/(warmup+1)' },
    { step: 100, expected: lr, why: 'end of warmup, first cycle (1000 steps) starts: the peak' },
    { step: 600, expected: sgdr(500, 1000), why: 'mid first cycle' },
    { step: 1099, expected: sgdr(999, 1000), why: 'last step of the first cycle' },
    { step: 1100, expected: lr, why: 'first step of the second cycle (2000 steps): the peak' },
    { step: 2100, expected: sgdr(1000, 2000), why: 'mid second cycle: 1000 steps in, twice as long' },
    { step: 3099, expected: sgdr(1999, 2000), why: 'last step of the second cycle' },
    { step: 3100, expected: lr, why: 'first step of the third cycle (4000 steps): the peak' },
    { step: 5100, expected: sgdr(2000, 4000), why: 'mid third cycle' },
  ])('t_mult 2, step $step: $why', ({ step, expected }) => {
    expect(learningRate(step, doubling)).toBeCloseTo(expected, 15);
  });

  it('is a pure function of the step: any order of evaluation gives the same rates', () => {
    const steps = [0, 99, 100, 600, 1099, 1100, 2100, 3099, 3100, 5100, 7100, 123_456];
    for (const s of [flat, doubling]) {
      const forward = steps.map((step) => learningRate(step, s));
      const backward = [...steps].reverse().map((step) => learningRate(step, s)).reverse();
      const shuffled = new Map([7, 2, 11, 0, 5, 9, 1, 4, 10, 3, 8, 6].map((i) => [i, learningRate(steps[i], s)]));
      expect(backward).toEqual(forward);
      expect(steps.map((_, i) => shuffled.get(i))).toEqual(forward);
    }
  });
});

describe('restartCycle', () => {
  // Exact at every boundary, where a floating-point log can land one cycle off.
  it.each([
    { tMult: 2, t0: 1, s: 0, expected: { index: 0, tCur: 0, length: 1 } },
    { tMult: 2, t0: 1, s: 1, expected: { index: 1, tCur: 0, length: 2 } },
    { tMult: 2, t0: 1, s: 2 ** 40 - 1, expected: { index: 40, tCur: 0, length: 2 ** 40 } },
    { tMult: 2, t0: 1, s: 2 ** 40 - 2, expected: { index: 39, tCur: 2 ** 39 - 1, length: 2 ** 39 } },
    { tMult: 3, t0: 10, s: 10 * (3 ** 20 - 1) / 2, expected: { index: 20, tCur: 0, length: 10 * 3 ** 20 } },
    { tMult: 3, t0: 10, s: 10 * (3 ** 20 - 1) / 2 - 1, expected: { index: 19, tCur: 10 * 3 ** 19 - 1, length: 10 * 3 ** 19 } },
    { tMult: 1, t0: 7, s: 7 * 5 + 3, expected: { index: 5, tCur: 3, length: 7 } },
    // torch's closed form, Python's int(math.log(121 / 1 * (3 - 1) + 1, 3)), gives cycle 4: log₃ 243 = 4.999…
    { tMult: 3, t0: 1, s: (3 ** 5 - 1) / 2, expected: { index: 5, tCur: 0, length: 3 ** 5 } },
  ])('t0 $t0, t_mult $tMult, step $s after warmup', ({ tMult, t0, s, expected }) => {
    expect(restartCycle(s, t0, tMult)).toEqual(expected);
  });

  it('refuses cycle lengths that would never advance', () => {
    expect(() => restartCycle(5, 0, 1)).toThrow(RangeError);
    expect(() => restartCycle(5, 10, 0.5)).toThrow(RangeError);
  });
});

describe('scheduleParams', () => {
  const optimizer = { lr } as Parameters<typeof scheduleParams>[0]['optimizer'];
  it.each([
    {
      schedule: { kind: 'cosine', warmup: 10, min_lr: 1e-5 } as const,
      expected: { kind: 'cosine', lr, warmup: 10, minLr: 1e-5, total: 500 },
    },
    { schedule: { kind: 'constant', warmup: 10 } as const, expected: { kind: 'constant', lr, warmup: 10 } },
    {
      schedule: { kind: 'cosine_restarts', warmup: 10, min_lr: 1e-5, t0: 50, t_mult: 2 } as const,
      expected: { kind: 'cosine_restarts', lr, warmup: 10, minLr: 1e-5, t0: 50, tMult: 2 },
    },
  ])('maps schedule.kind $schedule.kind', ({ schedule, expected }) => {
    expect(scheduleParams({ optimizer, schedule }, 500)).toEqual(expected);
  });
});
