#include <gtest/gtest.h>
#include <chrono>
#include "models/hbm/hbm_engine.h"
namespace mlasim {
extern uint64_t g_cnt[8];
namespace {
// N streams, each reading `req` bytes at a time from its own region, `depth` requests in flight each.
void streams(const char* map, int n, uint64_t req, int depth, uint64_t region) {
  HbmParams p;
  p.controller.address_map = map;
  EventLoop loop;
  HbmEngine hbm(p, loop);
  uint64_t total = 0;
  const uint64_t per_stream = 2ull << 20;
  std::vector<uint64_t> next(n, 0);
  std::function<void(int)> issue = [&](int s) {
    if (next[s] >= per_stream) return;
    const uint64_t a = s * region + next[s];
    next[s] += req;
    hbm.access(MemRequest{a, Bytes(req), false}, [&, s] { total += req; issue(s); });
  };
  auto t0 = std::chrono::steady_clock::now();
  for (int s = 0; s < n; ++s) for (int d = 0; d < depth; ++d) issue(s);
  loop.run();
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double eff = total / loop.now().to_seconds() / p.peak_bandwidth().bytes_per_s();
  auto tot = hbm.totals();
  std::printf("%-32s n=%3d req=%6lu eff %.3f acts/burst %.3f wall %.2f s\n", map, n, (unsigned long)req, eff,
              (double)tot.activates / (tot.read_bursts + 1), wall);
  std::printf("scans %lu advances %lu acts %lu pres %lu fastpure %lu banks/scan %.1f bursts %lu wakes %lu\n", g_cnt[0], g_cnt[1], g_cnt[2], g_cnt[3], g_cnt[4], (double)g_cnt[5]/g_cnt[0], tot.read_bursts, hbm.wakes());
}
TEST(HbmExplore, Maps) {
  const char* env = getenv("MAPS");
  std::string maps = env ? env : "bg,co:2,pc,ch,st,co,ba,sid,ro";
  int n = getenv("N") ? atoi(getenv("N")) : 132;
  streams(maps.c_str(), n, 16384, 4, 7ull << 20);
}
}
}
