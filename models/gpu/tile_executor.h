// TileExecutor: runs kernels as grids of tiles on SMs, as plain C++ on an EventSink (under
// SystemC through TileGpu, or standalone for `mlasim kernels`, benchmarks and tests).
//
// Scheduling: tiles are handed to SMs in grid order, round robin, as long as an SM has room for
// another one (shared memory, threads, registers, block slots: the occupancy); a finished tile
// frees its room and the next tile goes there. Waves, their quantisation and the tail of the
// last one follow from that. SMs reserved for communication take no tiles.
//
// A tile is a software pipeline: the loads of up to `pipeline_depth` stages are in flight while
// the math works through the stages in order; stage s's math starts when its operands have
// arrived and stage s-1's math is done, and its buffer is refilled (stage s + depth loads) when
// its math ends. The math of all tiles on an SM shares that SM's tensor cores, CUDA cores and
// SFUs; a stage takes as long as its slowest unit (the three overlap). Loads go through the SM's
// port and the L2 (l2_cache.h). Whether a kernel is compute- or memory-bound, and by how much,
// is what comes out.
//
// Leaves out: warp scheduling inside a stage, register spills, instruction issue limits, the
// GPC/TPC structure, thread block clusters other than as multicast loads, power throttling
// (set the clock instead).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "models/gpu/kernel_plan.h"
#include "models/gpu/l2_cache.h"
#include "models/gpu/tile_gpu_params.h"
#include "models/hbm/event_sink.h"
#include "sim/stats.h"

namespace mlasim {

struct KernelRecord {
  std::string name;
  Time start, end;  // first tile start (after the launch overhead), last store accepted
  uint32_t tiles = 0;
  uint32_t waves = 0;  // tiles / (SMs x tiles per SM), rounded up
  uint32_t tiles_per_sm = 0;
  double flops = 0;
};

class TileExecutor {
 public:
  TileExecutor(const TileGpuParams& params, EventSink& events, MemoryPort& memory);
  TileExecutor(const TileExecutor&) = delete;
  TileExecutor& operator=(const TileExecutor&) = delete;

  // Runs the kernels one after another (each after the launch overhead); `done` once the last
  // one's final store is in L2. Several sequences may run at once (streams): their tiles share
  // the SMs, earlier launches first.
  void run(KernelSequence kernels, std::function<void()> done);

  // Tiles of one kernel an SM can hold at once (0: a tile does not fit at all).
  static uint32_t occupancy(const TileGpuParams& p, const TileResources& r);

  L2Cache& l2() { return l2_; }
  const std::vector<KernelRecord>& records() const { return records_; }
  uint64_t stages_run() const { return stages_; }
  uint64_t tensor_busy_ps() const { return tensor_busy_ps_; }
  void register_stats(StatGroup& g);

 private:
  struct Sequence;
  struct Kernel {
    std::unique_ptr<KernelPlan> plan;
    Sequence* seq = nullptr;
    uint32_t next_tile = 0;
    uint32_t tiles_done = 0;
    uint32_t record = 0;
    bool started = false;
  };
  struct Sequence {
    KernelSequence kernels;
    size_t current = 0;
    std::function<void()> done;
    Kernel active;
    uint32_t stores_pending = 0;
  };
  struct Sm {
    uint64_t smem = 0;
    uint32_t threads = 0, registers = 0, blocks = 0;
    Time math_free;
  };
  struct TileRun {
    Kernel* kernel = nullptr;
    uint32_t tile = 0, sm = 0, n = 0;
    uint32_t issued = 0, computed = 0;
    bool math_busy = false;
    std::vector<TileStage> ring;
    std::vector<uint16_t> pending;
  };

  void start_kernel(Sequence* seq);
  void dispatch();
  bool fits(const Sm& sm, const TileResources& r) const;
  void place(Kernel* k, uint32_t sm);
  void issue_stage(uint32_t run);
  void loaded(uint32_t run, uint32_t stage);
  void try_math(uint32_t run);
  void math_done(uint32_t run);
  void finish_tile(uint32_t run);
  void check_kernel_done(Kernel* k);

  const TileGpuParams& params_;
  EventSink& events_;
  L2Cache l2_;
  std::vector<Sm> sms_;
  uint32_t rr_ = 0;               // round-robin start for dispatch
  std::deque<Sequence*> active_;  // sequences with a kernel whose tiles are not all placed
  std::vector<std::unique_ptr<Sequence>> sequences_;
  std::vector<TileRun> runs_;
  std::vector<uint32_t> free_runs_;
  std::vector<KernelRecord> records_;
  uint64_t stages_ = 0;
  uint64_t tiles_run_ = 0;
  uint64_t kernels_run_ = 0;
  uint64_t tensor_busy_ps_ = 0;
};

}  // namespace mlasim
