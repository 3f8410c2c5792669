// TileExecutor: waves of tiles on SMs, pipelined loads and math (see tile_executor.h).
#include "models/gpu/tile_executor.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace mlasim {

TileExecutor::TileExecutor(const TileGpuParams& params, EventSink& events, MemoryPort& memory)
    : params_(params), events_(events), l2_(params, events, memory), sms_(params.sms) {}

uint32_t TileExecutor::occupancy(const TileGpuParams& p, const TileResources& r) {
  if (r.smem > p.smem_per_block.count() || r.threads == 0 || r.threads > p.threads_per_sm) return 0;
  uint64_t k = p.blocks_per_sm;
  if (r.smem > 0) k = std::min<uint64_t>(k, p.smem_per_sm.count() / r.smem);
  k = std::min<uint64_t>(k, p.threads_per_sm / r.threads);
  const uint64_t regs = static_cast<uint64_t>(r.threads) * r.registers_per_thread;
  if (regs > 0) k = std::min<uint64_t>(k, p.registers_per_sm / regs);
  return static_cast<uint32_t>(k);
}

void TileExecutor::run(KernelSequence kernels, std::function<void()> done) {
  auto seq = std::make_unique<Sequence>();
  seq->kernels = std::move(kernels);
  seq->done = std::move(done);
  Sequence* s = seq.get();
  sequences_.push_back(std::move(seq));
  start_kernel(s);
}

void TileExecutor::start_kernel(Sequence* s) {
  if (s->current == s->kernels.size()) {
    auto done = std::move(s->done);
    auto it = std::find_if(sequences_.begin(), sequences_.end(),
                           [s](const auto& p) { return p.get() == s; });
    sequences_.erase(it);
    if (done) done();
    return;
  }
  Kernel& k = s->active;
  k = Kernel{};
  k.plan = std::move(s->kernels[s->current]);
  k.seq = s;
  const KernelPlan& plan = *k.plan;
  const uint32_t occ = occupancy(params_, plan.resources);
  if (occ == 0) {
    throw std::invalid_argument(fmt::format(
        "kernel '{}': a tile needs {} B shared memory and {} threads, more than an SM has",
        plan.name, plan.resources.smem, plan.resources.threads));
  }
  KernelRecord rec;
  rec.name = plan.name;
  rec.tiles = plan.tiles();
  rec.tiles_per_sm = occ;
  const uint64_t slots = static_cast<uint64_t>(params_.compute_sms()) * occ;
  rec.waves = static_cast<uint32_t>((rec.tiles + slots - 1) / slots);
  rec.flops = plan.useful_flops;
  k.record = static_cast<uint32_t>(records_.size());
  records_.push_back(rec);
  events_.at(events_.now() + params_.launch_overhead, [this, s] {
    Kernel& kk = s->active;
    kk.started = true;
    records_[kk.record].start = events_.now();
    if (kk.plan->tiles() == 0) {
      check_kernel_done(&kk);
      return;
    }
    active_.push_back(s);
    dispatch();
  });
}

bool TileExecutor::fits(const Sm& sm, const TileResources& r) const {
  return sm.blocks + 1 <= params_.blocks_per_sm &&
         sm.smem + r.smem <= params_.smem_per_sm.count() &&
         sm.threads + r.threads <= params_.threads_per_sm &&
         sm.registers + r.threads * r.registers_per_thread <= params_.registers_per_sm;
}

void TileExecutor::dispatch() {
  // Earlier launches first; a later one fills what room the earlier ones leave.
  const uint32_t nsm = params_.compute_sms();
  for (auto it = active_.begin(); it != active_.end();) {
    Kernel& k = (*it)->active;
    const uint32_t tiles = k.plan->tiles();
    while (k.next_tile < tiles) {
      uint32_t chosen = nsm;
      for (uint32_t i = 0; i < nsm; ++i) {
        const uint32_t sm = (rr_ + i) % nsm;
        if (fits(sms_[sm], k.plan->resources)) {
          chosen = sm;
          break;
        }
      }
      if (chosen == nsm) break;
      rr_ = (chosen + 1) % nsm;
      place(&k, chosen);
    }
    if (k.next_tile >= tiles) {
      it = active_.erase(it);
    } else {
      ++it;
    }
  }
}

void TileExecutor::place(Kernel* k, uint32_t sm_index) {
  const TileResources& r = k->plan->resources;
  Sm& sm = sms_[sm_index];
  ++sm.blocks;
  sm.smem += r.smem;
  sm.threads += r.threads;
  sm.registers += r.threads * r.registers_per_thread;
  uint32_t id;
  if (!free_runs_.empty()) {
    id = free_runs_.back();
    free_runs_.pop_back();
  } else {
    id = static_cast<uint32_t>(runs_.size());
    runs_.emplace_back();
  }
  TileRun& run = runs_[id];
  run.kernel = k;
  run.tile = k->next_tile++;
  run.sm = sm_index;
  run.n = k->plan->stages(run.tile);
  run.issued = run.computed = 0;
  run.math_busy = false;
  const uint32_t depth = std::max<uint32_t>(1, r.pipeline_depth);
  run.ring.assign(depth, TileStage{});
  run.pending.assign(depth, 0);
  ++tiles_run_;
  if (run.n == 0) {
    events_.at(events_.now(), [this, id] { finish_tile(id); });
    return;
  }
  for (uint32_t s = 0; s < std::min(depth, run.n); ++s)
    issue_stage(id);
}

void TileExecutor::issue_stage(uint32_t id) {
  TileRun& run = runs_[id];
  const uint32_t s = run.issued++;
  const size_t slot = s % run.ring.size();
  TileStage& st = run.ring[slot];
  st = TileStage{};
  run.kernel->plan->stage(run.tile, s, st);
  run.pending[slot] = static_cast<uint16_t>(st.n_loads);
  if (st.n_loads == 0) {
    try_math(id);
    return;
  }
  for (int i = 0; i < st.n_loads; ++i) {
    l2_.read(run.sm, st.loads[i], [this, id, s] { loaded(id, s); });
  }
}

void TileExecutor::loaded(uint32_t id, uint32_t s) {
  TileRun& run = runs_[id];
  if (--run.pending[s % run.ring.size()] == 0) try_math(id);
}

void TileExecutor::try_math(uint32_t id) {
  TileRun& run = runs_[id];
  if (run.math_busy || run.computed == run.issued) return;
  const size_t slot = run.computed % run.ring.size();
  if (run.pending[slot] > 0) return;
  const TileStage& st = run.ring[slot];
  // The tensor cores, CUDA cores and SFUs work side by side: the slowest sets the stage time.
  const double seconds =
      std::max({st.tensor_flops / params_.tensor_rate(run.kernel->plan->dtype),
                st.cuda_flops / params_.fp32_rate(), st.sfu_ops / params_.sfu_rate()});
  const Time dur = Time::ps(static_cast<int64_t>(std::ceil(seconds * 1e12)));
  Sm& sm = sms_[run.sm];
  const Time start = std::max(events_.now(), sm.math_free);
  sm.math_free = start + dur;
  tensor_busy_ps_ += static_cast<uint64_t>(dur.ps());
  ++stages_;
  run.math_busy = true;
  events_.at(sm.math_free, [this, id] { math_done(id); });
}

void TileExecutor::math_done(uint32_t id) {
  TileRun& run = runs_[id];
  run.math_busy = false;
  ++run.computed;
  if (run.issued < run.n) issue_stage(id);  // its buffer is free again
  if (run.computed == run.n) {
    finish_tile(id);
  } else {
    try_math(id);
  }
}

void TileExecutor::finish_tile(uint32_t id) {
  TileRun& run = runs_[id];
  Kernel* k = run.kernel;
  Sequence* seq = k->seq;
  TileStage ep;
  k->plan->epilogue(run.tile, ep);
  for (int i = 0; i < ep.n_stores; ++i) {
    ++seq->stores_pending;
    l2_.write(run.sm, ep.stores[i], [this, seq] {
      --seq->stores_pending;
      check_kernel_done(&seq->active);
    });
  }
  const TileResources& r = k->plan->resources;
  Sm& sm = sms_[run.sm];
  --sm.blocks;
  sm.smem -= r.smem;
  sm.threads -= r.threads;
  sm.registers -= r.threads * r.registers_per_thread;
  ++k->tiles_done;
  run.kernel = nullptr;
  free_runs_.push_back(id);
  dispatch();
  check_kernel_done(k);
}

void TileExecutor::check_kernel_done(Kernel* k) {
  Sequence* s = k->seq;
  if (!k->started || k->tiles_done < k->plan->tiles() || s->stores_pending > 0) return;
  if (s->current >= s->kernels.size()) return;  // already finished
  records_[k->record].end = events_.now();
  ++kernels_run_;
  ++s->current;
  start_kernel(s);
}

void TileExecutor::register_stats(StatGroup& g) {
  g.counter("kernels", &kernels_run_, "count", "kernels completed");
  g.counter("tiles", &tiles_run_, "count", "thread blocks run");
  g.counter("stages", &stages_, "count", "pipeline stages (math steps) run");
  g.counter("math_busy_time", &tensor_busy_ps_, "ps",
            "SM-time spent on math, summed over SMs (utilisation = this / (SMs x time))");
  l2_.register_stats(g.child("l2"));
}

}  // namespace mlasim
