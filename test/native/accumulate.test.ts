/**
 * Gradient accumulation: K micro-batches of B samples per optimizer step train exactly as one
 * batch of K·B does, up to fp32 rounding (the loss of each micro-batch is scaled by 1/K and the
 * gradients summed in K parts), and the engine's state round-trips through getState/setState.
 */
import { describe, expect, it } from 'vitest';
import { createEngine, type EngineConfig } from '../../worker/native.js';
import { uniform } from '../helpers/random.js';

const INPUT = 20;
const CLASSES = 5;

function engine(maxBatch: number, maxAccumulate: number, kind: 'adamw' | 'sgd' = 'adamw') {
  const config: EngineConfig = {
    input: [INPUT, 1, 1],
    layers: [{ kind: 'linear', out: 32 }, { kind: 'relu' }, { kind: 'linear', out: CLASSES }],
    maxBatch, maxAccumulate, impl: 'fast', seed: 3, threads: 1,
    optimizer: { kind, beta1: 0.9, beta2: 0.999, eps: 1e-6, weightDecay: 0.01, momentum: 0.9, nesterov: false },
  };
  return createEngine(config);
}

function batch(samples: number, seed: number) {
  const x = uniform(samples * INPUT, seed);
  const y = Int32Array.from(uniform(samples, seed + 1, 0, CLASSES), Math.floor);
  return { x, y };
}

function relativeDistance(a: Float32Array, b: Float32Array): number {
  let worst = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(a[i]));
  }
  return worst / scale;
}

describe('gradient accumulation', () => {
  it('4 micro-batches of 32 give the parameters and losses of 1 batch of 128 over 10 steps', async () => {
    const whole = engine(128, 1);
    const parts = engine(32, 4);
    for (let step = 0; step < 10; step++) {
      const { x, y } = batch(128, 100 + step);
      const a = await whole.trainStep(x, y, 128, 1e-2, 1.0);
      const b = await parts.trainStep(x, y, 32, 1e-2, 1.0);
      expect(Math.abs(a.loss - b.loss) / a.loss, `loss at step ${step + 1}`).toBeLessThan(1e-6);
      expect(Math.abs(a.gradNorm! - b.gradNorm!) / a.gradNorm!, `gradient norm at step ${step + 1}`).toBeLessThan(1e-5);
    }
    expect(relativeDistance(whole.getParams(), parts.getParams())).toBeLessThan(1e-5);
  });

  it('takes K from the inputs: fewer micro-batches than the most are fine, more are refused', async () => {
    const e = engine(8, 2);
    const { x, y } = batch(8, 1);
    await expect(e.trainStep(x, y, 8, 1e-2, 0)).resolves.toMatchObject({ gradientAllReduces: 0 });
    const three = batch(24, 2);
    expect(() => e.trainStep(three.x, three.y, 8, 1e-2, 0)).toThrow(/3 micro-batches of 8; this engine takes 1 to 2/);
  });
});

describe('engine state', () => {
  it.each(['adamw', 'sgd'] as const)('%s: a copy restored from getState continues bit for bit', async (kind) => {
    const original = engine(16, 1, kind);
    for (let step = 0; step < 3; step++) {
      const { x, y } = batch(16, step);
      await original.trainStep(x, y, 16, 1e-2, 1.0);
    }
    const state = original.getState();
    expect(state.moments).toHaveLength(kind === 'adamw' ? 2 : 1);
    expect(state.optimizerSteps).toBe(3);
    const copy = engine(16, 1, kind);
    copy.setState(state);
    for (let step = 3; step < 6; step++) {
      const { x, y } = batch(16, step);
      const a = await original.trainStep(x, y, 16, 1e-2, 1.0);
      const b = await copy.trainStep(x, y, 16, 1e-2, 1.0);
      expect(b.loss).toBe(a.loss);
    }
    expect(copy.getParams()).toEqual(original.getParams());
  });

  it('refuses moments of the wrong optimizer', () => {
    const state = engine(4, 1, 'sgd').getState();
    expect(() => engine(4, 1, 'adamw').setState(state)).toThrow(/state.moments must hold 2 arrays/);
  });
});
