/**
 * AdamW and SGD against values worked out by hand, step by step, from the update rules that
 * torch.optim.AdamW and torch.optim.SGD document (float64 arithmetic; the engine runs fp32, hence
 * the 1e-6 relative tolerance). Parameters start at [1, −0.5]; lr 0.1; weight decay 0.01; the
 * gradients of the three steps are fixed below.
 *
 * AdamW step 1 by hand: p ← p·(1 − 0.1·0.01) = 0.999; m = 0.1·0.2 = 0.02; v = 0.001·0.04 = 4e-5;
 * m̂ = 0.2, v̂ = 0.04; p ← 0.999 − 0.1·0.2/(0.2 + 1e-8) = 0.899000005.
 * SGD step 1: d = 0.2 + 0.01·1 = 0.21 = b; p ← 1 − 0.1·0.21 = 0.979 (Nesterov: 1 − 0.1·(0.21 + 0.9·0.21)).
 */
import { describe, expect, it } from 'vitest';
import { createEngine, type EngineConfig } from '../../worker/native.js';

const GRADS = [
  [0.2, -0.1],
  [-0.4, 0.3],
  [0.1, 0.05],
];

const EXPECTED: Record<string, number[][]> = {
  adamw: [
    [0.899000005, -0.39950001],
    [0.9347113565410368, -0.4485194911100654],
    [0.9474457109728991, -0.4957846872410101],
  ],
  sgd: [
    [0.979, -0.4895],
    [0.999121, -0.5095605],
    [1.006230779, -0.5321053895],
  ],
  'sgd-nesterov': [
    [0.9601, -0.48005],
    [1.01726581, -0.527632905],
    [1.012646323961, -0.5523870619805],
  ],
};

function oneWeightEngine(kind: 'adamw' | 'sgd', nesterov: boolean) {
  const config: EngineConfig = {
    input: [1, 1, 1],
    layers: [{ kind: 'linear', out: 1 }], // parameters: [weight, bias]
    maxBatch: 1,
    impl: 'fast',
    seed: 0,
    threads: 1,
    optimizer: { kind, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, momentum: 0.9, nesterov },
  };
  const engine = createEngine(config);
  engine.setParams(new Float32Array([1, -0.5]));
  return engine;
}

describe.each([
  ['adamw', 'adamw', false],
  ['sgd', 'sgd', false],
  ['sgd-nesterov', 'sgd', true],
] as const)('%s', (name, kind, nesterov) => {
  it('matches the hand-worked parameters after each of three steps', async () => {
    const engine = oneWeightEngine(kind, nesterov);
    for (let t = 0; t < GRADS.length; t++) {
      engine.setGrads(new Float32Array(GRADS[t]));
      const { gradNorm } = await engine.optimizerStep(0.1, 0);
      expect(gradNorm).toBeNull(); // not computed when clipping is off
      const p = engine.getParams();
      for (let i = 0; i < 2; i++) {
        expect(Math.abs(p[i] - EXPECTED[name][t][i])).toBeLessThanOrEqual(1e-6 * Math.abs(EXPECTED[name][t][i]) + 1e-7);
      }
    }
  });
});

describe('gradient clipping by global norm', () => {
  it('scales gradients by max_norm / (norm + 1e-6) and reports the norm before clipping', async () => {
    const engine = createEngine({
      input: [1, 1, 1],
      layers: [{ kind: 'linear', out: 1 }],
      maxBatch: 1,
      impl: 'fast',
      seed: 0,
      threads: 1,
      optimizer: { kind: 'sgd', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, momentum: 0, nesterov: false },
    });
    engine.setParams(new Float32Array([0, 0]));
    engine.setGrads(new Float32Array([3, 4])); // norm 5
    const { gradNorm } = await engine.optimizerStep(1, 1);
    expect(gradNorm).toBeCloseTo(5, 6);
    const p = engine.getParams();
    const coef = 1 / (5 + 1e-6);
    expect(p[0]).toBeCloseTo(-3 * coef, 6);
    expect(p[1]).toBeCloseTo(-4 * coef, 6);
  });

  it('leaves gradients below the threshold unscaled', async () => {
    const engine = oneWeightEngine('sgd', false);
    engine.setParams(new Float32Array([0, 0]));
    engine.setGrads(new Float32Array([0.3, 0.4])); // norm 0.5 < 1
    const { gradNorm } = await engine.optimizerStep(1, 1);
    expect(gradNorm).toBeCloseTo(0.5, 6);
    expect(Array.from(engine.getParams()).map((x) => Number(x.toFixed(6)))).toEqual([-0.3, -0.4]);
  });
});

describe('denormals', () => {
  it('are flushed to zero on the compute threads (FTZ/DAZ), so decayed moments cost no microcode assists', async () => {
    const engine = oneWeightEngine('sgd', false);
    engine.setParams(new Float32Array([0, 0]));
    engine.setGrads(new Float32Array([1e-39, -1e-39])); // below float32's smallest normal, 1.18e-38
    await engine.optimizerStep(1, 0);
    expect(Array.from(engine.getParams())).toEqual([0, 0]); // without DAZ: [−1e-39, 1e-39]
  });
});
