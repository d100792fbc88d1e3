/**
 * Whole training steps on the GPU against the same steps on the CPU: the MLP, the CNN and a small
 * GPT, in fp32, bf16 and fp16 (loss scaling), five steps each from the same initial parameters on
 * the same batches. Skipped, visibly, where there is no GPU.
 *
 * Tolerances: the GPU sums in other orders (cuBLASLt's tiles, warp reductions), so the fp32 losses
 * agree to 1e-4 relative and the parameters to 1e-4 of their largest magnitude; in bf16 and fp16
 * the same values are rounded to 8 and 11 bits at every layer, so a last-bit difference can flip a
 * rounding: 1e-2 there.
 */
import { describe, expect, it } from 'vitest';
import { createEngine, loadNative, type EngineConfig } from '../../worker/native.js';
import { worstRelative } from '../helpers/compare.js';
import { uniform } from '../helpers/random.js';

const { cuda, cudaDevices } = loadNative().buildInfo();
const why = !cuda ? 'this build has no CUDA' : cudaDevices === 0 ? 'no GPU on this machine' : '';

const ADAMW = { kind: 'adamw' as const, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1, momentum: 0, nesterov: false };
const MODELS: Record<string, { config: Partial<EngineConfig>; inputs: (n: number) => Float32Array | Int32Array; labels: (n: number) => Int32Array; batch: number }> = {
  mlp: {
    config: { input: [1, 8, 8], layers: [{ kind: 'flatten' }, { kind: 'linear', out: 32 }, { kind: 'relu' }, { kind: 'linear', out: 10 }] },
    inputs: (n) => uniform(n * 64, 1), labels: (n) => Int32Array.from({ length: n }, (_, i) => (i * 7) % 10), batch: 8,
  },
  cnn: {
    config: { input: [1, 8, 8], layers: [{ kind: 'conv2d', out: 4 }, { kind: 'relu' }, { kind: 'maxpool2d' }, { kind: 'flatten' }, { kind: 'linear', out: 10 }] },
    inputs: (n) => uniform(n * 64, 2), labels: (n) => Int32Array.from({ length: n }, (_, i) => (i * 3) % 10), batch: 8,
  },
  gpt: {
    config: { gpt: { vocab: 29, block: 16, layers: 2, heads: 2, channels: 64, bias: true } },
    inputs: (n) => Int32Array.from({ length: n * 16 }, (_, i) => (i * 11 + 5) % 29), labels: (n) => Int32Array.from({ length: n * 16 }, (_, i) => (i * 13 + 2) % 29), batch: 4,
  },
};

async function fiveSteps(device: 'cpu' | 'cuda:0', model: string, precision: 'fp32' | 'bf16' | 'fp16') {
  const m = MODELS[model];
  const engine = createEngine({
    ...m.config, device, maxBatch: m.batch, precision, impl: 'fast', seed: 5, threads: 1, optimizer: ADAMW, bf16Kernels: 'off',
    lossScale: precision === 'fp16' ? { dynamic: true, init: 1024, growthInterval: 100, minScale: 1 } : undefined,
  } as EngineConfig);
  const losses: number[] = [];
  for (let step = 0; step < 5; step++) losses.push((await engine.trainStep(m.inputs(m.batch), m.labels(m.batch), m.batch, 1e-3, 1.0)).loss);
  return { losses, params: engine.getParams() };
}

describe.skipIf(why !== '')(`training steps on cuda:0 against the CPU${why ? ` (skipped: ${why})` : ''}`, () => {
  for (const model of Object.keys(MODELS)) {
    for (const precision of ['fp32', 'bf16', 'fp16'] as const) {
      it(`${model}, ${precision}: the same losses and parameters after five steps`, async () => {
        const [cpu, gpu] = [await fiveSteps('cpu', model, precision), await fiveSteps('cuda:0', model, precision)];
        const tolerance = precision === 'fp32' ? 1e-4 : 1e-2;
        gpu.losses.forEach((loss, i) => expect(Math.abs(loss - cpu.losses[i]) / cpu.losses[i], `step ${i + 1}`).toBeLessThan(tolerance));
        expect(worstRelative(gpu.params, cpu.params)).toBeLessThan(tolerance);
      });
    }
  }
});
