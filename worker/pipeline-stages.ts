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
import type { GptEngineConfig, PipelineStage } from './native.js';

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

export function pipelineStages(gpt: GptEngineConfig, stages: number, virtual = 1): PipelineStage[] {
  const pieces = stages * virtual;
  if (stages < 1 || virtual < 1 || pieces > gpt.layers) throw new RangeError(`${stages} pipeline stages of ${virtual} chunks for ${gpt.layers} blocks`);
  const sizes = pieceSizes(gpt, pieces);
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
