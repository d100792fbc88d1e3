// Checks every kernel on both CPU implementations (kernels/kernels.h) with the engine library
// alone: the checks of kernel_cases.h on the reference and the fast path, the fast path against
// the reference, the bf16 matmul kernels on bf16-rounded operands against the reference, and the
// bf16 attention (bf16 products, P and dS rounded) within attention16_check.h's tolerance, with
// fp32 and with bf16 activations (the latter the AVX-512-BF16 kernels, where the CPU has them), and the
// bf16 kernels' 16-bit activations against fp32 ones (activation16_check.h).
// Exits 1 if any failed.
#include "../src/precision/precision.h"
#include "activation16_check.h"
#include "attention16_check.h"
#include "contract_checks.h"
#include "kernel_cases.h"

using namespace rm;
using namespace rm::check;

int main() {
  Rng rng(2024);
  for (const Case& c : cases(rng)) {
    Vec w = random_vec(c.out_size, rng);
    for (Kernels* k : {&cpu_reference_kernels(), &cpu_fast_kernels()}) {
      gradcheck(*k, c, w);
      accumulate_check(*k, c, w);
    }
    fast_against_reference(c, w, cpu_fast_kernels());
  }
  for (Kernels* k : {&cpu_reference_kernels(), &cpu_fast_kernels()}) {
    decode_check(*k);
    weight_rows_check(*k);
  }
  update_check(cpu_fast_kernels());
  // The bf16 kernels on bf16-rounded values (what bf16 precision feeds them) compute the same
  // products as the reference: only the matrix products and convolutions differ from the fp32
  // fast path.
  for (Case c : cases(rng)) {
    if (c.name.rfind("matmul", 0) != 0 && c.name.rfind("conv2d", 0) != 0) continue;
    for (auto& v : c.inputs)
      for (auto& x : v) x = round_to_bf16(x);
    Vec w = random_vec(c.out_size, rng);
    for (auto& x : w) x = round_to_bf16(x);
    fast_against_reference(c, w, cpu_fast_bf16_kernels());
  }
  for (const AttentionShape& a : kAttention16Shapes) attention16_check("cpu-bf16", Precision::BF16, a, rng, cpu_fast_bf16_kernels());
  for (const AttentionShape& a : kBlockAttentionShapes)
    attention16_activations_check("cpu-bf16-activations", Precision::BF16, a, rng, cpu_fast_bf16_kernels());
  activation16_checks(cpu_fast_bf16_kernels(), Precision::BF16, rng);
  return failed_any ? 1 : 0;
}
