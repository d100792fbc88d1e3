/**
 * Mixed precision on the CPU: values rounded exactly as bf16 and fp16 store them, an engine
 * whose stored activations are all representable in its precision, fp16 gradients that
 * underflow to zero without loss scaling and survive with it, and the dynamic scale's rules
 * (torch.amp.GradScaler's: halve and skip on inf/NaN, double after growth_interval good steps).
 */
import { describe, expect, it } from 'vitest';
import { createEngine, loadNative, type EngineConfig } from '../../worker/native.js';
import { uniform } from '../helpers/random.js';

const { roundTo } = loadNative();
const f32 = (x: number) => Math.fround(x);

describe('rounding to bf16 and fp16 (ties to even)', () => {
  it.each([
    { x: 1 + 2 ** -8, bf16: 1, why: 'a tie between 1 and 1 + 2⁻⁷: to the even mantissa, 1' },
    { x: 1 + 3 * 2 ** -8, bf16: 1 + 2 ** -6, why: 'a tie between 1 + 2⁻⁷ and 1 + 2⁻⁶: to the even one' },
    { x: 1 / 3, bf16: 0.333984375, why: '8 significant bits' },
    { x: 3.3895313892515355e38, bf16: 3.3895313892515355e38, why: 'the largest bf16 stays' },
    { x: 3.4e38, bf16: Infinity, why: 'past the largest bf16 (3.3895e38): inf' },
    { x: 1e-40, bf16: 2 ** -133, why: 'an fp32 subnormal rounds like any value (AVX-512-BF16 would flush it)' },
  ])('bf16($x) = $bf16: $why', ({ x, bf16 }) => {
    expect(roundTo(Float32Array.of(x), 'bf16')[0]).toBe(f32(bf16));
  });

  it.each([
    { x: 1 / 3, fp16: 0.333251953125, why: '11 significant bits' },
    { x: 65504, fp16: 65504, why: 'the largest half' },
    { x: 65519, fp16: 65504, why: 'below the midpoint to 65536: rounds down' },
    { x: 65520, fp16: Infinity, why: 'the midpoint: ties to the even 65536, which overflows' },
    { x: -70000, fp16: -Infinity, why: 'overflow keeps the sign' },
    { x: 2 ** -24, fp16: 2 ** -24, why: 'the smallest subnormal' },
    { x: 2 ** -25, fp16: 0, why: 'half of it: a tie, to the even 0' },
    { x: 3 * 2 ** -26, fp16: 2 ** -24, why: 'above the tie: up to the smallest subnormal' },
    { x: 1e-9, fp16: 0, why: 'underflow: the gradients loss scaling exists for' },
    { x: 2 ** -14 + 2 ** -25, fp16: 2 ** -14, why: 'the smallest normal with a sub-ulp tail' },
  ])('fp16($x) = $fp16: $why', ({ x, fp16 }) => {
    expect(roundTo(Float32Array.of(x), 'fp16')[0]).toBe(f32(fp16));
  });

  it('rounds a long array as it rounds one value at a time (the vector loop and its tail)', () => {
    // nearest-even on the bit pattern, written out: the oracle for the CPU's vector conversion
    const bits = new Uint32Array(1);
    const one = (x: number) => {
      new Float32Array(bits.buffer)[0] = x;
      const b = bits[0];
      bits[0] = ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) << 16;
      return new Float32Array(bits.buffer)[0];
    };
    const x = uniform(1037, 11).map((v, i) => v * 2 ** ((i % 60) - 30));
    expect(Array.from(roundTo(x, 'bf16'))).toEqual(Array.from(x, one));
  });

  it('keeps NaN and infinities', () => {
    for (const p of ['bf16', 'fp16'] as const) {
      const r = roundTo(Float32Array.of(NaN, Infinity, -Infinity), p);
      expect(Number.isNaN(r[0])).toBe(true);
      expect([r[1], r[2]]).toEqual([Infinity, -Infinity]);
    }
  });
});

const INPUT = 16;
const CLASSES = 4;

function engine(precision: EngineConfig['precision'], lossScale?: EngineConfig['lossScale'], hidden = 32) {
  return createEngine({
    input: [INPUT, 1, 1], layers: [{ kind: 'linear', out: hidden }, { kind: 'relu' }, { kind: 'linear', out: CLASSES }],
    maxBatch: 64, impl: 'fast', seed: 5, threads: 1, precision, lossScale,
    optimizer: { kind: 'sgd', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, momentum: 0, nesterov: false },
  });
}

function batch(seed: number, scale = 1) {
  const x = uniform(64 * INPUT, seed).map((v) => v * scale);
  const y = Int32Array.from(uniform(64, seed + 1, 0, CLASSES), Math.floor);
  return { x, y };
}

const DYNAMIC = { dynamic: true, init: 65536, growthInterval: 2000, minScale: 1 };

describe('an engine in low precision', () => {
  it.each(['bf16', 'fp16'] as const)('%s: stores outputs that %s can hold, and differs from fp32 by rounding only', async (p) => {
    const { x } = batch(1);
    const low = await engine(p).forward(x, 64);
    expect(roundTo(low, p)).toEqual(low);
    const exact = await engine('fp32').forward(x, 64);
    let worst = 0, scale = 0;
    exact.forEach((v, i) => {
      worst = Math.max(worst, Math.abs(v - low[i]));
      scale = Math.max(scale, Math.abs(v));
    });
    expect(worst).toBeGreaterThan(0);
    expect(worst / scale).toBeLessThan(p === 'bf16' ? 2 ** -5 : 2 ** -8); // a few roundings of 2⁻⁹ (bf16) or 2⁻¹² (fp16)
  });

  it.each(['bf16', 'fp16'] as const)('%s: a CNN whose rounding passes after relu, max-pool and flatten are skipped still stores only %s values', async (p) => {
    // Those layers only move or zero values, so the engine does not round their outputs again;
    // a conv → relu → max-pool → flatten stack must still hand out representable values.
    const cnn = createEngine({
      input: [3, 6, 6], layers: [{ kind: 'conv2d', out: 4 }, { kind: 'relu' }, { kind: 'maxpool2d' }, { kind: 'flatten' }],
      maxBatch: 8, impl: 'fast', seed: 3, threads: 1, precision: p,
      optimizer: { kind: 'sgd', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, momentum: 0, nesterov: false },
    });
    const out = await cnn.forward(uniform(8 * 3 * 6 * 6, 4, -1, 1), 8);
    expect(out.some((v) => v > 0)).toBe(true);
    expect(roundTo(out, p)).toEqual(out);
  });

  it('fp16 without loss scaling loses weight gradients of ~1e-9 to underflow; with it they survive and the weights move', async () => {
    // Inputs of ~2e-7: a first-layer weight gradient is Σ_b x·(hidden gradient) ≈ 5e-9, under
    // half of fp16's smallest subnormal (3e-8); scaled by 65536 it is ≈ 3e-4.
    const data = [batch(10, 2e-7)];
    const unscaled = engine('fp16', undefined, 8);
    const scaled = engine('fp16', DYNAMIC, 8);
    const before = unscaled.getParams();
    const weights = 8 * INPUT; // the first layer's weight matrix, where the tiny inputs land
    await unscaled.trainStep(data[0].x, data[0].y, 64, 0.5, 0);
    await scaled.trainStep(data[0].x, data[0].y, 64, 0.5, 0);
    expect(unscaled.getGrads().subarray(0, weights).every((g) => g === 0)).toBe(true);
    expect(unscaled.getParams().subarray(0, weights)).toEqual(before.subarray(0, weights));
    expect(scaled.getGrads().subarray(0, weights).some((g) => g !== 0)).toBe(true);
    expect(scaled.getParams().subarray(0, weights)).not.toEqual(before.subarray(0, weights));
  });
});

describe('dynamic loss scaling', () => {
  it('doubles the scale after growth_interval finite steps', async () => {
    const e = engine('fp16', { ...DYNAMIC, init: 8, growthInterval: 3 });
    const scales: number[] = [];
    for (let step = 0; step < 7; step++) {
      const { x, y } = batch(step);
      const r = await e.trainStep(x, y, 64, 0.01, 0);
      expect(r.skipped).toBe(false);
      scales.push(r.lossScale);
    }
    expect(scales).toEqual([8, 8, 8, 16, 16, 16, 32]);
    expect(e.getState().lossScale).toEqual({ scale: 32, goodSteps: 1, skipped: 0 });
  });

  it('an inf gradient skips the step, leaves the parameters alone and halves the scale', async () => {
    const e = engine('fp16', { ...DYNAMIC, init: 1024 });
    await e.trainStep(batch(1).x, batch(1).y, 64, 0.01, 1);
    const before = e.getParams();
    const overflow = batch(2, 1e5); // activations past 65504: inf in fp16
    const r = await e.trainStep(overflow.x, overflow.y, 64, 0.01, 1);
    expect(r).toMatchObject({ skipped: true, lossScale: 1024 });
    expect(e.getParams()).toEqual(before);
    const next = await e.trainStep(batch(3).x, batch(3).y, 64, 0.01, 1);
    expect(next).toMatchObject({ skipped: false, lossScale: 512 });
    expect(Number.isFinite(next.loss)).toBe(true);
  });

  it('stops with LOSS_SCALE_COLLAPSED when the scale falls below its floor', async () => {
    const e = engine('fp16', { ...DYNAMIC, init: 4, minScale: 2 });
    const overflow = batch(2, 1e5);
    await expect(e.trainStep(overflow.x, overflow.y, 64, 0.01, 0)).resolves.toMatchObject({ skipped: true });
    await expect(e.trainStep(overflow.x, overflow.y, 64, 0.01, 0)).rejects.toMatchObject({ code: 'LOSS_SCALE_COLLAPSED' });
  });

  it('a static scale never moves, but an overflowing step is still skipped', async () => {
    const e = engine('fp16', { ...DYNAMIC, dynamic: false, init: 128 });
    const overflow = batch(2, 1e5);
    await expect(e.trainStep(overflow.x, overflow.y, 64, 0.01, 0)).resolves.toMatchObject({ skipped: true, lossScale: 128 });
    await expect(e.trainStep(batch(3).x, batch(3).y, 64, 0.01, 0)).resolves.toMatchObject({ skipped: false, lossScale: 128 });
  });
});
