/** The slots a worker offers (`--slots`): cpu:N, cuda:N, or auto. */
import os from 'node:os';
import { loadNative } from './native.js';

/** "cpu:2" → two cpu slots (0, 1); "cuda:4" → CUDA devices 0..3; "auto" → one cuda slot per GPU `gpus` counts, else cpu slots for half the cores. */
export function parseSlots(text: string, gpus: () => number = () => loadNative().cudaDevices().length): { kind: string; index: number }[] {
  if (text.trim() === 'auto') {
    const n = gpus();
    text = n > 0 ? `cuda:${n}` : `cpu:${Math.max(1, Math.floor(os.availableParallelism() / 2))}`;
  }
  const m = /^(cpu|cuda):([1-9]\d*)$/.exec(text.trim());
  if (!m) throw new Error(`--slots ${text}: expected cpu:N, cuda:N with N ≥ 1 (e.g. cpu:2), or auto`);
  return Array.from({ length: Number(m[2]) }, (_, index) => ({ kind: m[1], index }));
}
