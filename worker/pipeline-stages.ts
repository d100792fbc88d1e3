/**
 * How a GPT's blocks are split into pipeline stages: contiguous, every stage at least one block,
 * the embeddings on the first stage and the final LayerNorm and tied head on the last, balanced
 * by each part's training FLOPs per token (the estimate of gptFlopsPerToken: a block's weight
 * matrices and attention, the head's V·C product; the embeddings are lookups). The last stage
 * takes as many blocks as keeps it, with the head, no costlier than the others; the other blocks
 * are spread evenly, the earlier stages taking one more where they do not divide.
 */
import type { GptEngineConfig, PipelineStage } from './native.js';

export function pipelineStages(gpt: GptEngineConfig, stages: number): PipelineStage[] {
  const L = gpt.layers;
  if (stages < 1 || stages > L) throw new RangeError(`${stages} pipeline stages for ${L} blocks`);
  if (stages === 1) return [{ stages, stage: 0, firstLayer: 0, endLayer: L }];
  const block = 12 * gpt.channels * gpt.channels + 2 * gpt.block * gpt.channels;
  const head = gpt.vocab * gpt.channels;
  let best = { last: 1, cost: Infinity };
  for (let last = 1; last <= L - (stages - 1); last++) {
    const cost = Math.max(last * block + head, Math.ceil((L - last) / (stages - 1)) * block);
    if (cost < best.cost) best = { last, cost };
  }
  const rest = L - best.last;
  const out: PipelineStage[] = [];
  let first = 0;
  for (let stage = 0; stage < stages; stage++) {
    const count = stage === stages - 1 ? best.last : Math.floor(rest / (stages - 1)) + (stage < rest % (stages - 1) ? 1 : 0);
    out.push({ stages, stage, firstLayer: first, endLayer: first + count });
    first += count;
  }
  return out;
}
