/**
 * Which units of the model (worker/pipeline-stages.ts) each pipeline stage holds. Rank 0 decides
 * once per job attempt and broadcasts the split, so every rank builds its stage of the same one:
 * - the spec's `parallel.stages`, when given;
 * - resuming, the split the checkpoint was written with (its stage files hold those parameters;
 *   the split is in its manifest's layout);
 * - otherwise balanced by measured cost: rank 0 trains a probe for a few steps with the engine's
 *   module profiler on and times every module's forward and backward at the job's micro-batch,
 *   precision and threads (each module's fastest of the probe's steps). A sequential network's probe is the network itself; a GPT's holds at
 *   most two blocks (every block costs the same; the second's time is the steady one), its
 *   embeddings, final LayerNorm, head and loss, so it is never larger than a stage.
 */
import type { ResumeFrom } from './rank-messages.js';
import type { JobSpec } from '../jobs/types.js';
import { openNewestValidCheckpoint } from './checkpoint/read.js';
import type { EngineConfig, Engine, EngineModel, ProcessGroup } from './native.js';
import { balancedSplit, unitCount, unitOfModule } from './pipeline-stages.js';

const PROBE_WARMUP_STEPS = 2; // primitive creation and first touch of memory, not counted
const PROBE_STEPS = 5;

/** A probe batch: random tokens, or random samples with random classes, from the job's seed. */
function probeBatch(model: EngineModel, engine: Engine, batch: number, seed: number): { inputs: Int32Array | Float32Array; labels: Int32Array } {
  let state = seed % 2147483648;
  const next = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
  if (model.gpt) {
    const tokens = () => Int32Array.from({ length: batch * model.gpt.block }, () => Math.floor(next() * model.gpt.vocab));
    return { inputs: tokens(), labels: tokens() };
  }
  const [c, h, w] = model.input;
  return {
    inputs: Float32Array.from({ length: batch * c * h * w }, next),
    labels: Int32Array.from({ length: batch }, () => Math.floor(next() * engine.outputSize)),
  };
}

/** Milliseconds of forward and backward per step for each of the model's units, measured on a probe. */
export async function measureUnitCosts(spec: JobSpec, model: EngineModel, config: (model: EngineModel) => EngineConfig, createEngine: (c: EngineConfig) => Engine): Promise<number[]> {
  const probe: EngineModel = model.gpt ? { gpt: { ...model.gpt, layers: Math.min(model.gpt.layers, 2) } } : { input: model.input, layers: model.layers };
  const engine = createEngine({ ...config(probe), maxAccumulate: 1 });
  const { inputs, labels } = probeBatch(probe, engine, spec.batch.micro, spec.seed);
  const step = () => engine.trainStep(inputs, labels, spec.batch.micro, 0, spec.optimizer.clip_grad_norm);
  for (let i = 0; i < PROBE_WARMUP_STEPS; i++) await step();
  // Each module's fastest step: a stall of the machine during one step (another process, the
  // hypervisor) must not move a cut, as a sum over the steps let it.
  const fastest = new Map<string, number>(); // in the order the modules first ran
  for (let i = 0; i < PROBE_STEPS; i++) {
    engine.setProfiling(true);
    await step();
    for (const m of engine.profile()) fastest.set(m.name, Math.min(fastest.get(m.name) ?? Infinity, m.forwardMs + m.backwardMs));
  }
  const measured = new Array<number>(unitCount(probe)).fill(0);
  let before = 0, after = 0; // the modules outside every unit: before the first (embeddings), after it (head, loss)
  for (const [name, ms] of fastest) {
    const unit = unitOfModule(probe, name);
    if (unit !== undefined) measured[unit] += ms;
    else if (measured.every((x) => x === 0)) before += ms;
    else after += ms;
  }
  const costs = model.gpt ? new Array<number>(model.gpt.layers).fill(measured[measured.length - 1]) : measured;
  costs[0] += before;
  costs[costs.length - 1] += after;
  return costs;
}

/**
 * The split the checkpoint to resume from was written with, when it cuts this model's units into
 * this many pieces; undefined otherwise (restoring the checkpoint then says why it does not fit).
 */
async function recordedSplit(from: ResumeFrom, model: EngineModel, pieces: number): Promise<number[] | undefined> {
  const checkpoint = await openNewestValidCheckpoint(from.root, { step: from.step });
  const split = (checkpoint?.manifest.fields.layout as { split?: unknown } | undefined)?.split;
  if (!Array.isArray(split) || split.length !== pieces || !split.every((s) => Number.isInteger(s) && s >= 1)) return undefined;
  return (split as number[]).reduce((a, b) => a + b, 0) === unitCount(model) ? (split as number[]) : undefined;
}

export interface StagePlanDeps {
  group?: ProcessGroup; // every rank of the job; rank 0 decides
  resume?: ResumeFrom;
  config(model: EngineModel): EngineConfig;
  createEngine(config: EngineConfig): Engine;
}

/** Units per piece (stages × virtual pieces, in model order), the same on every rank. Collective over deps.group. */
export async function planStages(spec: JobSpec, model: EngineModel, deps: StagePlanDeps): Promise<number[]> {
  const pieces = spec.parallel.pipeline * (spec.parallel.schedule === 'interleaved' ? spec.parallel.virtual : 1);
  const decide = async () =>
    spec.parallel.stages ??
    (deps.resume && (await recordedSplit(deps.resume, model, pieces))) ??
    balancedSplit(await measureUnitCosts(spec, model, deps.config, deps.createEngine), pieces);
  const split = new Int32Array(pieces);
  if ((deps.group?.rank ?? 0) === 0) split.set(await decide());
  return Array.from(deps.group ? await deps.group.broadcast(split, 0) : split);
}
