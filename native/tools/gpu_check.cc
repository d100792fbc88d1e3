// ringmaster-gpu-check: what a GPU machine must show, with the engine library alone (no Node,
// oneDNN or Gloo: native/gpu-check/CMakeLists.txt builds it with cmake and nvcc). Every CUDA
// kernel goes through the checks of kernel_cases.h (finite differences, accumulation, against
// the CPU reference, decoding, weight rows) with its buffers on the GPU and its outputs poisoned
// with NaN first; attention again at GPT-sized heads; the optimizer's passes; five training
// steps of a GPT (fp32, bf16, fp16), an MLP and a CNN on the GPU against the CPU; a one-rank
// NCCL group; the 16-bit (tensor-core) matrix products and flash attention on rounded operands
// against the reference (attention16_check.h, the shapes the CPU emulation runs and GPT-2
// small's heads); then cuBLASLt's fp32 and bf16 GEMM throughput, GPT-2 small's training tokens/s and MFU, and
// each kernel's time at GPT-2 small's shapes (kernel_timings.h).
// Prints one JSON object per line; exits 0 when every check passed, 1 when one failed, 2 when
// there is no GPU. scripts/gpu-check.sh builds and runs it.
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <vector>

#include "../src/cuda/cuda_check.h"
#include "../src/cuda/cuda_device.h"
#include "../src/cuda/nccl_group.h"
#include "../src/kernels/cuda/cuda_kernels.h"
#include "../src/precision/precision.h"
#include "../src/train/trainer.h"
#include "activation16_check.h"
#include "attention16_check.h"
#include "contract_checks.h"
#include "kernel_cases.h"
#include "kernel_timings.h"
#include "staged_kernels.h"

using namespace rm;
using namespace rm::check;

namespace {

// A GEMM of n×n by n×n on the device's stream, best of best_ms's runs, in TFLOP/s: the peak MFU is
// counted against. Its operands are random values (a GPU runs cooler, so faster, on zeros) held in
// `k`'s input type already, so no conversion is timed.
double gemm_tflops(CudaKernels& k, CudaDevice& device, size_t n) {
  DeviceBuffers buf(device);
  float *a = buf.floats(n * n), *b = buf.floats(n * n), *c = buf.floats(n * n);  // room for either type
  Rng rng(7);
  std::vector<float> values(n * n);
  for (float& x : values) x = rng.uniform(-1.0f, 1.0f);
  Precision p = k.gemm_inputs();
  if (p == Precision::F32) {
    device.copy_from_host(a, values.data(), n * n * sizeof(float));
  } else {
    std::vector<uint16_t> bits(n * n);
    for (size_t i = 0; i < n * n; ++i) bits[i] = p == Precision::BF16 ? bf16_bits(round_to_bf16(values[i])) : fp16_bits(round_to_fp16(values[i]));
    device.copy_from_host(a, bits.data(), n * n * sizeof(uint16_t));
  }
  device.copy(b, a, n * n * sizeof(float));
  double ms = best_ms(device, [&] { k.gemm_operands(false, false, n, n, n, a, n, b, n, c, n, false); });
  return 2.0 * double(n) * n * n / (ms * 1e-3) / 1e12;
}

// Five training steps of `c` on `device` from the seed's parameters, on batches drawn alike.
struct Run {
  std::vector<double> losses;
  std::vector<float> params;
};
Run five_steps(TrainerConfig c, const std::string& device) {
  c.device = device;
  Trainer t(c);
  Model& m = t.model();
  size_t B = c.max_batch, row = m.input().elements, labels = B * m.positions();
  uint32_t state = 12345;
  auto next = [&] { return state = state * 1103515245u + 12345u, (state >> 8) & 0xffffu; };
  Run r;
  for (int step = 0; step < 5; ++step) {
    if (c.gpt.layers > 0) {
      auto* tokens = static_cast<int32_t*>(t.inputs());
      for (size_t i = 0; i < B * row; ++i) tokens[i] = int32_t(next() % c.gpt.vocab);
    } else {
      auto* x = static_cast<float*>(t.inputs());
      for (size_t i = 0; i < B * row; ++i) x[i] = float(next()) / 32768.0f - 1.0f;
    }
    for (size_t i = 0; i < labels; ++i) t.labels()[i] = int32_t(next() % m.classes());
    r.losses.push_back(t.train_step(B, 1, 1e-3f, 1.0f).loss);
  }
  Parameters& p = m.parameters();
  r.params.resize(p.count());
  t.device().copy_to_host(r.params.data(), p.values(), p.count() * sizeof(float));
  return r;
}

// The same five steps on cuda:0 and on the CPU: losses to `tolerance` relative, parameters to
// `tolerance` of their largest magnitude.
void training_check(const std::string& name, const TrainerConfig& c, double tolerance) {
  Run cpu = five_steps(c, "cpu"), gpu = five_steps(c, "cuda:0");
  double worst = 0, scale = 0;
  bool ok = true;
  std::string where;
  for (size_t i = 0; i < cpu.losses.size(); ++i) {
    double err = std::fabs(gpu.losses[i] - cpu.losses[i]) / std::fabs(cpu.losses[i]);
    worst = std::max(worst, err);
    if (!(err <= tolerance) && ok) ok = false, where = "loss of step " + std::to_string(i + 1);
  }
  for (float v : cpu.params) scale = std::max(scale, double(std::fabs(v)));
  for (size_t i = 0; i < cpu.params.size(); ++i) {
    double err = std::fabs(double(gpu.params[i]) - cpu.params[i]) / scale;
    worst = std::max(worst, err);
    if (!(err <= tolerance) && ok) ok = false, where = "parameter " + std::to_string(i);
  }
  report("training", name, "cuda", worst, ok, where);
}

void training_checks() {
  TrainerConfig gpt;
  gpt.gpt = {65, 32, 2, 2, 64, true};
  gpt.max_batch = 4;
  gpt.seed = 3;
  gpt.optimizer.kind = "adamw";
  for (Precision p : {Precision::F32, Precision::BF16, Precision::F16}) {
    TrainerConfig c = gpt;
    c.precision = p;
    c.loss_scale.enabled = p == Precision::F16;
    // the GPU sums in other orders; in 16 bits a last-bit difference can flip a rounding
    training_check(p == Precision::F32 ? "gpt fp32" : p == Precision::BF16 ? "gpt bf16" : "gpt fp16", c, p == Precision::F32 ? 1e-4 : 1e-2);
  }
  TrainerConfig mlp;
  mlp.layers = {{"flatten", 0}, {"linear", 64}, {"relu", 0}, {"linear", 10}};
  mlp.input = {1, 8, 8};
  mlp.max_batch = 16;
  mlp.seed = 3;
  training_check("mlp fp32", mlp, 1e-4);
  TrainerConfig cnn = mlp;
  cnn.layers = {{"conv2d", 8}, {"relu", 0}, {"maxpool2d", 0}, {"flatten", 0}, {"linear", 10}};
  training_check("cnn fp32", cnn, 1e-4);
}

// The rendezvous store of a group of one: the NCCL id never leaves this process.
class LocalStore final : public KeyValueStore {
 public:
  void set(const std::string& key, const std::vector<char>& value) override { values_[key] = value; }
  std::vector<char> get(const std::string& key, std::chrono::milliseconds) override {
    auto it = values_.find(key);
    RM_CHECK(it != values_.end(), "COLLECTIVE_TIMEOUT", "no key " + key + " in a one-rank store");
    return it->second;
  }

 private:
  std::map<std::string, std::vector<char>> values_;
};

// A one-rank NCCL group (this GPU): all-reduce (sum and average) of a device buffer and of a
// host scalar (staged), broadcast and barrier leave every value as it was.
void nccl_check(CudaDevice& device) {
  try {
    LocalStore store;
    NcclGroupConfig c;
    c.timeout = c.join_timeout = std::chrono::milliseconds(20000);
    auto g = NcclGroup::join(c, store, device);
    size_t n = size_t(1) << 20;
    std::vector<float> host(n), back(n);
    for (size_t i = 0; i < n; ++i) host[i] = float(i % 1000) * 0.5f;
    auto* d = static_cast<float*>(device.allocate(n * sizeof(float)));
    device.copy_from_host(d, host.data(), n * sizeof(float));
    g->all_reduce(d, n, DType::F32, ReduceOp::Sum)->wait(g->wait_bound());
    g->all_reduce(d, n, DType::F32, ReduceOp::Avg)->wait(g->wait_bound());
    g->broadcast(d, n, DType::F32, 0)->wait(g->wait_bound());
    g->barrier_now();
    device.copy_to_host(back.data(), d, n * sizeof(float));
    device.release(d, n * sizeof(float));
    double loss[2] = {2.5, 1.0};
    g->all_reduce_now(loss, 2, DType::F64, ReduceOp::Avg);
    bool ok = back == host && loss[0] == 2.5 && loss[1] == 1.0;
    report("nccl", "all_reduce", "cuda", 0.0, ok, ok ? "" : "a one-rank reduction changed the values");
  } catch (const NativeError& e) {
    report("nccl", "all_reduce", "cuda", 0.0, false, std::string(e.code()) + ": " + e.what());
  }
}

// Training throughput at GPT-2 small's size (12 layers, 12 heads, 768 channels, context 1024,
// vocabulary 50257), in `precision`, `batch` sequences a step: tokens/s over 10 steps after 3 not
// timed, and MFU against `peak_tflops`: the measured GEMM peak of the precision's operands (fp32,
// or bf16 on the tensor cores), the ceiling the step's matrix products run against.
void gpt2_benchmark(Precision precision, size_t batch, double peak_tflops) {
  TrainerConfig c;
  c.device = "cuda:0";
  c.gpt = {50257, 1024, 12, 12, 768, true};
  c.max_batch = batch;
  c.precision = precision;
  c.loss_scale.enabled = precision == Precision::F16;
  c.seed = 1;
  Trainer t(c);
  auto* tokens = static_cast<int32_t*>(t.inputs());
  uint32_t state = 7;
  for (size_t i = 0; i < batch * c.gpt.block; ++i) {
    state = state * 1103515245u + 12345u;
    tokens[i] = int32_t((state >> 8) % c.gpt.vocab);
    t.labels()[i] = int32_t((state >> 4) % c.gpt.vocab);
  }
  for (int i = 0; i < 3; ++i) t.train_step(batch, 1, 1e-4f, 1.0f);
  auto t0 = std::chrono::steady_clock::now();
  const int steps = 10;
  for (int i = 0; i < steps; ++i) t.train_step(batch, 1, 1e-4f, 1.0f);
  t.device().synchronize();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double C = 768, L = 12, T = 1024, V = 50257;
  double flops_per_token = 6 * (L * 12 * C * C + V * C) + 12 * L * T * C;  // as worker/tasks/language-model.ts counts
  double tokens_per_s = double(steps) * double(batch) * T / seconds;
  double mfu = tokens_per_s * flops_per_token / (peak_tflops * 1e12);
  std::printf("{\"check\":\"gpt2-small\",\"ok\":true,\"precision\":\"%s\",\"batch\":%zu,\"msPerStep\":%.1f,\"tokensPerSec\":%.0f,\"mfuOfGemmPeak\":%.3f}\n",
              precision == Precision::F32 ? "fp32" : precision == Precision::BF16 ? "bf16" : "fp16", batch, 1e3 * seconds / steps, tokens_per_s, mfu);
}

}  // namespace

int main() {
  if (cuda_device_count() == 0) {
    std::printf("{\"check\":\"device\",\"ok\":false,\"where\":\"no GPU visible to this process\"}\n");
    return 2;
  }
  try {
    CudaDeviceInfo info = cuda_device_info(0);
    std::printf("{\"check\":\"device\",\"ok\":true,\"name\":\"%s\",\"memoryBytes\":%zu,\"capability\":\"%d.%d\"}\n", info.name.c_str(),
                info.memory_bytes, info.major, info.minor);
    CudaDevice& device = cuda_device(0);
    auto& cuda = static_cast<CudaKernels&>(cuda_kernels(0));
    StagedKernels staged(cuda, device);
    Rng rng(2024);
    std::vector<Case> all = cases(rng);
    all.push_back(attention_case(2, 17, 2 * 80, 2, rng));  // heads of 80 channels: 3 per lane
    all.push_back(attention_case(1, 9, 256, 1, rng));      // the widest head the kernels take
    for (const Case& c : all) {
      Vec w = random_vec(c.out_size, rng);
      gradcheck(staged, c, w);
      accumulate_check(staged, c, w);
      fast_against_reference(c, w, staged);
    }
    decode_check(staged);
    weight_rows_check(staged);
    update_check(staged);
    // The 16-bit products on bf16-rounded operands (what bf16 precision feeds them) compute the
    // reference's products: the matrix products and the convolutions.
    for (Precision p : {Precision::BF16, Precision::F16}) {
      StagedKernels staged16(static_cast<CudaKernels&>(cuda_kernels(0, p)), device);
      for (Case c : cases(rng)) {
        if (c.name.rfind("matmul", 0) != 0 && c.name.rfind("conv2d", 0) != 0) continue;
        auto round = [p](Vec& v) { for (auto& x : v) x = p == Precision::BF16 ? round_to_bf16(x) : round_to_fp16(x); };
        for (auto& v : c.inputs) round(v);
        Vec w = random_vec(c.out_size, rng);
        round(w);
        fast_against_reference(c, w, staged16);
      }
      std::vector<AttentionShape> shapes(std::begin(kAttention16Shapes), std::end(kAttention16Shapes));
      shapes.push_back({2, 300, 768, 12});  // GPT-2 small's heads of 64
      for (const AttentionShape& a : shapes) attention16_check("cuda", p, a, rng, staged16);
      activation16_checks(staged16, p, rng);  // the activations a 16-bit model stores, read and written as they are
    }
    training_checks();
    nccl_check(device);
    double peak = gemm_tflops(cuda, device, 4096);
    double peak_bf16 = gemm_tflops(static_cast<CudaKernels&>(cuda_kernels(0, Precision::BF16)), device, 4096);
    std::printf("{\"check\":\"gemm\",\"ok\":true,\"dtype\":\"fp32\",\"n\":4096,\"tflops\":%.2f}\n", peak);
    std::printf("{\"check\":\"gemm\",\"ok\":true,\"dtype\":\"bf16\",\"n\":4096,\"tflops\":%.2f}\n", peak_bf16);
    gpt2_benchmark(Precision::F32, 8, peak);
    gpt2_benchmark(Precision::BF16, 8, peak_bf16);
    kernel_timings(cuda, static_cast<CudaKernels&>(cuda_kernels(0, Precision::BF16)), device);
  } catch (const NativeError& e) {
    std::printf("{\"check\":\"error\",\"ok\":false,\"code\":\"%s\",\"where\":\"%s\"}\n", e.code().c_str(), e.what());
    return 1;
  }
  return failed_any ? 1 : 0;
}
