/**
 * Cuda jobs on the cluster, on a machine without a GPU (the CI's): the coordinator places a cuda
 * job only on cuda slots and says why it waits; a worker that offers a cuda slot it cannot use
 * gives the job a one-line failure naming the device and the reason; and a cuda job of several
 * ranks is refused at submission until the NCCL backend lands. (Training on a GPU is
 * test/parity/'s, where there is one.)
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadNative } from '../../worker/native.js';
import { ROOT } from './cli.js';
import { LocalCluster } from './local-cluster.js';

const SPEC = path.join(ROOT, 'test', 'fixtures', 'tiny-gpt.yaml');
const hasGpu = loadNative().cudaDevices().length > 0;

describe('cuda jobs on a cluster', () => {
  let cluster: LocalCluster | undefined;
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  it('waits on a cluster of cpu slots, saying why; a cpu job beside it runs', async () => {
    cluster = await LocalCluster.start('cpu:1');
    const { id } = await cluster.json<{ id: string }>(['submit', SPEC, '--set', 'device=cuda', '--set', 'steps=5']);
    const cpu = await cluster.json<{ id: string }>(['submit', SPEC, '--set', 'steps=5']);
    await cluster.waitForState(cpu.id, ['succeeded']);
    const waiting = await cluster.json<{ state: string; reason: string }>(['status', id]);
    expect(waiting.state).toBe('queued');
    expect(waiting.reason).toBe('needs 1 cuda slot but no worker has cuda slots');
  }, 60_000);

  it.skipIf(hasGpu)('fails in one line on a worker whose cuda slot has no GPU behind it', async () => {
    cluster = await LocalCluster.start('cuda:1');
    const { id } = await cluster.json<{ id: string }>(['submit', SPEC, '--set', 'device=cuda', '--set', 'steps=5']);
    const failed = await cluster.waitForState(id, ['failed']);
    expect(String(failed.reason)).toMatch(/^rank 0 exited with code 1: opening cuda:0: .*(driver|no GPU)/);
    expect(String(failed.reason)).not.toContain('\n');
  }, 60_000);

  it('refuses a cuda job of several ranks at submission', async () => {
    cluster = await LocalCluster.start('cpu:1');
    const r = await cluster.cli(['submit', SPEC, '--set', 'device=cuda', '--set', 'parallel.data=2']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toBe('ringmaster: spec: device = "cuda" with 2 ranks (parallel.data × parallel.pipeline): a cuda job trains on one GPU until the NCCL backend lands; set parallel.data: 1 and parallel.pipeline: 1, or use device: cpu');
  }, 60_000);
});
