// Closed-loop synthetic traffic (see hbm_traffic.h).
#include "models/hbm/hbm_traffic.h"

#include <chrono>
#include <random>

#include "models/hbm/hbm_engine.h"

namespace mlasim {

HbmTrafficResult run_memory_traffic(
    const std::function<std::unique_ptr<MemoryPort>(EventSink&)>& make,
    const HbmTrafficSpec& spec) {
  EventLoop loop;
  std::unique_ptr<MemoryPort> mem = make(loop);
  const uint64_t n = (spec.total_bytes + spec.request_bytes - 1) / spec.request_bytes;
  const uint64_t write_every =
      spec.write_fraction > 0 ? static_cast<uint64_t>(1.0 / spec.write_fraction + 0.5) : 0;
  std::mt19937_64 rng(spec.seed);
  // Random requests land anywhere in the first 64 GiB, aligned to their size.
  const uint64_t slots = (64ull << 30) / spec.request_bytes;
  uint64_t issued = 0, done = 0;
  uint64_t latency_ps = 0;
  Time last;
  std::function<void()> issue = [&] {
    if (issued >= n) return;
    const uint64_t i = issued++;
    MemRequest r;
    r.size = Bytes(spec.request_bytes);
    r.address = spec.pattern == HbmPattern::Sequential
                    ? spec.base + i * spec.request_bytes
                    : spec.base + (rng() % slots) * spec.request_bytes;
    r.write = write_every > 0 && i % write_every == write_every - 1;
    const Time start = loop.now();
    mem->access(r, [&, start] {
      ++done;
      latency_ps += static_cast<uint64_t>((loop.now() - start).ps());
      last = loop.now();
      issue();
    });
  };
  const auto t0 = std::chrono::steady_clock::now();
  for (uint32_t k = 0; k < spec.outstanding && issued < n; ++k)
    issue();
  loop.run();
  const auto t1 = std::chrono::steady_clock::now();
  HbmTrafficResult res;
  res.elapsed = last;
  res.requests = done;
  res.bytes = done * spec.request_bytes;
  res.wall_seconds = std::chrono::duration<double>(t1 - t0).count();
  res.events = loop.events();
  res.mean_latency = Time::ps(done ? static_cast<int64_t>(latency_ps / done) : 0);
  return res;
}

HbmTrafficResult run_hbm_traffic(const HbmParams& params, const HbmTrafficSpec& spec) {
  return run_memory_traffic(
      [&params](EventSink& sink) { return std::make_unique<HbmEngine>(params, sink); }, spec);
}

}  // namespace mlasim
