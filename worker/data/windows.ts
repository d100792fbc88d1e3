/**
 * Which windows of a token sequence each rank trains on: every step draws the global batch of
 * batch × ranks window starts from an RNG seeded with (seed, step) alone, and rank r reads the
 * contiguous slice [r·batch, (r+1)·batch) of them. A step's windows are a pure function of the
 * seed and the step, so resuming at step s reads exactly what the uninterrupted run read (the
 * sampler's whole state is the step the checkpoint records), and N ranks read the windows one
 * rank with N times the batch would.
 *
 * A window at s is the inputs tokens[s, s + T) and the targets tokens[s + 1, s + T + 1).
 */
import { Rng } from './rng.js';

export interface WindowSamplerOptions {
  tokens: number; // length of the split
  block: number; // T
  batch: number; // windows per rank per step
  seed: number;
  rank?: number;
  ranks?: number;
}

export class WindowSampler {
  private readonly starts: number; // windows start in [0, starts)
  constructor(private readonly o: WindowSamplerOptions) {
    this.starts = o.tokens - o.block;
    if (this.starts < 1) throw new RangeError(`${o.tokens} tokens hold no window of ${o.block} + 1`);
  }

  /** This rank's window starts for `step`. */
  forStep(step: number): number[] {
    return this.draw(Rng.fromSeed([this.o.seed, step]), this.o.batch * (this.o.ranks ?? 1)).slice(
      (this.o.rank ?? 0) * this.o.batch, ((this.o.rank ?? 0) + 1) * this.o.batch,
    );
  }

  /**
   * This rank's share of the evaluation's `batches` global batches of windows: spread evenly over
   * the whole split (the first starting at its first token, the last ending at its end), so every
   * evaluation reads the same windows and the split's every part is in them; with batches ×
   * batch × ranks × T ≥ the split's length they cover all of it. Rank r reads the slice
   * [r·batch, (r+1)·batch) of each global batch, as in training: N ranks evaluate the windows one
   * rank with N times the batch would, so a job's validation loss does not depend on its layout.
   */
  evaluation(batches: number): number[][] {
    const ranks = this.o.ranks ?? 1;
    const rank = this.o.rank ?? 0;
    const global = this.o.batch * ranks;
    const total = batches * global;
    const start = (i: number) => (total === 1 ? 0 : Math.floor((i * (this.starts - 1)) / (total - 1)));
    return Array.from({ length: batches }, (_, b) =>
      Array.from({ length: this.o.batch }, (_, j) => start(b * global + rank * this.o.batch + j)));
  }

  private draw(rng: Rng, n: number): number[] {
    return Array.from({ length: n }, () => rng.below(this.starts));
  }
}

/** Writes the windows at `starts` into the first rows of x (inputs) and y (targets), T each. */
export function fillWindows(tokens: Uint16Array, starts: readonly number[], block: number, x: Int32Array, y: Int32Array): void {
  starts.forEach((s, i) => {
    for (let t = 0; t < block; t++) {
      x[i * block + t] = tokens[s + t]!;
      y[i * block + t] = tokens[s + t + 1]!;
    }
  });
}
