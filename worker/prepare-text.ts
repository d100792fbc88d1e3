/** `ringmaster prepare-text`: a corpus tokenized once into a token file (data/token-file.ts). */
import { readFile } from 'node:fs/promises';
import { RingmasterError } from '../common/errors.js';
import type { PrepareTextRequest, PrepareTextResult } from '../common/one-shot.js';
import { tokenizeText } from './data/text.js';
import { writeTokenFile } from './data/token-file.js';

export async function prepareText(r: PrepareTextRequest): Promise<PrepareTextResult> {
  let text: string;
  try {
    text = await readFile(r.corpus, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new RingmasterError(code === 'ENOENT' ? 'DATA_MISSING' : 'FILE_UNREADABLE', `${r.corpus}: cannot read the corpus (${code ?? String(e)})`);
  }
  const { tokens, tokenizer } = tokenizeText(text, r.tokenizer);
  try {
    await writeTokenFile(r.out, tokens, tokenizer, r.corpus);
  } catch (e) {
    throw new RingmasterError('FILE_UNWRITABLE', `${r.out}: cannot write the token file (${(e as NodeJS.ErrnoException).code ?? String(e)}; choose another --out)`);
  }
  return { out: r.out, tokens: tokens.length, vocabSize: tokenizer.vocabSize };
}
