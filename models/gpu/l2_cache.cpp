// L2Cache: SM ports, the L2 pipe, LRU blocks and miss merging (see l2_cache.h).
#include "models/gpu/l2_cache.h"

#include <algorithm>

namespace mlasim {

L2Cache::L2Cache(const TileGpuParams& params, EventSink& events, MemoryPort& memory)
    : params_(params),
      events_(events),
      memory_(memory),
      sm_bw_(params.sm_l2_bandwidth()),
      l2_bw_(params.l2_bandwidth()),
      port_free_(params.sms) {}

Time L2Cache::transfer(uint32_t sm, uint64_t bytes, bool through_l2) {
  const Time now = events_.now();
  const auto b = static_cast<double>(bytes);
  Time& port = port_free_[sm];
  port = std::max(port, now) + Time::ps(static_cast<int64_t>(b / sm_bw_ * 1e12 + 0.5));
  Time floor = port;
  if (through_l2) {
    pipe_free_ =
        std::max(pipe_free_, now) + Time::ps(static_cast<int64_t>(b / l2_bw_ * 1e12 + 0.5));
    floor = std::max(floor, pipe_free_);
  }
  stats_.bytes_to_sm += bytes;
  return floor;
}

void L2Cache::read(uint32_t sm, const TileLoad& load, Done done) {
  if (load.multicast) {
    ++stats_.multicast;
    events_.at(transfer(sm, load.bytes, false) + params_.l2_hit_latency, std::move(done));
    return;
  }
  const Time floor = transfer(sm, load.bytes, true);
  auto it = blocks_.find(load.address);
  if (it != blocks_.end() && !it->second.filling) {
    ++stats_.hits;
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    events_.at(floor + params_.l2_hit_latency, std::move(done));
    return;
  }
  if (it != blocks_.end()) {
    ++stats_.merged;
    it->second.waiters.push_back(Waiter{floor, std::move(done)});
    return;
  }
  ++stats_.misses;
  stats_.bytes_from_memory += load.bytes;
  insert(load.address, load.bytes, true);
  blocks_[load.address].waiters.push_back(Waiter{floor, std::move(done)});
  const uint64_t address = load.address;
  memory_.access(MemRequest{address, Bytes(load.bytes), false},
                 [this, address] { filled(address); });
}

void L2Cache::filled(uint64_t address) {
  auto it = blocks_.find(address);
  if (it == blocks_.end()) return;
  Block& b = it->second;
  b.filling = false;
  const Time arrive = events_.now() + params_.l2_miss_latency;
  for (Waiter& w : b.waiters) {
    events_.at(std::max(arrive, w.floor) + params_.l2_hit_latency, std::move(w.done));
  }
  b.waiters.clear();
  b.waiters.shrink_to_fit();
  evict();
}

void L2Cache::write(uint32_t sm, const TileLoad& store, Done done) {
  const Time floor = transfer(sm, store.bytes, true);
  auto it = blocks_.find(store.address);
  if (it == blocks_.end()) {
    insert(store.address, store.bytes, false);
  } else if (!it->second.filling) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  evict();
  stats_.bytes_to_memory += store.bytes;
  // Written back in the background: it takes memory bandwidth but nobody waits for it.
  memory_.access(MemRequest{store.address, Bytes(store.bytes), true}, [] {});
  events_.at(floor + params_.l2_hit_latency, std::move(done));
}

void L2Cache::insert(uint64_t address, uint64_t bytes, bool filling) {
  lru_.push_front(address);
  Block& b = blocks_[address];
  b.bytes = bytes;
  b.filling = filling;
  b.lru = lru_.begin();
  used_ += bytes;
}

void L2Cache::evict() {
  // Least recently used blocks go first; blocks still being fetched stay.
  auto it = lru_.end();
  while (used_ > params_.l2_capacity.count() && it != lru_.begin()) {
    --it;
    auto b = blocks_.find(*it);
    if (b->second.filling) continue;
    used_ -= b->second.bytes;
    ++stats_.evictions;
    blocks_.erase(b);
    it = lru_.erase(it);
  }
}

void L2Cache::register_stats(StatGroup& g) {
  g.counter("hits", &stats_.hits, "count", "loads that found their block in L2");
  g.counter("misses", &stats_.misses, "count", "loads that fetched their block from memory");
  g.counter("merged", &stats_.merged, "count", "loads that waited for a fetch already under way");
  g.counter("multicast", &stats_.multicast, "count", "loads delivered by a cluster peer");
  g.counter("bytes_to_sm", &stats_.bytes_to_sm, "B", "bytes moved over SM<->L2 ports");
  g.counter("bytes_from_memory", &stats_.bytes_from_memory, "B", "bytes fetched on misses");
  g.counter("bytes_to_memory", &stats_.bytes_to_memory, "B", "bytes written back");
  g.counter("evictions", &stats_.evictions, "count", "blocks evicted");
  g.formula(
      "hit_rate",
      [this] {
        const double all = static_cast<double>(stats_.hits + stats_.misses + stats_.merged);
        return all > 0 ? static_cast<double>(stats_.hits + stats_.merged) / all : 0.0;
      },
      "fraction", "(hits + merged) / L2 reads");
}

}  // namespace mlasim
