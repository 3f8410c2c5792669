// HbmEngine: request splitting, lazy pseudo-channel advance and completion events (see
// hbm_engine.h).
#include "models/hbm/hbm_engine.h"

#include <algorithm>
#include <limits>

namespace mlasim {

HbmEngine::HbmEngine(const HbmParams& params, EventSink& events)
    : params_(params),
      events_(events),
      cfg_(HbmPcConfig::from(params)),
      map_(params.org, params.controller.address_map),
      tck_(params.org.tck.ps()) {
  const uint32_t n = params.org.pseudo_channels_total();
  pcs_.reserve(n);
  for (uint32_t p = 0; p < n; ++p) {
    pcs_.push_back(std::make_unique<HbmPseudoChannel>(cfg_, map_, p, n));
  }
  is_busy_.assign(n, 0);
  pc_bound_.assign(n, 0);
  inbox_.resize(n);
  if (params.controller.threads > 1)
    pool_ = std::make_unique<WorkerPool>(params.controller.threads);
  logs_.resize(pool_ ? pool_->threads() : 1);
}

uint32_t HbmEngine::allocate_request() {
  if (!free_ids_.empty()) {
    const uint32_t id = free_ids_.back();
    free_ids_.pop_back();
    return id;
  }
  table_.requests.emplace_back();
  return static_cast<uint32_t>(table_.requests.size() - 1);
}

void HbmEngine::mark_busy(uint32_t pc, int64_t bound) {
  pc_bound_[pc] = bound;
  if (!is_busy_[pc]) {
    is_busy_[pc] = 1;
    busy_.push_back(pc);
  }
}

unsigned HbmEngine::owner(uint32_t pc) const {
  // Blocks of neighbouring channels per thread: channels allocated side by side share no
  // cache line across threads.
  return static_cast<unsigned>(uint64_t{pc} * pool_->threads() / pcs_.size());
}

void HbmEngine::apply(const HbmPseudoChannel::Issued& e) {
  HbmRequestState& s = table_.requests[e.req];
  s.parts[e.part].left -= e.bursts;
  s.last_done = std::max(s.last_done, e.done);
  s.remaining -= e.bursts;
  if (s.remaining == 0) table_.finished.push_back(e.req);
}

void HbmEngine::apply_issued(size_t item) {
  const auto [t, k] = where_[item];
  const StepResult& r = logs_[t].steps[k];
  const auto& issued = logs_[t].issued;
  for (uint32_t j = r.begin; j < r.end; ++j)
    apply(issued[j]);
}

void HbmEngine::push_range(uint64_t id, uint64_t b0, uint64_t b1, bool write, int64_t cycle) {
  HbmRequestState& s = table_.requests[id];
  const uint32_t npcs = static_cast<uint32_t>(pcs_.size());
  const uint64_t chunk = map_.pc_chunk();
  const uint64_t chunks = (b1 - b0 + chunk - 1) / chunk + 1;
  // Each pseudo-channel's share: its bursts run from `begin` to `end` (`spread`: the PC's
  // bursts within [begin, end) of a range wider than the PCs, counted by the step below;
  // else the bursts a cursor visits from the first of them to the last). Each piece i is
  // part first_part + i of the request.
  pieces_.clear();
  const auto first_part = static_cast<uint32_t>(s.parts.size());
  if (chunks <= npcs) {
    // Few PC-sized chunks: find each chunk's PC, gather per pseudo-channel.
    small_.clear();
    for (uint64_t x = b0; x < b1;) {
      const uint64_t k = x / chunk;
      const uint64_t end = std::min(b1, (k + 1) * chunk);
      small_.push_back(SmallPiece{map_.pc_of_chunk(k), x, end});
      x = end;
    }
    auto less = [](const SmallPiece& a, const SmallPiece& b) {
      return a.pc < b.pc || (a.pc == b.pc && a.begin < b.begin);
    };
    // Chunks usually visit the PCs in increasing order, wrapping around once at most: then a
    // rotation sorts them.
    const auto d = std::is_sorted_until(small_.begin(), small_.end(), less);
    if (d != small_.end()) {
      if (std::is_sorted(d, small_.end(), less) && less(small_.back(), small_.front())) {
        std::rotate(small_.begin(), d, small_.end());
      } else {
        std::sort(small_.begin(), small_.end(), less);
      }
    }
    for (size_t i = 0; i < small_.size();) {
      size_t j = i;
      uint64_t count = 0;
      while (j < small_.size() && small_[j].pc == small_[i].pc)
        count += small_[j].end - small_[j].begin, ++j;
      const uint32_t pc = small_[i].pc;
      pieces_.push_back(Piece{pc, count, small_[i].begin, small_[j - 1].end, false});
      HbmRequestState::Part part{pc, count};
      if (count == 1) {
        const auto loc = map_.locate(small_[i].begin);
        part.bank = static_cast<int32_t>(loc.bank);
        part.row = loc.row;
      }
      s.parts.push_back(part);
      i = j;
    }
  } else {
    // Every PC gets a part (with no bursts: an unused part, which completion bounds skip).
    for (uint32_t pc = 0; pc < npcs; ++pc) {
      pieces_.push_back(Piece{pc, map_.count_in_pc(b0, b1, pc), b0, b1, true});
      s.parts.push_back(HbmRequestState::Part{pc, pieces_.back().count});
    }
  }
  // Each share waits in its channel's inbox for the channel's next step, which advances the
  // channel to `cycle` and pushes it there (in arrival order, before advancing further). Until
  // then the channel's next column command is bounded by the old bound and `cycle`.
  for (const Piece& p : pieces_) {
    if (p.count == 0) continue;
    inbox_[p.pc].push_back(Pending{p.begin, p.end, p.count, cycle, static_cast<uint32_t>(id),
                                   first_part + static_cast<uint32_t>(&p - pieces_.data()), write,
                                   p.spread});
    mark_busy(p.pc, is_busy_[p.pc] ? std::min(pc_bound_[p.pc], cycle) : cycle);
  }
}

void HbmEngine::step_busy(int64_t cycle) {
  for (ThreadLog& l : logs_) {
    l.steps.clear();
    l.issued.clear();
  }
  // Runs on thread t and writes only logs_[t], the channel and its inbox.
  auto step = [&](size_t i, unsigned t) {
    ThreadLog& l = logs_[t];
    HbmPseudoChannel& pc = *pcs_[busy_[i]];
    const auto begin = static_cast<uint32_t>(l.issued.size());
    pc.set_log(&l.issued);
    auto& inbox = inbox_[busy_[i]];
    for (const Pending& q : inbox) {
      pc.advance(q.cycle);
      pc.push(q.begin, q.end, q.spread, q.req, q.part, q.write, q.cycle, q.count);
    }
    inbox.clear();
    pc.advance(cycle);
    pc.set_log(nullptr);
    l.steps.push_back(StepResult{static_cast<uint32_t>(i), begin,
                                 static_cast<uint32_t>(l.issued.size()), pc.next_column_bound(),
                                 pc.busy()});
  };
  const size_t n = busy_.size();
  if (pool_) {
    pool_->for_each(
        n, [&](size_t i) { return owner(busy_[i]); }, step);
  } else {
    for (size_t i = 0; i < n; ++i)
      step(i, 0);
  }
  where_.resize(n);
  for (uint32_t t = 0; t < logs_.size(); ++t) {
    const auto& steps = logs_[t].steps;
    for (uint32_t k = 0; k < steps.size(); ++k)
      where_[steps[k].item] = {t, k};
  }
}

void HbmEngine::access(const MemRequest& request, Done done) {
  const Time now = events_.now();
  const bool write = request.write;
  ++requests_[write];
  bytes_[write] += request.size.count();
  if (outstanding_++ == 0) busy_since_ps_ = now.ps();
  const uint64_t burst = params_.org.burst.count();
  const uint32_t id = allocate_request();
  {
    HbmRequestState& s = table_.requests[id];
    s.parts.clear();  // keeps its capacity for the next request in this slot
    s.remaining = 0;
    s.last_done = 0;
    s.write = write;
    s.live = true;
    s.arrival = now.ps();
    s.bytes = request.size.count();
    s.done = std::move(done);
  }
  if (request.size.count() == 0) {
    events_.at(now + params_.controller.latency, [this, id] { complete(id); });
    return;
  }
  const uint64_t total = map_.bursts();
  const uint64_t first = request.address / burst;
  const uint64_t last = (request.address + request.size.count() - 1) / burst;
  uint64_t n = last - first + 1;
  table_.requests[id].remaining = n;
  const int64_t cycle = cycle_at_or_after(now);
  // Addresses wrap at the capacity; a request longer than the memory wraps around it.
  uint64_t b0 = first % total;
  while (n > 0) {
    const uint64_t len = std::min(n, total - b0);
    push_range(id, b0, b0 + len, write, cycle);
    n -= len;
    b0 = 0;
  }
  undiscovered_.push_back(id);
  handle_finished();
  if (table_.requests[id].remaining > 0) {
    // A bound at or after the pending wake would be dropped: it need not be finished.
    const int64_t pending =
        wakes_pending_.empty() ? std::numeric_limits<int64_t>::max() : *wakes_pending_.begin();
    schedule_wake(completion_bound(table_.requests[id], cycle, pending));
  }
}

int64_t HbmEngine::completion_bound(const HbmRequestState& s, int64_t now, int64_t cutoff) const {
  // Each pseudo-channel with k bursts of the request left issues them no earlier than its next
  // possible column command and at most one every tCCD_S; the last one's data needs CL (CWL)
  // + BL more. The request completes after the slowest.
  const int64_t data = (s.write ? cfg_.cwl : cfg_.cl) + cfg_.bl;
  int64_t bound = now + 1;
  for (const auto& part : s.parts) {
    if (part.left == 0) continue;
    int64_t start = std::max(now, pc_bound_[part.pc]);
    if (part.bank >= 0) {
      start = std::max(start, pcs_[part.pc]->bank_column_bound(static_cast<uint32_t>(part.bank),
                                                               part.row, s.write));
    }
    bound = std::max(bound, start + static_cast<int64_t>(part.left - 1) * cfg_.ccd_s + data);
    if (bound >= cutoff) break;  // only compared with a wake at `cutoff`: need not be exact
  }
  return bound;
}

void HbmEngine::schedule_wake(int64_t cycle) {
  if (cycle >= kNever) return;
  if (!wakes_pending_.empty() && *wakes_pending_.begin() <= cycle) return;
  // Later wakes are superseded: the earlier one recomputes the next.
  wakes_pending_.clear();
  wakes_pending_.insert(cycle);
  events_.at(Time::ps(cycle * tck_), [this, cycle] { on_wake(cycle); });
}

void HbmEngine::on_wake(int64_t cycle) {
  if (wakes_pending_.erase(cycle) == 0) return;  // superseded
  ++wakes_;
  step_busy(cycle);
  // The serial order: the loop swaps an idle channel out for the last one.
  order_.resize(busy_.size());
  for (uint32_t i = 0; i < order_.size(); ++i)
    order_[i] = i;
  for (size_t i = 0; i < busy_.size();) {
    apply_issued(order_[i]);
    const StepResult& r = result(order_[i]);
    pc_bound_[busy_[i]] = r.bound;
    if (!r.busy) {
      is_busy_[busy_[i]] = 0;
      busy_[i] = busy_.back();
      busy_.pop_back();
      order_[i] = order_.back();
      order_.pop_back();
    } else {
      ++i;
    }
  }
  handle_finished();
  int64_t next = kNever;
  for (size_t i = 0; i < undiscovered_.size();) {
    const HbmRequestState& s = table_.requests[undiscovered_[i]];
    if (!s.live || s.remaining == 0) {
      undiscovered_[i] = undiscovered_.back();
      undiscovered_.pop_back();
      continue;
    }
    next = std::min(next, completion_bound(s, cycle, next));
    ++i;
  }
  schedule_wake(next);
}

void HbmEngine::handle_finished() {
  for (uint32_t id : table_.finished) {
    const HbmRequestState& s = table_.requests[id];
    const Time at = Time::ps(s.last_done * tck_) + params_.controller.latency;
    events_.at(at, [this, id] { complete(id); });
  }
  table_.finished.clear();
}

void HbmEngine::complete(uint32_t id) {
  HbmRequestState& s = table_.requests[id];
  const int64_t now = events_.now().ps();
  const uint64_t latency = static_cast<uint64_t>(now - s.arrival);
  latency_sum_ps_ += latency;
  latency_ns_.sample(static_cast<double>(latency) * 1e-3);
  ++completed_;
  if (--outstanding_ == 0) active_ps_ += static_cast<uint64_t>(now - busy_since_ps_);
  auto done = std::move(s.done);
  s.live = false;
  s.done = nullptr;
  free_ids_.push_back(id);
  if (done) done();
}

Time HbmEngine::active_time() const {
  uint64_t ps = active_ps_;
  if (outstanding_ > 0) ps += static_cast<uint64_t>(events_.now().ps() - busy_since_ps_);
  return Time::ps(static_cast<int64_t>(ps));
}

Time HbmEngine::mean_latency() const {
  return Time::ps(completed_ ? static_cast<int64_t>(latency_sum_ps_ / completed_) : 0);
}

void HbmEngine::settle() {
  // Advancing to the present is always allowed: every request before now has arrived.
  const int64_t now = events_.now().ps() / tck_;
  step_busy(now);
  for (size_t i = 0; i < busy_.size(); ++i) {
    apply_issued(i);
    pc_bound_[busy_[i]] = result(i).bound;
  }
  handle_finished();
  for (auto& pc : pcs_)
    pc->settle_stats(std::max(now, pc->now()));
}

HbmTotals HbmEngine::totals() {
  settle();
  HbmTotals t;
  for (const auto& pc : pcs_) {
    const HbmPcStats& s = pc->stats();
    t.read_bursts += s.bursts[0];
    t.write_bursts += s.bursts[1];
    t.activates += s.activates;
    t.precharges += s.precharges;
    t.row_misses += s.row_misses;
    t.row_conflicts += s.row_conflicts;
    t.refreshes += s.refreshes;
    t.refresh_cycles += s.refresh_cycles;
    t.queue_integral += s.queue_integral;
    t.intake_integral += s.intake_integral;
    t.bank_open_integral += s.bank_open_integral;
  }
  const uint64_t columns = t.read_bursts + t.write_bursts;
  const uint64_t opened = t.row_misses + t.row_conflicts;
  t.row_hits = columns > opened ? columns - opened : 0;
  return t;
}

void HbmEngine::register_stats(StatGroup& g) {
  g.counter("bytes_read", &bytes_[0], "B", "bytes requested by reads");
  g.counter("bytes_written", &bytes_[1], "B", "bytes requested by writes");
  g.counter("read_requests", &requests_[0], "count", "read requests");
  g.counter("write_requests", &requests_[1], "count", "write requests");
  g.counter("requests_completed", &completed_, "count", "requests completed");
  g.counter("wakes", &wakes_, "count", "controller wake-up events (each advances busy channels)");
  g.histogram("request_latency", &latency_ns_, "ns", "request latency, arrival to completion");
  auto tot = [this](uint64_t HbmTotals::*f) {
    return [this, f] {
      totals_cache_ = totals();
      return static_cast<double>(totals_cache_.*f);
    };
  };
  g.formula("read_bursts", tot(&HbmTotals::read_bursts), "count", "RD commands");
  g.formula("write_bursts", tot(&HbmTotals::write_bursts), "count", "WR commands");
  g.formula("activates", tot(&HbmTotals::activates), "count", "ACT commands");
  g.formula("precharges", tot(&HbmTotals::precharges), "count", "PRE, PREA and auto-precharges");
  g.formula("row_hits", tot(&HbmTotals::row_hits), "count", "bursts served from an open row");
  g.formula("row_misses", tot(&HbmTotals::row_misses), "count",
            "activations of a closed bank (idle, refreshed or auto-precharged)");
  g.formula("row_conflicts", tot(&HbmTotals::row_conflicts), "count",
            "activations after closing another open row");
  g.formula("refreshes", tot(&HbmTotals::refreshes), "count", "refresh commands");
  const double npcs = static_cast<double>(pcs_.size());
  const double tck = static_cast<double>(tck_);
  g.formula(
      "refresh_time",
      [this, npcs, tck] {
        const HbmTotals t = totals();
        const double per_pc = static_cast<double>(t.refresh_cycles) * tck / npcs;
        // A per-bank refresh blocks one bank of the pseudo-channel.
        return params_.refresh.mode == RefreshMode::PerBank ? per_pc / cfg_.banks : per_pc;
      },
      "ps", "time a pseudo-channel's banks were blocked by refresh (mean over pseudo-channels)");
  auto elapsed_cycles = [this] {
    return std::max<double>(1.0, events_.now().ps() / static_cast<double>(tck_));
  };
  g.formula(
      "queue_occupancy",
      [this, npcs, elapsed_cycles] {
        return static_cast<double>(totals().queue_integral) / (npcs * elapsed_cycles());
      },
      "bursts", "mean bursts in a pseudo-channel's read + write queues, over the whole run");
  g.formula(
      "intake_occupancy",
      [this, npcs, elapsed_cycles] {
        return static_cast<double>(totals().intake_integral) / (npcs * elapsed_cycles());
      },
      "bursts", "mean bursts per pseudo-channel waiting for queue space (back-pressure)");
  g.formula(
      "bank_utilization",
      [this, npcs, elapsed_cycles] {
        return static_cast<double>(totals().bank_open_integral) /
               (npcs * cfg_.banks * elapsed_cycles());
      },
      "fraction", "fraction of bank-time with a row open");
  g.formula(
      "active_time", [this] { return static_cast<double>(active_time().ps()); }, "ps",
      "simulated time with at least one request outstanding");
  g.formula(
      "achieved_bandwidth",
      [this] {
        const double s = active_time().to_seconds();
        return s > 0 ? static_cast<double>(bytes_[0] + bytes_[1]) / s : 0.0;
      },
      "B/s", "bytes moved / time with requests outstanding");
  g.formula(
      "bandwidth_utilization",
      [this] {
        const double s = active_time().to_seconds();
        return s > 0 ? static_cast<double>(bytes_[0] + bytes_[1]) / s /
                           params_.peak_bandwidth().bytes_per_s()
                     : 0.0;
      },
      "fraction", "achieved bandwidth / pin peak");
  g.formula(
      "mean_latency", [this] { return static_cast<double>(mean_latency().ps()); }, "ps",
      "mean request latency");
}

}  // namespace mlasim
