/**
 * A text corpus for a language model: read once, tokenized, split into the first
 * train_fraction of its tokens for training and the rest for validation (nanoGPT's split of
 * tinyshakespeare). The char tokenizer's vocabulary is the corpus's distinct characters (code
 * points) in code-point order, so the same corpus always gives the same ids.
 */
import { readFile } from 'node:fs/promises';
import { RingmasterError } from '../../common/errors.js';
import type { TextDataSpec } from '../../jobs/types.js';

export interface TextCorpus {
  vocabulary: string[]; // token id → its character
  train: Uint16Array;
  validation: Uint16Array;
}

/** The char tokenizer of a corpus: ids in code-point order of its characters. */
export class CharTokenizer {
  readonly vocabulary: string[];
  private readonly ids: Map<string, number>;

  constructor(vocabulary: string[]) {
    this.vocabulary = vocabulary;
    this.ids = new Map(vocabulary.map((ch, i) => [ch, i]));
  }

  static fromText(text: string): CharTokenizer {
    return new CharTokenizer([...new Set(text)].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!));
  }

  /** Token ids of `text`; a character outside the vocabulary is an error naming it. */
  encode(text: string): Uint16Array {
    const chars = [...text];
    const out = new Uint16Array(chars.length);
    chars.forEach((ch, i) => {
      const id = this.ids.get(ch);
      if (id === undefined) throw new RingmasterError('BAD_SPEC', `the character ${JSON.stringify(ch)} is not in the model's vocabulary (it never occurs in the training corpus)`);
      out[i] = id;
    });
    return out;
  }

  decode(tokens: ArrayLike<number>): string {
    let s = '';
    for (let i = 0; i < tokens.length; i++) s += this.vocabulary[tokens[i]!] ?? '';
    return s;
  }
}

/** The smallest corpus a language model can draw a training and a validation window from. */
function checkLength(corpus: TextCorpus, block: number, path: string): void {
  for (const [split, tokens] of [['training', corpus.train], ['validation', corpus.validation]] as const) {
    if (tokens.length < block + 1) {
      throw new RingmasterError('BAD_SPEC', `${path}: its ${split} split holds ${tokens.length} tokens, fewer than one window of model.block + 1 = ${block + 1} (use a longer corpus or a smaller model.block)`);
    }
  }
}

export async function loadTextCorpus(data: TextDataSpec, block: number): Promise<TextCorpus & { tokenizer: CharTokenizer }> {
  let text: string;
  try {
    text = await readFile(data.path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new RingmasterError(code === 'ENOENT' ? 'DATA_MISSING' : 'FILE_UNREADABLE', `${data.path}: cannot read the corpus (${code ?? String(e)}; set data.path to a UTF-8 text file)`);
  }
  const tokenizer = CharTokenizer.fromText(text);
  if (tokenizer.vocabulary.length > 65536) {
    throw new RingmasterError('BAD_SPEC', `${data.path}: holds ${tokenizer.vocabulary.length} distinct characters; the char tokenizer takes at most 65536`);
  }
  const tokens = tokenizer.encode(text);
  const cut = Math.floor(tokens.length * data.train_fraction);
  const corpus = { vocabulary: tokenizer.vocabulary, train: tokens.subarray(0, cut), validation: tokens.subarray(cut), tokenizer };
  checkLength(corpus, block, data.path);
  return corpus;
}
