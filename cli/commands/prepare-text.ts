/**
 * `ringmaster prepare-text <corpus> [--tokenizer char|gpt2] [--out FILE]`: tokenizes a UTF-8
 * corpus once into a token file (default `<corpus>.<tokenizer>.tokens`) that a job's data.path
 * can name: its ranks then map the tokens instead of reading and tokenizing the text each.
 */
import path from 'node:path';
import { RingmasterError } from '../../common/errors.js';
import type { PrepareTextRequest, PrepareTextResult } from '../../common/one-shot.js';
import { EXIT } from '../output.js';
import { askWorkerProcess } from '../worker-process.js';

export async function prepareTextCommand(o: { corpus: string; tokenizer: string; out?: string }): Promise<number> {
  if (o.tokenizer !== 'char' && o.tokenizer !== 'gpt2') throw new RingmasterError('BAD_ARGUMENT', `--tokenizer must be char or gpt2, got ${JSON.stringify(o.tokenizer)}`);
  const corpus = path.resolve(o.corpus);
  const out = path.resolve(o.out ?? `${o.corpus}.${o.tokenizer}.tokens`);
  const r = await askWorkerProcess<PrepareTextRequest, PrepareTextResult>('prepare-main.js', { corpus, tokenizer: o.tokenizer, out });
  process.stdout.write(`prepared ${r.out}: ${r.tokens} tokens, vocabulary ${r.vocabSize} (in a spec: data: { kind: text, path: ${r.out}, tokenizer: ${o.tokenizer} })\n`);
  return EXIT.ok;
}
