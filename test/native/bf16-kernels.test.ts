/**
 * bf16 precision on oneDNN's bf16 matmul and convolution kernels: the layers pack bf16 copies of
 * their inputs (exact, the values being bf16-rounded already) and accumulate in fp32, so
 * training must match the path that runs fp32 kernels on the same rounded values, up to the
 * order of fp32 sums. Which path `auto` picks depends on what the CPU delivers: bf16 kernels where
 * the engine's once-per-process matmul probe finds them 1.25× faster than fp32 (AMX; AVX-512-BF16
 * on Zen 5), fp32 kernels elsewhere (AVX-512-BF16 on Intel parts without AMX runs at half fp32's rate).
 */
import { describe, expect, it } from 'vitest';
import { modelLayers } from '../../worker/models.js';
import { createEngine, loadNative, type EngineConfig } from '../../worker/native.js';
import type { CnnModelSpec, MlpModelSpec } from '../../jobs/types.js';
import { uniform } from '../helpers/random.js';

const { isa } = loadNative().buildInfo();
// oneDNN 2.6 has bf16 kernels (native or emulated) from AVX-512 on; below it they do not exist.
const hasBf16Kernels = isa.startsWith('avx512_core');
const B = 16;

function engine(model: MlpModelSpec | CnnModelSpec, bf16Kernels: EngineConfig['bf16Kernels']) {
  return createEngine({
    input: [1, 28, 28], layers: modelLayers(model, 10), maxBatch: B, impl: 'fast', seed: 1, threads: 1, precision: 'bf16', bf16Kernels,
    optimizer: { kind: 'adamw', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, momentum: 0.9, nesterov: false },
  });
}

const relativeGap = (a: Float32Array, b: Float32Array) => {
  let gap = 0, scale = 0;
  a.forEach((v, i) => {
    gap = Math.max(gap, Math.abs(v - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  });
  return gap / scale;
};

describe('bf16 kernels', () => {
  it('auto picks them exactly where the probe measured them faster; fp32 and fp16 never use them', () => {
    const mlp: MlpModelSpec | CnnModelSpec = { kind: 'mlp', hidden: [8], activation: 'relu' };
    const probe = loadNative().bf16Probe();
    expect(probe.paysOff).toBe(probe.bf16Gflops >= 1.25 * probe.fp32Gflops);
    expect(engine(mlp, 'auto').bf16Kernels).toBe(probe.paysOff);
    expect(engine(mlp, 'off').bf16Kernels).toBe(false);
    const fp16 = createEngine({
      input: [4, 1, 1], layers: [{ kind: 'linear', out: 2 }], maxBatch: 1, impl: 'fast', seed: 1, threads: 1, precision: 'fp16', bf16Kernels: 'on',
      optimizer: { kind: 'sgd', beta1: 0, beta2: 0, eps: 0, weightDecay: 0, momentum: 0, nesterov: false },
    });
    expect(fp16.bf16Kernels).toBe(false);
  });

  it.skipIf(!hasBf16Kernels).each<[string, MlpModelSpec | CnnModelSpec]>([
    ['mlp [64, 32] relu', { kind: 'mlp', hidden: [64, 32], activation: 'relu' }],
    ['cnn [4, 8] → 16 relu', { kind: 'cnn', channels: [4, 8], hidden: 16, activation: 'relu' }],
  ])('%s: 3 AdamW steps on bf16 kernels match fp32 kernels on bf16-rounded values', async (_, model) => {
    const on = engine(model, 'on');
    const off = engine(model, 'off');
    expect([on.bf16Kernels, off.bf16Kernels]).toEqual([true, false]);
    const x = uniform(B * 784, 7, -1, 1);
    const labels = Int32Array.from({ length: B }, (_, i) => i % 10);
    for (let step = 0; step < 3; step++) {
      const a = await on.trainStep(x, labels, B, 1e-3, 1.0);
      const b = await off.trainStep(x, labels, B, 1e-3, 1.0);
      expect(Math.abs(a.loss - b.loss) / b.loss).toBeLessThan(1e-5);
      // A different fp32 summation order may flip a bf16 rounding: one bf16 ulp is 2⁻⁸ relative.
      expect(relativeGap(on.getGrads(), off.getGrads())).toBeLessThan(2 ** -7);
      expect(relativeGap(on.getParams(), off.getParams())).toBeLessThan(1e-3);
    }
  });
});
