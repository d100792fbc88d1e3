// Where a tensor's memory lives. A device allocates (zeroed, aligned), copies within itself and
// to and from the host, and synchronises its queued work. The CPU device runs everything
// synchronously; a CUDA device queues on its stream and synchronize() waits for it.
#pragma once

#include <cstddef>
#include <string>

namespace rm {

enum class DeviceKind { Cpu, Cuda };

class Device {
 public:
  virtual ~Device() = default;
  virtual DeviceKind kind() const = 0;
  virtual std::string name() const = 0;  // "cpu", "cuda:0"
  virtual void* allocate(size_t bytes) = 0;  // zero-filled; throws OUT_OF_MEMORY
  virtual void release(void* p, size_t bytes) = 0;
  virtual void copy(void* dst, const void* src, size_t bytes) = 0;  // both on this device
  virtual void copy_to_host(void* host, const void* src, size_t bytes) = 0;
  virtual void copy_from_host(void* dst, const void* host, size_t bytes) = 0;
  virtual void synchronize() = 0;
};

// The process's CPU: 64-byte aligned memory, 2 MiB aligned on transparent huge pages from
// 2 MiB up (the optimizer streams through several such buffers per step; 4 KiB pages would
// cost a TLB miss every 1024 floats).
Device& cpu_device();

// The device a name gives: "cpu", or "cuda:N" (GPU N of those this process sees; CUDA_UNAVAILABLE
// where there is none, or in a build without CUDA). INVALID_ARGUMENT for any other name.
Device& device_named(const std::string& name);

}  // namespace rm
