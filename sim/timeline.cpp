// Chrome trace of a run (see timeline.h).
#include "sim/timeline.h"

#include <algorithm>
#include <cstdint>

#include "models/common/fabric.h"
#include "models/gpu/gpu_base.h"

namespace mlasim {

namespace {

constexpr int kNicThread = 2, kNvlinkThread = 3;

struct Busy {
  int64_t start, end;
  uint64_t messages, bytes;
};

// Merges [start, end) message intervals into disjoint busy slices.
std::vector<Busy> merge(std::vector<Busy> v) {
  std::sort(v.begin(), v.end(), [](const Busy& a, const Busy& b) { return a.start < b.start; });
  std::vector<Busy> out;
  for (const Busy& b : v) {
    if (!out.empty() && b.start <= out.back().end) {
      out.back().end = std::max(out.back().end, b.end);
      out.back().messages += b.messages;
      out.back().bytes += b.bytes;
    } else {
      out.push_back(b);
    }
  }
  return out;
}

}  // namespace

nlohmann::ordered_json chrome_timeline(const std::vector<GpuBase*>& gpus, const Fabric* fabric,
                                       int gpus_per_node) {
  nlohmann::ordered_json events = nlohmann::ordered_json::array();
  const size_t n = gpus.size();
  // Messages by source GPU and kind of path.
  std::vector<std::vector<Busy>> nic(n), nvlink(n);
  if (fabric) {
    for (const MessageRecord& m : fabric->messages()) {
      if (m.src < 0 || static_cast<size_t>(m.src) >= n || m.completed_ps < 0) continue;
      const bool same_node =
          gpus_per_node > 0 && m.dst >= 0 && m.src / gpus_per_node == m.dst / gpus_per_node;
      (same_node ? nvlink : nic)[m.src].push_back({m.injected_ps, m.completed_ps, 1, m.bytes});
    }
  }
  auto thread_name = [&](int pid, int tid, const char* name) {
    events.push_back({{"name", "thread_name"},
                      {"ph", "M"},
                      {"pid", pid},
                      {"tid", tid},
                      {"args", {{"name", name}}}});
  };
  for (const GpuBase* g : gpus) {
    const int pid = g->rank();
    events.push_back(
        {{"name", "process_name"}, {"ph", "M"}, {"pid", pid}, {"args", {{"name", g->name()}}}});
    events.push_back({{"name", "process_sort_index"},
                      {"ph", "M"},
                      {"pid", pid},
                      {"args", {{"sort_index", pid}}}});
    thread_name(pid, 0, "compute");
    thread_name(pid, 1, "communication");
    if (fabric) {
      thread_name(pid, kNicThread, "NIC (inter-node messages in flight)");
      thread_name(pid, kNvlinkThread, "NVLink (intra-node messages in flight)");
    }
    for (const auto& e : g->timeline()) {
      events.push_back({{"name", e.name},
                        {"cat", e.category},
                        {"ph", "X"},
                        {"pid", pid},
                        {"tid", e.thread},
                        {"ts", e.start.to_us()},
                        {"dur", (e.end - e.start).to_us()}});
    }
    for (int tid : {kNicThread, kNvlinkThread}) {
      auto& list = tid == kNicThread ? nic : nvlink;
      if (static_cast<size_t>(pid) >= list.size()) continue;
      for (const Busy& b : merge(std::move(list[pid]))) {
        events.push_back({{"name", tid == kNicThread ? "nic busy" : "nvlink busy"},
                          {"cat", "network"},
                          {"ph", "X"},
                          {"pid", pid},
                          {"tid", tid},
                          {"ts", static_cast<double>(b.start) * 1e-6},
                          {"dur", static_cast<double>(b.end - b.start) * 1e-6},
                          {"args", {{"messages", b.messages}, {"bytes", b.bytes}}}});
      }
    }
  }
  nlohmann::ordered_json j;
  j["traceEvents"] = std::move(events);
  j["displayTimeUnit"] = "ns";
  return j;
}

}  // namespace mlasim
