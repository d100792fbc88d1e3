#include "libraries.h"

#include <dlfcn.h>
#include <glob.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "../core/common.h"

namespace rm {

namespace {

// Every nvidia/<wheel>/lib/<soname> below the site-packages of the Python environments we know of.
std::vector<std::string> wheel_paths(const LibrarySpec& spec) {
  std::vector<std::string> prefixes;
  for (const char* var : {"VIRTUAL_ENV", "CONDA_PREFIX"})
    if (const char* v = std::getenv(var)) prefixes.push_back(v);
  if (const char* home = std::getenv("HOME")) {
    prefixes.push_back(std::string(home) + "/.local");
    prefixes.push_back(std::string(home) + "/.pyenv/versions/*");
  }
  prefixes.push_back("/usr/local");
  prefixes.push_back("/usr");
  std::vector<std::string> found;
  for (const auto& prefix : prefixes) {
    for (const char* packages : {"site-packages", "dist-packages"}) {
      std::string pattern = prefix + "/lib/python3*/" + packages + "/nvidia/" + spec.wheel + "/lib/" + spec.soname;
      glob_t matches{};
      if (glob(pattern.c_str(), 0, nullptr, &matches) == 0)
        for (size_t i = 0; i < matches.gl_pathc; ++i) found.emplace_back(matches.gl_pathv[i]);
      globfree(&matches);
    }
  }
  return found;
}

}  // namespace

const LoadedLibrary& load_library(const LibrarySpec& spec) {
  static std::mutex mutex;
  static std::map<std::string, LoadedLibrary> loaded;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = loaded.find(spec.soname); it != loaded.end()) return it->second;
  std::vector<std::string> candidates;
  const char* env = std::getenv(spec.env);
  if (env && *env) candidates.emplace_back(env);
  candidates.emplace_back(spec.soname);
  for (auto& p : wheel_paths(spec)) candidates.push_back(std::move(p));
  std::string tried;
  for (const auto& path : candidates) {
    if (void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) return loaded[spec.soname] = {handle, path};
    tried += (tried.empty() ? "" : ", ") + path;
  }
  throw NativeError("CUDA_UNAVAILABLE", std::string(spec.what) + " not found (tried " + tried + (env && *env ? "" : std::string("; $") + spec.env + " is unset") +
                                            "): " + spec.install + ", or set " + spec.env + " to its path");
}

namespace {

template <class F>
void resolve(void* handle, const LibrarySpec& spec, F& f, const char* symbol) {
  f = reinterpret_cast<F>(dlsym(handle, symbol));
  RM_CHECK(f != nullptr, "CUDA_UNAVAILABLE", std::string(spec.what) + " has no " + symbol + " (an older version than " + spec.soname + "?)");
}

const LibrarySpec kCublasLt = {"cuBLASLt", "RINGMASTER_CUBLASLT", "libcublasLt.so.13", "cu13", "install the CUDA 13 toolkit's cuBLAS or `pip install nvidia-cublas==13.*`"};

CublasLt load_cublaslt() {
  void* h = load_library(kCublasLt).handle;
  CublasLt api{};
  resolve(h, kCublasLt, api.create, "cublasLtCreate");
  resolve(h, kCublasLt, api.status_string, "cublasLtGetStatusString");
  resolve(h, kCublasLt, api.desc_create, "cublasLtMatmulDescCreate");
  resolve(h, kCublasLt, api.desc_destroy, "cublasLtMatmulDescDestroy");
  resolve(h, kCublasLt, api.desc_set, "cublasLtMatmulDescSetAttribute");
  resolve(h, kCublasLt, api.layout_create, "cublasLtMatrixLayoutCreate");
  resolve(h, kCublasLt, api.layout_destroy, "cublasLtMatrixLayoutDestroy");
  resolve(h, kCublasLt, api.preference_create, "cublasLtMatmulPreferenceCreate");
  resolve(h, kCublasLt, api.preference_destroy, "cublasLtMatmulPreferenceDestroy");
  resolve(h, kCublasLt, api.preference_set, "cublasLtMatmulPreferenceSetAttribute");
  resolve(h, kCublasLt, api.heuristic, "cublasLtMatmulAlgoGetHeuristic");
  resolve(h, kCublasLt, api.matmul, "cublasLtMatmul");
  return api;
}

const LibrarySpec kNccl = {"NCCL", "RINGMASTER_NCCL", "libnccl.so.2", "nccl", "install NCCL 2 for CUDA 13 or `pip install nvidia-nccl-cu13`"};

Nccl load_nccl() {
  void* h = load_library(kNccl).handle;
  Nccl api{};
  resolve(h, kNccl, api.get_unique_id, "ncclGetUniqueId");
  resolve(h, kNccl, api.init_rank, "ncclCommInitRankConfig");
  resolve(h, kNccl, api.split, "ncclCommSplit");
  resolve(h, kNccl, api.async_error, "ncclCommGetAsyncError");
  resolve(h, kNccl, api.abort, "ncclCommAbort");
  resolve(h, kNccl, api.finalize, "ncclCommFinalize");
  resolve(h, kNccl, api.destroy, "ncclCommDestroy");
  resolve(h, kNccl, api.error_string, "ncclGetErrorString");
  resolve(h, kNccl, api.all_reduce, "ncclAllReduce");
  resolve(h, kNccl, api.broadcast, "ncclBroadcast");
  resolve(h, kNccl, api.all_gather, "ncclAllGather");
  resolve(h, kNccl, api.reduce_scatter, "ncclReduceScatter");
  resolve(h, kNccl, api.send, "ncclSend");
  resolve(h, kNccl, api.recv, "ncclRecv");
  resolve(h, kNccl, api.group_start, "ncclGroupStart");
  resolve(h, kNccl, api.group_end, "ncclGroupEnd");
  return api;
}

}  // namespace

const Nccl& nccl() {
  static const Nccl api = load_nccl();
  return api;
}

const CublasLt& cublaslt() {
  static const CublasLt api = load_cublaslt();  // a failed load throws and is tried again next time
  return api;
}

std::string cuda_library_path(const std::string& name) {
  if (name == "cublasLt") {
    cublaslt();
    return load_library(kCublasLt).path;
  }
  if (name == "nccl") {
    nccl();
    return load_library(kNccl).path;
  }
  throw NativeError("INVALID_ARGUMENT", "no GPU library " + name + " (cublasLt, nccl)");
}

void check_cublas(cublasStatus_t status, const std::string& what) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  if (status == CUBLAS_STATUS_ALLOC_FAILED) throw NativeError("OUT_OF_MEMORY", what + ": cuBLASLt is out of GPU memory");
  throw NativeError("CUDA_ERROR", what + ": " + cublaslt().status_string(status));
}

}  // namespace rm
