/**
 * A corpus tokenized once (`ringmaster prepare-text`), so that ranks map it instead of each
 * reading and tokenizing the text: the 8 bytes "RMTOKENS", a little-endian uint32 header length,
 * the header as JSON ({ format, tokenizer, tokens, source }), zero padding to a multiple of 8,
 * then the tokens as little-endian uint16. Ranks map the file read-only and share its pages.
 */
import { open, rename, rm, stat } from 'node:fs/promises';
import { RingmasterError } from '../../common/errors.js';
import type { JsonValue } from '../checkpoint/manifest.js';
import { loadNative } from '../native.js';
import { tokenizerFrom, type Tokenizer } from './tokenizers.js';

const MAGIC = Buffer.from('RMTOKENS', 'latin1');
const FORMAT = 1;

export interface TokenFileHeader {
  format: number;
  tokenizer: { [key: string]: JsonValue }; // Tokenizer.describe()
  tokens: number;
  source: { path: string; bytes: number };
}

/** Whether `path` starts with the token file's magic (false for a missing or short file). */
export async function isTokenFile(path: string): Promise<boolean> {
  let file;
  try {
    file = await open(path, 'r');
  } catch {
    return false;
  }
  try {
    const head = Buffer.alloc(MAGIC.length);
    const { bytesRead } = await file.read(head, 0, head.length, 0);
    return bytesRead === MAGIC.length && head.equals(MAGIC);
  } finally {
    await file.close();
  }
}

/** Writes `tokens` of the corpus at `source` to `out` (under a temporary name, then renamed). */
export async function writeTokenFile(out: string, tokens: Uint16Array, tokenizer: Tokenizer, source: string): Promise<TokenFileHeader> {
  const header: TokenFileHeader = { format: FORMAT, tokenizer: tokenizer.describe(), tokens: tokens.length, source: { path: source, bytes: (await stat(source)).size } };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const start = Math.ceil((MAGIC.length + 4 + json.length) / 8) * 8;
  const head = Buffer.alloc(start);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(json.length, MAGIC.length);
  json.copy(head, MAGIC.length + 4);
  const body = Buffer.from(tokens.buffer, tokens.byteOffset, tokens.byteLength); // little-endian hosts only (x86-64, arm64)
  const temp = `${out}.${process.pid}.tmp`;
  try {
    const file = await open(temp, 'w');
    try {
      await file.writeFile(head);
      await file.writeFile(body);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, out);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
  return header;
}

/** The tokens of a token file, mapped, and its tokenizer; DATA_CORRUPT naming the file when it is not whole. */
export function mapTokenFile(path: string): { tokens: Uint16Array; tokenizer: Tokenizer; header: TokenFileHeader } {
  const bytes = new Uint8Array(loadNative().mapFile(path));
  const corrupt = (why: string) => new RingmasterError('DATA_CORRUPT', `${path}: ${why} (prepare it again: ringmaster prepare-text <corpus>)`);
  if (bytes.length < MAGIC.length + 4 || !Buffer.from(bytes.buffer, 0, MAGIC.length).equals(MAGIC)) throw corrupt('not a Ringmaster token file');
  const length = new DataView(bytes.buffer).getUint32(MAGIC.length, true);
  let header: TokenFileHeader;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, MAGIC.length + 4, length).toString('utf8')) as TokenFileHeader;
  } catch {
    throw corrupt('its header is not JSON');
  }
  if (header.format !== FORMAT) throw corrupt(`format ${header.format}, this Ringmaster reads ${FORMAT}`);
  const start = Math.ceil((MAGIC.length + 4 + length) / 8) * 8;
  if (bytes.length !== start + 2 * header.tokens) throw corrupt(`holds ${bytes.length - start} bytes of tokens, its header says ${2 * header.tokens}`);
  return { tokens: new Uint16Array(bytes.buffer, start, header.tokens), tokenizer: tokenizerFrom(header.tokenizer, path), header };
}
