/**
 * The element-wise CUDA kernels, emulated on the CPU (labelled so: no GPU runs here) by
 * native/tools/emulated_kernels.cc: the bodies the GPU runs (kernels/cuda/element_kernels.h)
 * go through the GPU launch's grid-stride mapping, with the launch's own shape and with a grid
 * small enough that every thread strides. Every index is handed out once, every output written,
 * and the values equal the reference kernels' bit for bit. Kernels whose threads cooperate are
 * checked only on a GPU (test/parity/).
 */
import { describe, expect, it } from 'vitest';
import { runChecks } from './check-program.js';

const checks = runChecks('emulated-kernels');

describe('CUDA element-wise kernels, emulated on the CPU (native/tools/emulated_kernels.cc)', () => {
  it('emulates every element-wise kernel with the launch grid and a striding grid', () => {
    expect([...new Set(checks.map((c) => c.kernel))].sort()).toEqual([
      'adamw_step', 'add_into', 'col2im', 'embedding_forward', 'embedding_wpe', 'embedding_wpe_accumulate', 'flatten_backward',
      'flatten_forward', 'gelu_backward', 'gelu_forward', 'im2col', 'maxpool2d_backward', 'maxpool2d_backward_relu_input',
      'maxpool2d_forward', 'relu_backward', 'relu_forward', 'residual_forward', 'round_bf16', 'round_fp16', 'sgd_step',
      'to_half_bf16', 'to_half_fp16',
    ]);
    expect(new Set(checks.map((c) => c.impl))).toEqual(new Set(['cuda-emulated launch', 'cuda-emulated strided']));
  });
  for (const c of checks) {
    it(`${c.kernel} (${c.impl})`, () => {
      expect(c.ok, c.where).toBe(true);
    });
  }
});
