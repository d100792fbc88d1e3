/**
 * How a GPT's blocks are split into pipeline stages: contiguous, every stage at least one block,
 * the embeddings on the first stage and the final LayerNorm and tied head on the last, balanced
 * by each part's training FLOPs per token (the estimate of gptFlopsPerToken: a block's weight
 * matrices and attention, the head's V·C product; the embeddings are lookups). The last stage
 * takes as many blocks as keeps it, with the head, no costlier than the others; the other blocks
 * are spread evenly, the earlier stages taking one more where they do not divide. With `virtual`
 * chunks per rank (interleaved stages) the blocks are split so into stages × virtual pieces, and
 * rank r holds pieces r, r + stages, r + 2·stages, …
 */
import type { GptEngineConfig, LayerConfig, PipelineStage } from './native.js';

/** Blocks per piece when L blocks are split into `pieces`, the head after the last. */
function pieceSizes(gpt: GptEngineConfig, pieces: number): number[] {
  const L = gpt.layers;
  if (pieces === 1) return [L];
  const block = 12 * gpt.channels * gpt.channels + 2 * gpt.block * gpt.channels;
  const head = gpt.vocab * gpt.channels;
  let best = { last: 1, cost: Infinity };
  for (let last = 1; last <= L - (pieces - 1); last++) {
    const cost = Math.max(last * block + head, Math.ceil((L - last) / (pieces - 1)) * block);
    if (cost < best.cost) best = { last, cost };
  }
  const rest = L - best.last;
  return Array.from({ length: pieces }, (_, p) => (p === pieces - 1 ? best.last : Math.floor(rest / (pieces - 1)) + (p < rest % (pieces - 1) ? 1 : 0)));
}

/** `byHand`: blocks per piece, in model order (the spec's parallel.stages); absent: balanced. */
export function pipelineStages(gpt: GptEngineConfig, stages: number, virtual = 1, byHand?: number[] | null): PipelineStage[] {
  const pieces = stages * virtual;
  if (stages < 1 || virtual < 1 || pieces > gpt.layers) throw new RangeError(`${stages} pipeline stages of ${virtual} chunks for ${gpt.layers} blocks`);
  const sizes = byHand ?? pieceSizes(gpt, pieces);
  const starts = sizes.map((_, p) => sizes.slice(0, p).reduce((a, b) => a + b, 0));
  return Array.from({ length: stages }, (_, stage) => ({
    stages,
    stage,
    chunks: Array.from({ length: virtual }, (_, c) => {
      const piece = c * stages + stage;
      return { firstLayer: starts[piece], endLayer: starts[piece] + sizes[piece] };
    }),
  }));
}

/**
 * A sequential network's stages: contiguous runs of its config layers, each starting at a layer
 * with parameters (or the flatten before one), so a Linear or Conv2d keeps the ReLU and pool that
 * follow it; balanced by forward FLOPs (a Linear's in × out, a 3×3 Conv2d's H·W·C_in·C_out·9),
 * the most expensive stage as cheap as it can be.
 */
export function sequentialStages(layers: LayerConfig[], input: [number, number, number], stages: number, byHand?: number[] | null): PipelineStage[] {
  const costs: number[] = [];
  let [c, h, w] = input;
  for (const l of layers) {
    if (l.kind === 'linear') {
      costs.push(c * h * w * l.out);
      [c, h, w] = [l.out, 1, 1];
    } else if (l.kind === 'conv2d') {
      costs.push(h * w * c * l.out * 9);
      c = l.out;
    } else {
      costs.push(0);
      if (l.kind === 'maxpool2d') [h, w] = [Math.floor(h / 2), Math.floor(w / 2)];
      if (l.kind === 'flatten') [c, h, w] = [c * h * w, 1, 1];
    }
  }
  const L = layers.length;
  const starts = [...Array(L).keys()].filter((i) => i > 0 && (costs[i] > 0 || (layers[i].kind === 'flatten' && costs.slice(i).some((x) => x > 0))));
  const runs = (bounds: number[]) => Array.from({ length: stages }, (_, stage) => ({ stages, stage, chunks: [{ firstLayer: bounds[stage], endLayer: bounds[stage + 1] }] }));
  if (byHand) {
    // each stage after the first starts at its first layer with parameters (or the flatten before it)
    const weighted = [...Array(L).keys()].filter((i) => costs[i] > 0);
    const startOf = (i: number) => (i > 0 && layers[i - 1].kind === 'flatten' ? i - 1 : i);
    const bounds = [0, ...byHand.slice(0, -1).map((_, s) => startOf(weighted[byHand.slice(0, s + 1).reduce((a, b) => a + b, 0)])), L];
    return runs(bounds);
  }
  // best[s][j]: the smallest most expensive stage over s stages covering layers [0, j), j a stage start (or L)
  const sum = (a: number, b: number) => costs.slice(a, b).reduce((x, y) => x + y, 0);
  const ends = [...starts, L];
  const best = new Map<string, { cost: number; cut: number }>();
  const solve = (s: number, j: number): number => {
    if (s === 1) return sum(0, j) > 0 ? sum(0, j) : Infinity;
    const key = `${s}/${j}`;
    const known = best.get(key);
    if (known) return known.cost;
    let found = { cost: Infinity, cut: -1 };
    for (const cut of starts.filter((x) => x < j)) {
      const part = sum(cut, j);
      if (part === 0) continue;
      const cost = Math.max(solve(s - 1, cut), part);
      if (cost < found.cost) found = { cost, cut };
    }
    best.set(key, found);
    return found.cost;
  };
  if (!Number.isFinite(solve(stages, L)) || !ends.includes(L)) throw new RangeError(`${stages} pipeline stages for a network with ${starts.length + 1} layers with parameters`);
  const bounds = [L];
  for (let s = stages; s > 1; s--) bounds.unshift(best.get(`${s}/${bounds[0]}`)!.cut);
  bounds.unshift(0);
  return runs(bounds);
}
