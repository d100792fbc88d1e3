/**
 * Runs one of the engine's check programs (build/<name>, native/tools/) and parses what it
 * prints: one JSON object per check (native/tools/kernel_cases.h, `report`).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface Check {
  check: string; // gradcheck, accumulate, fast, decode, rows, update, emulated, flash
  kernel: string;
  impl: string;
  worst: number;
  ok: boolean;
  where: string;
}

export function runChecks(program: 'kernel-check' | 'emulated-kernels' | 'emulated-warp-kernels'): Check[] {
  const file = fileURLToPath(new URL(`../../build/${program}`, import.meta.url));
  let output: string;
  try {
    output = execFileSync(file, { encoding: 'utf8' });
  } catch (e) {
    output = (e as { stdout?: string }).stdout ?? ''; // a failing check exits 1; its lines still say which
  }
  return output.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Check);
}
