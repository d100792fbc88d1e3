#include "cuda_device.h"

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <vector>

#include "cuda_check.h"

namespace rm {

namespace {

std::string bytes_text(size_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f GiB", double(bytes) / double(size_t(1) << 30));
  return text;
}

}  // namespace

void throw_cuda_error(cudaError_t status, const std::string& what) {
  std::string reason = cudaGetErrorString(status);
  cudaGetLastError();  // a sticky error stays; a recoverable one must not fail the next call too
  if (status == cudaErrorNoDevice || status == cudaErrorInsufficientDriver || status == cudaErrorInitializationError)
    throw NativeError("CUDA_UNAVAILABLE", what + ": " + reason + " (is an NVIDIA GPU and its driver on this machine?)");
  if (status == cudaErrorMemoryAllocation) throw NativeError("OUT_OF_MEMORY", what + ": out of GPU memory");
  throw NativeError("CUDA_ERROR", what + ": " + reason);
}

// What this process's CUDA must be, set before the driver starts (the first CUDA call of the
// process goes through here). A pipeline stage has NCCL receives waiting on its peer while it
// launches compute kernels, and two things would make those wait for the receives: loading a
// kernel on its first launch (lazy loading, CUDA's default since 12.2, may synchronise the
// context: CUDA's guide names this deadlock), and streams sharing a hardware work queue (an
// operation waiting for its stream's previous one holds up the queue's other streams; each NCCL
// group has a stream, and CUDA gives 8 queues by default). So: every kernel loaded when its
// module is, and 32 queues (CUDA's most), whatever the environment said.
static void prepare_cuda_environment() {
  static bool done = [] {
    setenv("CUDA_MODULE_LOADING", "EAGER", 1);
    setenv("CUDA_DEVICE_MAX_CONNECTIONS", "32", 1);
    return true;
  }();
  (void)done;
}

int cuda_device_count() {
  prepare_cuda_environment();
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

CudaDeviceInfo cuda_device_info(int index) {
  prepare_cuda_environment();
  cudaDeviceProp prop{};
  RM_CUDA_CHECK(cudaGetDeviceProperties(&prop, index), "reading the properties of cuda:" + std::to_string(index));
  return {prop.name, prop.totalGlobalMem, prop.major, prop.minor};
}

CudaDevice::CudaDevice(int index) : index_(index) {
  int n = cuda_device_count();
  if (index < 0 || index >= n) {
    int probe = 0;
    cudaError_t status = cudaGetDeviceCount(&probe);
    if (status != cudaSuccess) throw_cuda_error(status, "opening cuda:" + std::to_string(index));
    throw NativeError("CUDA_UNAVAILABLE", "no GPU cuda:" + std::to_string(index) + " on this machine (it has " + std::to_string(n) + ")");
  }
  make_current();
  RM_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "creating a stream on " + name());
  // Memory comes from the stream-ordered allocator where the device has one (see release), which
  // keeps what is freed for the next allocation instead of handing it back to the driver at every
  // synchronisation (a caching allocator, as PyTorch's).
  int pools = 0;
  RM_CUDA_CHECK(cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, index_), "reading the attributes of " + name());
  pooled_ = pools != 0;
  if (pooled_) {
    cudaMemPool_t pool = nullptr;
    RM_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, index_), "reading the memory pool of " + name());
    uint64_t keep_all = UINT64_MAX;
    RM_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep_all), "setting the memory pool of " + name());
  }
}

CudaDevice::~CudaDevice() {
  if (stream_) cudaStreamDestroy(stream_);
}

void CudaDevice::make_current() const { RM_CUDA_CHECK(cudaSetDevice(index_), "selecting " + name()); }

void* CudaDevice::allocate(size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = allocate_on(stream_, bytes);
  RM_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream_), "zeroing new memory on " + name());
  return p;
}

void CudaDevice::release(void* p, size_t) { release_on(stream_, p); }

void* CudaDevice::allocate_on(cudaStream_t stream, size_t bytes) {
  make_current();
  void* p = nullptr;
  if (pooled_) RM_CUDA_CHECK(cudaMallocAsync(&p, bytes, stream), "allocating " + bytes_text(bytes) + " on " + name());
  else RM_CUDA_CHECK(cudaMalloc(&p, bytes), "allocating " + bytes_text(bytes) + " on " + name());
  return p;
}

// In the stream's order: after the work queued on it that may still use the memory, without
// waiting for the device as cudaFree does (a pipeline stage's NCCL receives may be waiting on its
// peer, which waits on this rank; without memory pools, that wait remains). A buffer handed to an
// NCCL group goes only once its Work has been waited.
void CudaDevice::release_on(cudaStream_t stream, void* p) {
  if (p == nullptr) return;
  cudaSetDevice(index_);  // not make_current: destructors call this, and must not throw
  if (pooled_) cudaFreeAsync(p, stream);
  else cudaFree(p);
}

void CudaDevice::copy(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  RM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_), "copying on " + name());
}

void CudaDevice::copy_to_host(void* host, const void* src, size_t bytes) {
  if (bytes == 0) return;
  RM_CUDA_CHECK(cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, stream_), "copying from " + name());
  synchronize();
}

void CudaDevice::copy_from_host(void* dst, const void* host, size_t bytes) {
  if (bytes == 0) return;
  RM_CUDA_CHECK(cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, stream_), "copying to " + name());
  synchronize();  // the host buffer may change as soon as we return
}

void CudaDevice::synchronize() { RM_CUDA_CHECK(cudaStreamSynchronize(stream_), "running work on " + name()); }

CudaDevice& cuda_device(int index) {
  static std::mutex mutex;
  static std::vector<std::unique_ptr<CudaDevice>> devices;
  std::lock_guard<std::mutex> lock(mutex);
  if (index >= 0 && size_t(index) < devices.size() && devices[index]) return *devices[index];
  auto device = std::make_unique<CudaDevice>(index);  // throws CUDA_UNAVAILABLE for a GPU that is not there
  if (devices.size() <= size_t(index)) devices.resize(index + 1);
  devices[index] = std::move(device);
  return *devices[index];
}

}  // namespace rm
