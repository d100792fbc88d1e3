/** The control plane's token file: made once with mode 0600, reused, and refused when unsafe or malformed. */
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RingmasterError } from '../../common/errors.js';
import { clientToken, coordinatorToken, readTokenFile, TOKEN_ENV } from '../../common/token.js';

const scratch = () => mkdtempSync(path.join(tmpdir(), 'ringmaster-token-unit-'));

describe('the token file', () => {
  afterEach(() => {
    delete process.env[TOKEN_ENV];
  });

  it('is made on the first start with 64 hex digits, mode 0600, and kept across starts', () => {
    const dir = scratch();
    const first = coordinatorToken(dir);
    expect(first.token).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(first.file).mode & 0o777).toBe(0o600);
    expect(coordinatorToken(dir).token).toBe(first.token);
    expect(readFileSync(first.file, 'utf8').trim()).toBe(first.token);
  });

  it.each([
    ['readable by others', (f: string) => chmodSync(f, 0o644), /readable by other users \(chmod 600 /],
    ['not a token', (f: string) => writeFileSync(f, 'hello\n'), /does not hold a token/],
  ])('is refused when %s, naming the file and the fix', (_, spoil, message) => {
    const { file } = coordinatorToken(scratch());
    spoil(file);
    const e = (() => {
      try {
        readTokenFile(file);
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(RingmasterError);
    expect((e as RingmasterError).code).toBe('FILE_UNREADABLE');
    expect((e as RingmasterError).message).toMatch(message);
    expect((e as RingmasterError).message).toContain(file);
  });

  it('a missing file is FILE_UNREADABLE naming it', () => {
    const file = path.join(scratch(), 'nothing');
    expect(() => readTokenFile(file)).toThrow(expect.objectContaining({ code: 'FILE_UNREADABLE', message: expect.stringContaining(file) }));
  });

  it('clients take --token-file first, then RINGMASTER_TOKEN', () => {
    const { file, token } = coordinatorToken(scratch());
    process.env[TOKEN_ENV] = 'f'.repeat(64);
    expect(clientToken(file)).toBe(token);
    expect(clientToken()).toBe('f'.repeat(64));
  });
});
