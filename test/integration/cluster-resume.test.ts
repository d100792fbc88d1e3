/**
 * Checkpoints and resume on a real local cluster, as far as the orchestration goes without
 * checkpoint files: an empty listing, and the resume requests the coordinator must refuse.
 * (Resuming from checkpoints the ranks wrote is covered by checkpoint-resume.test.ts.)
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ringmaster, type CliResult } from './cli.js';
import { LocalCluster } from './local-cluster.js';

/** A user error: exit code 2, exactly one line on stderr. */
function expectOneLineError(r: CliResult, text: string | RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(typeof text === 'string' ? new RegExp(`^ringmaster: ${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`) : text);
}

describe('checkpoints and resume on a cluster', () => {
  let cluster: LocalCluster;
  beforeAll(async () => {
    cluster = await LocalCluster.start('cpu:1');
  });
  afterAll(async () => {
    await cluster.stop();
  });

  it('lists no checkpoints of a running job, refuses to resume it, and refuses a cancelled job that has none', async () => {
    const dir = path.join(cluster.stateDir, 'checkpoints');
    const { id } = await cluster.json<{ id: string }>(['submit', 'jobs/fashion-mnist-mlp.yaml', '--set', 'steps=1000000', '--set', `checkpoint.dir=${dir}`]);
    await cluster.waitForState(id, ['running']);

    const listed = await cluster.cli(['checkpoints', id]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout.trim()).toBe(`no checkpoints of ${id}`);
    expect(await cluster.json<unknown[]>(['checkpoints', id])).toEqual([]);

    expectOneLineError(await cluster.cli(['resume', id]), `job ${id} is running (attempt 1); only a failed or cancelled job can be resumed (to restart it from a checkpoint: ringmaster cancel ${id}, then resume it)`);
    expect((await cluster.json<{ state: string }>(['status', id])).state).toBe('running');

    expect((await cluster.cli(['cancel', id])).code).toBe(0);
    await cluster.waitForState(id, ['cancelled'], 20_000);
    expectOneLineError(await cluster.cli(['resume', id]), `job ${id} has no checkpoints to resume from (checkpoint.every = 0 writes only the final checkpoint; to start over: ringmaster submit the spec again)`);
  });

  it('names an unknown job and a bad --step in one line', async () => {
    expectOneLineError(await cluster.cli(['checkpoints', 'no-such-job']), 'no job no-such-job (ringmaster jobs lists them)');
    expectOneLineError(await cluster.cli(['resume', 'no-such-job']), 'no job no-such-job (ringmaster jobs lists them)');
    expectOneLineError(await cluster.cli(['logs', 'no-such-job']), 'no job no-such-job (ringmaster jobs lists them)'); // a stream's error carries its code too
    expectOneLineError(await ringmaster(['resume', 'some-job', '--step', '-1', '--coordinator', 'localhost:1']), "--step must be the step of one of the job's checkpoints, an integer ≥ 0 (ringmaster checkpoints some-job lists them)");
  });
});
