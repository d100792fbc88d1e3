/**
 * Training-step throughput of the example models at batch 128 on 1 and 2 threads, against the
 * fp32 matmul peak measured in the same run, with a breakdown of where a step's time goes.
 *
 *   npm run bench            (or: node dist/bench/train-step.js [--seconds S])
 */
import os from 'node:os';
import type { CnnModelSpec, MlpModelSpec } from '../jobs/types.js';
import { modelLayers } from '../worker/models.js';
import { createEngine, loadNative, type Engine, type EngineConfig } from '../worker/native.js';
import { trainingStepFlops } from './flops.js';

const BATCH = 128;
const INPUT: [number, number, number] = [1, 28, 28];
const MODELS: Record<string, MlpModelSpec | CnnModelSpec> = {
  mlp: { kind: 'mlp', hidden: [1024, 1024], activation: 'relu' },
  cnn: { kind: 'cnn', channels: [32, 64], hidden: 256, activation: 'relu' },
};
const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 3;

function engineFor(model: MlpModelSpec | CnnModelSpec, threads: number): Engine {
  const config: EngineConfig = {
    input: INPUT, layers: modelLayers(model, 10), maxBatch: BATCH, impl: 'fast', seed: 1, threads,
    optimizer: { kind: 'adamw', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, momentum: 0.9, nesterov: false },
  };
  return createEngine(config);
}

/** Milliseconds per call of `fn` over about `seconds` (at least 3 calls), after `warmup` calls. */
async function timeMs(fn: () => Promise<unknown>, seconds: number, warmup = 0): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const t0 = performance.now();
  let n = 0;
  while (n < 3 || performance.now() - t0 < seconds * 1000) {
    await fn();
    n++;
  }
  return (performance.now() - t0) / n;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * The machine is shared and its speed drifts by ±20% within seconds, so the step and the matmul
 * peak are measured in interleaved pairs of short blocks, and each pair gives one ratio; the
 * medians over the pairs are reported.
 */
async function stepAgainstPeak(engine: Engine, x: Float32Array, y: Int32Array, threads: number, pairs: number) {
  const native = loadNative();
  const steps: number[] = [];
  const peaks: number[] = [];
  const ratios: number[] = [];
  await timeMs(() => engine.trainStep(x, y, BATCH, 1e-4, 1.0), 0.2, 3);
  for (let i = 0; i < pairs; i++) {
    const peak = await native.matmulPeak({ m: 128, k: 1024, n: 1024, threads, seconds: 0.15 });
    const step = await timeMs(() => engine.trainStep(x, y, BATCH, 1e-4, 1.0), 0.25);
    steps.push(step);
    peaks.push(peak);
    ratios.push(1 / (step * peak));
  }
  return { step: median(steps), peak: median(peaks), ratioScale: median(ratios) };
}

async function main(): Promise<void> {
  const native = loadNative();
  const info = native.buildInfo();
  console.log(`ringmaster bench: ${os.cpus()[0]?.model ?? 'cpu'}, ${os.cpus().length} cores, oneDNN ${info.dnnlVersion} (${info.isa}), batch ${BATCH}, ${new Date().toISOString().slice(0, 10)}`);
  const x = Float32Array.from({ length: BATCH * 784 }, (_, i) => Math.sin(i));
  const y = Int32Array.from({ length: BATCH }, (_, i) => i % 10);
  const dout = new Float32Array(BATCH * 10).fill(1 / BATCH);
  console.log('model threads  samples/s  step ms  GFLOP/s  peak GFLOP/s  of peak | forward  backward  optimizer (ms)');
  for (const threads of [1, 2]) {
    for (const [name, model] of Object.entries(MODELS)) {
      const engine = engineFor(model, threads);
      const flops = trainingStepFlops(modelLayers(model, 10), INPUT, BATCH);
      const { step, peak, ratioScale } = await stepAgainstPeak(engine, x, y, threads, Math.max(5, Math.round(seconds * 3)));
      const forward = await timeMs(() => engine.forward(x, BATCH), seconds / 3, 3);
      const forwardBackward = await timeMs(async () => {
        await engine.forward(x, BATCH);
        await engine.backward(dout, { accumulate: false, inputGrad: false });
      }, seconds / 3, 3);
      const optimizer = await timeMs(() => engine.optimizerStep(1e-4, 1.0), seconds / 3, 3);
      const gflops = flops / step / 1e6;
      console.log(
        `${name.padEnd(5)} ${String(threads).padStart(7)} ${((BATCH * 1000) / step).toFixed(0).padStart(10)} ${step.toFixed(2).padStart(8)} ` +
          `${gflops.toFixed(1).padStart(8)} ${peak.toFixed(1).padStart(13)} ${((100 * flops * ratioScale) / 1e6).toFixed(1).padStart(7)}% | ` +
          `${forward.toFixed(2).padStart(7)} ${(forwardBackward - forward).toFixed(2).padStart(9)} ${optimizer.toFixed(2).padStart(10)}`,
      );
    }
  }
}

main().catch((e: unknown) => {
  console.error(`ringmaster bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
