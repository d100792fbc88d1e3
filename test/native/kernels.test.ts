/**
 * Every kernel, both CPU implementations, checked by native/tools/kernel_check.cc
 * (built with the engine library alone): every backward against finite differences, parameter
 * gradients that assign then accumulate, the fast path against the reference, and the
 * optimizer's passes (AdamW, SGD, Σ x², roundings) against the reference's, and the bf16 kernels
 * with bf16 activations against the same kernels with fp32 ones. The program
 * prints one JSON line per check; each becomes a case here.
 */
import { describe, expect, it } from 'vitest';
import { runChecks } from './check-program.js';

const checks = runChecks('kernel-check');

describe('kernels (native/tools/kernel_check.cc)', () => {
  it('checks every kernel on both implementations', () => {
    const kernels = new Set(checks.filter((c) => c.check !== 'flash' && c.check !== 'activation16').map((c) => c.kernel));
    expect([...kernels].sort()).toEqual([
      'attention', 'conv2d', 'conv2d_relu', 'cross_entropy', 'embedding', 'flatten', 'gelu', 'layernorm', 'matmul',
      'matmul_relu', 'matmul_weight_rows', 'maxpool2d', 'maxpool2d_relu_input', 'mlp_gelu_h12', 'mlp_gelu_h16', 'optimizer', 'relu', 'residual',
    ]);
    // matmul_weight_rows and the optimizer's passes have checks of their own (rows, update), not gradient checks
    expect(checks.filter((c) => c.check === 'gradcheck').length).toBe(2 * (kernels.size - 2));
    expect(checks.filter((c) => c.check === 'update').map((c) => c.impl)).toEqual(['cpu']);
    // the bf16 kernels: both matrix products and both convolutions against the reference, and
    // attention within the tolerance of its bf16 P and dS (attention16_check.h), at every shape
    // the CUDA flash kernels are checked at
    const bf16 = checks.filter((c) => c.impl === 'cpu-bf16');
    expect(bf16.filter((c) => c.check === 'fast').map((c) => c.kernel).sort()).toEqual(['conv2d', 'conv2d_relu', 'matmul', 'matmul_relu']);
    expect(bf16.filter((c) => c.check === 'flash').map((c) => c.kernel)).toEqual([
      'attention bf16 B=2 T=70 C=64 H=2', 'attention bf16 B=1 T=90 C=128 H=2', 'attention bf16 B=1 T=80 C=128 H=1', 'attention bf16 B=1 T=11 C=64 H=1',
    ]);
    // and with bf16 activations in and out, at shapes of whole 16-position blocks (the AVX-512-BF16
    // kernels, kernels/cpu/attention_bf16.h, where the CPU has them)
    expect(checks.filter((c) => c.impl === 'cpu-bf16-activations').map((c) => c.kernel)).toEqual([
      'attention bf16 B=2 T=64 C=64 H=2', 'attention bf16 B=1 T=48 C=64 H=4', 'attention bf16 B=3 T=32 C=96 H=2', 'attention bf16 B=1 T=80 C=128 H=2',
      'attention bf16 B=2 T=16 C=256 H=2',
    ]);
    // every kernel that takes activation views, with bf16 activations against fp32 ones holding
    // the same values (activation16_check.h)
    expect(bf16.filter((c) => c.check === 'activation16').map((c) => c.kernel)).toEqual([
      'matmul', 'matmul_gelu_w24', 'matmul_gelu_w20', 'layernorm', 'attention_d16', 'attention_d32', 'cross_entropy', 'residual',
    ]);
  });
  for (const c of checks) {
    it(`${c.kernel} ${c.impl}: ${c.check} (worst |error| ${c.worst})`, () => {
      expect(c.ok, c.where).toBe(true);
    });
  }
});
