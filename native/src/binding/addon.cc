// Module entry: the Engine class, buildInfo(), cudaLibrary(), cudaDevices(), roundTo(), bf16Probe(), mapFile(), matmulPeak(), isaProbe(), pipelineSchedule(), pipelineArrivals(), currentOperation() and createProcessGroup(). Declared once in TypeScript (worker/native.ts).
#include <napi.h>

#include <oneapi/dnnl/dnnl.hpp>

#include "binding_util.h"
#include "../kernels/cpu/dnnl_context.h"
#include "../core/mapped_file.h"
#include "../kernels/cpu/matmul_peak.h"
#include "../precision/precision.h"
#include "../collectives/operations.h"
#include "../train/pipeline_schedule.h"
#ifdef RINGMASTER_WITH_CUDA
#include "../cuda/cuda_device.h"
#include "../cuda/libraries.h"
#endif

namespace rm {

Napi::Function define_engine_class(Napi::Env env);
void register_bench(Napi::Env env, Napi::Object exports);
void register_collectives(Napi::Env env, Napi::Object exports);


// buildInfo() → { dnnlVersion, isa, cuda, cudaDevices }: what this build and machine can run.
// bf16Probe() → { fp32Gflops, bf16Gflops, paysOff }: the once-per-process measurement bf16
// `auto` decides by (kernels/cpu/matmul_peak.h).
static Napi::Value bf16_probe_js(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&] {
    const Bf16Probe& p = bf16_probe();
    auto o = Napi::Object::New(info.Env());
    o.Set("fp32Gflops", p.fp32_gflops);
    o.Set("bf16Gflops", p.bf16_gflops);
    o.Set("paysOff", p.pays_off);
    return o;
  });
}

// mapFile(path) → ArrayBuffer: the file's bytes, mapped read-only and shared (core/mapped_file.h);
// unmapped when the buffer is collected. Writing to it faults: wrap it in typed arrays to read.
static Napi::Value map_file(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    RM_CHECK(info[0].IsString(), "INVALID_ARGUMENT", "mapFile(path) needs a path");
    auto file = std::make_unique<MappedFile>(info[0].As<Napi::String>().Utf8Value());
    if (file->size() == 0) return Napi::ArrayBuffer::New(info.Env(), 0);
    auto buffer = Napi::ArrayBuffer::New(info.Env(), const_cast<void*>(file->data()), file->size(),
                                         [](Napi::Env, void*, MappedFile* f) { delete f; }, file.get());
    file.release();  // the buffer's finaliser owns it now
    return buffer;
  });
}

static Napi::Value build_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  const dnnl_version_t* v = dnnl_version();
  o.Set("dnnlVersion", std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
  o.Set("isa", dnnl_isa_name());
#ifdef RINGMASTER_WITH_CUDA
  o.Set("cuda", true);
  o.Set("cudaDevices", cuda_device_count());
#else
  o.Set("cuda", false);
  o.Set("cudaDevices", 0);
#endif
  return o;
}

// cudaLibrary(name) → the path the GPU library `name` ("cublasLt") was loaded from, loading it
// as a cuda job's first GPU use would; CUDA_UNAVAILABLE, in one line, where it cannot be.
static Napi::Value cuda_library(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    RM_CHECK(info[0].IsString(), "INVALID_ARGUMENT", "cudaLibrary(name) needs a name");
#ifdef RINGMASTER_WITH_CUDA
    return Napi::String::New(info.Env(), cuda_library_path(info[0].As<Napi::String>().Utf8Value()));
#else
    throw NativeError("CUDA_UNAVAILABLE", "this build of Ringmaster has no CUDA (nvcc or the cuBLASLt/NCCL headers were missing when it was built)");
#endif
  });
}

// cudaDevices() → [{ index, name, memoryBytes, capability }]: the GPUs this process sees.
static Napi::Value cuda_devices(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto out = Napi::Array::New(env);
#ifdef RINGMASTER_WITH_CUDA
    for (int i = 0; i < cuda_device_count(); ++i) {
      CudaDeviceInfo d = cuda_device_info(i);
      auto o = Napi::Object::New(env);
      o.Set("index", i);
      o.Set("name", d.name);
      o.Set("memoryBytes", double(d.memory_bytes));
      o.Set("capability", std::to_string(d.major) + "." + std::to_string(d.minor));
      out.Set(uint32_t(i), o);
    }
#endif
    return out;
  });
}

// roundTo(values, precision) → Float32Array: each value rounded as bf16 or fp16 stores it.
static Napi::Value round_to_precision(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&] {
    auto x = require_f32(info[0], 0, "values");
    Precision p = parse_precision(info[1].ToString().Utf8Value());
    auto out = Napi::Float32Array::New(info.Env(), x.ElementLength());
    copy_rounded(p, out.Data(), x.Data(), x.ElementLength());
    return Napi::Value(out);
  });
}

static Napi::Value actions_js(Napi::Env env, const std::vector<PipelineAction>& actions) {
  auto out = Napi::Array::New(env, actions.size());
  for (size_t i = 0; i < actions.size(); ++i) {
    auto a = Napi::Object::New(env);
    a.Set("forward", actions[i].forward);
    a.Set("microBatch", double(actions[i].micro_batch));
    a.Set("chunk", double(actions[i].chunk));
    out.Set(uint32_t(i), a);
  }
  return out;
}

// pipelineSchedule(stages, stage, chunks, microBatches) → { forward, microBatch, chunk }[]: the
// order one stage runs a step in (train/pipeline_schedule.h), for the schedule's tests.
static Napi::Value pipeline_schedule_js(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&] {
    size_t stages = require_count(info[0], "stages"), stage = require_count(info[1], "stage");
    return actions_js(info.Env(), pipeline_schedule(stages, stage, require_count(info[2], "chunks"), require_count(info[3], "microBatches")));
  });
}

// pipelineArrivals(stages, stage, chunks, microBatches, forward) → { forward, microBatch, chunk }[]:
// what one link into a stage carries in a step, in order (pipeline_arrivals), for the tests.
static Napi::Value pipeline_arrivals_js(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&] {
    size_t stages = require_count(info[0], "stages"), stage = require_count(info[1], "stage");
    RM_CHECK(info[4].IsBoolean(), "INVALID_ARGUMENT", "pipelineArrivals(..., forward) needs a boolean");
    return actions_js(info.Env(), pipeline_arrivals(stages, stage, require_count(info[2], "chunks"), require_count(info[3], "microBatches"),
                                                    info[4].As<Napi::Boolean>().Value()));
  });
}

// currentOperation() → string: the communication operation in flight longest, "" when none.
static Napi::Value current_operation(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), oldest_operation()); }

static Napi::Object init(Napi::Env env, Napi::Object exports) {
  exports.Set("currentOperation", Napi::Function::New(env, current_operation, "currentOperation"));
  exports.Set("pipelineSchedule", Napi::Function::New(env, pipeline_schedule_js, "pipelineSchedule"));
  exports.Set("pipelineArrivals", Napi::Function::New(env, pipeline_arrivals_js, "pipelineArrivals"));
  exports.Set("roundTo", Napi::Function::New(env, round_to_precision, "roundTo"));
  exports.Set("bf16Probe", Napi::Function::New(env, bf16_probe_js, "bf16Probe"));
  exports.Set("mapFile", Napi::Function::New(env, map_file, "mapFile"));
  exports.Set("Engine", define_engine_class(env));
  exports.Set("buildInfo", Napi::Function::New(env, build_info, "buildInfo"));
  exports.Set("cudaLibrary", Napi::Function::New(env, cuda_library, "cudaLibrary"));
  exports.Set("cudaDevices", Napi::Function::New(env, cuda_devices, "cudaDevices"));
  register_bench(env, exports);
  register_collectives(env, exports);
  return exports;
}

}  // namespace rm

static Napi::Object init_module(Napi::Env env, Napi::Object exports) { return rm::init(env, exports); }

NODE_API_MODULE(ringmaster, init_module)
