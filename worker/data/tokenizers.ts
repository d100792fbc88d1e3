/**
 * Tokenizers of language-model jobs (data.tokenizer):
 *   char  one token per character; the vocabulary is the corpus's distinct characters (code
 *         points) in code-point order, so the same corpus always gives the same ids, and a
 *         checkpoint records it to decode later;
 *   gpt2  GPT-2's byte-level BPE (50257 tokens), from the gpt-tokenizer package, which ships
 *         its merge ranks (its r50k_base encoding is GPT-2's).
 * Ids fit 16 bits in both, so corpora are held as Uint16Array.
 */
import { decode as gpt2Decode, encode as gpt2Encode } from 'gpt-tokenizer/encoding/r50k_base';
import { RingmasterError } from '../../common/errors.js';
import type { JsonValue } from '../checkpoint/manifest.js';

export interface Tokenizer {
  readonly kind: 'char' | 'gpt2';
  readonly vocabSize: number;
  encode(text: string): Uint16Array;
  decode(tokens: ArrayLike<number>): string;
  /** What a checkpoint or a prepared token file records to rebuild this tokenizer. */
  describe(): { [key: string]: JsonValue };
}

export class CharTokenizer implements Tokenizer {
  readonly kind = 'char';
  readonly vocabSize: number;
  private readonly ids: Map<string, number>;

  constructor(readonly vocabulary: string[]) {
    if (vocabulary.length > 65536) throw new RingmasterError('BAD_SPEC', `the corpus holds ${vocabulary.length} distinct characters; the char tokenizer takes at most 65536 (use tokenizer: gpt2)`);
    this.vocabSize = vocabulary.length;
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
      if (id === undefined) throw new RingmasterError('BAD_ARGUMENT', `the character ${JSON.stringify(ch)} is not in the model's vocabulary (it never occurs in the training corpus)`);
      out[i] = id;
    });
    return out;
  }

  decode(tokens: ArrayLike<number>): string {
    let s = '';
    for (let i = 0; i < tokens.length; i++) s += this.vocabulary[tokens[i]!] ?? '';
    return s;
  }

  describe(): { [key: string]: JsonValue } {
    return { kind: 'char', vocabulary: this.vocabulary };
  }
}

export class Gpt2Tokenizer implements Tokenizer {
  readonly kind = 'gpt2';
  readonly vocabSize = 50257;
  /** Special-token strings in the text (`<|endoftext|>`) are encoded as the text they are (tiktoken's encode_ordinary). */
  encode(text: string): Uint16Array {
    return Uint16Array.from(gpt2Encode(text, { disallowedSpecial: new Set() }));
  }
  decode(tokens: ArrayLike<number>): string {
    return gpt2Decode(Array.from(tokens));
  }
  describe(): { [key: string]: JsonValue } {
    return { kind: 'gpt2' };
  }
}

/** The tokenizer a checkpoint or token file recorded with describe(); `where` names it in errors. */
export function tokenizerFrom(recorded: unknown, where: string): Tokenizer {
  const r = recorded as { kind?: unknown; vocabulary?: unknown } | undefined;
  if (r?.kind === 'gpt2') return new Gpt2Tokenizer();
  if (r?.kind === 'char' && Array.isArray(r.vocabulary) && r.vocabulary.every((c) => typeof c === 'string')) return new CharTokenizer(r.vocabulary as string[]);
  throw new RingmasterError('DATA_CORRUPT', `${where} does not record a tokenizer Ringmaster knows (char with its vocabulary, or gpt2)`);
}
