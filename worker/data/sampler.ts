/**
 * Which training samples each rank reads, batch by batch, with the semantics of PyTorch's
 * DistributedSampler (seeded shuffle per epoch, disjoint per-rank shards) and drop_last.
 *
 * Every epoch's order is a Fisher–Yates shuffle of 0..count−1 seeded from (seed, epoch) alone, so
 * a resumed run recomputes any epoch's order without replaying the ones before it. With B the
 * per-rank batch and R ranks, batch b of an epoch is the global batch order[b·B·R, (b+1)·B·R);
 * rank r reads its contiguous slice [r·B, (r+1)·B) of it. The last count mod B·R entries of each
 * epoch's order are skipped (different samples each epoch, since the order changes).
 */
import { RingmasterError } from '../../common/errors.js';
import type { Split } from './fashion-mnist.js';
import { Rng } from './rng.js';

export interface EpochSamplerOptions {
  count: number; // samples in the training split
  batch: number; // samples per rank per batch
  seed: number;
  dropLast: true; // the only mode so far: a partial last global batch is skipped
  rank?: number; // default 0
  ranks?: number; // default 1
}

export class EpochSampler {
  readonly batchesPerEpoch: number;
  private readonly count: number;
  private readonly batch: number;
  private readonly seed: number;
  private readonly rank: number;
  private readonly ranks: number;

  constructor({ count, batch, seed, rank = 0, ranks = 1 }: EpochSamplerOptions) {
    requireInteger('count', count, 1);
    requireInteger('batch', batch, 1);
    requireInteger('ranks', ranks, 1);
    requireInteger('rank', rank, 0);
    requireInteger('seed', seed, 0);
    if (rank >= ranks) throw new RangeError(`rank ${rank} is out of range for ${ranks} ranks`);
    if (batch * ranks > count) {
      throw new RingmasterError(
        'BAD_SPEC',
        `the global batch of ${batch * ranks} samples (batch.micro × parallel.data) is larger than the ` +
          `${count} training samples (lower batch.micro or parallel.data)`,
      );
    }
    this.count = count;
    this.batch = batch;
    this.seed = seed;
    this.rank = rank;
    this.ranks = ranks;
    this.batchesPerEpoch = Math.floor(count / (batch * ranks));
  }

  /** The global order of the samples in `epoch` (the same on every rank): a permutation of 0..count−1. */
  order(epoch: number): Uint32Array {
    const order = identity(this.count);
    const rng = Rng.fromSeed([this.seed, epoch]);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.below(i + 1);
      const t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    return order;
  }

  /** This rank's sample indices for batch `index` of an epoch with the given order (a view, not a copy). */
  shard(order: Uint32Array, index: number): Uint32Array {
    if (!Number.isInteger(index) || index < 0 || index >= this.batchesPerEpoch) {
      throw new RangeError(`batch ${index} is out of range: an epoch has ${this.batchesPerEpoch} batches`);
    }
    const start = (index * this.ranks + this.rank) * this.batch;
    return order.subarray(start, start + this.batch);
  }
}

/** The indices 0..count−1 in order, `batch` at a time; the last batch holds the remainder (evaluation). */
export function* sequentialBatches(count: number, batch: number): Generator<Uint32Array> {
  requireInteger('batch', batch, 1);
  const all = identity(count);
  for (let start = 0; start < count; start += batch) yield all.subarray(start, start + batch);
}

/**
 * Copies the samples `indices` of `split` into the first rows of `outImages` (one row of
 * product(sampleShape) floats per sample, each pixel byte's value) and `outLabels`.
 */
export function gather(
  split: Pick<Split, 'count' | 'sampleShape' | 'pixels' | 'pixelValues' | 'labels'>,
  indices: Uint32Array,
  outImages: Float32Array,
  outLabels: Int32Array,
): void {
  const row = split.sampleShape.reduce<number>((a, b) => a * b, 1);
  if (outImages.length < indices.length * row || outLabels.length < indices.length) {
    throw new RangeError(`output buffers are too small for ${indices.length} samples of ${row} values`);
  }
  for (let i = 0; i < indices.length; i++) {
    const k = indices[i];
    if (k >= split.count) throw new RangeError(`sample ${k} is out of range: the split has ${split.count}`);
    const from = k * row, to = i * row;
    for (let j = 0; j < row; j++) outImages[to + j] = split.pixelValues[split.pixels[from + j]];
    outLabels[i] = split.labels[k];
  }
}

function identity(count: number): Uint32Array {
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = i;
  return out;
}

function requireInteger(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`${name} must be an integer ≥ ${min}, got ${value}`);
  }
}
