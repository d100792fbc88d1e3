/**
 * Every kernel, both CPU implementations, checked by native/tools/kernel_check.cc
 * (built with the engine library alone): every backward against finite differences, parameter
 * gradients that assign then accumulate, the fast path against the reference, and the
 * optimizer's passes (AdamW, SGD, Σ x², roundings) against the reference's. The program
 * prints one JSON line per check; each becomes a case here.
 */
import { describe, expect, it } from 'vitest';
import { runChecks } from './check-program.js';

const checks = runChecks('kernel-check');

describe('kernels (native/tools/kernel_check.cc)', () => {
  it('checks every kernel on both implementations', () => {
    const kernels = new Set(checks.map((c) => c.kernel));
    expect([...kernels].sort()).toEqual([
      'attention', 'conv2d', 'conv2d_relu', 'cross_entropy', 'embedding', 'flatten', 'gelu', 'layernorm', 'matmul',
      'matmul_relu', 'matmul_weight_rows', 'maxpool2d', 'maxpool2d_relu_input', 'optimizer', 'relu', 'residual',
    ]);
    // matmul_weight_rows and the optimizer's passes have checks of their own (rows, update), not gradient checks
    expect(checks.filter((c) => c.check === 'gradcheck').length).toBe(2 * (kernels.size - 2));
    expect(checks.filter((c) => c.check === 'update').map((c) => c.impl)).toEqual(['cpu']);
    // the bf16 kernels: both matrix products and both convolutions
    expect(checks.filter((c) => c.impl === 'cpu-bf16').map((c) => c.kernel).sort()).toEqual(['conv2d', 'conv2d_relu', 'matmul', 'matmul_relu']);
  });
  for (const c of checks) {
    it(`${c.kernel} ${c.impl}: ${c.check} (worst |error| ${c.worst})`, () => {
      expect(c.ok, c.where).toBe(true);
    });
  }
});
