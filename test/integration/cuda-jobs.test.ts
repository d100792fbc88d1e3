/**
 * Cuda jobs on the cluster, on a machine without a GPU (the CI's): the coordinator places a cuda
 * job only on cuda slots and says why it waits; a worker that offers a cuda slot it cannot use
 * gives the job a one-line failure naming the device and the reason; and what cuda jobs cannot do
 * yet (pipeline stages) is refused at submission. (Training on a GPU is test/parity/'s, where
 * there is one.)
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

  it('refuses pipeline stages on GPUs at submission', async () => {
    cluster = await LocalCluster.start('cpu:1');
    const r = await cluster.cli(['submit', SPEC, '--set', 'device=cuda', '--set', 'parallel.pipeline=2']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toBe('ringmaster: spec: parallel.pipeline = 2: must be 1 for device: cuda (pipeline stages on GPUs are not built yet; use device: cpu)');
  }, 60_000);
});
