/**
 * A text corpus for a language model: the first train_fraction of its tokens for training and
 * the rest for validation (nanoGPT's split of tinyshakespeare). data.path is a UTF-8 text,
 * tokenized here with data.tokenizer, or a token file `ringmaster prepare-text` made from one
 * (data/token-file.ts), which is mapped, not read: ranks share its pages, and a large corpus is
 * tokenized once, not by every rank.
 */
import { readFile } from 'node:fs/promises';
import { RingmasterError } from '../../common/errors.js';
import type { TextDataSpec } from '../../jobs/types.js';
import { isTokenFile, mapTokenFile } from './token-file.js';
import { CharTokenizer, Gpt2Tokenizer, type Tokenizer } from './tokenizers.js';

export interface TextCorpus {
  tokenizer: Tokenizer;
  train: Uint16Array;
  validation: Uint16Array;
}

/** The smallest corpus a language model can draw a training and a validation window from. */
function checkLength(corpus: TextCorpus, block: number, path: string): void {
  for (const [split, tokens] of [['training', corpus.train], ['validation', corpus.validation]] as const) {
    if (tokens.length < block + 1) {
      throw new RingmasterError('BAD_SPEC', `${path}: its ${split} split holds ${tokens.length} tokens, fewer than one window of model.block + 1 = ${block + 1} (use a longer corpus or a smaller model.block)`);
    }
  }
}

/** The corpus at `path`; DATA_MISSING or FILE_UNREADABLE naming it and `fix`. */
export async function readText(path: string, fix = 'set data.path to a UTF-8 text file'): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new RingmasterError(code === 'ENOENT' ? 'DATA_MISSING' : 'FILE_UNREADABLE', `${path}: cannot read the corpus (${code ?? String(e)}; ${fix})`);
  }
}

/** The tokens of a corpus text with a fresh tokenizer of `kind` (char: built from the text). */
export function tokenizeText(text: string, kind: TextDataSpec['tokenizer']): { tokens: Uint16Array; tokenizer: Tokenizer } {
  const tokenizer = kind === 'gpt2' ? new Gpt2Tokenizer() : CharTokenizer.fromText(text);
  return { tokens: tokenizer.encode(text), tokenizer };
}

export async function loadTextCorpus(data: TextDataSpec, block: number): Promise<TextCorpus> {
  let tokens: Uint16Array, tokenizer: Tokenizer;
  if (await isTokenFile(data.path)) {
    ({ tokens, tokenizer } = mapTokenFile(data.path));
    if (tokenizer.kind !== data.tokenizer) {
      throw new RingmasterError('BAD_SPEC', `${data.path} was prepared with the ${tokenizer.kind} tokenizer, the spec says ${data.tokenizer} (set data.tokenizer: ${tokenizer.kind})`);
    }
  } else {
    ({ tokens, tokenizer } = tokenizeText(await readText(data.path), data.tokenizer));
  }
  const cut = Math.floor(tokens.length * data.train_fraction);
  const corpus = { tokenizer, train: tokens.subarray(0, cut), validation: tokens.subarray(cut) };
  checkLength(corpus, block, data.path);
  return corpus;
}
