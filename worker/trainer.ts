/**
 * The training loop of one rank: data, model, schedule, evaluation. It talks to the native
 * engine only through the Engine interface (worker/native.ts), so tests can drive it with a fake.
 */
import { RingmasterError } from '../common/errors.js';
import type { CheckpointEvent, CheckpointTarget, EvalEvent, ProgressEvent, ResumeEvent, ResumeFrom, TrainingReport } from '../common/rank-messages.js';
import type { JobSpec } from '../jobs/types.js';
import type { Split } from './data/fashion-mnist.js';
import { EpochSampler, gather, sequentialBatches } from './data/sampler.js';
import { modelLayers } from './models.js';
import { asNativeError, NativeError, type Engine, type EngineConfig, type ProcessGroup } from './native.js';
import { CheckpointWriter, restoreCheckpoint } from './checkpointing.js';
import { learningRate, scheduleParams } from './schedule.js';

export interface TrainingData {
  train: Split;
  test: Split;
}

export interface TrainerDeps {
  createEngine(config: EngineConfig): Engine;
  group?: ProcessGroup; // data parallel: this rank's group (absent for one rank)
  checkpoints?: CheckpointTarget; // where rank 0 publishes checkpoints; absent: none are written
  resume?: ResumeFrom; // start from a checkpoint instead of step 0
  onEvent(event: ProgressEvent | EvalEvent | CheckpointEvent | ResumeEvent): void;
  now?(): number; // milliseconds; performance.now by default
}

export function engineConfig(spec: JobSpec, data: TrainingData): EngineConfig {
  const o = spec.optimizer;
  const [c, h, w]: number[] = data.train.sampleShape;
  return {
    input: [c, h, w],
    layers: modelLayers(spec.model, data.train.classes),
    maxBatch: spec.batch.micro,
    maxAccumulate: spec.batch.accumulate,
    precision: spec.precision,
    lossScale: spec.precision === 'fp16'
      ? { dynamic: spec.loss_scale.dynamic, init: spec.loss_scale.init, growthInterval: spec.loss_scale.growth_interval, minScale: spec.loss_scale.min }
      : undefined,
    impl: 'fast',
    seed: spec.seed,
    threads: spec.threads,
    bucketBytes: Math.round(spec.parallel.bucket_mb * 2 ** 20),
    gradientWire: spec.parallel.reduce_dtype,
    sufficientFactors: spec.parallel.sufficient_factors === 'auto',
    optimizer: {
      kind: o.kind,
      beta1: o.betas[0],
      beta2: o.betas[1],
      eps: o.eps,
      weightDecay: o.weight_decay,
      momentum: o.momentum,
      nesterov: o.nesterov,
    },
  };
}

function sampleSize(split: Split): number {
  return split.sampleShape.reduce<number>((a, b) => a * b, 1);
}

/**
 * Test-set loss (mean) and accuracy, in batches of up to the engine's batch size. With a group,
 * each rank evaluates a contiguous share of the test set and the sums are all-reduced.
 */
export async function evaluate(engine: Engine, test: Split, batch: number, group?: ProcessGroup): Promise<{ loss: number; accuracy: number }> {
  const row = sampleSize(test);
  const x = new Float32Array(batch * row);
  const y = new Int32Array(batch);
  const ranks = group?.size ?? 1;
  const rank = group?.rank ?? 0;
  const begin = Math.floor((rank * test.count) / ranks);
  const end = Math.floor(((rank + 1) * test.count) / ranks);
  let sums = Float64Array.of(0, 0); // loss sum, correct
  for (const indices of sequentialBatches(end - begin, batch)) {
    gather(test, indices.map((i) => i + begin), x, y);
    const r = await engine.evaluate(x, y, indices.length);
    sums[0] += r.lossSum;
    sums[1] += r.correct;
  }
  if (group && ranks > 1) sums = await group.allReduce(sums, 'sum');
  return { loss: sums[0] / test.count, accuracy: sums[1] / test.count };
}

/**
 * Restores the checkpoint to resume from (before the engine joins its group, so the state
 * reaches the shared buffers) and checks that every rank picked the same one.
 */
async function startingPoint(spec: JobSpec, engine: Engine, deps: TrainerDeps): Promise<number> {
  const resumed = deps.resume ? await restoreCheckpoint(spec, engine, deps.resume) : undefined;
  const group = deps.group;
  if (group && group.size > 1) {
    await engine.joinProcessGroup(group); // every rank starts from rank 0's parameters
    const step = resumed?.step ?? 0;
    const steps = await group.allGather(Int32Array.of(step));
    if (steps.some((s) => s !== step)) {
      throw new RingmasterError('DATA_CORRUPT', `the ranks found different checkpoints to resume from under ${deps.resume?.root} (steps ${steps.join(', ')} by rank); is the checkpoint directory shared by all machines?`);
    }
  }
  if (resumed) deps.onEvent(resumed);
  return resumed?.step ?? 0;
}

export async function train(spec: JobSpec, data: TrainingData, deps: TrainerDeps): Promise<TrainingReport> {
  const now = deps.now ?? (() => performance.now());
  const start = now();
  const micro = spec.batch.micro;
  const accumulate = spec.batch.accumulate;
  const group = deps.group;
  const ranks = group?.size ?? 1;
  const perRank = micro * accumulate; // samples per rank per optimizer step
  const sampler = new EpochSampler({ count: data.train.count, batch: perRank, seed: spec.seed, dropLast: true, rank: group?.rank ?? 0, ranks });
  const totalSteps = spec.steps ?? spec.epochs * sampler.batchesPerEpoch;
  const schedule = scheduleParams(spec, totalSteps);
  const engine = deps.createEngine(engineConfig(spec, data));
  const first = await startingPoint(spec, engine, deps);
  const writer = deps.checkpoints && (group?.rank ?? 0) === 0 ? new CheckpointWriter(spec, engine, deps.checkpoints, deps.onEvent) : undefined;
  const position = (step: number) => ({ epoch: Math.floor(step / sampler.batchesPerEpoch), batch: step % sampler.batchesPerEpoch });

  const row = sampleSize(data.train);
  const x = new Float32Array(perRank * row);
  const y = new Int32Array(perRank);
  let order = sampler.order(position(first).epoch);
  if (first < totalSteps) gather(data.train, sampler.shard(order, position(first).batch), x, y);

  let intervalLoss = 0, intervalSteps = 0, intervalStart = now(), trainMs = 0, finalLoss = NaN;
  let lossScale = 1, skipped = 0; // fp16: the current loss scale, and steps skipped so far
  let intervalFirst = first; // the step the logging interval started at
  for (let step = first; step < totalSteps; step++) {
    const lr = learningRate(step, schedule);
    // The engine copies the batch when the call starts, so the next batch is gathered while
    // this step computes.
    const pending = engine.trainStep(x, y, micro, lr, spec.optimizer.clip_grad_norm);
    const next = step + 1;
    if (next < totalSteps) {
      const p = position(next);
      if (p.batch === 0) order = sampler.order(p.epoch);
      gather(data.train, sampler.shard(order, p.batch), x, y);
    }
    const outcome = await pending.catch((e: unknown) => {
      const err = asNativeError(e);
      // a collapsed fp16 loss scale is divergence: a restart would only collapse it again
      throw err instanceof NativeError && err.nativeCode === 'LOSS_SCALE_COLLAPSED' ? new RingmasterError('DIVERGED', `training diverged at step ${next}: ${err.message}`) : err;
    });
    lossScale = outcome.lossScale;
    if (outcome.skipped) {
      skipped++; // fp16 overflow: no update, the scale halves; the loss may be inf
    } else if (!Number.isFinite(outcome.loss)) {
      throw new RingmasterError('DIVERGED', `training diverged: the loss is ${outcome.loss} at step ${next} (lower optimizer.lr or set optimizer.clip_grad_norm)`);
    } else {
      intervalLoss += outcome.loss;
      intervalSteps++;
    }
    if (next % spec.log.every === 0 || next === totalSteps) {
      const t = now();
      trainMs += t - intervalStart;
      const stepsDone = next - intervalFirst;
      finalLoss = intervalLoss / intervalSteps;
      deps.onEvent({
        type: 'progress', step: next, totalSteps, epoch: Math.floor(step / sampler.batchesPerEpoch) + 1,
        loss: finalLoss, lr, samplesPerSec: (stepsDone * perRank * ranks * 1000) / (t - intervalStart), elapsedSec: (t - start) / 1000,
        ...(spec.precision === 'fp16' ? { lossScale, skippedSteps: skipped } : {}),
      });
      intervalFirst = next;
      intervalLoss = 0;
      intervalSteps = 0;
      intervalStart = now();
    }
    if (writer && spec.checkpoint.every > 0 && next % spec.checkpoint.every === 0 && next !== totalSteps) {
      await writer.save(next, position(next));
    }
    if (spec.eval.every > 0 && next % spec.eval.every === 0 && next !== totalSteps) {
      const t = now();
      const r = await evaluate(engine, data.test, micro, group);
      deps.onEvent({ type: 'eval', step: next, testLoss: r.loss, testAccuracy: r.accuracy });
      intervalStart += now() - t; // evaluation time is not training time
    }
  }
  if (writer && first < totalSteps) await writer.save(totalSteps, position(totalSteps));
  const final = await evaluate(engine, data.test, micro, group);
  deps.onEvent({ type: 'eval', step: totalSteps, testLoss: final.loss, testAccuracy: final.accuracy });
  await writer?.finish();
  const steps = totalSteps - first;
  return {
    steps: totalSteps, finalLoss, testLoss: final.loss, testAccuracy: final.accuracy,
    samplesPerSec: (steps * perRank * ranks * 1000) / trainMs, wallSec: (now() - start) / 1000,
  };
}
