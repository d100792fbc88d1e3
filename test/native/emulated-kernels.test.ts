/**
 * The element-wise CUDA kernels, emulated on the CPU (labelled so: no GPU runs here) by
 * native/tools/emulated_kernels.cc: the bodies the GPU runs (kernels/cuda/element_kernels.h)
 * go through the GPU launch's grid-stride mapping, with the launch's own shape and with a grid
 * small enough that every thread strides, with fp32 activations and (where a bf16 or fp16 model
 * stores them so) 16-bit ones. Every index is handed out once, every output written,
 * and the values equal the reference kernels' bit for bit (sums over rows, which the reference
 * takes in double, within 1e-6 of the largest). The kernels whose threads cooperate
 * (shuffles, shared memory, tensor-core products: flash attention, fp32 attention, LayerNorm,
 * cross-entropy, Σ x²) run unchanged on a warp emulator (native/tools/emulated_warp_kernels.cc,
 * warp_emulation.h) against the reference: flash attention within the tolerance of its 16-bit
 * operands, the fp32 kernels within 1e-5 of each output's largest magnitude.
 */
import { describe, expect, it } from 'vitest';
import { runChecks } from './check-program.js';

const checks = runChecks('emulated-kernels');
const warps = runChecks('emulated-warp-kernels');
const flash = warps.filter((c) => c.check === 'flash');
const cooperative = warps.filter((c) => c.check !== 'flash');

describe('CUDA element-wise kernels, emulated on the CPU (native/tools/emulated_kernels.cc)', () => {
  it('emulates every element-wise kernel with the launch grid and a striding grid', () => {
    expect([...new Set(checks.map((c) => c.kernel))].sort()).toEqual([
      'adamw_step', 'add_into', 'add_into_bf16_source', 'add_into_fp16_source', 'col2im', 'column_sums', 'convert_bf16', 'convert_fp16',
      'embedding_forward', 'embedding_wpe', 'embedding_wpe_accumulate', 'embedding_wte', 'flatten_backward', 'flatten_forward', 'gelu_backward',
      'gelu_forward', 'gelu_gradient_of_bf16', 'gelu_gradient_of_fp16', 'gelu_keep_input_bf16', 'gelu_keep_input_fp16', 'im2col',
      'layernorm_param_grad', 'layernorm_param_grad_accumulate', 'maxpool2d_backward', 'maxpool2d_backward_relu_input', 'maxpool2d_forward',
      'relu_backward', 'relu_forward', 'residual_forward', 'residual_forward_bf16_branch', 'residual_forward_fp16_branch', 'round_bf16',
      'round_fp16', 'sgd_step', 'to_half_bf16', 'to_half_fp16',
    ]);
    expect(new Set(checks.map((c) => c.impl))).toEqual(new Set(['cuda-emulated launch', 'cuda-emulated strided']));
  });
  for (const c of checks) {
    it(`${c.kernel} (${c.impl})`, () => {
      expect(c.ok, c.where).toBe(true);
    });
  }
});

describe('CUDA flash attention, emulated on the CPU (native/tools/emulated_warp_kernels.cc)', () => {
  it('runs every head size the kernels are built for, in bf16 and fp16', () => {
    const kernels = flash.map((c) => c.kernel);
    for (const want of ['bf16 B=2 T=70 C=64 H=2', 'fp16 B=2 T=70 C=64 H=2', 'bf16 B=1 T=90 C=128 H=2', 'bf16 B=1 T=80 C=128 H=1', 'fp16 B=1 T=80 C=128 H=1'])
      expect(kernels).toContain(`attention ${want}`);
    expect(new Set(flash.map((c) => c.impl))).toEqual(new Set(['cuda-emulated', 'cuda-emulated 16-bit activations']));
    // with the activations a bf16 or fp16 model stores in 16 bits read and written as they are
    expect(flash.filter((c) => c.impl === 'cuda-emulated 16-bit activations').map((c) => c.kernel)).toEqual([
      'attention bf16 B=2 T=70 C=64 H=2', 'attention fp16 B=2 T=70 C=64 H=2',
    ]);
  });
  for (const c of flash) {
    it(`${c.kernel}: output, log-sum-exp and gradients against the fp32 reference`, () => {
      expect(c.ok, c.where).toBe(true);
    });
  }
});

describe('CUDA fp32 kernels whose threads cooperate, emulated on the CPU (native/tools/emulated_warp_kernels.cc)', () => {
  it('runs attention (and decoding), LayerNorm, cross-entropy and the sum of squares', () => {
    expect(cooperative.map((c) => c.kernel)).toEqual([
      'attention fp32', 'attention_step', 'layernorm', 'layernorm bf16 activations', 'cross_entropy', 'cross_entropy bf16 logits', 'sum_squares',
    ]);
  });
  for (const c of cooperative) {
    it(`${c.kernel} against the reference kernels`, () => {
      expect(c.ok, c.where).toBe(true);
    });
  }
});
