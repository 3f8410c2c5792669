// WorkerPool: every thread runs the function exactly once per run(), at the same time, over
// many back-to-back runs (the pattern of a simulation); an exception reaches the caller.
#include "sim/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace mlasim {
namespace {

TEST(WorkerPool, EveryThreadOnceOverManyRuns) {
  for (unsigned threads : {1u, 2u, 4u}) {
    WorkerPool pool(threads);
    EXPECT_EQ(pool.threads(), threads);
    std::vector<std::atomic<int>> calls(threads);
    std::vector<int> sum(threads, 0);  // each thread writes only its own slot
    for (int r = 0; r < 2000; ++r) {
      pool.run([&](unsigned t) {
        calls[t].fetch_add(1, std::memory_order_relaxed);
        sum[t] += r;
      });
    }
    for (unsigned t = 0; t < threads; ++t) {
      ASSERT_EQ(calls[t].load(), 2000) << "threads " << threads << " thread " << t;
      // run() returns only when every thread is done: all writes are visible here.
      ASSERT_EQ(sum[t], 1999 * 2000 / 2) << "threads " << threads << " thread " << t;
    }
  }
}

TEST(WorkerPool, ForEachRunsEveryItemOnce) {
  for (unsigned threads : {1u, 2u, 3u}) {
    WorkerPool pool(threads);
    std::vector<std::atomic<int>> hits(200);
    // Which threads ran items under which index.
    std::mutex m;
    std::set<std::pair<unsigned, std::thread::id>> ran_on;
    // Uneven owners: every item belongs to thread 0 in odd runs, so the others must steal. To
    // make sure they do, thread 0 holds on to its first item of such a run until another
    // thread has run one (at most 10 s, and only until a run where none did).
    std::atomic<int> stolen{0};
    int odd_runs = 0, runs_with_theft = 0;  // (thread 0, the caller, alone counts these)
    bool gave_up = false;
    for (int r = 0; r < 500; ++r) {
      const size_t n = static_cast<size_t>(r % 200) + 1;
      const bool uneven = r % 2 == 1;
      stolen = 0;
      bool first = true;  // thread 0's first item of this run
      pool.for_each(
          n, [&](size_t i) { return uneven ? 0u : static_cast<unsigned>(i % threads); },
          [&](size_t i, unsigned t) {
            hits[i].fetch_add(1, std::memory_order_relaxed);
            {
              std::lock_guard<std::mutex> lock(m);
              ran_on.insert({t, std::this_thread::get_id()});
            }
            if (!uneven || threads < 2) return;
            if (t != 0) {
              stolen.fetch_add(1);
            } else if (first && !gave_up) {
              first = false;
              const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
              while (stolen.load() == 0 && std::chrono::steady_clock::now() < until)
                std::this_thread::yield();
              gave_up = stolen.load() == 0;
            }
          });
      if (uneven) {
        ++odd_runs;
        runs_with_theft += stolen.load() > 0 ? 1 : 0;
      }
    }
    if (threads >= 2) {
      EXPECT_EQ(runs_with_theft, odd_runs)
          << "threads " << threads << ": in some run thread 0 owned every item and no other "
          << "thread took one";
    }
    for (size_t i = 0; i < hits.size(); ++i) {
      int expect = 0;
      for (int r = 0; r < 500; ++r)
        expect += static_cast<size_t>(r % 200) + 1 > i ? 1 : 0;
      ASSERT_EQ(hits[i].load(), expect) << "threads " << threads << " item " << i;
    }
    // The index names the thread: each index one thread, each thread one index, 0 the caller.
    std::set<unsigned> indices;
    std::set<std::thread::id> ids;
    for (const auto& [t, id] : ran_on) {
      EXPECT_LT(t, threads);
      indices.insert(t);
      ids.insert(id);
      if (t == 0) {
        EXPECT_EQ(id, std::this_thread::get_id());
      }
    }
    EXPECT_EQ(indices.size(), ran_on.size()) << "threads " << threads;
    EXPECT_EQ(ids.size(), ran_on.size()) << "threads " << threads;
  }
}

TEST(WorkerPool, RunsOnDistinctThreadsAtOnce) {
  // Calls that wait for each other can only finish if they run at the same time.
  WorkerPool pool(2);
  // (Run one after the other, the first call would give up at its deadline without meeting
  // the second: `met` counts the calls that saw both arrive.)
  std::atomic<int> arrived{0}, met{0};
  std::mutex m;
  std::set<std::thread::id> ids;
  pool.run([&](unsigned) {
    {
      std::lock_guard<std::mutex> lock(m);
      ids.insert(std::this_thread::get_id());
    }
    arrived.fetch_add(1);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (arrived.load() < 2 && std::chrono::steady_clock::now() < until)
      std::this_thread::yield();
    if (arrived.load() == 2) met.fetch_add(1);
  });
  EXPECT_EQ(arrived.load(), 2);
  EXPECT_EQ(met.load(), 2) << "the calls did not run at the same time";
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids.count(std::this_thread::get_id()), 1u);  // thread 0 is the caller
}

TEST(WorkerPool, WakesAfterSleeping) {
  // Long enough between runs for the workers to go to sleep.
  WorkerPool pool(3);
  for (int r = 0; r < 3; ++r) {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    std::atomic<unsigned> sum{0};
    pool.run([&](unsigned t) { sum.fetch_add(t + 1); });
    EXPECT_EQ(sum.load(), 6u);
  }
}

TEST(WorkerPool, RethrowsAThreadsException) {
  WorkerPool pool(3);
  std::atomic<int> ran{0};
  EXPECT_THROW(pool.run([&](unsigned t) {
    ran.fetch_add(1);
    if (t == 2) throw std::runtime_error("thread 2");
  }),
               std::runtime_error);
  EXPECT_EQ(ran.load(), 3);  // the other threads still ran
  // The pool is still usable.
  std::atomic<int> again{0};
  pool.run([&](unsigned) { again.fetch_add(1); });
  EXPECT_EQ(again.load(), 3);
}

}  // namespace
}  // namespace mlasim
