// Shared memory for the ranks of one machine, set up over a group of exactly those ranks: its
// rank 0 creates the segment under a fresh name and broadcasts the name, the others open it, and
// once every rank has it mapped the name is unlinked, so nothing is left behind in /dev/shm
// whatever happens to the processes afterwards.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "process_group.h"
#include "shm_segment.h"

namespace rm {

// Collective over `machine`: Segment(name, args..., create, machine.timeout()) on every rank.
template <class Segment, class... Args>
std::unique_ptr<Segment> map_on_machine(ProcessGroup& machine, const std::string& what, const Args&... args) {
  constexpr size_t kNameInts = 32;  // 128 bytes: more than any name made here
  bool create = machine.rank() == 0;
  int32_t name_ints[kNameInts] = {};
  std::string name;
  std::unique_ptr<Segment> segment;
  auto map = [&] { segment = std::make_unique<Segment>(name, args..., create, machine.timeout()); };
  try {
    if (create) {
      name = fresh_segment_name(what);
      map();
      std::memcpy(name_ints, name.data(), std::min(name.size(), sizeof name_ints - 1));
    }
    machine.broadcast_now(name_ints, kNameInts, DType::I32, 0);
    if (!create) {
      name.assign(reinterpret_cast<const char*>(name_ints), strnlen(reinterpret_cast<const char*>(name_ints), sizeof name_ints));
      map();
    }
    machine.barrier_now();  // every rank has it mapped: the name can go
  } catch (...) {
    if (segment && create) segment->unlink();
    throw;
  }
  if (create) segment->unlink();
  return segment;
}

}  // namespace rm
