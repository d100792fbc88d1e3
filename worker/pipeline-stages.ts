/**
 * How a model is cut into pipeline stages. The model is a row of units, the things a split
 * counts (and `parallel.stages` and a checkpoint's recorded split count): a GPT's blocks, or a
 * sequential network's layers with parameters, each with the ReLU and pool after it (a flatten
 * goes with the Linear after it). The embeddings go with the first unit, the final LayerNorm,
 * the tied head and the loss with the last. A split is the number of units in each piece, in
 * model order; with `virtual` chunks per rank (interleaved stages) there are stages × virtual
 * pieces and rank r holds pieces r, r + stages, r + 2·stages, …
 */
import type { EngineModel, LayerConfig, PipelineStage } from './native.js';

/** A sequential network's units: the config layers [first, end) of each. */
function sequentialUnits(layers: LayerConfig[]): { first: number; end: number }[] {
  const weighted = [...layers.keys()].filter((i) => layers[i].kind === 'linear' || layers[i].kind === 'conv2d');
  const starts = weighted.map((i, u) => (u === 0 ? 0 : layers[i - 1].kind === 'flatten' ? i - 1 : i));
  return starts.map((first, u) => ({ first, end: u + 1 < starts.length ? starts[u + 1] : layers.length }));
}

/** How many units the model has. */
export function unitCount(model: EngineModel): number {
  return model.gpt ? model.gpt.layers : sequentialUnits(model.layers).length;
}

/**
 * The unit a profiled module belongs to, by its PyTorch module path (the engine's profile):
 * `transformer.h.<i>.…` is block i, `layers.<i>` the unit holding config layer i; undefined for
 * the modules outside every unit (embeddings, final LayerNorm, head, loss).
 */
export function unitOfModule(model: EngineModel, name: string): number | undefined {
  const match = model.gpt ? /^transformer\.h\.(\d+)\./.exec(name) : /^layers\.(\d+)$/.exec(name);
  if (!match) return undefined;
  const index = Number(match[1]);
  return model.gpt ? index : sequentialUnits(model.layers).findIndex((u) => index < u.end);
}

/**
 * Splits units of the given costs into `pieces` contiguous runs of at least one unit each, the
 * costliest run as cheap as it can be (ties: the earlier pieces longer).
 */
export function balancedSplit(costs: number[], pieces: number): number[] {
  const n = costs.length;
  if (pieces < 1 || pieces > n) throw new RangeError(`${pieces} pipeline pieces for ${n} units`);
  const prefix = costs.reduce<number[]>((acc, c) => [...acc, acc[acc.length - 1] + c], [0]);
  // best[p][j]: the cheapest costliest run over p pieces covering units [0, j); cut[p][j]: where the last begins
  const best = Array.from({ length: pieces + 1 }, () => new Array<number>(n + 1).fill(Infinity));
  const cut = Array.from({ length: pieces + 1 }, () => new Array<number>(n + 1).fill(0));
  best[0][0] = 0;
  for (let p = 1; p <= pieces; p++) {
    for (let j = p; j <= n - (pieces - p); j++) {
      for (let i = p - 1; i < j; i++) {
        const cost = Math.max(best[p - 1][i], prefix[j] - prefix[i]);
        if (cost <= best[p][j]) [best[p][j], cut[p][j]] = [cost, i];
      }
    }
  }
  const sizes: number[] = [];
  for (let p = pieces, j = n; p > 0; j = cut[p][j], p--) sizes.unshift(j - cut[p][j]);
  return sizes;
}

/** Every rank's stage for a split of the model's units into stages × (split.length / stages) pieces. */
export function stagesOf(model: EngineModel, stages: number, split: number[]): PipelineStage[] {
  const units = unitCount(model);
  const virtual = split.length / stages;
  if (!Number.isInteger(virtual) || split.some((s) => !Number.isInteger(s) || s < 1) || split.reduce((a, b) => a + b, 0) !== units) {
    throw new RangeError(`the split [${split.join(', ')}] does not cut ${units} units into ${stages} stages`);
  }
  const bounds = model.gpt ? [...Array(units + 1).keys()] : [...sequentialUnits(model.layers).map((u) => u.first), model.layers.length];
  const starts = split.map((_, p) => split.slice(0, p).reduce((a, b) => a + b, 0));
  return Array.from({ length: stages }, (_, stage) => ({
    stages,
    stage,
    chunks: Array.from({ length: virtual }, (_, c) => {
      const piece = c * stages + stage;
      return { firstLayer: bounds[starts[piece]], endLayer: bounds[starts[piece] + split[piece]] };
    }),
  }));
}
