// The process-wide oneDNN CPU engine and a helper for memory descriptors.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <string>

namespace rm {

// One engine for the process; primitives are created once per shape and reused.
dnnl::engine& cpu_engine();

// A stream per calling thread (oneDNN streams are not meant to be shared across threads).
dnnl::stream& cpu_stream();

// Plain row-major f32 descriptor with the given dims and format tag.
inline dnnl::memory::desc f32_desc(const dnnl::memory::dims& dims, dnnl::memory::format_tag tag) {
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, tag);
}

inline dnnl::memory::desc bf16_desc(const dnnl::memory::dims& dims, dnnl::memory::format_tag tag) {
  return dnnl::memory::desc(dims, dnnl::memory::data_type::bf16, tag);
}

// The elements of a bf16 memory object.
inline uint16_t* bf16_data(const dnnl::memory& m) { return static_cast<uint16_t*>(m.get_data_handle()); }

// A matmul's or convolution's input descriptor: bf16 for bf16 kernels, f32 otherwise.
inline dnnl::memory::desc input_desc(bool bf16, const dnnl::memory::dims& dims, dnnl::memory::format_tag tag) {
  return bf16 ? bf16_desc(dims, tag) : f32_desc(dims, tag);
}

// What a kernel reads as an input: for bf16 kernels the bf16 copy (viewed through `d`, which may
// be a transposed view), otherwise the fp32 values.
dnnl::memory input_memory(bool bf16, const dnnl::memory::desc& d, const dnnl::memory& copy, const float* values);

// Name of the instruction set oneDNN dispatches to on this CPU (e.g. "avx512_core_amx").
std::string dnnl_isa_name();

}  // namespace rm
