/**
 * The training loop of one rank: data, model, schedule, evaluation. It talks to the native
 * engine only through the Engine interface (worker/native.ts), so tests can drive it with a fake.
 */
import { RingmasterError } from '../common/errors.js';
import type { CheckpointEvent, CheckpointTarget, EvalEvent, ProgressEvent, ResumeEvent, ResumeFrom, TrainingReport } from './rank-messages.js';
import type { JobSpec } from '../jobs/types.js';
import { asNativeError, NativeError, type Engine, type EngineConfig, type EngineModel, type ProcessGroup } from './native.js';
import { createTask, type TaskData, type TrainingTask } from './tasks/task.js';
import { CheckpointWriter, restoreCheckpoint, type StagePlace } from './checkpointing.js';
import { setActivity } from './activity.js';
import { stagesOf } from './pipeline-stages.js';
import { planStages } from './stage-plan.js';
import { learningRate, scheduleParams } from './schedule.js';

export interface TrainerDeps {
  createEngine(config: EngineConfig): Engine;
  group?: ProcessGroup; // the job's ranks (absent for one rank): rank d·P + s is stage s of replica d, P = parallel.pipeline
  checkpoints?: CheckpointTarget; // where the first replica's stages write checkpoints (stage 0 publishes); absent: none are written
  resume?: ResumeFrom; // start from a checkpoint instead of step 0
  onEvent(event: ProgressEvent | EvalEvent | CheckpointEvent | ResumeEvent): void;
  now?(): number; // milliseconds; performance.now by default
  /** fp32 matmul GFLOP/s of this rank's threads, for a language model's MFU; absent: no MFU. */
  matmulPeakGflops?(): Promise<number>;
  /** Whether this rank's worker drains (asked once per step); absent: never. */
  stopRequested?(): boolean;
}

export function engineConfig(spec: JobSpec, model: EngineModel): EngineConfig {
  const o = spec.optimizer;
  return {
    ...model,
    // a cuda rank sees its own GPU only (the agent sets CUDA_VISIBLE_DEVICES to its slot)
    device: spec.device === 'cuda' ? 'cuda:0' : 'cpu',
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

/**
 * Restores the checkpoint to resume from (before the engine joins its group, so the state
 * reaches the shared buffers) and checks that every rank picked the same one.
 */
async function startingPoint(spec: JobSpec, engine: Engine, task: TrainingTask, deps: TrainerDeps, place: StagePlace): Promise<number> {
  const resumed = deps.resume ? await restoreCheckpoint(spec, engine, deps.resume, task.checkpointFields, place) : undefined;
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

/** This rank's part of the model: the whole of it, or its pipeline stage's units. */
function stageModel(model: EngineModel, place: StagePlace): EngineModel {
  if (!place.split) return model;
  return { ...model, pipeline: stagesOf(model, place.stages, place.split)[place.stage] };
}

/** Training statistics over one logging interval, turned into a progress event. */
class Interval {
  private loss = 0;
  private steps = 0;
  private waitMs = 0; // pipeline parallel: waiting for the neighbouring stages
  private startedAt: number;
  private firstStep: number;

  constructor(private readonly now: () => number, step: number) {
    this.startedAt = now();
    this.firstStep = step;
  }

  add(loss: number, waitMs: number): void {
    this.loss += loss;
    this.steps++;
    this.waitMs += waitMs;
  }

  /** Excludes `ms` (an evaluation) from the interval's time. */
  pause(ms: number): void {
    this.startedAt += ms;
  }

  /** Mean loss, steps, milliseconds and milliseconds spent waiting of the interval ending at `step`; starts the next one. */
  close(step: number): { loss: number; steps: number; ms: number; waitMs: number } {
    const t = this.now();
    const out = { loss: this.loss / this.steps, steps: step - this.firstStep, ms: t - this.startedAt, waitMs: this.waitMs };
    this.loss = 0;
    this.steps = 0;
    this.waitMs = 0;
    this.startedAt = t;
    this.firstStep = step;
    return out;
  }
}

export async function train(spec: JobSpec, data: TaskData, deps: TrainerDeps): Promise<TrainingReport> {
  const now = deps.now ?? (() => performance.now());
  const start = now();
  const group = deps.group;
  const ranks = group?.size ?? 1;
  const rank = group?.rank ?? 0;
  const stages = spec.parallel.pipeline;
  const replicas = ranks / stages; // the stages of one replica see the same samples
  const perRank = spec.batch.micro * spec.batch.accumulate; // samples per replica per optimizer step
  const task = createTask(spec, data, { rank: Math.floor(rank / stages), ranks: replicas });
  const split = stages > 1 ? await planStages(spec, task.model, { ...deps, config: (m) => engineConfig(spec, m) }) : undefined;
  const place: StagePlace = { stage: rank % stages, stages, split };
  const totalSteps = spec.steps ?? spec.epochs * task.batchesPerEpoch;
  const schedule = scheduleParams(spec, totalSteps);
  const engine = deps.createEngine(engineConfig(spec, stageModel(task.model, place)));
  const peakGflops = task.flopsPerToken > 0 && deps.matmulPeakGflops ? await deps.matmulPeakGflops() : 0;
  const first = await startingPoint(spec, engine, task, deps, place);
  const writer = deps.checkpoints && rank < place.stages ? new CheckpointWriter(spec, engine, deps.checkpoints, deps.onEvent, task.checkpointFields, place) : undefined;
  const position = (step: number) => ({ epoch: Math.floor(step / task.batchesPerEpoch), batch: step % task.batchesPerEpoch });
  const samplesPerStep = perRank * replicas;
  const tokensPerStep = samplesPerStep * task.tokensPerSample;

  if (first < totalSteps) task.load(first);
  const interval = new Interval(now, first);
  let trainMs = 0, finalLoss = NaN;
  let lossScale = 1, skipped = 0; // fp16: the current loss scale, and steps skipped so far
  for (let step = first; step < totalSteps; step++) {
    const lr = learningRate(step, schedule);
    setActivity(`step ${step + 1}`);
    // The engine copies the batch when the call starts, so the next batch loads while this step computes.
    // A draining worker's rank votes to stop; the votes travel with the step's loss, so every rank stops after the same step.
    const pending = engine.trainStep(task.inputs, task.labels, spec.batch.micro, lr, spec.optimizer.clip_grad_norm, deps.stopRequested?.() ?? false);
    const next = step + 1;
    if (next < totalSteps) task.load(next);
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
      interval.add(outcome.loss, outcome.timings.pipelineWaitMs);
    }
    if (next % spec.log.every === 0 || next === totalSteps) {
      const done = interval.close(next);
      trainMs += done.ms;
      finalLoss = done.loss;
      const tokensPerSec = (done.steps * tokensPerStep * 1000) / done.ms;
      deps.onEvent({
        type: 'progress', step: next, totalSteps, epoch: Math.floor(step / task.batchesPerEpoch) + 1,
        loss: finalLoss, lr, samplesPerSec: (done.steps * samplesPerStep * 1000) / done.ms, elapsedSec: (now() - start) / 1000,
        ...(spec.precision === 'fp16' ? { lossScale, skippedSteps: skipped } : {}),
        ...(tokensPerStep > 0 ? { tokensPerSec, ...(peakGflops > 0 ? { mfu: (tokensPerSec * task.flopsPerToken) / (peakGflops * 1e9 * ranks) } : {}) } : {}),
        ...(place.stages > 1 ? { bubble: Math.min(1, done.waitMs / done.ms) } : {}),
      });
    }
    const checkpointed = spec.checkpoint.every > 0 && next % spec.checkpoint.every === 0 && next !== totalSteps;
    if (writer && checkpointed) await writer.save(next, position(next));
    if (next < totalSteps && outcome.stop) {
      // Preempted: a checkpoint at this step, written whole before any rank leaves.
      setActivity(`checkpointing step ${next} to stop (the worker drains)`);
      if (writer && !checkpointed) await writer.save(next, position(next));
      await writer?.finish();
      await group?.barrier();
      throw new RingmasterError('PREEMPTED', `stopped after step ${next} because its worker drains; checkpoint step ${next} written, the job resumes from it`);
    }
    if (spec.eval.every > 0 && next % spec.eval.every === 0 && next !== totalSteps) {
      setActivity(`evaluating after step ${next}`);
      const t = now();
      deps.onEvent({ type: 'eval', step: next, metrics: await task.evaluate(engine, group) });
      interval.pause(now() - t); // evaluation time is not training time
    }
  }
  setActivity('final checkpoint and evaluation');
  if (writer && first < totalSteps) await writer.save(totalSteps, position(totalSteps));
  const metrics = await task.evaluate(engine, group);
  deps.onEvent({ type: 'eval', step: totalSteps, metrics });
  await writer?.finish();
  const steps = totalSteps - first;
  return {
    steps: totalSteps, finalLoss, metrics,
    samplesPerSec: (steps * samplesPerStep * 1000) / trainMs, tokensPerSec: (steps * tokensPerStep * 1000) / trainMs, wallSec: (now() - start) / 1000,
  };
}
