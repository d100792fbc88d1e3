/**
 * Where the control plane's token lives. The coordinator makes a random one on its first start
 * and keeps it in its state directory, readable by its owner only; clients (the CLI, workers,
 * ranks) read it from a file they are given, from the environment, or from the state directory
 * `ringmaster up` uses by default in the current directory.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RingmasterError } from './errors.js';

export const TOKEN_ENV = 'RINGMASTER_TOKEN';
export const TOKEN_FILE_NAME = 'token';
const DEFAULT_STATE_DIR = '.ringmaster';

/** What the coordinator keeps of a secret it hands out (a worker's, an attempt's rendezvous token): its sha256, in hex. */
export function secretSha256(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** The token in `file`: one line; refused when others may read it. */
export function readTokenFile(file: string): string {
  let text: string;
  try {
    const mode = statSync(file).mode;
    if ((mode & 0o077) !== 0) {
      throw new RingmasterError('FILE_UNREADABLE', `the token file ${file} is readable by other users (chmod 600 ${file})`);
    }
    text = readFileSync(file, 'utf8').trim();
  } catch (e) {
    if (e instanceof RingmasterError) throw e;
    throw new RingmasterError('FILE_UNREADABLE', `cannot read the token file ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)} (pass the coordinator's <state-dir>/${TOKEN_FILE_NAME})`);
  }
  if (!/^[0-9a-f]{64}$/.test(text)) throw new RingmasterError('FILE_UNREADABLE', `the token file ${file} does not hold a token (delete it to have the coordinator make a new one)`);
  return text;
}

/** The coordinator's token: read from its state directory, or made there (mode 0600) on first start. */
export function coordinatorToken(stateDir: string): { token: string; file: string } {
  const file = path.join(stateDir, TOKEN_FILE_NAME);
  if (!existsSync(file)) {
    try {
      writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new RingmasterError('FILE_UNWRITABLE', `cannot write the token file ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)} (choose a writable --state-dir)`);
      }
    }
  }
  return { token: readTokenFile(file), file };
}

/**
 * The token a client sends: from `tokenFile` (--token-file), else $RINGMASTER_TOKEN, else
 * ./.ringmaster/token when it exists (what `ringmaster up` made in this directory); undefined
 * when there is none, and the coordinator will refuse the call.
 */
export function clientToken(tokenFile?: string): string | undefined {
  if (tokenFile) return readTokenFile(tokenFile);
  const env = process.env[TOKEN_ENV]?.trim();
  if (env) return env;
  const local = path.join(DEFAULT_STATE_DIR, TOKEN_FILE_NAME);
  return existsSync(local) ? readTokenFile(local) : undefined;
}
