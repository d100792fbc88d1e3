/** The char tokenizer, the corpus split and the window sampler of language-model jobs. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RingmasterError } from '../../common/errors.js';
import { loadTextCorpus } from '../../worker/data/text.js';
import { mapTokenFile, writeTokenFile } from '../../worker/data/token-file.js';
import { CharTokenizer, Gpt2Tokenizer, tokenizerFrom } from '../../worker/data/tokenizers.js';
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

describe('Gpt2Tokenizer', () => {
  it("is GPT-2's BPE: known ids, and decode inverts encode", () => {
    const t = new Gpt2Tokenizer();
    expect([...t.encode('Hello world')]).toEqual([15496, 995]);
    expect(t.vocabSize).toBe(50257);
    const text = 'ROMEO:\nBut soft, what light through yonder window breaks?';
    expect(t.decode(t.encode(text))).toBe(text);
    expect(tokenizerFrom(t.describe(), 'x').kind).toBe('gpt2');
    // a special token's text in a corpus is text, as tiktoken's encode_ordinary takes it
    expect(t.decode(t.encode('the end<|endoftext|>'))).toBe('the end<|endoftext|>');
  });
});

describe('token files', () => {
  it('map back the tokens and the tokenizer that were written', async () => {
    const corpus = join(root, 'corpus.txt');
    writeFileSync(corpus, 'the quick brown fox');
    const tokenizer = CharTokenizer.fromText('the quick brown fox');
    const out = join(root, 'corpus.tokens');
    await writeTokenFile(out, tokenizer.encode('the quick brown fox'), tokenizer, corpus);
    const mapped = mapTokenFile(out);
    expect(mapped.tokenizer.decode(mapped.tokens)).toBe('the quick brown fox');
    expect(mapped.header).toMatchObject({ format: 1, tokens: 19, source: { path: corpus, bytes: 19 } });
    const c = await loadTextCorpus({ kind: 'text', path: out, tokenizer: 'char', train_fraction: 0.5 }, 3);
    expect(c.tokenizer.decode(c.train)).toBe('the quick');
    await expect(loadTextCorpus({ kind: 'text', path: out, tokenizer: 'gpt2', train_fraction: 0.5 }, 3)).rejects.toThrow(/prepared with the char tokenizer, the spec says gpt2 \(set data.tokenizer: char\)/);
  });

  it('refuses a truncated token file, naming it', async () => {
    const corpus = join(root, 'c2.txt');
    writeFileSync(corpus, 'abcabc');
    const out = join(root, 'c2.tokens');
    const t = CharTokenizer.fromText('abcabc');
    await writeTokenFile(out, t.encode('abcabc'), t, corpus);
    writeFileSync(out, readFileSync(out).subarray(0, -2));
    expect(() => mapTokenFile(out)).toThrow(RingmasterError);
    expect(() => mapTokenFile(out)).toThrow(/c2.tokens: holds 10 bytes of tokens, its header says 12/);
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
    expect(c.tokenizer.describe()).toEqual({ kind: 'char', vocabulary: [...'abcdefghijklmnopqrst'] });
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

  it('evaluates on windows spread evenly over the whole split, the same every time', () => {
    const s = new WindowSampler(options); // 1000 tokens, windows of 8 + 1: starts in [0, 991]
    const windows = s.evaluation(3);
    expect(windows).toHaveLength(3);
    expect(windows.flat()).toEqual(Array.from({ length: 12 }, (_, i) => Math.floor((i * 991) / 11)));
    expect(windows.flat().at(-1)! + 8 + 1).toBe(1000); // the last window ends at the split's end
    expect(s.evaluation(3)).toEqual(windows);
  });

  it('evaluates on N ranks the windows one rank with N× the batch does, each rank its slice of each batch', () => {
    const one = new WindowSampler({ ...options, batch: 8 }).evaluation(3);
    const ranks = [0, 1].map((rank) => new WindowSampler({ ...options, rank, ranks: 2 }).evaluation(3));
    expect(ranks[0]).toHaveLength(3);
    expect(one.map((_, b) => [...ranks[0]![b]!, ...ranks[1]![b]!])).toEqual(one);
  });

  it('writes inputs and next-token targets', () => {
    const tokens = Uint16Array.from({ length: 20 }, (_, i) => i);
    const x = new Int32Array(6), y = new Int32Array(6);
    fillWindows(tokens, [2, 10], 3, x, y);
    expect([...x]).toEqual([2, 3, 4, 10, 11, 12]);
    expect([...y]).toEqual([3, 4, 5, 11, 12, 13]);
  });
});
