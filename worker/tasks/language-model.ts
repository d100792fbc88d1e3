/**
 * Language modelling (gpt on text): random windows of model.block tokens of the training split
 * (data/windows.ts), each predicting the next token at every position; evaluated by loss and
 * perplexity over a fixed set of validation windows.
 */
import type { Metrics } from '../../common/metrics.js';
import type { GptModelSpec, JobSpec } from '../../jobs/types.js';
import type { ManifestFields } from '../checkpoint/manifest.js';
import type { TextCorpus } from '../data/text.js';
import { fillWindows, WindowSampler } from '../data/windows.js';
import type { Engine, EngineModel, ProcessGroup } from '../native.js';
import type { TrainingTask } from './task.js';

/**
 * Training FLOPs per token (forward and backward: 3× the forward's 2 per multiply-add): every
 * weight matrix once (the tied head included, the position embedding being a lookup), and the
 * attention's q·kᵀ and p·v over the context (PaLM's appendix B; nanoGPT's estimate_mfu).
 */
export function gptFlopsPerToken(m: GptModelSpec, vocab: number): number {
  const C = m.channels;
  const matrices = m.layers * 12 * C * C + vocab * C;
  return 6 * matrices + 12 * m.layers * m.block * C;
}

export class LanguageModelTask implements TrainingTask {
  readonly model: EngineModel;
  readonly batchesPerEpoch: number;
  readonly inputs: Int32Array;
  readonly labels: Int32Array;
  readonly tokensPerSample: number;
  readonly flopsPerToken: number;
  readonly checkpointFields: ManifestFields;
  private readonly train: WindowSampler;
  private readonly validation: WindowSampler;
  private readonly micro: number;
  private readonly block: number;
  private readonly evalBatches: number;

  constructor(
    spec: JobSpec,
    model: GptModelSpec,
    private readonly corpus: TextCorpus,
    private readonly placement: { rank: number; ranks: number },
  ) {
    const vocab = corpus.tokenizer.vocabSize;
    this.block = model.block;
    this.micro = spec.batch.micro;
    const perRank = spec.batch.micro * spec.batch.accumulate;
    this.model = { gpt: { vocab, block: model.block, layers: model.layers, heads: model.heads, channels: model.channels, bias: model.bias } };
    this.train = new WindowSampler({ tokens: corpus.train.length, block: model.block, batch: perRank, seed: spec.seed, ...placement });
    this.validation = new WindowSampler({ tokens: corpus.validation.length, block: model.block, batch: perRank, seed: spec.seed, ...placement });
    // An epoch: as many windows as the training split has tokens, over the global batch.
    this.batchesPerEpoch = Math.max(1, Math.floor(corpus.train.length / (perRank * placement.ranks * model.block)));
    this.inputs = new Int32Array(perRank * model.block);
    this.labels = new Int32Array(perRank * model.block);
    this.tokensPerSample = model.block;
    this.flopsPerToken = gptFlopsPerToken(model, vocab);
    this.evalBatches = spec.eval.batches;
    this.checkpointFields = { tokenizer: corpus.tokenizer.describe() };
  }

  load(step: number): void {
    fillWindows(this.corpus.train, this.train.forStep(step), this.block, this.inputs, this.labels);
  }

  /**
   * Mean loss and its perplexity over eval.batches fixed global batches of validation windows, as
   * many windows each as a training step reads (the same at every evaluation, so evaluations
   * compare, and for any split of the step into ranks and micro-batches). Each rank evaluates its
   * slice of every batch, micro-batch by micro-batch; with a group the sums are all-reduced.
   */
  async evaluate(engine: Engine, group?: ProcessGroup): Promise<Metrics> {
    const { ranks } = this.placement;
    const x = new Int32Array(this.micro * this.block);
    const y = new Int32Array(this.micro * this.block);
    let sums = Float64Array.of(0, 0); // loss sum, predictions
    for (const share of this.validation.evaluation(this.evalBatches)) {
      for (let i = 0; i < share.length; i += this.micro) {
        const starts = share.slice(i, i + this.micro);
        fillWindows(this.corpus.validation, starts, this.block, x, y);
        sums[0] += (await engine.evaluate(x, y, starts.length)).lossSum;
        sums[1] += starts.length * this.block;
      }
    }
    if (group && ranks > 1) sums = await group.allReduce(sums, 'sum');
    const loss = sums[0]! / sums[1]!;
    return { val_loss: loss, val_perplexity: Math.exp(loss) };
  }
}
