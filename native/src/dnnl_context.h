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

// Name of the instruction set oneDNN dispatches to on this CPU (e.g. "avx512_core_amx").
std::string dnnl_isa_name();

}  // namespace rm
