#include "topology.h"

#include <map>

namespace rm {

Topology topology_of(const std::vector<std::string>& identities, int rank) {
  std::map<std::string, int> index;  // identity → machine number
  std::vector<int> count;            // ranks per machine
  Topology t;
  for (int q = 0; q < int(identities.size()); ++q) {
    auto [it, added] = index.emplace(identities[q], int(count.size()));
    if (added) count.push_back(0);
    if (q == rank) {
      t.machine = it->second;
      t.local_rank = count[it->second];
    }
    ++count[it->second];
  }
  t.machines = int(count.size());
  t.local_size = count[t.machine];
  for (int c : count) t.uniform = t.uniform && c == t.local_size;
  return t;
}

Topology discover_topology(gloo::rendezvous::Store& store, int rank, int size, const std::string& identity) {
  store.set("machine/" + std::to_string(rank), std::vector<char>(identity.begin(), identity.end()));
  std::vector<std::string> identities;
  for (int q = 0; q < size; ++q) {
    auto v = store.get("machine/" + std::to_string(q));
    identities.emplace_back(v.begin(), v.end());
  }
  return topology_of(identities, rank);
}

}  // namespace rm
