/** Where a job may read and write (jobs/roots.ts). */
import { mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSpecFile } from '../../jobs/load.js';
import { outsideRoots, outsideRootsOnDisk } from '../../jobs/roots.js';

const spec = (set: string[]) => loadSpecFile(path.join('test', 'fixtures', 'tiny-gpt.yaml'), set);
const shared = path.resolve('..', 'shared');

describe('outsideRoots (as written)', () => {
  const roots = { data: [shared], checkpoints: ['/tmp/jobs'] };
  it('allows paths under the roots, the roots themselves included', () => {
    expect(outsideRoots(spec(['checkpoint.dir=/tmp/jobs']), roots, 'worker w')).toBeUndefined();
    expect(outsideRoots(spec(['checkpoint.dir=/tmp/jobs/a/b']), roots, 'worker w')).toBeUndefined();
  });

  it('refuses a path outside, after .., naming the key, the roots and the flag', () => {
    expect(outsideRoots(spec(['checkpoint.dir=/etc']), roots, 'worker w')).toBe(
      'spec: checkpoint.dir = "/etc" is outside the checkpoint roots of worker w (/tmp/jobs); put it under one, or start the worker with --checkpoint-root',
    );
    expect(outsideRoots(spec(['checkpoint.dir=/tmp/jobs/../etc']), roots, 'worker w')).toMatch(/^spec: checkpoint.dir = "\/tmp\/etc" is outside/);
    expect(outsideRoots(spec(['checkpoint.dir=/tmp/jobs2']), roots, 'worker w')).toMatch(/is outside/); // a prefix is not a parent
    expect(outsideRoots(spec(['data.path=/etc/passwd', 'checkpoint.dir=/tmp/jobs']), roots, 'worker w')).toBe(
      'spec: data.path = "/etc/passwd" is outside the data roots of worker w (' + shared + '); put it under one, or start the worker with --data-root',
    );
  });
});

describe('outsideRootsOnDisk (symlinks followed)', () => {
  it('refuses a path inside a root that a symlink leads out of, saying so; allows a directory not made yet', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'ringmaster-roots-'));
    const outside = mkdtempSync(path.join(tmpdir(), 'ringmaster-outside-'));
    symlinkSync(outside, path.join(root, 'escape'));
    mkdirSync(path.join(root, 'real'));
    const roots = { data: [shared], checkpoints: [root] };
    expect(await outsideRootsOnDisk(spec([`checkpoint.dir=${root}/real/not/yet`]), roots, 'this worker')).toBeUndefined();
    const why = await outsideRootsOnDisk(spec([`checkpoint.dir=${root}/escape/ckpt`]), roots, 'this worker');
    expect(why).toBe(`spec: checkpoint.dir = "${outside}/ckpt" (${root}/escape/ckpt leads there) is outside the checkpoint roots of this worker (${root}); put it under one, or start the worker with --checkpoint-root`);
  });
});
