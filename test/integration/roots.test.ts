/**
 * A job reads and writes only under its worker's roots: a spec whose paths leave every worker's
 * roots is refused at submission; one that only a symlink leads out of is refused by the worker
 * before any rank starts; the reason is one line either way.
 */
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './cli.js';
import { LocalCluster } from './local-cluster.js';

const SPEC = path.join(ROOT, 'test', 'fixtures', 'tiny-gpt.yaml');

describe('allowed roots', () => {
  let cluster: LocalCluster;
  beforeAll(async () => {
    cluster = await LocalCluster.start('cpu:1');
  });
  afterAll(async () => {
    await cluster.stop();
  });

  it('refuses at submission a checkpoint directory or a corpus outside every worker\'s roots', async () => {
    const writes = await cluster.cli(['submit', SPEC, '--set', 'checkpoint.dir=/etc/ringmaster']);
    expect(writes.code).not.toBe(0);
    expect(writes.stderr.trim()).toMatch(/^ringmaster: spec: checkpoint.dir = "\/etc\/ringmaster" is outside the checkpoint roots of worker \S+ \(.*\); put it under one, or start the worker with --checkpoint-root$/);
    const reads = await cluster.cli(['submit', SPEC, '--set', 'data.path=/etc/passwd']);
    expect(reads.stderr.trim()).toMatch(/^ringmaster: spec: data.path = "\/etc\/passwd" is outside the data roots of worker \S+ /);
    expect(await cluster.json<unknown[]>(['jobs'])).toEqual([]); // nothing was queued
  });

  it('fails a job that a symlink inside a root leads out of, before any rank starts', async () => {
    const link = path.join(mkdtempSync(path.join(tmpdir(), 'ringmaster-roots-')), 'to-etc');
    symlinkSync('/etc', link);
    const { id } = await cluster.json<{ id: string }>(['submit', SPEC, '--set', `checkpoint.dir=${link}/ckpt`, '--set', 'steps=5']);
    const failed = await cluster.waitForState(id, ['failed']);
    expect(String(failed.reason)).toMatch(new RegExp(`^rank 0 was not started: spec: checkpoint.dir = "/etc/ckpt" \\(${link}/ckpt leads there\\) is outside the checkpoint roots of this worker`));
    expect((await cluster.cli(['logs', id])).stdout).not.toMatch(/rank 0 started/);
  });
});
