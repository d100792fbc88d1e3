/**
 * The fast implementation (oneDNN primitives, threaded loops) against the plain-loop reference,
 * layer by layer and on whole models, plus the seeded parameter initialisation.
 *
 * Tolerance |fast − ref| ≤ 1e-5 + 1e-4·|ref|: oneDNN accumulates dot products in fp32 in its own
 * blocking order while the reference accumulates in float64 and rounds once, so the two differ
 * by a few fp32 ulps per accumulated term. The shapes are odd on purpose (67, 45, 13, 6×10) so
 * that vector tails and uneven thread splits are exercised.
 */
import { describe, expect, it } from 'vitest';
import type { CnnModelSpec, MlpModelSpec } from '../../jobs/types.js';
import { modelLayers } from '../../worker/models.js';
import { createEngine, type Engine, type EngineConfig, type LayerConfig } from '../../worker/native.js';
import { PLAIN_SGD as SGD, uniform } from '../helpers/random.js';

type Impl = EngineConfig['impl'];
type Shape = [number, number, number]; // one sample's channels, height, width

const ATOL = 1e-5;
const RTOL = 1e-4;

const ADAMW: EngineConfig['optimizer'] = {
  kind: 'adamw', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, momentum: 0, nesterov: false,
};


function size([c, h, w]: Shape): number {
  return c * h * w;
}

interface Options {
  input: Shape;
  layers: LayerConfig[];
  batch: number;
  seed?: number;
  optimizer?: EngineConfig['optimizer'];
}

/** The fast engine runs on 2 threads, so its threaded splits are exercised; the reference on 1. */
function engine(impl: Impl, o: Options): Engine {
  return createEngine({
    input: o.input, layers: o.layers, maxBatch: o.batch, impl, seed: o.seed ?? 11,
    threads: impl === 'fast' ? 2 : 1, optimizer: o.optimizer ?? SGD,
  });
}

/** Fails on the element furthest outside |got − want| ≤ atol + rtol·|want|, naming it. */
function expectClose(what: string, got: Float32Array, want: Float32Array, atol = ATOL, rtol = RTOL): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  let worst = -1;
  let worstRatio = 1;
  for (let i = 0; i < want.length; ++i) {
    const ratio = Math.abs(got[i]! - want[i]!) / (atol + rtol * Math.abs(want[i]!));
    if (!(ratio <= worstRatio)) [worst, worstRatio] = [i, Number.isNaN(ratio) ? Infinity : ratio];
  }
  const where = worst < 0 ? '' : `${what}[${worst}]: fast ${got[worst]}, reference ${want[worst]}`;
  expect(where, `${what} beyond tolerance`).toBe('');
}

function expectRelClose(what: string, got: number, want: number, rtol: number): void {
  expect(Math.abs(got - want), `${what}: fast ${got}, reference ${want}`).toBeLessThanOrEqual(rtol * Math.abs(want));
}

describe('fast against reference, one layer', () => {
  const cases: Array<[string, Options]> = [
    ['linear 67 → 45, B 13', { input: [67, 1, 1], layers: [{ kind: 'linear', out: 45 }], batch: 13 }],
    ['conv2d 3 → 8 on 6×10, B 5', { input: [3, 6, 10], layers: [{ kind: 'conv2d', out: 8 }], batch: 5 }],
    ['conv2d 1 → 4 on 8×8, B 3', { input: [1, 8, 8], layers: [{ kind: 'conv2d', out: 4 }], batch: 3 }],
    ['maxpool2d [5, 6, 8], B 3', { input: [5, 6, 8], layers: [{ kind: 'maxpool2d' }], batch: 3 }],
    ['flatten [3, 4, 4], B 3', { input: [3, 4, 4], layers: [{ kind: 'flatten' }], batch: 3 }],
    // 2·8·33·65 = 34,320 elements: above the pointwise grain (16,384 per thread), so the fast path
    // splits the loop across both threads at an odd boundary.
    ['relu [8, 33, 65], B 2', { input: [8, 33, 65], layers: [{ kind: 'relu' }], batch: 2 }],
    ['gelu [8, 33, 65], B 2', { input: [8, 33, 65], layers: [{ kind: 'gelu' }], batch: 2 }],
  ];

  it.each(cases)('%s', async (_, o) => {
    const fast = engine('fast', o);
    const ref = engine('reference', o);
    expect(fast.paramCount).toBe(ref.paramCount);
    expect(fast.getParams()).toEqual(ref.getParams()); // same seed, same initial parameters

    const x = uniform(o.batch * size(o.input), 21, -2, 2);
    const yFast = await fast.forward(x, o.batch);
    const yRef = await ref.forward(x, o.batch);
    expectClose('output', yFast, yRef);

    const dout = uniform(yRef.length, 22);
    const dxFast = await fast.backward(dout, { accumulate: false, inputGrad: true });
    const dxRef = await ref.backward(dout, { accumulate: false, inputGrad: true });
    expectClose('input gradient', dxFast!, dxRef!);
    expectClose('parameter gradient', fast.getGrads(), ref.getGrads());
  });
});

describe('fast against reference, whole models', () => {
  const input: Shape = [1, 28, 28];
  const B = 4;
  const models: Array<[string, MlpModelSpec | CnnModelSpec]> = [
    ['mlp [32, 16] gelu', { kind: 'mlp', hidden: [32, 16], activation: 'gelu' }],
    ['cnn [4, 8] → 16 relu', { kind: 'cnn', channels: [4, 8], hidden: 16, activation: 'relu' }],
  ];

  it.each(models)('%s: one AdamW step at lr 1e-3, clip 1.0', async (_, model) => {
    const o: Options = { input, layers: modelLayers(model, 10), batch: B, optimizer: ADAMW };
    const fast = engine('fast', o);
    const ref = engine('reference', o);
    expect(fast.getParams()).toEqual(ref.getParams());

    // Inputs in [0, 4) give a gradient norm above 1 (about 2 to 3), so the clip takes effect.
    const x = uniform(B * size(input), 31, 0, 4);
    const labels = Int32Array.from([3, 0, 9, 5]);
    const stepFast = await fast.trainStep(x, labels, B, 1e-3, 1.0);
    const stepRef = await ref.trainStep(x, labels, B, 1e-3, 1.0);

    expectRelClose('loss', stepFast.loss, stepRef.loss, 1e-5);
    expect(stepRef.gradNorm).toBeGreaterThan(1);
    expectRelClose('gradNorm', stepFast.gradNorm!, stepRef.gradNorm!, 1e-4);
    // The step leaves the unclipped gradients in place (clipping is folded into the update).
    expectClose('gradients', fast.getGrads(), ref.getGrads());
    // AdamW's first step moves each parameter by about lr·sign(g), so this also catches a
    // gradient whose sign differs between the two.
    expectClose('parameters after the step', fast.getParams(), ref.getParams());
  });
});

describe('parameter initialisation', () => {
  const cnn = modelLayers({ kind: 'cnn', channels: [4, 8], hidden: 16, activation: 'relu' }, 10);
  const wideMlp = modelLayers({ kind: 'mlp', hidden: [128], activation: 'relu' }, 10);
  const make = (layers: LayerConfig[], seed: number) => engine('fast', { input: [1, 28, 28], layers, batch: 1, seed });

  it('the same seed gives identical parameters, a different seed different ones', () => {
    expect(make(cnn, 5).getParams()).toEqual(make(cnn, 5).getParams());
    const a = make(cnn, 5).getParams();
    const b = make(cnn, 6).getParams();
    expect(a.length).toBe(b.length);
    expect(a.filter((v, i) => v !== b[i]).length).toBeGreaterThan(a.length * 0.99);
  });

  /** Each parameter tensor's values and the bound 1/√fan_in of its layer. */
  function tensors(e: Engine): Array<{ name: string; values: Float32Array; bound: number }> {
    const params = e.getParams();
    const named = e.namedParams();
    return named.map((p) => {
      const layer = p.name.slice(0, p.name.lastIndexOf('.'));
      const weight = named.find((q) => q.name === `${layer}.weight`)!;
      // Linear weight [OUT, IN]: fan_in = IN; conv2d weight [OC, IC, 3, 3]: fan_in = IC·9.
      const fanIn = weight.shape.slice(1).reduce((a, b) => a * b, 1);
      expect(p.count).toBe(p.shape.reduce((a, b) => a * b, 1));
      return { name: p.name, values: params.subarray(p.offset, p.offset + p.count), bound: 1 / Math.sqrt(fanIn) };
    });
  }

  it.each([
    ['cnn', cnn],
    ['mlp [128]', wideMlp],
  ])('%s: every weight and bias lies within ±1/√fan_in', (_, layers) => {
    const all = tensors(make(layers, 3));
    expect(all.length).toBe(layers.filter((l) => l.kind === 'linear' || l.kind === 'conv2d').length * 2);
    for (const { name, values, bound } of all) {
      const max = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(max, `${name}: max |value| vs bound ${bound}`).toBeLessThanOrEqual(bound * (1 + 1e-6));
      // All of ≥ 64 uniforms below half the bound has probability 2⁻⁶⁴: a too-small scale.
      if (values.length >= 64) expect(max, `${name} fills its range`).toBeGreaterThan(bound / 2);
    }
  });

  it('a 784 → 128 weight has sample std within 5% of bound/√3', () => {
    const weight = tensors(make(wideMlp, 3)).find((t) => t.name === 'layers.1.weight')!;
    expect(weight.values.length).toBe(128 * 784);
    // The sample std of n uniforms has a relative standard error of about 0.45/√n (0.14% here).
    let sum = 0, sq = 0;
    for (const v of weight.values) [sum, sq] = [sum + v, sq + v * v];
    const mean = sum / weight.values.length;
    const std = Math.sqrt(sq / weight.values.length - mean * mean);
    expect(Math.abs(mean), 'mean').toBeLessThan(0.01 * weight.bound);
    expect(Math.abs(std / (weight.bound / Math.sqrt(3)) - 1), `std ${std}`).toBeLessThan(0.05);
  });
});
