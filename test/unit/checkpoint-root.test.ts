/** A checkpoint root on a pseudo-filesystem is refused at once; a write that never answers ends in one line. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkCheckpointRoot, withinTime } from '../../worker/checkpoint/root-check.js';

describe('checkpoint roots', () => {
  it.each([
    ['/proc/ringmaster-ckpt/run', /\/proc is on the proc pseudo-filesystem/],
    ['/sys/ringmaster-ckpt', /\/sys is on the sysfs pseudo-filesystem/],
  ])('refuses %s, naming it and the fix', async (root, reason) => {
    const e = await checkCheckpointRoot(root).catch((err: unknown) => err);
    expect(e).toMatchObject({ code: 'FILE_UNWRITABLE', message: expect.stringMatching(reason) });
    expect((e as Error).message).toContain(`checkpoint path ${root} cannot be written`);
    expect((e as Error).message).toMatch(/\(choose another checkpoint\.dir\)$/);
  });

  it('accepts a directory on a real filesystem, and one not made yet under it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ringmaster-root-'));
    await expect(checkCheckpointRoot(dir)).resolves.toBeUndefined();
    await expect(checkCheckpointRoot(path.join(dir, 'a', 'b'))).resolves.toBeUndefined();
  });

  it('bounds a write in time: one that never settles fails naming the root', async () => {
    const never = new Promise<void>(() => {});
    await expect(withinTime(never, 20, '/mnt/stuck')).rejects.toMatchObject({
      code: 'FILE_UNWRITABLE',
      message: 'checkpoint path /mnt/stuck did not finish a checkpoint within 0.02s (a mount that stopped answering? choose another checkpoint.dir)',
    });
    await expect(withinTime(Promise.resolve(7), 20, '/mnt/ok')).resolves.toBe(7);
  });
});
