// The GPU's L2 and the SM<->L2 path. Each SM's port moves data at its own bandwidth and the L2
// at the shared one (both as first-come first-served pipes reserved when a request is made);
// blocks are kept by address in LRU order up to the capacity, so a tile re-reading a block
// another tile loaded recently hits, and one reading a block still being fetched waits for that
// fetch instead of fetching again. Misses go to the memory (HBM) model; stores are written back
// to it in the background (the SM is done once L2 has them).
//
// Leaves out: the two L2 partitions and their crossbar, sectors and set associativity (blocks
// are whatever the kernels load), write-back on eviction (stores go to HBM at once), L1.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <unordered_map>
#include <vector>

#include "models/gpu/kernel_plan.h"
#include "models/gpu/tile_gpu_params.h"
#include "models/hbm/event_sink.h"
#include "sim/stats.h"

namespace mlasim {

struct L2Stats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t merged = 0;     // reads of a block already being fetched
  uint64_t multicast = 0;  // loads delivered by a cluster peer
  uint64_t bytes_to_sm = 0;
  uint64_t bytes_from_memory = 0;
  uint64_t bytes_to_memory = 0;
  uint64_t evictions = 0;
};

class L2Cache {
 public:
  using Done = std::function<void()>;
  L2Cache(const TileGpuParams& params, EventSink& events, MemoryPort& memory);
  void read(uint32_t sm, const TileLoad& load, Done done);
  void write(uint32_t sm, const TileLoad& store, Done done);
  const L2Stats& stats() const { return stats_; }
  void register_stats(StatGroup& g);

 private:
  struct Waiter {
    Time floor;  // when the SM port and L2 pipe are through with the request
    Done done;
  };
  struct Block {
    uint64_t bytes = 0;
    bool filling = false;
    std::list<uint64_t>::iterator lru;
    std::vector<Waiter> waiters;
  };
  // Reserves the SM port and the L2 pipe for `bytes`; returns when both are through.
  Time transfer(uint32_t sm, uint64_t bytes, bool through_l2);
  void insert(uint64_t address, uint64_t bytes, bool filling);
  void evict();
  void filled(uint64_t address);

  const TileGpuParams& params_;
  EventSink& events_;
  MemoryPort& memory_;
  double sm_bw_, l2_bw_;
  std::vector<Time> port_free_;
  Time pipe_free_;
  std::unordered_map<uint64_t, Block> blocks_;
  std::list<uint64_t> lru_;  // front: most recently used
  uint64_t used_ = 0;
  L2Stats stats_;
};

}  // namespace mlasim
