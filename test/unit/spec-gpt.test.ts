/** The gpt model and text data keys of the job spec: defaults, the example job, and every refusal. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RingmasterError } from '../../common/errors.js';
import { loadSpecFile } from '../../jobs/load.js';
import { validateSpec } from '../../jobs/validate.js';

const root = mkdtempSync(join(tmpdir(), 'ringmaster-spec-gpt-'));
const corpus = join(root, 'corpus.txt');
writeFileSync(corpus, 'to be or not to be\n');
afterAll(() => rmSync(root, { recursive: true, force: true }));

const minimal = { name: 'lm', model: { kind: 'gpt' }, data: { kind: 'text', path: 'corpus.txt' } };

function refusal(raw: unknown): RingmasterError {
  try {
    validateSpec(raw, { specDir: root });
  } catch (e) {
    expect(e).toBeInstanceOf(RingmasterError);
    return e as RingmasterError;
  }
  throw new Error('expected the spec to be refused');
}

describe('gpt specs', () => {
  it('fills the gpt and text defaults and resolves the corpus path', () => {
    const spec = validateSpec(minimal, { specDir: root });
    expect(spec.model).toEqual({ kind: 'gpt', layers: 4, heads: 4, channels: 128, block: 64, dropout: 0, bias: true });
    expect(spec.data).toEqual({ kind: 'text', path: corpus, tokenizer: 'char', train_fraction: 0.9 });
    expect(spec.eval).toEqual({ every: 0, batches: 50 });
  });

  it('loads the example job, nanoGPT\'s CPU configuration', () => {
    const spec = loadSpecFile(join(import.meta.dirname, '../../jobs/shakespeare-char.yaml'), [`data.path=${corpus}`]);
    expect(spec.model).toMatchObject({ kind: 'gpt', layers: 4, heads: 4, channels: 128, block: 64, dropout: 0 });
    expect(spec.batch.micro).toBe(12);
    expect(spec.optimizer).toMatchObject({ lr: 1e-3, betas: [0.9, 0.99], weight_decay: 0.1, clip_grad_norm: 1 });
    expect(spec.schedule).toEqual({ kind: 'cosine', warmup: 100, min_lr: 1e-4 });
    expect(spec.steps).toBe(2000);
  });

  it('takes a pipeline of as many stages as blocks', () => {
    expect(validateSpec({ ...minimal, parallel: { pipeline: 4 } }, { specDir: root }).parallel.pipeline).toBe(4);
  });

  it.each([
    ['channels not a multiple of heads', { ...minimal, model: { kind: 'gpt', heads: 3 } }, 'BAD_SPEC', 'spec: model.channels = 128: must be a multiple of model.heads (3)'],
    ['a gpt on images', { ...minimal, data: { kind: 'fashion-mnist', dir: root } }, 'BAD_SPEC', 'spec: data.kind = "fashion-mnist" does not fit model.kind gpt (use text)'],
    ['an mlp on text', { ...minimal, model: { kind: 'mlp' } }, 'BAD_SPEC', 'spec: data.kind = "text" does not fit model.kind mlp (use fashion-mnist)'],
    ['no corpus path', { ...minimal, data: { kind: 'text' } }, 'BAD_SPEC', 'spec: missing required key "data.path"'],
    ['a missing corpus', { ...minimal, data: { kind: 'text', path: 'absent.txt' } }, 'DATA_MISSING', `spec: data.path = ${JSON.stringify(join(root, 'absent.txt'))}: no such file (set data.path to a UTF-8 text file)`],
    ['a directory for the corpus', { ...minimal, data: { kind: 'text', path: '.' } }, 'DATA_MISSING', `spec: data.path = ${JSON.stringify(root)}: no such file (set data.path to a UTF-8 text file)`],
    ['dropout', { ...minimal, model: { kind: 'gpt', dropout: 0.1 } }, 'BAD_SPEC', 'spec: model.dropout = 0.1: dropout is not implemented yet; use 0'],
    ['a text key on images', { ...minimal, model: { kind: 'mlp' }, data: { kind: 'fashion-mnist', tokenizer: 'char' } }, 'BAD_SPEC', 'spec: key "data.tokenizer" does not apply to data.kind fashion-mnist (only to text)'],
    ['more pipeline stages than blocks', { ...minimal, parallel: { pipeline: 5 } }, 'BAD_SPEC', 'spec: parallel.pipeline = 5: must be ≤ model.layers (4)'],
    ['an interleaved schedule without a pipeline', { ...minimal, parallel: { schedule: 'interleaved' } }, 'BAD_SPEC', 'spec: parallel.schedule = "interleaved": must be 1f1b unless parallel.pipeline > 1'],
    ['more chunks than blocks', { ...minimal, parallel: { pipeline: 2, schedule: 'interleaved', virtual: 3 } }, 'BAD_SPEC', 'spec: parallel.virtual = 3: must be at most model.layers / parallel.pipeline (2): every chunk holds a block'],
    ['interleaved micro-batches not in multiples of the stages', { ...minimal, parallel: { pipeline: 2, schedule: 'interleaved' }, batch: { accumulate: 3 } }, 'BAD_SPEC', 'spec: batch.accumulate = 3: must be a multiple of parallel.pipeline (2) for the interleaved schedule'],
    ['a split by hand that is not the blocks', { ...minimal, parallel: { pipeline: 2, stages: [3, 2] } }, 'BAD_SPEC', 'spec: parallel.stages = [3,2]: must be 2 counts (one per stage) adding up to model.layers (4)'],
    ['an unknown tokenizer', { ...minimal, data: { kind: 'text', path: 'corpus.txt', tokenizer: 'bpe' } }, 'BAD_SPEC', 'spec: data.tokenizer = "bpe": must be one of char, gpt2'],
  ])('refuses %s in one line', (_, raw, code, message) => {
    const e = refusal(raw);
    expect(e.code).toBe(code);
    expect(e.message).toBe(message);
  });
});
