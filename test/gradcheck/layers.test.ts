/**
 * Every layer's backward against central finite differences, for both implementations.
 *
 * Each case builds a one-layer engine and uses the loss L = Σ out·w for a fixed random w, so
 * dout = w: the analytical gradients come from forward + backward(w) and getGrads(), the numerical
 * ones from (L(v + h) − L(v − h)) / 2h for every input element and every parameter, with L summed
 * in float64 from the engine's fp32 outputs.
 *
 * Tolerance: the forward runs in fp32, so each L(v ± h) carries a rounding error of roughly
 * 1e-7 (a few ulps of each output times Σ|w|), which the difference quotient divides by 2h. With
 * h = 1e-2 that noise stays below 1e-4 and the truncation error (h²/6 · L''', only gelu has a
 * third derivative) near 2e-5 (the largest |num − ana| seen here is 1.2e-5, gelu);
 * |num − ana| ≤ 2e-3 + 2e-2·|ana| sits well above both and far below the size of any real
 * mistake (a dropped term, a transposed index, a sign).
 */
import { describe, expect, it } from 'vitest';
import { createEngine, type Engine, type EngineConfig, type LayerConfig } from '../../worker/native.js';
import { lcg, PLAIN_SGD as SGD, uniform } from '../helpers/random.js';

type Impl = EngineConfig['impl'];
type Shape = [number, number, number]; // one sample's channels, height, width

const H = 1e-2;
const ATOL = 2e-3;
const RTOL = 2e-2;



/** n floats with |x| ∈ [0.1, 1): no value lies within h of relu's kink at 0. */
function awayFromZero(n: number, seed: number): Float32Array {
  const next = lcg(seed);
  return Float32Array.from({ length: n }, () => (next() < 0.5 ? -1 : 1) * (0.1 + 0.9 * next()));
}

/**
 * Channels-last [B, H, W, C] input whose four values in every 2×2 pooling window are a random
 * base plus a shuffle of {0, 0.2, 0.4, 0.6}: distinct by 0.2 ≫ 2h, so no argmax can flip.
 */
function poolingInput(B: number, [C, Hh, W]: Shape, seed: number): Float32Array {
  const next = lcg(seed);
  const x = new Float32Array(B * Hh * W * C);
  for (let b = 0; b < B; ++b)
    for (let oy = 0; oy < Hh / 2; ++oy)
      for (let ox = 0; ox < W / 2; ++ox)
        for (let c = 0; c < C; ++c) {
          const levels = [0, 0.2, 0.4, 0.6];
          for (let k = 3; k > 0; --k) {
            const j = Math.floor(next() * (k + 1));
            [levels[k], levels[j]] = [levels[j]!, levels[k]!];
          }
          const base = next() - 0.5;
          levels.forEach((level, k) => {
            const y = 2 * oy + (k >> 1), xx = 2 * ox + (k & 1);
            x[((b * Hh + y) * W + xx) * C + c] = base + level;
          });
        }
  return x;
}

function engine(impl: Impl, input: Shape, layers: LayerConfig[], batch: number): Engine {
  return createEngine({ input, layers, maxBatch: batch, impl, seed: 7, threads: 1, optimizer: SGD });
}

/** L = Σ out·w, accumulated in float64. */
function dot(out: Float32Array, w: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < out.length; ++i) sum += out[i]! * w[i]!;
  return sum;
}

/** Fails with the first element whose |num − ana| exceeds the tolerance, naming it. */
function expectGradClose(what: string, ana: Float32Array, num: Float64Array): void {
  expect(ana.length, `${what}: length`).toBe(num.length);
  for (let i = 0; i < num.length; ++i) {
    const ok = Math.abs(num[i]! - ana[i]!) <= ATOL + RTOL * Math.abs(ana[i]!);
    expect(ok, `${what}[${i}]: analytical ${ana[i]}, numerical ${num[i]}`).toBe(true);
  }
}

/** Central differences of L with respect to every element of `v`, evaluated by `loss(v)`. */
async function numericalGrad(v: Float32Array, loss: (v: Float32Array) => Promise<number>): Promise<Float64Array> {
  const grad = new Float64Array(v.length);
  for (let i = 0; i < v.length; ++i) {
    const saved = v[i]!;
    v[i] = saved + H;
    const up = await loss(v);
    v[i] = saved - H;
    const down = await loss(v);
    v[i] = saved;
    // The step actually taken in fp32, not the nominal h.
    grad[i] = (up - down) / (Math.fround(saved + H) - Math.fround(saved - H));
  }
  return grad;
}

/** Checks ∂L/∂input and ∂L/∂params of a one-layer engine against finite differences. */
async function gradcheck(e: Engine, x: Float32Array, batch: number, seed: number): Promise<void> {
  const out = await e.forward(x, batch);
  const w = uniform(out.length, seed);
  const dx = await e.backward(w, { accumulate: false, inputGrad: true });
  const dparams = e.getGrads();
  expect(dx).not.toBeNull();

  const params = e.getParams();
  const numDx = await numericalGrad(x, async (v) => dot(await e.forward(v, batch), w));
  const numDparams = await numericalGrad(params, async (p) => {
    e.setParams(p);
    return dot(await e.forward(x, batch), w);
  });
  expectGradClose('input', dx!, numDx);
  expectGradClose('params', dparams, numDparams);
  expect(dparams.length).toBe(e.paramCount);
}

describe.each<Impl>(['fast', 'reference'])('gradcheck, impl %s', (impl) => {
  it('linear 5 → 4, B 3', async () => {
    const e = engine(impl, [5, 1, 1], [{ kind: 'linear', out: 4 }], 3);
    expect(e.paramCount).toBe(4 * 5 + 4);
    await gradcheck(e, uniform(3 * 5, 1), 3, 2);
  });

  it('conv2d [2, 4, 4] → 3 channels, B 2', async () => {
    const e = engine(impl, [2, 4, 4], [{ kind: 'conv2d', out: 3 }], 2);
    expect(e.paramCount).toBe(3 * 2 * 9 + 3);
    await gradcheck(e, uniform(2 * 2 * 4 * 4, 3), 2, 4);
  });

  it('relu [3, 2, 2], inputs ≥ 0.1 away from 0, B 2', async () => {
    const e = engine(impl, [3, 2, 2], [{ kind: 'relu' }], 2);
    await gradcheck(e, awayFromZero(2 * 12, 5), 2, 6);
  });

  it('gelu [3, 2, 2], B 2', async () => {
    const e = engine(impl, [3, 2, 2], [{ kind: 'gelu' }], 2);
    await gradcheck(e, uniform(2 * 12, 7, -3, 3), 2, 8);
  });

  it('maxpool2d [3, 4, 4], distinct window values, B 2', async () => {
    const e = engine(impl, [3, 4, 4], [{ kind: 'maxpool2d' }], 2);
    expect(e.outputSize).toBe(3 * 2 * 2);
    await gradcheck(e, poolingInput(2, [3, 4, 4], 9), 2, 10);
  });

  it('flatten [3, 2, 2], B 2', async () => {
    const e = engine(impl, [3, 2, 2], [{ kind: 'flatten' }], 2);
    await gradcheck(e, uniform(2 * 12, 11), 2, 12);
  });

  it("flatten writes channels-last [H, W, C] in torch's (C, H, W) order", async () => {
    const e = engine(impl, [3, 2, 2], [{ kind: 'flatten' }], 1);
    const x = Float32Array.from({ length: 12 }, (_, i) => i); // x[(y·2 + x)·3 + c] = index
    const out = await e.forward(x, 1);
    const want = [];
    for (let c = 0; c < 3; ++c) for (let p = 0; p < 4; ++p) want.push(p * 3 + c);
    expect(Array.from(out)).toEqual(want);
  });

  it('softmax cross-entropy (mean) through linear 6 → 4, B 3', async () => {
    const B = 3;
    const e = engine(impl, [6, 1, 1], [{ kind: 'linear', out: 4 }], B);
    const x = uniform(B * 6, 13, -2, 2);
    const labels = Int32Array.from([2, 0, 3]);
    const before = e.getParams();
    // SGD at lr 0 leaves the parameters alone and the gradient of the mean loss in getGrads().
    const step = await e.trainStep(x, labels, B, 0, 0);
    expect(step.gradNorm).toBeNull(); // clipping off: the norm is not computed
    expect(e.getParams()).toEqual(before);
    const ana = e.getGrads();
    const lossSum = async (p: Float32Array) => {
      e.setParams(p);
      return (await e.evaluate(x, labels, B)).lossSum;
    };
    expect(await lossSum(before)).toBeCloseTo(step.loss * B, 5);
    const num = (await numericalGrad(before, lossSum)).map((g) => g / B);
    expectGradClose('params', ana, num);
  });

  it.each<[string, Shape, LayerConfig]>([
    ['linear', [5, 1, 1], { kind: 'linear', out: 4 }],
    ['conv2d', [2, 4, 4], { kind: 'conv2d', out: 3 }],
  ])('%s: accumulate adds the parameter gradient; inputGrad false returns null', async (_, shape, layer) => {
    const B = 2;
    const e = engine(impl, shape, [layer], B);
    await e.forward(uniform(B * shape[0] * shape[1] * shape[2], 14), B);
    const w = uniform(B * e.outputSize, 15);
    expect(await e.backward(w, { accumulate: false, inputGrad: false })).toBeNull();
    const once = e.getGrads();
    expect(once.some((g) => g !== 0)).toBe(true);
    expect(await e.backward(w, { accumulate: true, inputGrad: false })).toBeNull();
    const twice = e.getGrads();
    for (let i = 0; i < once.length; ++i) {
      expect(Math.abs(twice[i]! - 2 * once[i]!), `grad[${i}]: ${twice[i]} vs 2·${once[i]}`)
        .toBeLessThanOrEqual(1e-6 + 1e-5 * Math.abs(once[i]!));
    }
    // A third backward without accumulate assigns again, whatever the buffer held.
    await e.backward(w, { accumulate: false, inputGrad: false });
    expect(e.getGrads()).toEqual(once);
  });
});
