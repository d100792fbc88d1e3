/**
 * Cuda jobs on the cluster, on a machine without a GPU (the CI's): the coordinator places a cuda
 * job only on cuda slots and says why it waits; a worker that offers a cuda slot it cannot use
 * gives the job a one-line failure naming the device and the reason; a job of pipeline stages on
 * GPUs is taken and waits for a cuda slot per stage. (Training on GPUs is test/parity/'s, where
 * there are some.)
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

  it('takes a job of pipeline stages on GPUs, which waits for a cuda slot per stage', async () => {
    cluster = await LocalCluster.start('cpu:2');
    const { id } = await cluster.json<{ id: string }>(['submit', SPEC, '--set', 'device=cuda', '--set', 'parallel.pipeline=2', '--set', 'steps=5']);
    const waiting = await cluster.json<{ state: string; reason: string }>(['status', id]);
    expect(waiting.state).toBe('queued');
    expect(waiting.reason).toBe('needs 2 cuda slots but no worker has cuda slots');
  }, 60_000);
});
