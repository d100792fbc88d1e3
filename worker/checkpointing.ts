/**
 * A training run's checkpoints: what goes into one (the engine's parameters and optimizer
 * moments in a safetensors file named like torch's state dicts, the step and the data position
 * in the manifest) and how a run starts again from one. The files themselves, their durability
 * and their validation are worker/checkpoint/'s.
 *
 * Data parallel, rank 0 holds the whole state (with a sharded optimizer the moments live in
 * memory its machine's ranks share), so rank 0 alone writes; every rank reads the same
 * checkpoint to resume, as ranks of a cluster with shared storage do. Pipeline parallel, the
 * first replica of each stage writes that stage's file into the step's staging directory, and
 * stage 0 publishes the step once every stage's file is there; each stage reads back its own.
 */
import { createHash } from 'node:crypto';
import { readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { RingmasterError } from '../common/errors.js';
import type { CheckpointEvent, CheckpointTarget, ResumeEvent, ResumeFrom } from './rank-messages.js';
import type { JobSpec } from '../jobs/types.js';
import type { JsonValue, ManifestFields } from './checkpoint/manifest.js';
import type { Checkpoint } from './checkpoint/read.js';
import { openNewestValidCheckpoint } from './checkpoint/read.js';
import { encodeSafetensors, type Tensor } from './checkpoint/safetensors.js';
import { syncDir, writeDurable, writeError } from './checkpoint/durable.js';
import { checkCheckpointRoot, CHECKPOINT_WRITE_TIMEOUT_MS, withinTime } from './checkpoint/root-check.js';
import { publishCheckpoint, pruneCheckpoints, stageCheckpoint } from './checkpoint/write.js';
import type { Engine, EngineState, NamedParam } from './native.js';

/** One file per pipeline stage, as Megatron writes them; without pipeline parallelism there is one stage. */
export function stageFile(stage: number): string {
  return `stage-${stage}.safetensors`;
}
const STAGE_FILE = /^stage-\d+\.safetensors$/;

/** Which stage of how many pipeline stages a rank holds, and the model's units per piece (worker/pipeline-stages.ts). */
export interface StagePlace {
  stage: number;
  stages: number;
  split?: number[]; // absent for one stage
}
const WHOLE: StagePlace = { stage: 0, stages: 1 };

/** Torch's names for the optimizer's per-parameter state, in the engine's moment order. */
function momentNames(spec: JobSpec): string[] {
  return spec.optimizer.kind === 'adamw' ? ['exp_avg', 'exp_avg_sq'] : ['momentum_buffer'];
}

/**
 * What must match for a checkpoint to fit a spec: the model and the optimizer's state; the
 * parameters' names and shapes, or for a pipeline the number of stages and the split of the
 * model's units among them (which with the model decide each stage's parameters; each stage's
 * file is checked tensor by tensor as it is read).
 */
function layoutOf(spec: JobSpec, params: NamedParam[], place: StagePlace): JsonValue {
  const layout = place.stages > 1
    ? { model: spec.model, optimizer: spec.optimizer.kind, pipeline: place.stages, split: place.split }
    : { model: spec.model, optimizer: spec.optimizer.kind, params: params.map((p) => ({ name: p.name, shape: p.shape })) };
  return JSON.parse(JSON.stringify(layout)) as JsonValue; // plain JSON, as it will read back
}

function specHash(spec: JobSpec): string {
  return createHash('sha256').update(JSON.stringify(spec)).digest('hex');
}

function stateTensors(spec: JobSpec, params: NamedParam[], state: EngineState): [string, Tensor][] {
  const tensors: [string, Tensor][] = [];
  const add = (prefix: string, flat: Float32Array) => {
    for (const p of params) tensors.push([prefix + p.name, { dtype: 'F32', shape: p.shape, data: flat.subarray(p.offset, p.offset + p.count) }]);
  };
  add('', state.params);
  momentNames(spec).forEach((name, i) => add(`optimizer.${name}.`, state.moments[i]));
  return tensors;
}

/** Where the data loader stands after `step` optimizer steps. */
export interface DataPosition {
  epoch: number; // counted from 0
  batch: number; // the next batch's index within the epoch
}

/** Resolves once every stage's file is in the staging directory `dir`, polling; fails after the write bound. */
async function allStagesWritten(dir: string, stages: number): Promise<void> {
  const deadline = Date.now() + CHECKPOINT_WRITE_TIMEOUT_MS;
  const wanted = Array.from({ length: stages }, (_, s) => stageFile(s));
  for (;;) {
    const present = new Set(await readdir(dir).catch((e: unknown) => { throw writeError(dir, e); }));
    const missing = wanted.filter((f) => !present.has(f));
    if (missing.length === 0) return;
    if (Date.now() > deadline) {
      throw new RingmasterError('FILE_UNWRITABLE', `checkpoint staging directory ${dir} still lacks ${missing.join(', ')} after ${CHECKPOINT_WRITE_TIMEOUT_MS / 1000}s (the ranks of those stages did not write them)`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Writes one stage's checkpoints: rank 0's, or with pipeline stages the first replica's of each
 * stage (stage 0 publishes). save() copies the engine's state at once (so training may go
 * on) and writes, publishes and prunes in the background; the next save() or finish() waits
 * for the previous one, so at most one is in flight and a failure surfaces at the next of them.
 */
export class CheckpointWriter {
  private pending: Promise<void> = Promise.resolve();
  private rootChecked = false; // the root never changes: looked at before the first write only

  constructor(
    private readonly spec: JobSpec,
    private readonly engine: Engine,
    private readonly target: CheckpointTarget,
    private readonly onEvent: (e: CheckpointEvent) => void,
    private readonly taskFields: ManifestFields = {}, // what the task adds (a language model's tokenizer)
    private readonly place: StagePlace = WHOLE,
  ) {}

  async save(step: number, position: DataPosition): Promise<void> {
    await this.pending;
    const params = this.engine.namedParams();
    const state = this.engine.getState();
    this.pending = this.write(step, position, params, state);
    // A failure surfaces at the next save() or finish(), which await it; until then it must not
    // count as unhandled (Node would end the rank with a stack trace instead of one line).
    this.pending.catch(() => {});
  }

  finish(): Promise<void> {
    return this.pending;
  }

  private write(step: number, position: DataPosition, params: NamedParam[], state: EngineState): Promise<void> {
    return withinTime(this.writeSteps(step, position, params, state), CHECKPOINT_WRITE_TIMEOUT_MS, this.target.root);
  }

  private async writeSteps(step: number, position: DataPosition, params: NamedParam[], state: EngineState): Promise<void> {
    const { root, token } = this.target;
    if (!this.rootChecked) {
      await checkCheckpointRoot(root);
      this.rootChecked = true;
    }
    const dir = await stageCheckpoint(root, step, token);
    const { stage, stages } = this.place;
    const bytes = encodeSafetensors(stateTensors(this.spec, params, state), { format: 'ringmaster', stage: String(stage) });
    const file = join(dir, stageFile(stage));
    // Under another name until whole: stage 0 publishes once every stage's file has its name.
    await writeDurable(`${file}.partial`, bytes);
    await rename(`${file}.partial`, file).catch((e: unknown) => { throw writeError(file, e); });
    await syncDir(dir);
    if (stage > 0) return;
    if (stages > 1) await allStagesWritten(dir, stages);
    const published = await publishCheckpoint(root, step, token, {
      specHash: specHash(this.spec),
      layout: layoutOf(this.spec, params, this.place),
      optimizerSteps: state.optimizerSteps,
      data: { seed: this.spec.seed, epoch: position.epoch, batch: position.batch },
      schedule: JSON.parse(JSON.stringify({ ...this.spec.schedule, lr: this.spec.optimizer.lr })) as JsonValue,
      lossScaler: state.lossScale,
      ...this.taskFields,
    });
    await pruneCheckpoints(root, { keep: this.spec.checkpoint.keep, token });
    this.onEvent({ type: 'checkpoint', step, dir: published });
  }
}

/**
 * Reads the checkpoint's tensors into flat buffers laid out as `params` says: reader('') gives
 * the parameters, reader('optimizer.exp_avg.') a moment. Each tensor comes from the first of
 * `files` that holds it: one stage's file, or every stage's for the whole model (a weight two
 * stages share is the same in both).
 */
export async function tensorReader(
  checkpoint: Checkpoint,
  params: NamedParam[],
  count: number,
  files = checkpoint.fileNames.filter((f) => STAGE_FILE.test(f)),
): Promise<(prefix: string) => Float32Array> {
  const decoded = await Promise.all(files.map((f) => checkpoint.readTensors(f)));
  return (prefix: string) => {
    const out = new Float32Array(count);
    for (const p of params) {
      const t = decoded.map((d) => d.tensors.get(prefix + p.name)).find((x) => x !== undefined);
      if (!t || t.dtype !== 'F32' || t.data.length !== p.count || JSON.stringify(t.shape) !== JSON.stringify(p.shape)) {
        const where = files.map((f) => join(checkpoint.dir, f)).join(', ');
        throw new RingmasterError('DATA_CORRUPT', `checkpoint file ${where} lacks the F32 tensor ${prefix + p.name} of shape [${p.shape.join(', ')}] (use another checkpoint)`);
      }
      out.set(t.data as Float32Array, p.offset);
    }
    return out;
  };
}

/** Why `checkpoint` cannot continue a run of `spec`, or undefined when it can. */
function layoutMismatch(checkpoint: Checkpoint, spec: JobSpec, params: NamedParam[], place: StagePlace): string | undefined {
  const saved = JSON.stringify(checkpoint.manifest.fields.layout);
  const wanted = JSON.stringify(layoutOf(spec, params, place));
  if (saved === wanted) return undefined;
  const layout = checkpoint.manifest.fields.layout as { optimizer?: unknown; pipeline?: number; split?: number[]; params?: { name: string; shape: number[] }[] } | undefined;
  if (layout?.optimizer !== spec.optimizer.kind) return `its optimizer is ${String(layout?.optimizer)}, the spec's ${spec.optimizer.kind}`;
  if ((layout.pipeline ?? 1) !== place.stages) return `it was written by ${layout.pipeline ?? 1} pipeline stage(s), the spec has ${place.stages}`;
  if (place.split && JSON.stringify(layout.split) !== JSON.stringify(place.split) && JSON.stringify((layout as { model?: unknown }).model) === JSON.stringify(spec.model)) {
    return `its pipeline pieces hold [${layout.split?.join(', ')}] of the model's ${spec.model.kind === 'gpt' ? 'blocks' : 'layers with parameters'}, this run's [${place.split.join(', ')}] (set parallel.stages to the first, or leave it out)`;
  }
  const mine = new Map(params.map((p) => [p.name, JSON.stringify(p.shape)]));
  for (const p of layout.params ?? []) {
    if (mine.get(p.name) !== JSON.stringify(p.shape)) return `${p.name} is [${p.shape.join(', ')}] there, ${mine.has(p.name) ? `${mine.get(p.name)} in the spec` : 'absent from the spec'}`;
  }
  return 'its model differs from the spec\'s';
}

/**
 * Loads the newest valid checkpoint under `from.root` (or exactly `from.step`) into the engine,
 * before it joins its process group. Returns the step to continue from.
 */
export async function restoreCheckpoint(spec: JobSpec, engine: Engine, from: ResumeFrom, taskFields: ManifestFields = {}, place: StagePlace = WHOLE): Promise<ResumeEvent> {
  const skipped: string[] = [];
  const checkpoint = await openNewestValidCheckpoint(from.root, { step: from.step, onSkip: (_path, reason) => skipped.push(reason) });
  if (!checkpoint) {
    throw new RingmasterError('DATA_MISSING', `no valid checkpoint under ${from.root}${skipped.length ? ` (${skipped.join('; ')})` : ''} (start the job afresh instead of resuming)`);
  }
  const params = engine.namedParams();
  // What the task records (a language model's tokenizer) must be what it has now: the same ids
  // mean the same tokens.
  const changed = Object.keys(taskFields).find((k) => JSON.stringify(checkpoint.manifest.fields[k]) !== JSON.stringify(taskFields[k]));
  const mismatch = layoutMismatch(checkpoint, spec, params, place) ?? (changed === undefined ? undefined : `its ${changed} differs from this run's data`);
  if (mismatch) {
    throw new RingmasterError('BAD_SPEC', `checkpoint ${checkpoint.dir} does not fit this job: ${mismatch} (resume with the spec it was written with)`);
  }
  const flat = await tensorReader(checkpoint, params, engine.paramCount, [stageFile(place.stage)]);
  const optimizerSteps = checkpoint.manifest.fields.optimizerSteps;
  if (typeof optimizerSteps !== 'number') {
    throw new RingmasterError('DATA_CORRUPT', `checkpoint ${join(checkpoint.dir, 'manifest.json')} lacks optimizerSteps (resume from another checkpoint)`);
  }
  const lossScale = checkpoint.manifest.fields.lossScaler as EngineState['lossScale'] | undefined;
  if (typeof lossScale?.scale !== 'number') {
    throw new RingmasterError('DATA_CORRUPT', `checkpoint ${join(checkpoint.dir, 'manifest.json')} lacks the loss scaler's state (resume from another checkpoint)`);
  }
  engine.setState({ params: flat(''), moments: momentNames(spec).map((name) => flat(`optimizer.${name}.`)), optimizerSteps, lossScale });
  return { type: 'resumed', step: checkpoint.step, dir: checkpoint.dir, skipped };
}
