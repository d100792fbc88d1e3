// The Engine constructor's config object (worker/native.ts's EngineConfig, validated and
// defaulted in TypeScript) read into a TrainerConfig; INVALID_ARGUMENT naming a bad field.
#pragma once

#include <napi.h>

#include "../train/trainer.h"

namespace rm {

TrainerConfig parse_engine_config(const Napi::Object& o);

}  // namespace rm
