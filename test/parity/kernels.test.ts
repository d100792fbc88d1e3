/**
 * Every CUDA kernel against the CPU reference on the GPU this machine has (native/tools/
 * gpu_check.cc: finite differences, accumulation, the reference's outputs and gradients with
 * outputs poisoned first, decoding, weight rows). Skipped, visibly, where there is no GPU; a GPU
 * machine without Node runs the same checks with scripts/gpu-check.sh.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadNative } from '../../worker/native.js';
import { ROOT } from '../integration/cli.js';

const { cuda, cudaDevices } = loadNative().buildInfo();
const why = !cuda ? 'this build has no CUDA' : cudaDevices === 0 ? 'no GPU on this machine' : '';

describe.skipIf(why !== '')(`CUDA kernels against the CPU reference${why ? ` (skipped: ${why})` : ''}`, () => {
  it('every check of every kernel passes on cuda:0', () => {
    const r = spawnSync(path.join(ROOT, 'build', 'ringmaster-gpu-check'), { encoding: 'utf8', timeout: 300_000 });
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { check: string; kernel?: string; ok: boolean; where?: string });
    const failed = lines.filter((l) => !l.ok).map((l) => `${l.check} ${l.kernel ?? ''}: ${l.where ?? ''}`);
    expect(failed).toEqual([]);
    expect(lines.filter((l) => l.check === 'fast').length).toBeGreaterThanOrEqual(15); // every kernel against the reference
    expect(r.status).toBe(0);
  }, 300_000);
});
