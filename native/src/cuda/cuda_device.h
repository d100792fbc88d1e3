// The CUDA devices: one Device per GPU this process sees, each with the stream all of its work
// is queued on (kernels, copies, cuBLASLt, NCCL's own stream waits on it through events).
// Allocation is zero-filled like the CPU's; copies to and from the host synchronise.
#pragma once

#include <cuda_runtime.h>

#include "../core/device.h"

namespace rm {

// How many GPUs this process can see; 0 without a driver or a device (never throws).
int cuda_device_count();

// What a GPU is, for the agent's slots and the logs.
struct CudaDeviceInfo {
  std::string name;      // "NVIDIA H100 80GB HBM3"
  size_t memory_bytes;   // total
  int major, minor;      // compute capability
};
CudaDeviceInfo cuda_device_info(int index);

class CudaDevice final : public Device {
 public:
  explicit CudaDevice(int index);
  ~CudaDevice() override;
  DeviceKind kind() const override { return DeviceKind::Cuda; }
  std::string name() const override { return "cuda:" + std::to_string(index_); }
  void* allocate(size_t bytes) override;
  void release(void* p, size_t bytes) override;
  void copy(void* dst, const void* src, size_t bytes) override;
  void copy_to_host(void* host, const void* src, size_t bytes) override;
  void copy_from_host(void* dst, const void* host, size_t bytes) override;
  void synchronize() override;

  int index() const { return index_; }
  // Device memory allocated and released in `stream`'s order (see release), not zeroed.
  void* allocate_on(cudaStream_t stream, size_t bytes);
  void release_on(cudaStream_t stream, void* p);
  cudaStream_t stream() const { return stream_; }
  // Makes this device current on the calling thread (the runtime's device is per thread).
  void make_current() const;

 private:
  int index_;
  cudaStream_t stream_ = nullptr;
  bool pooled_ = false;  // memory from the device's memory pool (where it has one)
};

// The process's device `index`, created on first use; CUDA_UNAVAILABLE when there is no such GPU.
CudaDevice& cuda_device(int index);

}  // namespace rm
