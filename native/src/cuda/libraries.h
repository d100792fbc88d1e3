// The GPU libraries the engine uses but never links: cuBLASLt now, NCCL with the NCCL process
// group. Each is loaded with dlopen on its first use, so the addon loads and runs CPU jobs on a
// machine without a GPU, a driver or these libraries, and a cuda job there fails in one line
// naming what is missing and where it was looked for.
//
// Where a library is looked for, in order: the path in its environment variable
// (RINGMASTER_CUBLASLT, RINGMASTER_NCCL); its bare soname (the loader's search: LD_LIBRARY_PATH,
// the CUDA toolkit's ld.so.conf entry); the nvidia/*/lib folders of installed Python
// environments, where PyTorch's and NVIDIA's wheels put them ($VIRTUAL_ENV, $CONDA_PREFIX,
// ~/.local, pyenv's versions, /usr/local, /usr).
#pragma once

#include <cublasLt.h>
#include <nccl.h>

#include <string>

namespace rm {

struct LibrarySpec {
  const char* what;      // "cuBLASLt"
  const char* env;       // "RINGMASTER_CUBLASLT"
  const char* soname;    // "libcublasLt.so.13"
  const char* wheel;     // the folder under nvidia/ in a wheel: "cu13"
  const char* install;   // how to get it: "pip install nvidia-cublas==13.*"
};

struct LoadedLibrary {
  void* handle;      // dlopen's
  std::string path;  // where it was found
};

// The library, loaded once per process, or CUDA_UNAVAILABLE naming every place tried.
const LoadedLibrary& load_library(const LibrarySpec& spec);

// Where the library the engine knows as `name` ("cublasLt", "nccl") was loaded from, loading it now;
// INVALID_ARGUMENT for a name it does not know.
std::string cuda_library_path(const std::string& name);

// cuBLASLt's entry points, resolved from the loaded library.
struct CublasLt {
  decltype(&cublasLtCreate) create;
  decltype(&cublasLtGetStatusString) status_string;
  decltype(&cublasLtMatmulDescCreate) desc_create;
  decltype(&cublasLtMatmulDescDestroy) desc_destroy;
  decltype(&cublasLtMatmulDescSetAttribute) desc_set;
  decltype(&cublasLtMatrixLayoutCreate) layout_create;
  decltype(&cublasLtMatrixLayoutDestroy) layout_destroy;
  decltype(&cublasLtMatmulPreferenceCreate) preference_create;
  decltype(&cublasLtMatmulPreferenceDestroy) preference_destroy;
  decltype(&cublasLtMatmulPreferenceSetAttribute) preference_set;
  decltype(&cublasLtMatmulAlgoGetHeuristic) heuristic;
  decltype(&cublasLtMatmul) matmul;
};

// The process's cuBLASLt, loaded on first use.
const CublasLt& cublaslt();

// NCCL's entry points (the NCCL process group's).
struct Nccl {
  decltype(&ncclGetUniqueId) get_unique_id;
  decltype(&ncclCommInitRankConfig) init_rank;
  decltype(&ncclCommSplit) split;
  decltype(&ncclCommGetAsyncError) async_error;
  decltype(&ncclCommAbort) abort;
  decltype(&ncclCommFinalize) finalize;
  decltype(&ncclCommDestroy) destroy;
  decltype(&ncclGetErrorString) error_string;
  decltype(&ncclAllReduce) all_reduce;
  decltype(&ncclBroadcast) broadcast;
  decltype(&ncclAllGather) all_gather;
  decltype(&ncclReduceScatter) reduce_scatter;
  decltype(&ncclSend) send;
  decltype(&ncclRecv) recv;
  decltype(&ncclGroupStart) group_start;
  decltype(&ncclGroupEnd) group_end;
};

// The process's NCCL, loaded on first use.
const Nccl& nccl();

// Throws CUDA_ERROR naming `what` and cuBLASLt's reason when status is not success.
void check_cublas(cublasStatus_t status, const std::string& what);

}  // namespace rm
