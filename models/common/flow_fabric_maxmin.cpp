// FlowFabric's max-min fair rate computation (progressive filling over the links the changed
// flows touch, with the per-link heap it fills from); events and due-time queues are in
// flow_fabric.cpp.
#include "models/common/flow_fabric.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace mlasim {

void FlowFabric::recompute(int64_t now, const std::vector<uint32_t>& done) {
  ++rate_recomputations;
  // theta: below it, a progressive filling over the new set of flows runs as it did over the
  // old one. A finishing flow crossed no link saturated below its rate; a link gaining flows
  // could saturate earlier, at the first level where its share with the new count falls to
  // the rate of its next flow in increasing order.
  double theta = std::numeric_limits<double>::infinity();
  for (uint32_t id : done) {
    Flow& f = flows_[id];
    if (!f.attached) continue;
    theta = std::min(theta, hot_[id].rate);
    link_detach(id);
    f.had_links = true;
    ++fluid_[id].version;
  }
  std::vector<uint32_t>& fresh = fresh_scratch_;
  fresh.clear();
  for (uint32_t id : arrived_)
    if (fluid_[id].active) fresh.push_back(id);
  arrived_.clear();
  arrived_checked_ = 0;
  uint32_t ep = next_epoch();
  touched_links_.clear();
  for (uint32_t id : fresh) {
    for_rate_links(id, [&](uint32_t l) {
      if (link_mark_[l] != ep) {
        link_mark_[l] = ep;
        arrivals_on_[l] = 0;
        touched_links_.push_back(l);
      }
      ++arrivals_on_[l];
    });
  }
  // The level of link l, with capacity `cap` (a shadow's is worked out from its twin's flows,
  // the same as its own: theta is the one every link gives, shadows included).
  // `sorted`: rates_scratch_ already holds l's rates in order.
  auto lower_theta = [&](uint32_t l, double cap, bool sorted) {
    // Shares only grow along the filling, so the level is at least the first one: a link
    // whose first share is already at or above theta cannot lower it.
    const double first = cap / (static_cast<double>(on_link_[l].size()) + arrivals_on_[l]);
    if (theta <= first) return false;
    if (!sorted) {
      rates_scratch_.clear();
      for (const OnLink& o : on_link_[l])
        rates_scratch_.push_back(hot_[o.flow].rate);
      std::sort(rates_scratch_.begin(), rates_scratch_.end());
    }
    const size_t n = rates_scratch_.size();
    const double added = arrivals_on_[l];
    double used = 0, level = -1;
    for (size_t k = 0; k < n && level < 0; ++k) {
      const double share = std::max(0.0, cap - used) / (static_cast<double>(n - k) + added);
      if (share <= rates_scratch_[k]) level = share;
      used += rates_scratch_[k];
    }
    if (level < 0) level = std::max(0.0, cap - used) / added;
    theta = std::min(theta, level);
    return true;
  };
  for (uint32_t l : touched_links_) {
    // A shadow's capacity is at least its twin's: when the twin is passed over, so is it.
    if (lower_theta(l, capacity_[l], false) && shadows_on_ && shadow_of_[l] != UINT32_MAX)
      lower_theta(l, capacity_[shadow_of_[l]], true);
  }
  // A margin for rounding: any level below theta would do.
  const double cut = theta * (1 - 1e-9);

  // The flows to refill: the new ones and, transitively through the links they share, every
  // flow at or above the cut. The rest keep their rates and hold their share of each link.
  ep = next_epoch();
  rerate_.clear();
  touched_links_.clear();
  auto visit = [&](uint32_t l) {
    if (link_mark_[l] == ep) return;
    link_mark_[l] = ep;
    touched_links_.push_back(l);
  };
  for (uint32_t id : done)  // those that gave up links here (not one handed over)
    if (flows_[id].had_links) for_rate_links(id, visit);
  for (uint32_t id : fresh) {
    link_attach(id);
    hot_[id].mark = ep;
    rerate_.push_back(id);
    for_rate_links(id, visit);
  }
  for (size_t q = 0; q < touched_links_.size(); ++q) {
    const uint32_t l = touched_links_[q];
    double held = 0;
    uint32_t open = 0;
    const auto& on = on_link_[l];
    for (size_t k = 0; k < on.size(); ++k) {
      if (k + kPrefetchAhead < on.size()) __builtin_prefetch(&hot_[on[k + kPrefetchAhead].flow]);
      const OnLink& o = on[k];
      Hot& h = hot_[o.flow];
      if (h.mark == ep) {
        ++open;
      } else if (h.rate >= cut) {
        h.mark = ep;
        rerate_.push_back(o.flow);
        ++open;
        for_rate_links(o.flow, visit);
      } else {
        held += h.rate;
      }
    }
    cap_left_[l] = capacity_[l] - held;
    unfrozen_on_[l] = open;
  }

  // Progressive filling over the refilled flows: the link with the smallest fair share fixes
  // the rate of every flow still open on it. An indexed heap holds each open link once, keyed
  // by a lower bound of its share: a share only grows as flows elsewhere are fixed (but for
  // rounding, which is sifted up at once), so a grown one is re-keyed only when it reaches the
  // top. The order links are taken in is that of exact keys.
  link_heap_.clear();
  for (uint32_t l : touched_links_) {
    if (unfrozen_on_[l] == 0) continue;
    heap_key_[l] = share_of(l);
    heap_at_[l] = static_cast<uint32_t>(link_heap_.size());
    link_heap_.push_back(l);
    heap_up(heap_at_[l]);
  }
  while (!link_heap_.empty()) {
    const uint32_t bottleneck = link_heap_.front();
    // A link's share is worked out when it reaches the top (from the same capacity left and
    // open count as when it last changed: the value an update at each change would hold).
    const double best = share_of(bottleneck);
    if (heap_key_[bottleneck] != best) {
      // A NaN share would be re-keyed for ever (capacities are checked at finalize).
      if (std::isnan(best)) {
        throw std::logic_error(fmt::format(
            "flow fabric: link {} has no fair share ({} B/ps left over {} flows) at {} ps",
            links_[bottleneck].name, cap_left_[bottleneck], unfrozen_on_[bottleneck], now));
      }
      heap_key_[bottleneck] = best;
      heap_down(0);
      continue;
    }
    heap_remove_top();
    const auto& on = on_link_[bottleneck];
    for (size_t k = 0; k < on.size(); ++k) {
      if (k + kPrefetchAhead < on.size()) __builtin_prefetch(&hot_[on[k + kPrefetchAhead].flow]);
      const OnLink& o = on[k];
      Hot& h = hot_[o.flow];
      if (h.mark != ep || h.fixed) continue;
      h.fixed = true;
      h.next_rate = best;
      for_rate_links(o.flow, [&](uint32_t m) {
        cap_left_[m] -= best;
        if (--unfrozen_on_[m] > 0 && m != bottleneck) {
          // Rounding may put the new share below the key: only then is it sifted up. The
          // share is at least the key when the capacity left is above key x open count (the
          // product rounded, then raised past its rounding), so the division is only needed
          // where that test fails.
          const double left = std::max(0.0, cap_left_[m]);
          const double open = unfrozen_on_[m];
          if (!(left > heap_key_[m] * open * (1 + 1e-15))) {
            const double share = left / open;
            if (share < heap_key_[m]) {  // rounding
              heap_key_[m] = share;
              heap_up(heap_at_[m]);
            }
          }
        } else if (m != bottleneck) {
          heap_erase(heap_at_[m]);
        }
      });
    }
  }

  // Utilisation series up to now at the old rates, then the new rates (only touched links
  // change their rate sums).
  // The shadows of touched links are touched as well (they carry the same flows). A shadow's
  // rate sum would take the same additions in the same order as its twin's: while shadows are
  // on, only the twin's is kept, and the shadow's series reads it.
  if (series_enabled_) {
    for (uint32_t l : touched_links_)
      advance_series(l, now);
    for (uint32_t id : done) {
      Flow& f = flows_[id];
      if (!f.had_links) continue;
      if (f.off_series) {  // taken out of the series when it ended (quantum mode)
        f.off_series = false;
        continue;
      }
      const double rate = hot_[id].rate;
      for_rate_links(id, [&](uint32_t l) { link_rate_[l] -= rate; });
    }
  }
  // When most flows change rate, rebuilding the heaps of due times from every transferring flow
  // is cheaper than pushing an entry per change (and leaves no superseded entries behind).
  const bool rebuild = quantum_ps_ > 0 && 4 * rerate_.size() >= active_.size();
  for (size_t i = 0; i < rerate_.size(); ++i) {
    if (i + kPrefetchAhead < rerate_.size()) {
      __builtin_prefetch(&hot_[rerate_[i + kPrefetchAhead]]);
      __builtin_prefetch(&fluid_[rerate_[i + kPrefetchAhead]]);
    }
    const uint32_t id = rerate_[i];
    Hot& h = hot_[id];
    const double r = h.fixed ? h.next_rate : 0.0;
    h.fixed = false;
    if (r == h.rate && i >= fresh.size()) continue;
    if (series_enabled_) {
      const double delta = r - h.rate;
      for_rate_links(id, [&](uint32_t l) { link_rate_[l] += delta; });
    }
    set_rate(id, r, now, !rebuild);
  }
  if (rebuild) rebuild_due(now);
  if (series_enabled_) {
    for (uint32_t l : touched_links_)
      if (on_link_[l].empty()) link_rate_[l] = 0;  // no rounding residue on an idle link
  }
}

void FlowFabric::advance_series(uint32_t l, int64_t now) {
  auto advance = [&](uint32_t link) {
    if (link_rate_[l] > 0) {
      link_ptr_[link]->stats.busy_series.add(link_since_[link], now,
                                             link_rate_[l] / capacity_[link],
                                             params_.report.bin.ps(), params_.report.max_bins);
    }
    link_since_[link] = now;
  };
  advance(l);
  if (shadows_on_ && shadow_of_[l] != UINT32_MAX) advance(shadow_of_[l]);
}

void FlowFabric::end_in_series(uint32_t id, int64_t now) {
  const double rate = hot_[id].rate;
  for_rate_links(id, [&](uint32_t l) {
    advance_series(l, now);
    link_rate_[l] -= rate;
  });
  flows_[id].off_series = true;
}

void FlowFabric::clear_marks() {
  std::fill(link_mark_.begin(), link_mark_.end(), 0u);
  for (Hot& h : hot_)
    h.mark = 0;
  recompute_epoch_ = 0;
  ++marks_cleared;
}

// Flows are listed on their rate links only: a shadow's list would be its twin's (see
// restore_route_order for when shadows are switched off).
void FlowFabric::link_attach(uint32_t id) {
  Flow& f = flows_[id];
  const auto path = path_of(id);
  uint32_t* slot = slots_of(id);
  for (uint32_t h = 0; h < hot_[id].rate_hops; ++h) {
    auto& on = on_link_[path[h]];
    slot[h] = static_cast<uint32_t>(on.size());
    on.push_back({id, h});
  }
  f.attached = true;
}

void FlowFabric::link_detach(uint32_t id) {
  Flow& f = flows_[id];
  const auto path = path_of(id);
  const uint32_t* slot = slots_of(id);
  for (uint32_t h = 0; h < hot_[id].rate_hops; ++h) {
    auto& on = on_link_[path[h]];
    const uint32_t s = slot[h];
    const OnLink moved = on.back();
    on[s] = moved;
    slots_of(moved.flow)[moved.hop] = s;
    on.pop_back();
  }
  f.attached = false;
}

bool FlowFabric::heap_less(uint32_t a, uint32_t b) const {
  return heap_key_[a] != heap_key_[b] ? heap_key_[a] < heap_key_[b] : a < b;
}

void FlowFabric::heap_place(uint32_t i, uint32_t l) {
  link_heap_[i] = l;
  heap_at_[l] = i;
}

void FlowFabric::heap_up(uint32_t i) {
  const uint32_t l = link_heap_[i];
  while (i > 0) {
    const uint32_t parent = (i - 1) / 2;
    if (!heap_less(l, link_heap_[parent])) break;
    heap_place(i, link_heap_[parent]);
    i = parent;
  }
  heap_place(i, l);
}

void FlowFabric::heap_down(uint32_t i) {
  const uint32_t l = link_heap_[i];
  const auto n = static_cast<uint32_t>(link_heap_.size());
  for (;;) {
    uint32_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && heap_less(link_heap_[c + 1], link_heap_[c])) ++c;
    if (!heap_less(link_heap_[c], l)) break;
    heap_place(i, link_heap_[c]);
    i = c;
  }
  heap_place(i, l);
}

void FlowFabric::heap_remove_top() {
  heap_erase(0);
}

void FlowFabric::heap_erase(uint32_t i) {
  const uint32_t last = link_heap_.back();
  link_heap_.pop_back();
  if (i == link_heap_.size()) return;
  heap_place(i, last);
  heap_up(i);
  heap_down(heap_at_[last]);
}

}  // namespace mlasim
