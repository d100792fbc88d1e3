/**
 * What a model learns from, by task: where each step's batch comes from, how the model is
 * evaluated, and what throughput means. The training loop (worker/trainer.ts) is the same for
 * every task; a new model kind brings a task here (or reuses one), nothing else in the loop.
 */
import type { Metrics } from '../../common/metrics.js';
import type { JobSpec } from '../../jobs/types.js';
import { loadFashionMnist, type Split } from '../data/fashion-mnist.js';
import { loadTextCorpus, type TextCorpus } from '../data/text.js';
import type { ManifestFields } from '../checkpoint/manifest.js';
import type { Engine, EngineModel, ProcessGroup } from '../native.js';
import { ClassificationTask } from './classification.js';
import { LanguageModelTask } from './language-model.js';

export interface TrainingTask {
  readonly model: EngineModel; // the engine's model for this spec and data
  readonly batchesPerEpoch: number; // optimizer steps in one pass over the training data
  /** This rank's batch of one optimizer step (batch.micro × batch.accumulate samples), written by load(). */
  readonly inputs: Float32Array | Int32Array;
  readonly labels: Int32Array;
  readonly tokensPerSample: number; // a language model's block; 0 for a classifier
  readonly flopsPerToken: number; // a language model's training FLOPs per token (forward + backward); 0 otherwise
  readonly checkpointFields: ManifestFields; // what a checkpoint's manifest needs to use the model alone (a tokenizer)
  /** Writes the batch of optimizer step `step` (counted from 0) into inputs and labels. */
  load(step: number): void;
  /** The task's metrics (common/metrics.ts), summed over the group's ranks when there is one. */
  evaluate(engine: Engine, group?: ProcessGroup): Promise<Metrics>;
}

/** What a task's data is, loaded once per rank. */
export type TaskData =
  | { kind: 'fashion-mnist'; train: Split; test: Split }
  | { kind: 'text'; corpus: TextCorpus };

export async function loadTaskData(spec: JobSpec): Promise<TaskData> {
  if (spec.data.kind === 'text') {
    const block = spec.model.kind === 'gpt' ? spec.model.block : 1;
    return { kind: 'text', corpus: await loadTextCorpus(spec.data, block) };
  }
  return { kind: 'fashion-mnist', ...(await loadFashionMnist(spec.data.dir)) };
}

export function createTask(spec: JobSpec, data: TaskData, placement: { rank: number; ranks: number }): TrainingTask {
  if (data.kind === 'text') {
    if (spec.model.kind !== 'gpt') throw new RangeError(`model ${spec.model.kind} cannot train on text`);
    return new LanguageModelTask(spec, spec.model, data.corpus, placement);
  }
  if (spec.model.kind === 'gpt') throw new RangeError('a gpt trains on text');
  return new ClassificationTask(spec, spec.model, data, placement);
}
