/**
 * How much memory one rank of a job needs, estimated from its spec alone (the coordinator
 * refuses at submission a job that cannot fit its slots): its part of the parameters in fp32,
 * their gradients, the optimizer's moments, the rounded copy mixed precision computes from, and
 * the activations backward keeps for every micro-batch in flight. A floor, not a bound: the
 * kernels' scratch, the data and the runtime come on top.
 */
import type { JobSpec } from './types.js';

export interface MemoryEstimate {
  bytes: number; // all of it
  parameters: number; // values, gradients, optimizer moments and the rounded copy, in bytes
  activations: number;
}

const FASHION_MNIST = { pixels: 28 * 28, classes: 10 };
const CHAR_VOCAB = 256; // a character corpus's vocabulary is rarely larger; GPT-2's BPE has 50257

/** Parameters and activation floats per sample (per token for a gpt) of the whole model. */
function shape(spec: JobSpec): { params: number; activationsPerSample: number } {
  const m = spec.model;
  if (m.kind === 'mlp') {
    const widths = [FASHION_MNIST.pixels, ...m.hidden, FASHION_MNIST.classes];
    let params = 0;
    for (let i = 1; i < widths.length; i++) params += widths[i - 1] * widths[i] + widths[i];
    return { params, activationsPerSample: 2 * widths.reduce((a, b) => a + b, 0) }; // each layer's output and its activation's
  }
  if (m.kind === 'cnn') {
    const [c1, c2] = m.channels;
    const flat = 7 * 7 * c2;
    const params = 9 * c1 + c1 + 9 * c1 * c2 + c2 + flat * m.hidden + m.hidden + m.hidden * FASHION_MNIST.classes + FASHION_MNIST.classes;
    return { params, activationsPerSample: 2 * (28 * 28 * c1 + 14 * 14 * c2) + 28 * 28 * c1 / 4 + flat + 2 * m.hidden };
  }
  const C = m.channels;
  const V = spec.data.kind === 'text' && spec.data.tokenizer === 'gpt2' ? 50257 : CHAR_VOCAB;
  const params = m.layers * (12 * C * C + 13 * C) + V * C + m.block * C + 2 * C;
  // per token: each block keeps its LayerNorms' outputs, q·k·v, the attention's output and
  // log-sum-exp, the MLP's 4C hidden layer before and after GELU, and two residual streams;
  // then the final LayerNorm and the logits
  const perBlock = 2 * C + 3 * C + C + m.heads + 2 * 4 * C + 2 * C;
  return { params, activationsPerSample: m.block * (m.layers * perBlock + 2 * C + V) };
}

export function estimateMemory(spec: JobSpec): MemoryEstimate {
  const { params, activationsPerSample } = shape(spec);
  const stages = spec.parallel.pipeline;
  const moments = spec.optimizer.kind === 'adamw' ? 2 : 1;
  const copies = 2 + moments + (spec.precision === 'fp32' ? 0 : 2); // values, gradients, moments; mixed: the rounded copy and gradient scratch
  const parameters = (4 * copies * params) / stages;
  // A pipeline's first stage keeps up to P micro-batches of its 1/P of the model.
  const activations = 4 * activationsPerSample * spec.batch.micro;
  return { bytes: parameters + activations, parameters, activations };
}

/** "1.2 GiB", "340 MiB" */
export function formatBytes(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${Math.max(1, Math.round(bytes / 2 ** 20))} MiB`;
}
