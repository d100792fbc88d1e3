/** The char tokenizer, the corpus split and the window sampler of language-model jobs. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RingmasterError } from '../../common/errors.js';
import { CharTokenizer, loadTextCorpus } from '../../worker/data/text.js';
import { fillWindows, WindowSampler } from '../../worker/data/windows.js';

const root = mkdtempSync(join(tmpdir(), 'ringmaster-text-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('CharTokenizer', () => {
  it('numbers the distinct characters in code-point order and round-trips', () => {
    const t = CharTokenizer.fromText('hello, wörld\n');
    expect(t.vocabulary).toEqual(['\n', ' ', ',', 'd', 'e', 'h', 'l', 'o', 'r', 'w', 'ö']);
    expect([...t.encode('hold')]).toEqual([5, 7, 6, 3]);
    expect(t.decode(t.encode('hello, wörld\n'))).toBe('hello, wörld\n');
  });

  it('refuses a character outside its vocabulary, naming it', () => {
    expect(() => CharTokenizer.fromText('abc').encode('abz')).toThrow(/"z" is not in the model's vocabulary/);
  });
});

describe('loadTextCorpus', () => {
  it('splits the tokens: the first 90% train, the rest validate', async () => {
    const path = join(root, 'ten.txt');
    writeFileSync(path, 'abcdefghijklmnopqrst');
    const c = await loadTextCorpus({ kind: 'text', path, tokenizer: 'char', train_fraction: 0.75 }, 3);
    expect(c.train.length).toBe(15);
    expect(c.validation.length).toBe(5);
    expect(c.tokenizer.decode(c.validation)).toBe('pqrst');
  });

  it('refuses a split too short for one window, and a missing file, in one line', async () => {
    const path = join(root, 'short.txt');
    writeFileSync(path, 'abcdefghij');
    await expect(loadTextCorpus({ kind: 'text', path, tokenizer: 'char', train_fraction: 0.9 }, 4)).rejects.toThrow(/validation split holds 1 tokens, fewer than one window of model.block \+ 1 = 5/);
    const missing = loadTextCorpus({ kind: 'text', path: join(root, 'absent.txt'), tokenizer: 'char', train_fraction: 0.9 }, 4);
    await expect(missing).rejects.toBeInstanceOf(RingmasterError);
    await expect(missing).rejects.toMatchObject({ code: 'DATA_MISSING' });
  });
});

describe('WindowSampler', () => {
  const options = { tokens: 1000, block: 8, batch: 4, seed: 7 };

  it('draws the same windows for the same (seed, step), whenever asked: resume is exact', () => {
    const a = new WindowSampler(options);
    const b = new WindowSampler(options);
    expect(a.forStep(12)).toEqual(b.forStep(12));
    expect(a.forStep(12)).not.toEqual(a.forStep(13));
    for (const s of a.forStep(3)) expect(s).toBeGreaterThanOrEqual(0), expect(s).toBeLessThan(1000 - 8);
  });

  it('gives each of N ranks its slice of the global batch one rank with N× the batch reads', () => {
    const one = new WindowSampler({ ...options, batch: 8 }).forStep(5);
    const ranks = [0, 1].map((rank) => new WindowSampler({ ...options, rank, ranks: 2 }).forStep(5));
    expect(ranks.flat()).toEqual(one);
  });

  it('evaluates on the same windows every time, apart from the training stream', () => {
    const s = new WindowSampler(options);
    expect(s.evaluation(3)).toEqual(s.evaluation(3));
    expect(s.evaluation(3)).toHaveLength(3);
    expect(s.evaluation(1)[0]).not.toEqual(s.forStep(0));
  });

  it('writes inputs and next-token targets', () => {
    const tokens = Uint16Array.from({ length: 20 }, (_, i) => i);
    const x = new Int32Array(6), y = new Int32Array(6);
    fillWindows(tokens, [2, 10], 3, x, y);
    expect([...x]).toEqual([2, 3, 4, 10, 11, 12]);
    expect([...y]).toEqual([3, 4, 5, 11, 12, 13]);
  });
});
