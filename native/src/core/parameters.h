// A model's parameters: named tensors in PyTorch's layout, laid end to end in one flat fp32
// buffer, with a gradient buffer of the same layout and, in mixed precision, the copy rounded to
// bf16/fp16 that the layers compute with (the fp32 values are the master copy the optimizer
// updates). Data parallelism moves these buffers into memory the ranks share; the layout stays.
//
// Parameter groups: each tensor says whether weight decay applies to it (nanoGPT's rule for
// transformers: 2-D weights and embeddings decay, biases and LayerNorm gains do not).
#pragma once

#include <string>
#include <vector>

#include "common.h"
#include "../kernels/kernels.h"
#include "../precision/precision.h"
#include "tensor.h"

namespace rm {

struct ParamInfo {
  std::string name;  // e.g. "transformer.h.0.attn.c_attn.weight"
  Shape shape;
  size_t offset;  // in floats, into the flat buffers
  size_t count;
  bool decay;
};

class Parameters {
 public:
  // Registers a tensor (before allocate()); returns its offset in the flat buffers.
  size_t add(std::string name, Shape shape, bool decay);
  // Creates the buffers, on `device`, once every tensor is registered.
  void allocate(Precision precision, Device& device = cpu_device());
  Device& device() const { return *device_; }

  const std::vector<ParamInfo>& list() const { return list_; }
  size_t count() const { return count_; }
  Precision precision() const { return precision_; }
  float* values() { return values_; }
  float* grads() { return grads_; }
  // What the layers read: the rounded copy in mixed precision, the values themselves in fp32.
  float* compute() { return precision_ == Precision::F32 ? values_ : compute_; }
  // Rounds the values of the ranges that changed into the compute copy (nothing in fp32), with
  // the kernels of the parameters' device.
  void refresh_compute(const std::vector<Range>& changed, Kernels& k);
  // Initialisation draws on the host: the values themselves on the CPU, else a host copy that
  // upload_host_values() moves to the device (and frees).
  float* host_values();
  void upload_host_values();
  // The ranges weight decay must skip, ascending.
  std::vector<Range> no_decay() const;

  // Caller-owned memory of count() floats from now on: values (the caller fills them),
  // gradients (the current ones move along), the compute copy (the caller fills it).
  void use_value_buffer(float* external);
  void use_grad_buffer(float* external);
  void use_compute_buffer(float* external);

 private:
  std::vector<ParamInfo> list_;
  size_t count_ = 0;
  bool allocated_ = false;
  Precision precision_ = Precision::F32;
  Device* device_ = &cpu_device();
  Tensor own_values_, own_grads_, own_compute_;
  FloatBuffer host_values_;  // a device's initialisation, until uploaded
  float* values_ = nullptr;
  float* grads_ = nullptr;
  float* compute_ = nullptr;
};

}  // namespace rm
