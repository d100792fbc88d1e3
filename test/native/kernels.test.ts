/**
 * The transformer kernels, both CPU implementations, checked by native/tools/kernel_check.cc
 * (built with the engine library alone): every backward against finite differences, parameter
 * gradients that assign then accumulate, and the fast path against the reference. The program
 * prints one JSON line per check; each becomes a case here.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

interface Check {
  check: 'gradcheck' | 'accumulate' | 'fast' | 'decode';
  kernel: string;
  impl: string;
  worst: number;
  ok: boolean;
  where: string;
}

const program = fileURLToPath(new URL('../../build/kernel-check', import.meta.url));
let output: string;
try {
  output = execFileSync(program, { encoding: 'utf8' });
} catch (e) {
  output = (e as { stdout?: string }).stdout ?? ''; // a failing check exits 1; its lines still say which
}
const checks = output.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Check);

describe('transformer kernels (native/tools/kernel_check.cc)', () => {
  it('checks every kernel on both implementations', () => {
    const kernels = new Set(checks.map((c) => c.kernel));
    expect([...kernels].sort()).toEqual(['attention', 'cross_entropy', 'embedding', 'gelu', 'layernorm', 'matmul', 'residual']);
    expect(checks.filter((c) => c.check === 'gradcheck').length).toBe(2 * kernels.size);
  });
  for (const c of checks) {
    it(`${c.kernel} ${c.impl}: ${c.check} (worst |error| ${c.worst})`, () => {
      expect(c.ok, c.where).toBe(true);
    });
  }
});
