/**
 * Text from a trained language model: loads a checkpoint's GPT (its model spec and tokenizer
 * come from the manifest, its parameters from the stage file) into an engine of its own and
 * continues a prompt with the engine's KV-cache sampler.
 */
import { RingmasterError } from '../common/errors.js';
import type { SampleRequest } from '../common/one-shot.js';
import type { GptModelSpec } from '../jobs/types.js';
import { openNewestValidCheckpoint } from './checkpoint/read.js';
import { tensorReader } from './checkpointing.js';
import { tokenizerFrom } from './data/tokenizers.js';
import { createEngine } from './native.js';

export async function sample(r: SampleRequest): Promise<string> {
  const checkpoint = await openNewestValidCheckpoint(r.root, { step: r.step });
  if (!checkpoint) throw new RingmasterError('DATA_MISSING', `no valid checkpoint under ${r.root} (train the job first, or pass a checkpoint directory)`);
  const fields = checkpoint.manifest.fields;
  const model = (fields.layout as { model?: GptModelSpec } | undefined)?.model;

  if (model?.kind !== 'gpt') {
    throw new RingmasterError('BAD_ARGUMENT', `checkpoint ${checkpoint.dir} is not a language model's (its model is ${model?.kind ?? 'unknown'}; sample a gpt job's checkpoint)`);
  }
  const tokenizer = tokenizerFrom(fields.tokenizer, `checkpoint ${checkpoint.dir}`);
  const prompt = tokenizer.encode(r.prompt.length > 0 ? r.prompt : '\n');
  const engine = createEngine({
    gpt: { vocab: tokenizer.vocabSize, block: model.block, layers: model.layers, heads: model.heads, channels: model.channels, bias: model.bias },
    maxBatch: 1, impl: 'fast', seed: 0, threads: r.threads,
    optimizer: { kind: 'sgd', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, momentum: 0, nesterov: false },
  });
  const params = engine.namedParams();
  engine.setParams((await tensorReader(checkpoint, params, engine.paramCount))(''));
  const out = await engine.generate({ prompt: Int32Array.from(prompt), tokens: r.tokens, temperature: r.temperature, topK: r.topK, seed: r.seed });
  return r.prompt + tokenizer.decode(out);
}
