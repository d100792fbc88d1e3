/** `ringmaster prepare-text`: a corpus tokenized once into a token file (data/token-file.ts). */
import { RingmasterError } from '../common/errors.js';
import type { PrepareTextRequest, PrepareTextResult } from '../common/one-shot.js';
import { readText, tokenizeText } from './data/text.js';
import { writeTokenFile } from './data/token-file.js';

export async function prepareText(r: PrepareTextRequest): Promise<PrepareTextResult> {
  const { tokens, tokenizer } = tokenizeText(await readText(r.corpus, 'pass a UTF-8 text file'), r.tokenizer);
  try {
    await writeTokenFile(r.out, tokens, tokenizer, r.corpus);
  } catch (e) {
    throw new RingmasterError('FILE_UNWRITABLE', `${r.out}: cannot write the token file (${(e as NodeJS.ErrnoException).code ?? String(e)}; choose another --out)`);
  }
  return { out: r.out, tokens: tokens.length, vocabSize: tokenizer.vocabSize };
}
