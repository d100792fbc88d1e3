/**
 * The GPT end to end on the shared Shakespeare corpus, with a tiny model: `ringmaster train`
 * reports a falling loss, validation loss and perplexity, and tokens/s; `ringmaster sample`
 * writes text from its checkpoint; a run killed after its step-20 checkpoint and resumed from it
 * reports the uninterrupted run's losses bit for bit and ends with its parameter bytes; 2
 * data-parallel ranks with half the batch each train as 1 rank with the whole batch.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ringmaster, ROOT, summary } from './cli.js';
import { expectEquivalent, sameBytes, trainRank } from './dp-train.js';
import { LocalCluster } from './local-cluster.js';

const SPEC = path.join(ROOT, 'test', 'fixtures', 'tiny-gpt.yaml');
const work = mkdtempSync(path.join(tmpdir(), 'ringmaster-gpt-'));

describe('gpt through the CLI', () => {
  const checkpoints = path.join(work, 'cli');

  it('trains: the loss falls, evaluations give val_loss and val_perplexity, the summary gives tokens/s', async () => {
    const r = await ringmaster(['train', SPEC, '--json', '--threads', '1', '--set', `checkpoint.dir=${checkpoints}`]);
    expect(r.code, r.stderr).toBe(0);
    const progress = r.stdout.split('\n').filter((l) => l.includes('] step '));
    expect(progress).toHaveLength(6);
    expect(progress[0]).toMatch(/tokens\/s MFU \d+\.\d%/);
    const losses = progress.map((l) => Number(/ loss ([\d.]+)/.exec(l)![1]));
    expect(losses.at(-1)!).toBeLessThan(losses[0]! - 0.5);
    expect(r.stdout).toMatch(/\[tiny-gpt\] eval at step 30: val loss [\d.]+ perplexity [\d.]+/);
    const s = summary(r);
    expect(Object.keys(s.metrics).sort()).toEqual(['val_loss', 'val_perplexity']);
    expect(s.metrics.val_perplexity).toBeCloseTo(Math.exp(s.metrics.val_loss!), 6);
    expect(s.tokensPerSec).toBeGreaterThan(0);
  });

  it('samples text from the run\'s checkpoint, continuing the prompt in the corpus\'s characters', async () => {
    const run = path.join(checkpoints, 'tiny-gpt', readdirSync(path.join(checkpoints, 'tiny-gpt'))[0]!);
    const a = await ringmaster(['sample', run, '--prompt', 'KING:', '--tokens', '80', '--seed', '3']);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout.startsWith('KING:')).toBe(true);
    expect(a.stdout.trimEnd().length).toBeGreaterThanOrEqual(60);
    const again = await ringmaster(['sample', run, '--prompt', 'KING:', '--tokens', '80', '--seed', '3']);
    expect(again.stdout).toBe(a.stdout); // the same seed, the same text
  });

  it('refuses to resume from a checkpoint whose tokenizer differs from the corpus\'s, in one line', async () => {
    const run = path.join(checkpoints, 'tiny-gpt', readdirSync(path.join(checkpoints, 'tiny-gpt'))[0]!);
    // The same number of distinct characters (so the same parameter shapes), one of them other.
    const text = readFileSync(path.join(ROOT, '..', 'shared', 'data', 'tinyshakespeare.txt'), 'utf8').replaceAll('z', '~');
    const corpus = path.join(work, 'tilde.txt');
    writeFileSync(corpus, text);
    const r = await ringmaster(['train', SPEC, '--threads', '1', '--resume', run, '--set', `data.path=${corpus}`, '--set', `checkpoint.dir=${checkpoints}`]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/does not fit this job: its tokenizer differs from this run's data/);
  });

  it('refuses to sample a checkpoint that is not there, in one line', async () => {
    const r = await ringmaster(['sample', path.join(work, 'nothing-here'), '--coordinator', 'localhost:1']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('trains on a prepared token file exactly as on the text it was made from', async () => {
    const out = path.join(work, 'shakespeare.char.tokens');
    const corpus = path.join(ROOT, '..', 'shared', 'data', 'tinyshakespeare.txt');
    const p = await ringmaster(['prepare-text', corpus, '--out', out]);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toContain('1115394 tokens, vocabulary 65');
    const args = (extra: string[]) => ['train', SPEC, '--json', '--threads', '1', '--set', 'steps=20', '--set', `checkpoint.dir=${path.join(work, 'prepared')}`, ...extra];
    const [text, mapped] = await Promise.all([ringmaster(args([])), ringmaster(args(['--set', `data.path=${out}`]))]);
    expect(mapped.code, mapped.stderr).toBe(0);
    expect(summary(mapped).finalLoss).toBe(summary(text).finalLoss);
    expect(summary(mapped).metrics).toEqual(summary(text).metrics);
  });

  it('profiles a step module by module', async () => {
    const r = await ringmaster(['profile', SPEC, '--steps', '2', '--threads', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout) as { modules: { name: string; forwardMs: number; backwardMs: number; params: number }[]; params: number };
    const names = p.modules.map((m) => m.name);
    expect(names).toEqual(expect.arrayContaining(['transformer.wte+wpe', 'transformer.h.0.attn.c_attn', 'transformer.h.1.attn.sdpa', 'transformer.h.1.mlp.c_fc', 'transformer.ln_f', 'lm_head']));
    expect(p.modules.reduce((n, m) => n + m.params, 0)).toBe(p.params - 65 * 32 - 32 * 32); // all but the embeddings (no module of their own)
    for (const m of p.modules) expect(m.forwardMs).toBeGreaterThan(0);
  });
});

describe('gpt resume and data parallel', () => {
  let cluster: LocalCluster;
  beforeAll(async () => {
    cluster = await LocalCluster.start('cpu:2');
  });
  afterAll(async () => {
    await cluster.stop();
  });

  it('killed after its step-20 checkpoint and resumed from it: the same losses bit for bit and the same parameter bytes', async () => {
    const extra = { spec: SPEC, steps: 40 };
    const overrides = 'checkpoint.every=10,checkpoint.keep=5';
    const whole = await trainRank(path.join(work, 'whole.json'), 4, overrides, undefined, { ...extra, checkpoints: { root: path.join(work, 'whole'), token: 'whole' } });
    const root = path.join(work, 'killed');
    await expect(trainRank(path.join(work, 'killed.json'), 4, overrides, undefined, { ...extra, checkpoints: { root, token: 'killed' }, killAfterStep: 25, killAfterCheckpoint: 20 })).rejects.toThrow();
    const resumed = await trainRank(path.join(work, 'resumed.json'), 4, overrides, undefined, { ...extra, checkpoints: { root, token: 'resumed' }, resume: { root } });
    expect(resumed.resumedFrom).toMatchObject({ step: 20 });
    const after = Object.keys(resumed.losses).map(Number).sort((a, b) => a - b);
    expect(after).toEqual(Array.from({ length: 20 }, (_, i) => 21 + i));
    for (const step of after) expect(resumed.losses[step], `step ${step}`).toBe(whole.losses[step]);
    expect(sameBytes(resumed.params, whole.params), 'the final parameter bytes').toBe(true);
  }, 120_000);

  it('2 ranks × 2 windows agree with 1 rank × 4 after 30 steps: losses within 1e-4, parameters within 1e-3', async () => {
    const ranks = await expectEquivalent(cluster.address, { spec: SPEC, steps: 30, micro: 2, machines: ['', ''], overrides: 'optimizer.eps=1e-6', tolerance: 1e-3 });
    expect(ranks[0].topology).toMatchObject({ machines: 1, localSize: 2 });
    expect(new Set(ranks[0].factorExchanges)).toEqual(new Set([0])); // no Linear layer of a GPT exchanges factors
  }, 120_000);
});
