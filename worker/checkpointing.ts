/**
 * A training run's checkpoints: what goes into one (the engine's parameters and optimizer
 * moments in a safetensors file named like torch's state dicts, the step and the data position
 * in the manifest) and how a run starts again from one. The files themselves, their durability
 * and their validation are worker/checkpoint/'s.
 *
 * Data parallel, rank 0 holds the whole state (with a sharded optimizer the moments live in
 * memory its machine's ranks share), so rank 0 alone writes; every rank reads the same
 * checkpoint to resume, as ranks of a cluster with shared storage do.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { RingmasterError } from '../common/errors.js';
import type { CheckpointEvent, CheckpointTarget, ResumeEvent, ResumeFrom } from '../common/rank-messages.js';
import type { JobSpec } from '../jobs/types.js';
import type { JsonValue, ManifestFields } from './checkpoint/manifest.js';
import type { Checkpoint } from './checkpoint/read.js';
import { openNewestValidCheckpoint } from './checkpoint/read.js';
import { encodeSafetensors, type Tensor } from './checkpoint/safetensors.js';
import { writeDurable } from './checkpoint/durable.js';
import { checkCheckpointRoot, CHECKPOINT_WRITE_TIMEOUT_MS, withinTime } from './checkpoint/root-check.js';
import { publishCheckpoint, pruneCheckpoints, stageCheckpoint } from './checkpoint/write.js';
import type { Engine, EngineState, NamedParam } from './native.js';

/** One file per pipeline stage; without pipeline parallelism there is one stage. */
const STAGE_FILE = 'stage-0.safetensors';

/** Torch's names for the optimizer's per-parameter state, in the engine's moment order. */
function momentNames(spec: JobSpec): string[] {
  return spec.optimizer.kind === 'adamw' ? ['exp_avg', 'exp_avg_sq'] : ['momentum_buffer'];
}

/** What must match for a checkpoint to fit a spec: the model and the optimizer's state. */
function layoutOf(spec: JobSpec, params: NamedParam[]): JsonValue {
  const layout = { model: spec.model, optimizer: spec.optimizer.kind, params: params.map((p) => ({ name: p.name, shape: p.shape })) };
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

/**
 * Writes rank 0's checkpoints. save() copies the engine's state at once (so training may go
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
    const bytes = encodeSafetensors(stateTensors(this.spec, params, state), { format: 'ringmaster', stage: '0' });
    await writeDurable(join(dir, STAGE_FILE), bytes);
    const published = await publishCheckpoint(root, step, token, {
      specHash: specHash(this.spec),
      layout: layoutOf(this.spec, params),
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
 * the parameters, reader('optimizer.exp_avg.') a moment.
 */
export async function tensorReader(checkpoint: Checkpoint, params: NamedParam[], count: number): Promise<(prefix: string) => Float32Array> {
  const file = await checkpoint.readTensors(STAGE_FILE);
  return (prefix: string) => {
    const out = new Float32Array(count);
    for (const p of params) {
      const t = file.tensors.get(prefix + p.name);
      if (!t || t.dtype !== 'F32' || t.data.length !== p.count) {
        throw new RingmasterError('DATA_CORRUPT', `checkpoint file ${join(checkpoint.dir, STAGE_FILE)} lacks the F32 tensor ${prefix + p.name} of ${p.count} values (use another checkpoint)`);
      }
      out.set(t.data as Float32Array, p.offset);
    }
    return out;
  };
}

/** Why `checkpoint` cannot continue a run of `spec`, or undefined when it can. */
function layoutMismatch(checkpoint: Checkpoint, spec: JobSpec, params: NamedParam[]): string | undefined {
  const saved = JSON.stringify(checkpoint.manifest.fields.layout);
  const wanted = JSON.stringify(layoutOf(spec, params));
  if (saved === wanted) return undefined;
  const layout = checkpoint.manifest.fields.layout as { optimizer?: unknown; params?: { name: string; shape: number[] }[] } | undefined;
  if (layout?.optimizer !== spec.optimizer.kind) return `its optimizer is ${String(layout?.optimizer)}, the spec's ${spec.optimizer.kind}`;
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
export async function restoreCheckpoint(spec: JobSpec, engine: Engine, from: ResumeFrom, taskFields: ManifestFields = {}): Promise<ResumeEvent> {
  const skipped: string[] = [];
  const checkpoint = await openNewestValidCheckpoint(from.root, { step: from.step, onSkip: (_path, reason) => skipped.push(reason) });
  if (!checkpoint) {
    throw new RingmasterError('DATA_MISSING', `no valid checkpoint under ${from.root}${skipped.length ? ` (${skipped.join('; ')})` : ''} (start the job afresh instead of resuming)`);
  }
  const params = engine.namedParams();
  // What the task records (a language model's tokenizer) must be what it has now: the same ids
  // mean the same tokens.
  const changed = Object.keys(taskFields).find((k) => JSON.stringify(checkpoint.manifest.fields[k]) !== JSON.stringify(taskFields[k]));
  const mismatch = layoutMismatch(checkpoint, spec, params) ?? (changed === undefined ? undefined : `its ${changed} differs from this run's data`);
  if (mismatch) {
    throw new RingmasterError('BAD_SPEC', `checkpoint ${checkpoint.dir} does not fit this job: ${mismatch} (resume with the spec it was written with)`);
  }
  const flat = await tensorReader(checkpoint, params, engine.paramCount);
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
