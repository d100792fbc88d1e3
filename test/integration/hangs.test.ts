/**
 * Hang detection on a local cluster: a rank stopped with SIGSTOP reports nothing more, so its
 * agent declares it hung after progress_timeout_s, stops its job's ranks, and the job fails with
 * a reason naming the rank and every rank's last activity.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './cli.js';
import { alive, LocalCluster, until } from './local-cluster.js';

const SPEC = path.join(ROOT, 'test', 'fixtures', 'tiny-gpt.yaml');
const TIMEOUT_S = 3;

describe('a hung rank', () => {
  let cluster: LocalCluster;
  beforeAll(async () => {
    cluster = await LocalCluster.start('cpu:2');
  });
  afterAll(async () => {
    await cluster.stop();
  });

  it.each([1, 2])('SIGSTOP of the last rank of a %i-rank job: the job fails within progress_timeout_s and a few seconds, naming it and what every rank was doing', async (ranks) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ringmaster-hang-'));
    const { id } = await cluster.json<{ id: string }>(['submit', SPEC, '--set', `parallel.data=${ranks}`, '--set', 'steps=1000000', '--set', `progress_timeout_s=${TIMEOUT_S}`, '--set', 'eval.every=0', '--set', `checkpoint.dir=${dir}`]);
    await cluster.waitForState(id, ['running']);
    const pids = await cluster.rankPids(id, ranks);
    await until('progress', async () => ((await cluster.json<{ progress: unknown }>(['status', id])).progress ? true : undefined));
    await new Promise((r) => setTimeout(r, 1500)); // two liveness reports (every 600 ms here): the last one names a step
    const victim = ranks - 1;
    process.kill(pids[victim], 'SIGSTOP');
    const stoppedAt = Date.now();
    const failed = await cluster.waitForState(id, ['failed'], 20_000);
    expect(Date.now() - stoppedAt).toBeLessThan((TIMEOUT_S + 6) * 1000);
    // the reason comes with whichever of the job's ranks ends first: the hung one, or a peer stopped with it
    const stalled = `rank ${victim} made no progress for \\d+s \\(progress_timeout_s ${TIMEOUT_S}s\\); last activities: rank 0: step \\d+`;
    expect(failed.reason).toMatch(new RegExp(`^(${stalled}|rank \\d was stopped: ${stalled})`));
    if (ranks === 2) {
      // its peer waits for it in the step's gradient reduction, and says so
      expect(failed.reason).toMatch(/rank 0: step \d+: (reduce_gradient_shard|sum_over_machine|publish_parameter_shards) #\d+ \(\d+ float32\) on rank 0 of 2 \(unchanged for \d+s\); rank 1: step \d+/);
    }
    for (const pid of pids) await until(`pid ${pid} to end`, () => (alive(pid) ? undefined : true), 10_000);
  }, 60_000);
});

describe('a hung rank of a job across two workers', () => {
  it("fails the job naming the hung rank, and what the job's rank on the other worker last did (from that worker's heartbeats)", async () => {
    const cluster = await LocalCluster.start('cpu:1');
    const other = await cluster.addWorker('cpu:1');
    try {
      const dir = mkdtempSync(path.join(tmpdir(), 'ringmaster-hang-two-'));
      const { id } = await cluster.json<{ id: string }>(['submit', SPEC, '--set', 'parallel.data=2', '--set', 'steps=1000000', '--set', `progress_timeout_s=${TIMEOUT_S}`, '--set', 'eval.every=0', '--set', `checkpoint.dir=${dir}`]);
      await cluster.waitForState(id, ['running']);
      const pids = await cluster.rankPids(id, 2);
      await until('progress', async () => ((await cluster.json<{ progress: unknown }>(['status', id])).progress ? true : undefined));
      await new Promise((r) => setTimeout(r, 1500)); // liveness reports and heartbeats have named a step
      process.kill(pids[1], 'SIGSTOP');
      const failed = await cluster.waitForState(id, ['failed'], 20_000);
      // whichever worker sees its rank stall first names it; the other rank comes from the other worker's heartbeats
      expect(failed.reason).toMatch(/made no progress for \d+s .*; on other workers: rank [01] on \S+: step \d+/);
      for (const pid of pids) await until(`pid ${pid} to end`, () => (alive(pid) ? undefined : true), 10_000);
    } finally {
      await other.stop();
      await cluster.stop();
    }
  }, 60_000);
});

describe('a hung rank of ringmaster train', () => {
  it('SIGSTOP of its rank process: the run ends within progress_timeout_s and a few seconds, in one line naming what the rank was doing', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ringmaster-hang-local-'));
    const cli = spawn(process.execPath, [path.join(ROOT, 'dist', 'cli', 'main.js'), 'train', SPEC, '--set', 'steps=1000000', '--set', `progress_timeout_s=${TIMEOUT_S}`, '--set', 'eval.every=0', '--set', `checkpoint.dir=${dir}`], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    cli.stdout.on('data', (d) => (stdout += d));
    cli.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => cli.on('exit', (code) => resolve(code)));
    await until('progress', () => (/step \d+\//.test(stdout) ? true : undefined));
    await new Promise((r) => setTimeout(r, 1500)); // two liveness reports (every 600 ms here): the last one names a step
    const rank = Number(readFileSync(`/proc/${cli.pid}/task/${cli.pid}/children`, 'utf8').trim().split(' ')[0]);
    process.kill(rank, 'SIGSTOP');
    const stoppedAt = Date.now();
    expect(await exited).toBe(1);
    expect(Date.now() - stoppedAt).toBeLessThan((TIMEOUT_S + 6) * 1000);
    expect(stderr.trim()).toMatch(new RegExp(`^ringmaster: the rank made no progress for \\d+s \\(progress_timeout_s ${TIMEOUT_S}s\\); last activities: rank 0: step \\d+ \\(unchanged for \\d+s\\)$`));
    await until(`the rank (pid ${rank}) to end`, () => (alive(rank) ? undefined : true), 10_000);
  }, 60_000);
});
