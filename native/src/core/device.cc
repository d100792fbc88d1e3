#include "device.h"

#include <cstdlib>
#include <cstring>

#include <sys/mman.h>

#include "common.h"
#ifdef RINGMASTER_WITH_CUDA
#include "../cuda/cuda_device.h"
#endif

namespace rm {

namespace {

constexpr size_t kAlign = 64;
constexpr size_t kHugePage = size_t(2) << 20;

class CpuDevice final : public Device {
 public:
  DeviceKind kind() const override { return DeviceKind::Cpu; }
  std::string name() const override { return "cpu"; }

  void* allocate(size_t bytes) override {
    if (bytes == 0) return nullptr;
    size_t align = bytes >= kHugePage ? kHugePage : kAlign;
    size_t rounded = (bytes + align - 1) / align * align;
    void* p = std::aligned_alloc(align, rounded);
    if (p == nullptr) throw NativeError("OUT_OF_MEMORY", "cannot allocate " + std::to_string(rounded) + " bytes");
    if (align == kHugePage) madvise(p, rounded, MADV_HUGEPAGE);  // advice only: failure is harmless
    std::memset(p, 0, rounded);
    return p;
  }
  void release(void* p, size_t) override { std::free(p); }
  void copy(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copy_to_host(void* host, const void* src, size_t bytes) override { std::memcpy(host, src, bytes); }
  void copy_from_host(void* dst, const void* host, size_t bytes) override { std::memcpy(dst, host, bytes); }
  void synchronize() override {}
};

}  // namespace

Device& cpu_device() {
  static CpuDevice device;
  return device;
}

Device& device_named(const std::string& name) {
  if (name == "cpu") return cpu_device();
  size_t digits = name.rfind("cuda:", 0) == 0 ? name.find_first_not_of("0123456789", 5) : 0;
  RM_CHECK(name.size() > 5 && name.rfind("cuda:", 0) == 0 && digits == std::string::npos && name.size() <= 8, "INVALID_ARGUMENT",
           "device \"" + name + "\": expected cpu or cuda:N");
#ifdef RINGMASTER_WITH_CUDA
  return cuda_device(std::stoi(name.substr(5)));
#else
  throw NativeError("CUDA_UNAVAILABLE", "device " + name + ": this build of Ringmaster has no CUDA (nvcc or the cuBLASLt/NCCL headers were missing when it was built)");
#endif
}

}  // namespace rm
