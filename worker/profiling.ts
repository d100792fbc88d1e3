/**
 * `ringmaster profile`: what torch.profiler's table is read for. Runs a spec's training steps on
 * one rank with the engine's module profiler on and reports, per module, forward and backward
 * time and FLOPs, its parameters and the activations it keeps; the step split into compute,
 * optimizer and communication; the model's state in bytes; and the peak resident memory.
 */
import type { ModuleProfile, ProfileRequest, ProfileResult } from '../common/one-shot.js';
import { createEngine, loadNative, type NamedParam } from './native.js';
import { createTask, loadTaskData } from './tasks/task.js';
import { engineConfig } from './trainer.js';
import { learningRate, scheduleParams } from './schedule.js';

function paramsUnder(name: string, params: NamedParam[]): number {
  return params.filter((p) => p.name.startsWith(`${name}.`)).reduce((n, p) => n + p.count, 0);
}

export async function profile(r: ProfileRequest): Promise<ProfileResult> {
  const { spec } = r;
  const task = createTask(spec, await loadTaskData(spec), { rank: 0, ranks: 1 });
  const engine = createEngine(engineConfig(spec, task.model));
  const schedule = scheduleParams(spec, r.warmup + r.steps);
  const step = (i: number) => {
    task.load(i);
    return engine.trainStep(task.inputs, task.labels, spec.batch.micro, learningRate(i, schedule), spec.optimizer.clip_grad_norm);
  };
  for (let i = 0; i < r.warmup; i++) await step(i);
  engine.setProfiling(true);
  const sums = { compute: 0, optimizer: 0, communication: 0 };
  const t0 = performance.now();
  for (let i = r.warmup; i < r.warmup + r.steps; i++) {
    const { timings } = await step(i);
    sums.compute += timings.computeMs;
    sums.optimizer += timings.optimizeMs;
    sums.communication += timings.communicateMs;
  }
  const totalMs = (performance.now() - t0) / r.steps;
  const params = engine.namedParams();
  const modules: ModuleProfile[] = engine.profile().map((e) => ({
    name: e.name, forwardMs: e.forwardMs / r.steps, backwardMs: e.backwardMs / r.steps,
    forwardFlops: e.forwardFlops / r.steps, backwardFlops: e.backwardFlops / r.steps,
    params: paramsUnder(e.name, params), activationBytes: e.activationBytes,
  }));
  const n = engine.paramCount;
  const moments = spec.optimizer.kind === 'adamw' ? 2 : 1;
  const threads = spec.threads;
  const perStep = spec.batch.micro * spec.batch.accumulate;
  return {
    name: spec.name, steps: r.steps, threads, modules,
    stepMs: { total: totalMs, compute: sums.compute / r.steps, optimizer: sums.optimizer / r.steps, communication: sums.communication / r.steps },
    params: n, bytes: { params: 4 * n, grads: 4 * n, optimizer: 4 * n * moments, computeCopy: spec.precision === 'fp32' ? 0 : 4 * n },
    precision: spec.precision,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    matmulPeakGflops: await loadNative().matmulPeak({ m: 1024, k: 1024, n: 1024, threads, seconds: 0.5 }),
    samplesPerSec: (perStep * 1000) / totalMs,
    tokensPerSec: (perStep * task.tokensPerSample * 1000) / totalMs,
  };
}
