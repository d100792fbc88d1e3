#include "topology.h"

#include <map>

namespace rm {

std::vector<int> Topology::ranks_of(int m) const {
  std::vector<int> ranks;
  for (int q = 0; q < int(machine_of.size()); ++q)
    if (machine_of[size_t(q)] == m) ranks.push_back(q);
  return ranks;
}

Topology topology_of(const std::vector<std::string>& identities, int rank) {
  std::map<std::string, int> index;  // identity → machine number
  std::vector<int> count;            // ranks per machine
  Topology t;
  for (int q = 0; q < int(identities.size()); ++q) {
    auto [it, added] = index.emplace(identities[size_t(q)], int(count.size()));
    if (added) count.push_back(0);
    if (q == rank) {
      t.machine = it->second;
      t.local_rank = count[size_t(it->second)];
    }
    ++count[size_t(it->second)];
    t.machine_of.push_back(it->second);
  }
  t.machines = int(count.size());
  t.local_size = count[size_t(t.machine)];
  for (int c : count) t.uniform = t.uniform && c == t.local_size;
  return t;
}

}  // namespace rm
