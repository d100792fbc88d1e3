// Finding which ranks of a group share a machine (see Topology). Ranks publish their machine's
// identity through the rendezvous store; machines are numbered in order of their lowest rank,
// and within a machine ranks are numbered (local rank) in rank order.
#pragma once

#include <gloo/rendezvous/store.h>

#include <string>
#include <vector>

#include "process_group.h"

namespace rm {

// From every rank's machine identity, indexed by rank.
Topology topology_of(const std::vector<std::string>& identities, int rank);

// Collective through the store: publishes `identity` as this rank's and reads every rank's.
std::vector<std::string> exchange_identities(gloo::rendezvous::Store& store, int rank, int size, const std::string& identity);

}  // namespace rm
