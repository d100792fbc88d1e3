/**
 * Training-step throughput of the example models in fp32, bf16 and fp16 on one thread (batch
 * 128), the gradient bytes a rank puts on the network per step when `parallel.reduce_dtype` is
 * the precision (a full gradient through Gloo; the data-parallel tests count them), and the
 * matrix-product peak oneDNN reaches with fp32 and with bf16 inputs on this machine, and the
 * vector units' own fp32 and bf16 throughput with AMX's availability: what bounds bf16's gain.
 *
 * "bf16 k" forces oneDNN's bf16 kernels, which the engine picks by itself only with AMX.
 *
 * The machine is shared and its speed drifts, so the variants run in interleaved short
 * blocks and each block gives one ratio to fp32; the medians are reported.
 *
 *   npm run bench:precision      (or: node dist/bench/precision.js [blocks])
 */
import os from 'node:os';
import type { CnnModelSpec, MlpModelSpec } from '../jobs/types.js';
import { modelLayers } from '../worker/models.js';
import { createEngine, loadNative, type Engine, type EngineConfig } from '../worker/native.js';

const BATCH = 128;
/** What runs: bf16 as the engine picks its kernels by default, and bf16 forced onto bf16 kernels. */
const VARIANTS = [
  { label: 'fp32', precision: 'fp32' },
  { label: 'bf16', precision: 'bf16', bf16Kernels: 'auto' },
  { label: 'bf16 k', precision: 'bf16', bf16Kernels: 'on' },
  { label: 'fp16', precision: 'fp16' },
] as const satisfies { label: string; precision: EngineConfig['precision']; bf16Kernels?: EngineConfig['bf16Kernels'] }[];
type Variant = (typeof VARIANTS)[number];
const MODELS: Record<string, MlpModelSpec | CnnModelSpec> = {
  mlp: { kind: 'mlp', hidden: [1024, 1024], activation: 'relu' },
  cnn: { kind: 'cnn', channels: [32, 64], hidden: 256, activation: 'relu' },
};
const blocks = Number(process.argv[2] ?? 7);

function engineFor(model: MlpModelSpec | CnnModelSpec, { precision, ...v }: Variant): Engine {
  return createEngine({
    input: [1, 28, 28], layers: modelLayers(model, 10), maxBatch: BATCH, impl: 'fast', seed: 1, threads: 1, precision,
    bf16Kernels: 'bf16Kernels' in v ? v.bf16Kernels : undefined,
    lossScale: precision === 'fp16' ? { dynamic: true, init: 65536, growthInterval: 2000, minScale: 1 } : undefined,
    optimizer: { kind: 'adamw', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, momentum: 0.9, nesterov: false },
  });
}

/** Milliseconds per step over about `seconds`. */
async function stepMs(engine: Engine, x: Float32Array, y: Int32Array, seconds: number): Promise<number> {
  const t0 = performance.now();
  let n = 0;
  while (n < 3 || performance.now() - t0 < seconds * 1000) {
    await engine.trainStep(x, y, BATCH, 1e-4, 1.0);
    n++;
  }
  return (performance.now() - t0) / n;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const native = loadNative();
  const info = native.buildInfo();
  console.log(`ringmaster bench: precision, ${os.cpus()[0]?.model ?? 'cpu'}, oneDNN ${info.dnnlVersion} (${info.isa}), 1 thread, batch ${BATCH}, ${new Date().toISOString().slice(0, 10)}`);
  const peak = async (bf16: boolean) => native.matmulPeak({ m: 128, k: 1024, n: 1024, threads: 1, seconds: 1, bf16 });
  const [f32Peak, bf16Peak] = [await peak(false), await peak(true)];
  console.log(`matmul 128×1024×1024 peak: fp32 ${f32Peak.toFixed(0)} GFLOP/s, bf16 inputs ${bf16Peak.toFixed(0)} GFLOP/s (${(bf16Peak / f32Peak).toFixed(2)}×)`);
  const isa = await native.isaProbe({ seconds: 1 });
  const dot = isa.bf16DotGflops > 0 ? `${isa.bf16DotGflops.toFixed(0)} GFLOP/s (${(isa.bf16DotGflops / isa.fp32FmaGflops).toFixed(2)}×)` : 'absent';
  console.log(`vector units, in registers: fp32 FMA ${isa.fp32FmaGflops.toFixed(0)} GFLOP/s, bf16 dot product ${dot}; AMX ${isa.amx}`);
  const x = Float32Array.from({ length: BATCH * 784 }, (_, i) => Math.sin(i));
  const y = Int32Array.from({ length: BATCH }, (_, i) => i % 10);
  console.log('model precision kernels  samples/s  step ms  vs fp32  network bytes/step/rank');
  for (const [name, model] of Object.entries(MODELS)) {
    const engines = VARIANTS.map((v) => engineFor(model, v));
    for (const e of engines) await stepMs(e, x, y, 0.3); // warm-up
    const times: number[][] = VARIANTS.map(() => []);
    for (let b = 0; b < blocks; b++) {
      for (let i = 0; i < engines.length; i++) times[i].push(await stepMs(engines[i], x, y, 0.4));
    }
    const ratios = VARIANTS.map((_, i) => median(times[i].map((t, b) => times[0][b] / t)));
    VARIANTS.forEach((v, i) => {
      const ms = median(times[i]);
      const bytes = engines[i].paramCount * (v.precision === 'fp32' ? 4 : 2); // reduce_dtype = the precision
      const kernels = v.precision === 'fp32' ? 'fp32' : engines[i].bf16Kernels ? 'bf16' : 'fp32';
      console.log(`${name.padEnd(5)} ${v.label.padEnd(9)} ${kernels.padEnd(7)} ${(BATCH / ms * 1000).toFixed(0).padStart(9)} ${ms.toFixed(2).padStart(8)} ${ratios[i].toFixed(2).padStart(7)}×  ${bytes.toLocaleString('en-US').padStart(12)}`);
    });
  }
}

main().catch((e: unknown) => {
  console.error(`ringmaster bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
