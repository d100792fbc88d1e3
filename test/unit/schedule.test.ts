import { describe, expect, it } from 'vitest';
import { learningRate, type ScheduleParams } from '../../worker/schedule.js';

// lr 1e-3 → 1e-4 with 100 warmup steps and the decay ending at step 1100, so the decay spans
// 1000 steps and its mid-point is step 600.
const cosine: ScheduleParams = { kind: 'cosine', lr: 1e-3, warmup: 100, minLr: 1e-4, total: 1100 };

describe('learningRate, cosine', () => {
  it.each([
    { step: 0, expected: 1e-3 / 101, why: 'first warmup step: lr·1/(warmup+1)' },
    { step: 99, expected: (1e-3 * 100) / 101, why: 'last warmup step: lr·warmup/(warmup+1)' },
    { step: 100, expected: 1e-3, why: 'end of warmup: cos(0) = 1, the peak' },
    { step: 350, expected: 1e-4 + 0.5 * (1 + Math.SQRT1_2) * 9e-4, why: 'quarter of the decay: cos(π/4) = √½' },
    { step: 600, expected: 5.5e-4, why: 'mid-point: cos(π/2) = 0, halfway between lr and minLr' },
    { step: 1100, expected: 1e-4, why: 'total: cos(π) = −1, minLr' },
    { step: 5000, expected: 1e-4, why: 'beyond total: minLr' },
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
    expect(learningRate(99, s)).toBeCloseTo((1e-3 * 100) / 101, 15);
    expect(learningRate(100, s)).toBe(1e-4);
  });
});

describe('learningRate, constant', () => {
  const constant: ScheduleParams = { ...cosine, kind: 'constant' };
  it.each([
    { step: 0, expected: 1e-3 / 101 },
    { step: 99, expected: (1e-3 * 100) / 101 },
    { step: 100, expected: 1e-3 },
    { step: 600, expected: 1e-3 },
    { step: 5000, expected: 1e-3 },
  ])('step $step', ({ step, expected }) => {
    expect(learningRate(step, constant)).toBeCloseTo(expected, 15);
  });

  it('has no warmup when warmup is 0', () => {
    expect(learningRate(0, { ...constant, warmup: 0 })).toBe(1e-3);
  });
});
