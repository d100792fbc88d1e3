/** The memory a rank needs, estimated from the spec (jobs/memory.ts). */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSpecFile } from '../../jobs/load.js';
import { estimateMemory, formatBytes } from '../../jobs/memory.js';

const job = (file: string, set: string[] = []) => loadSpecFile(path.join('jobs', file), set);

describe('estimateMemory', () => {
  it('the character GPT: 0.83 M parameters × 16 bytes (fp32 values, gradients, AdamW\'s two moments) and its activations', () => {
    const e = estimateMemory(job('shakespeare-char.yaml'));
    expect(e.parameters).toBe(834_304 * 16);
    expect(e.activations).toBe(4 * 12 * 64 * (4 * (16 * 128 + 4) + 2 * 128 + 256)); // batch 12 × block 64 tokens
    expect(formatBytes(e.bytes)).toBe('38 MiB');
  });

  it('scales the parameters\' share by the pipeline stages and the mixed-precision copies', () => {
    const fp32 = estimateMemory(job('fashion-mnist-mlp.yaml'));
    expect(fp32.parameters).toBe(16 * (784 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 10 + 10));
    expect(estimateMemory(job('fashion-mnist-mlp.yaml', ['parallel.pipeline=2'])).parameters).toBe(fp32.parameters / 2);
    expect(estimateMemory(job('fashion-mnist-mlp.yaml', ['precision=bf16'])).parameters).toBe((fp32.parameters * 6) / 4);
    expect(estimateMemory(job('fashion-mnist-mlp.yaml', ['optimizer.kind=sgd'])).parameters).toBe((fp32.parameters * 3) / 4);
  });

  it('formats sizes for people', () => {
    expect(formatBytes(3 * 2 ** 30)).toBe('3.0 GiB');
    expect(formatBytes(1000)).toBe('1 MiB');
  });
});
