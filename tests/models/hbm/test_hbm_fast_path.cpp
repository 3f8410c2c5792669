// The fast paths of the HBM controller (column-only loop and whole-round batching) must give
// exactly the cycles of the burst-by-burst scheduler: same traffic, every completion time equal.
// So must the parallel advance (controller.threads), down to the order of the completions.
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "models/hbm/hbm_engine.h"

namespace mlasim {
namespace {

struct Issue {
  Time at;
  MemRequest req;
};

// Runs `issues` (sorted by time) and returns each request's completion time.
// `order`, if given, receives the request indices in the order they completed.
std::vector<int64_t> completions(HbmParams p, HbmFastPath fast, const std::vector<Issue>& issues,
                                 HbmTotals* totals = nullptr,
                                 std::vector<size_t>* order = nullptr) {
  p.controller.fast_path = fast;
  EventLoop loop;
  HbmEngine hbm(p, loop);
  std::vector<int64_t> done(issues.size(), -1);
  for (size_t i = 0; i < issues.size(); ++i) {
    loop.at(issues[i].at, [&, i] {
      hbm.access(issues[i].req, [&, i] {
        done[i] = loop.now().ps();
        if (order) order->push_back(i);
      });
    });
  }
  loop.run();
  if (totals) *totals = hbm.totals();
  return done;
}

// Two runs of the same traffic agree on the counters every path must keep exactly.
void expect_same_totals(const HbmTotals& a, const HbmTotals& b, const std::string& what) {
  EXPECT_EQ(a.activates, b.activates) << what;
  EXPECT_EQ(a.precharges, b.precharges) << what;
  EXPECT_EQ(a.row_hits, b.row_hits) << what;
  EXPECT_EQ(a.refreshes, b.refreshes) << what;
  EXPECT_EQ(a.read_bursts + a.write_bursts, b.read_bursts + b.write_bursts) << what;
  EXPECT_EQ(a.queue_integral, b.queue_integral) << what;
  EXPECT_EQ(a.intake_integral, b.intake_integral) << what;
  EXPECT_EQ(a.bank_open_integral, b.bank_open_integral) << what;
}

std::vector<Issue> mixed_traffic(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Issue> out;
  Time t;
  for (int i = 0; i < 400; ++i) {
    Issue is;
    is.at = t;
    const int kind = static_cast<int>(rng() % 6);
    if (kind <= 1) {  // long sequential streams at a few bases
      is.req.address = (rng() % 4) * (1ull << 30) + (rng() % 64) * (1 << 20);
      is.req.size = Bytes(256 << 10);
    } else if (kind == 2) {  // random small reads
      is.req.address = (rng() % (1ull << 30)) & ~uint64_t{31};
      is.req.size = Bytes(32);
    } else if (kind == 3) {  // medium reads at odd offsets
      is.req.address = rng() % (1ull << 32);
      is.req.size = Bytes(1 + rng() % 20000);
    } else {  // writes
      is.req.address = (rng() % (1ull << 31)) & ~uint64_t{127};
      is.req.size = Bytes(128 * (1 + rng() % 512));
      is.req.write = true;
    }
    out.push_back(is);
    t += Time::ns(static_cast<double>(rng() % 400));
  }
  return out;
}

TEST(HbmFastPath, SameCompletionTimesOnMixedTraffic) {
  for (uint64_t seed : {1, 2, 3}) {
    const auto issues = mixed_traffic(seed);
    HbmTotals a, b;
    const auto slow = completions(HbmParams{}, HbmFastPath::Off, issues, &a);
    for (HbmFastPath f : {HbmFastPath::Columns, HbmFastPath::Rounds}) {
      const auto fast = completions(HbmParams{}, f, issues, &b);
      ASSERT_EQ(slow.size(), fast.size());
      for (size_t i = 0; i < slow.size(); ++i) {
        ASSERT_GE(slow[i], 0) << "request " << i << " never completed";
        ASSERT_EQ(slow[i], fast[i]) << "seed " << seed << " request " << i;
      }
      expect_same_totals(a, b, "seed " + std::to_string(seed));
    }
  }
}

TEST(HbmFastPath, SameCompletionTimesOnConcurrentStreams) {
  // Several large streams in flight at once, with per-bank refresh and closed pages too.
  for (int variant = 0; variant < 3; ++variant) {
    HbmParams p;
    if (variant == 1) p.refresh.mode = RefreshMode::PerBank;
    if (variant == 2) p.controller.page_policy = PagePolicy::Closed;
    std::vector<Issue> issues;
    for (int i = 0; i < 24; ++i) {
      Issue is;
      is.at = Time::ns(300.0 * i);
      is.req.address =
          static_cast<uint64_t>(i % 5) * (3ull << 28) + static_cast<uint64_t>(i) * (4 << 20);
      is.req.size = Bytes(4 << 20);
      is.req.write = i % 7 == 3;
      issues.push_back(is);
    }
    HbmTotals a, b;
    const auto slow = completions(p, HbmFastPath::Off, issues, &a);
    for (HbmFastPath f : {HbmFastPath::Columns, HbmFastPath::Rounds}) {
      const auto fast = completions(p, f, issues, &b);
      ASSERT_EQ(slow.size(), fast.size());
      for (size_t i = 0; i < slow.size(); ++i) {
        // (Completed, and not before it was issued: two runs that both lost a request would
        // otherwise agree on its -1.)
        ASSERT_GE(slow[i], issues[i].at.ps()) << "variant " << variant << " request " << i;
        ASSERT_EQ(slow[i], fast[i]) << "variant " << variant << " request " << i;
      }
      expect_same_totals(
          a, b,
          "variant " + std::to_string(variant) + " path " + std::to_string(static_cast<int>(f)));
    }
  }
}

// A closed loop of `outstanding` sequential requests of `bytes` each over `total` bytes (the
// streaming benchmark's traffic): each completion issues the next request. Returns every
// request's completion time in issue order.
std::vector<int64_t> stream_completions(HbmParams p, HbmFastPath fast, uint64_t bytes,
                                        uint64_t total, uint32_t outstanding, HbmTotals& totals) {
  p.controller.fast_path = fast;
  EventLoop loop;
  HbmEngine hbm(p, loop);
  std::vector<int64_t> done;
  uint64_t next = 0;
  std::function<void()> issue = [&] {
    if (next * bytes >= total) return;
    const size_t i = next++;
    done.push_back(-1);
    MemRequest r;
    r.address = i * bytes;
    r.size = Bytes(bytes);
    hbm.access(r, [&, i] {
      done[i] = loop.now().ps();
      issue();
    });
  };
  for (uint32_t k = 0; k < outstanding; ++k)
    issue();
  loop.run();
  totals = hbm.totals();
  return done;
}

TEST(HbmFastPath, SameCompletionTimesOnAClosedLoopStream) {
  // Whole rounds then run across the next banks' PRE and ACT and drain the banks a row ends
  // in; a small queue makes the rounds extend runs that hold fewer bursts than they issue.
  for (int variant = 0; variant < 3; ++variant) {
    HbmParams p;
    if (variant == 1) {
      p.controller.read_queue = 16;
      p.controller.write_queue = 16;
      p.controller.write_high = 12;
      p.controller.write_low = 4;
    }
    if (variant == 2) p.controller.page_policy = PagePolicy::Closed;
    HbmTotals a, b;
    const auto slow = stream_completions(p, HbmFastPath::Off, 1 << 20, 12 << 20, 16, a);
    const auto fast = stream_completions(p, HbmFastPath::Rounds, 1 << 20, 12 << 20, 16, b);
    ASSERT_EQ(slow.size(), 12u);
    for (size_t i = 0; i < slow.size(); ++i) {
      ASSERT_GE(slow[i], 0) << "variant " << variant << " request " << i << " never completed";
      ASSERT_EQ(slow[i], fast[i]) << "variant " << variant << " request " << i;
    }
    expect_same_totals(a, b, "variant " + std::to_string(variant));
  }
}

TEST(HbmParallel, SameCompletionsInTheSameOrderOnAnyThreadCount) {
  // Mixed traffic and many concurrent streams, on every fast path and with per-bank refresh:
  // one thread is the reference; 2, 3 and 5 threads must complete every request at the same
  // cycle and in the same order (the order callbacks run in is what the GPU model sees).
  std::vector<std::vector<Issue>> traffic = {mixed_traffic(4), mixed_traffic(5)};
  std::vector<Issue> streams;
  for (int i = 0; i < 64; ++i) {
    Issue is;
    is.at = Time::ns(40.0 * i);
    is.req.address = static_cast<uint64_t>(i) * (5ull << 20) + static_cast<uint64_t>(i % 3) * 96;
    is.req.size = Bytes((64 << 10) + 32 * (i % 5));
    is.req.write = i % 9 == 4;
    streams.push_back(is);
  }
  traffic.push_back(streams);
  for (size_t t = 0; t < traffic.size(); ++t) {
    for (int variant = 0; variant < 2; ++variant) {
      HbmParams p;
      if (variant == 1) p.refresh.mode = RefreshMode::PerBank;
      for (HbmFastPath f : {HbmFastPath::Off, HbmFastPath::Rounds}) {
        HbmTotals a, b;
        std::vector<size_t> order_a, order_b;
        const auto serial = completions(p, f, traffic[t], &a, &order_a);
        for (uint32_t threads : {2u, 3u, 5u}) {
          HbmParams q = p;
          q.controller.threads = threads;
          order_b.clear();
          const auto parallel = completions(q, f, traffic[t], &b, &order_b);
          ASSERT_EQ(order_a.size(), traffic[t].size());
          ASSERT_EQ(serial, parallel) << "traffic " << t << " threads " << threads;
          ASSERT_EQ(order_a, order_b) << "traffic " << t << " threads " << threads;
          expect_same_totals(a, b, "threads " + std::to_string(threads));
        }
      }
    }
  }
}

}  // namespace
}  // namespace mlasim
