/**
 * Image classification (mlp, cnn on Fashion-MNIST): epochs of shuffled samples
 * (data/sampler.ts), evaluated by loss and accuracy on the test split.
 */
import type { Metrics } from '../../common/metrics.js';
import type { CnnModelSpec, JobSpec, MlpModelSpec } from '../../jobs/types.js';
import type { Split } from '../data/fashion-mnist.js';
import { EpochSampler, gather, sequentialBatches } from '../data/sampler.js';
import { modelLayers } from '../models.js';
import type { Engine, EngineModel, ProcessGroup } from '../native.js';
import type { TrainingTask } from './task.js';

function sampleSize(split: Split): number {
  return split.sampleShape.reduce<number>((a, b) => a * b, 1);
}

export class ClassificationTask implements TrainingTask {
  readonly model: EngineModel;
  readonly batchesPerEpoch: number;
  readonly inputs: Float32Array;
  readonly labels: Int32Array;
  readonly tokensPerSample = 0;
  readonly flopsPerToken = 0;
  readonly checkpointFields = {};
  private readonly sampler: EpochSampler;
  private readonly micro: number;
  private order?: { epoch: number; order: Uint32Array };

  constructor(
    spec: JobSpec,
    model: MlpModelSpec | CnnModelSpec,
    private readonly data: { train: Split; test: Split },
    private readonly placement: { rank: number; ranks: number },
  ) {
    const perRank = spec.batch.micro * spec.batch.accumulate;
    this.sampler = new EpochSampler({ count: data.train.count, batch: perRank, seed: spec.seed, dropLast: true, ...placement });
    this.batchesPerEpoch = this.sampler.batchesPerEpoch;
    const [c, h, w] = data.train.sampleShape;
    this.model = { input: [c, h, w], layers: modelLayers(model, data.train.classes) };
    this.inputs = new Float32Array(perRank * sampleSize(data.train));
    this.labels = new Int32Array(perRank);
    this.micro = spec.batch.micro;
  }

  load(step: number): void {
    const epoch = Math.floor(step / this.batchesPerEpoch);
    if (this.order?.epoch !== epoch) this.order = { epoch, order: this.sampler.order(epoch) };
    gather(this.data.train, this.sampler.shard(this.order.order, step % this.batchesPerEpoch), this.inputs, this.labels);
  }

  /**
   * Test-set loss (mean) and accuracy, in batches of batch.micro. With a group, each rank
   * evaluates a contiguous share of the test set and the sums are all-reduced.
   */
  async evaluate(engine: Engine, group?: ProcessGroup): Promise<Metrics> {
    const test = this.data.test;
    const x = new Float32Array(this.micro * sampleSize(test));
    const y = new Int32Array(this.micro);
    const { rank, ranks } = this.placement;
    const begin = Math.floor((rank * test.count) / ranks);
    const end = Math.floor(((rank + 1) * test.count) / ranks);
    let sums = Float64Array.of(0, 0); // loss sum, correct
    for (const indices of sequentialBatches(end - begin, this.micro)) {
      gather(test, indices.map((i) => i + begin), x, y);
      const r = await engine.evaluate(x, y, indices.length);
      sums[0] += r.lossSum;
      sums[1] += r.correct;
    }
    if (group && ranks > 1) sums = await group.allReduce(sums, 'sum');
    return { test_loss: sums[0]! / test.count, test_accuracy: sums[1]! / test.count };
  }
}
