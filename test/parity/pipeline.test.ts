/**
 * Pipeline stages on GPUs against the same stages on the CPU: a small GPT split into 2 stages
 * (1F1B), and into 2 stages of 2 interleaved chunks (the last stage's chunk feeding the first's,
 * over the ring's closing link), each rank on a GPU of its own (CUDA_VISIBLE_DEVICES, as an agent
 * starts a rank) with its links over NCCL, trains 5 steps as the same ranks do on the CPU over
 * Gloo. Needs two GPUs (NCCL refuses two ranks on one); skipped, visibly, where there are fewer.
 *
 * Tolerances as test/parity/training.test.ts's fp32 ones: the GPU sums in other orders.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNative } from '../../worker/native.js';
import { worstRelative } from '../helpers/compare.js';
import { runPipelineRanks, startRendezvous } from '../integration/rank-processes.js';

const { cuda, cudaDevices } = loadNative().buildInfo();
const why = !cuda ? 'this build has no CUDA' : cudaDevices < 2 ? `${cudaDevices} GPU(s) on this machine, 2 needed` : '';

describe.skipIf(why !== '')(`pipeline stages on 2 GPUs against the CPU${why ? ` (skipped: ${why})` : ''}`, () => {
  let rendezvous: { address: string; stop: () => void };
  beforeAll(async () => {
    rendezvous = await startRendezvous();
  });
  afterAll(() => rendezvous.stop());

  it.each([1, 2])('2 stages of %i chunk(s) each: the same losses and parameters after five steps', async (virtual) => {
    const options = { stages: 2, virtual, layers: 4, steps: 5, micro: 4, batch: 4, eps: 1e-6 };
    const cpu = await runPipelineRanks(rendezvous.address, 2, options);
    const gpu = await runPipelineRanks(rendezvous.address, 2, { ...options, device: 'cuda' }, (rank) => ({ CUDA_VISIBLE_DEVICES: String(rank) }));
    for (const rank of [0, 1]) {
      gpu[rank].losses.forEach((loss, i) => expect(Math.abs(loss - cpu[rank].losses[i]) / cpu[rank].losses[i], `rank ${rank}, step ${i + 1}`).toBeLessThan(1e-4));
      for (const [name, values] of Object.entries(cpu[rank].params)) expect(worstRelative(gpu[rank].params[name], values), name).toBeLessThan(1e-4);
    }
  }, 180_000);
});
