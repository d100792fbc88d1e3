// Finding which ranks of a group share a machine (see Topology) from each rank's machine identity
// (which the Gloo group exchanges through the rendezvous store); machines are numbered in order
// of their lowest rank, and within a machine ranks are numbered (local rank) in rank order.
#pragma once

#include <string>
#include <vector>

#include "process_group.h"

namespace rm {

// From every rank's machine identity, indexed by rank.
Topology topology_of(const std::vector<std::string>& identities, int rank);

}  // namespace rm
