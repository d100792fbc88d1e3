/**
 * Automatic restarts on a real local cluster: a rank killed with SIGKILL fails the attempt, the
 * coordinator restarts the job from its newest checkpoint (max_restarts = 1), and a second kill
 * ends it failed, saying it gave up. A small model keeps the checkpoints small and the test fast.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster, until } from './local-cluster.js';

describe('a job with max_restarts on a cluster', () => {
  let cluster: LocalCluster;
  beforeAll(async () => {
    cluster = await LocalCluster.start('cpu:1');
  });
  afterAll(async () => {
    await cluster.stop();
  });

  const log = async (jobId: string) => (await cluster.cli(['logs', jobId])).stdout;

  /** The pid of rank 0 of the job's `attempt`, from the n-th "rank 0 started (pid N …)" line of its log. */
  function rankPid(jobId: string, attempt: number): Promise<number> {
    return until(`rank 0 of attempt ${attempt} to start`, async () => {
      const pids = [...(await log(jobId)).matchAll(/rank 0 started \(pid (\d+)/g)].map((m) => Number(m[1]));
      return pids[attempt - 1];
    });
  }

  it('restarts once from the newest checkpoint after a SIGKILL, then gives up after the second', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ringmaster-restart-checkpoints-'));
    const { id } = await cluster.json<{ id: string }>(['submit', 'jobs/fashion-mnist-mlp.yaml',
      '--set', 'max_restarts=1', '--set', 'checkpoint.every=20', '--set', 'steps=1000000', '--set', `checkpoint.dir=${dir}`,
      '--set', 'model.hidden=[32]', '--set', 'log.every=20', '--set', 'threads=1']);
    await until('a checkpoint', async () => ((await cluster.json<unknown[]>(['checkpoints', id])).length > 0 ? true : undefined));
    process.kill(await rankPid(id, 1), 'SIGKILL');

    const restarted = await until('attempt 2 to run', async () => {
      const s = await cluster.json<{ state: string; attempt: number; restarts: number; restartedAfter: string }>(['status', id]);
      return s.state === 'running' && s.attempt === 2 ? s : undefined;
    });
    expect(restarted).toMatchObject({ restarts: 1, restartedAfter: 'rank 0 was killed by SIGKILL' });
    const resumedAt = await until('the resumed line', async () => /attempt 2 resumed from step (\d+) /.exec(await log(id))?.[1]);
    const text = await log(id);
    const recorded = /restarting after failure \(restart 1 of 1, from the newest valid checkpoint, step (\d+) recorded\): rank 0 was killed by SIGKILL/.exec(text);
    expect(recorded, text).not.toBeNull();
    // The newest on disk: the recorded one, or one published just before the kill whose event never arrived.
    expect(Number(resumedAt)).toBeGreaterThanOrEqual(Number(recorded![1]));
    expect(Number(resumedAt) % 20).toBe(0);

    process.kill(await rankPid(id, 2), 'SIGKILL');
    const failed = await cluster.waitForState(id, ['failed'], 20_000);
    expect(failed).toMatchObject({ attempt: 2, reason: 'rank 0 was killed by SIGKILL (gave up after 1 restart)', restarts: 1 });
    expect(cluster.coordinatorLog).toContain(`job ${id} running → failed: rank 0 was killed by SIGKILL (gave up after 1 restart)`);
  });
});
