// What other bindings need from the ProcessGroup binding.
#pragma once

#include <napi.h>

#include <memory>

#include "../collectives/process_group.h"

namespace rm {

// The native group behind a JS ProcessGroup; INVALID_ARGUMENT for anything else.
std::shared_ptr<ProcessGroup> unwrap_process_group(const Napi::Value& v);

}  // namespace rm
