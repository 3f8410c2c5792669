// Chrome trace of a run (see timeline.h).
#include "sim/timeline.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "models/common/fabric.h"
#include "models/gpu/gpu_base.h"
#include "sim/results.h"

namespace mlasim {

namespace {

constexpr int kNicThread = 2, kNvlinkThread = 3;

// Lanes of one GPU's op slices: ops of one thread (compute, communication) may run at once, and a
// trace viewer nests slices of one track only when one contains the other. Each slice goes to the
// first lane of its thread free at its start (slices taken by start time, ties in timeline
// order), so no lane holds two overlapping slices; lane 0 is the thread's own tid, further lanes
// get tids from kFirstExtraThread up, compute's before communication's, named "<thread> <n>".
constexpr int kFirstExtraThread = 4;
constexpr std::array<const char*, 2> kOpThreads{"compute", "communication"};

struct Lanes {
  std::vector<int64_t> tid;                            // per timeline event
  std::vector<std::pair<int64_t, std::string>> extra;  // added tids and their names
};

Lanes assign_lanes(const std::vector<TimelineEvent>& events) {
  Lanes out;
  out.tid.resize(events.size());
  std::vector<size_t> order(events.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return events[a].start.ps() < events[b].start.ps(); });
  std::array<std::vector<int64_t>, kOpThreads.size()> lane_end;  // ps each lane is busy until
  std::array<std::vector<std::vector<size_t>>, kOpThreads.size()> members;  // [lane]: events
  for (size_t i : order) {
    const TimelineEvent& e = events[i];
    const size_t t = e.thread == 0 ? 0 : 1;
    auto& ends = lane_end[t];
    size_t lane = 0;
    while (lane < ends.size() && ends[lane] > e.start.ps())
      ++lane;
    if (lane == ends.size()) {
      ends.push_back(0);
      members[t].emplace_back();
    }
    ends[lane] = std::max(e.start.ps(), e.end.ps());
    members[t][lane].push_back(i);
  }
  int64_t next = kFirstExtraThread;
  for (size_t t = 0; t < kOpThreads.size(); ++t) {
    for (size_t lane = 0; lane < members[t].size(); ++lane) {
      int64_t tid = static_cast<int64_t>(t);
      if (lane > 0) {
        tid = next++;
        out.extra.emplace_back(tid, fmt::format("{} {}", kOpThreads[t], lane + 1));
      }
      for (size_t i : members[t][lane])
        out.tid[i] = tid;
    }
  }
  return out;
}

// The timeline's JSON text, written straight into one string: a timeline has millions of
// events, and a tree of them cost more than the run's output otherwise. Times are written from
// their integer ps (put_us), integers with fmt.
class TraceWriter {
 public:
  explicit TraceWriter(std::string& out) : out_(out) {}
  void raw(std::string_view s) { out_.append(s); }
  void str(std::string_view s) {
    for (const char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') {  // escapes, UTF-8: nlohmann's way
        out_ += nlohmann::ordered_json(std::string(s)).dump();
        return;
      }
    }
    out_ += '"';
    out_.append(s);
    out_ += '"';
  }
  void num(int64_t x) {
    const fmt::format_int f(x);
    out_.append(f.data(), f.size());
  }
  void num(uint64_t x) {
    const fmt::format_int f(x);
    out_.append(f.data(), f.size());
  }
  // "key": (after a comma unless first)
  void key(std::string_view k, bool first = false) {
    if (!first) out_ += ',';
    out_ += '"';
    out_.append(k);
    out_ += "\":";
  }

 private:
  std::string& out_;
};

}  // namespace

void write_chrome_timeline(const std::vector<GpuBase*>& gpus, const Fabric* fabric,
                           const std::function<void(std::string_view)>& put) {
  // Handed on every few MB (after a GPU's events), not held whole: at 2,048 GPUs a step's
  // timeline runs to gigabytes.
  constexpr size_t kFlushBytes = size_t{4} << 20;
  std::string out;
  TraceWriter w(out);
  auto flush = [&] {
    put(out);
    out.clear();
  };
  bool first_event = true;
  auto begin_event = [&](std::string_view name) {
    w.raw(first_event ? "{" : ",{");
    first_event = false;
    w.key("name", true);
    w.str(name);
  };
  // A metadata ("M") event's head, up to its pid.
  auto metadata = [&](std::string_view name, int pid) {
    begin_event(name);
    w.key("ph");
    w.str("M");
    w.key("pid");
    w.num(int64_t{pid});
  };
  // A complete ("X") event up to its duration; the caller closes it.
  // Times in us with six decimals, from the integer ps: start and duration are exact, so a
  // slice that starts as another ends never seems to overlap it.
  auto us = [&](int64_t ps) {
    char buf[32];
    w.raw(std::string_view(buf, static_cast<size_t>(put_us(buf, ps) - buf)));
  };
  auto complete = [&](std::string_view name, std::string_view cat, int pid, int64_t tid,
                      int64_t ts_ps, int64_t dur_ps) {
    begin_event(name);
    w.key("cat");
    w.str(cat);
    w.key("ph");
    w.str("X");
    w.key("pid");
    w.num(int64_t{pid});
    w.key("tid");
    w.num(tid);
    w.key("ts");
    us(ts_ps);
    w.key("dur");
    us(dur_ps);
  };
  auto thread_name = [&](int pid, int tid, const char* name) {
    metadata("thread_name", pid);
    w.key("tid");
    w.num(int64_t{tid});
    w.key("args");
    w.raw("{");
    w.key("name", true);
    w.str(name);
    w.raw("}}");
  };
  w.raw("{\"traceEvents\":[");
  for (const GpuBase* g : gpus) {
    const int pid = g->rank();
    metadata("process_name", pid);
    w.key("args");
    w.raw("{");
    w.key("name", true);
    w.str(g->name());
    w.raw("}}");
    metadata("process_sort_index", pid);
    w.key("args");
    w.raw("{");
    w.key("sort_index", true);
    w.num(int64_t{pid});
    w.raw("}}");
    thread_name(pid, 0, "compute");
    thread_name(pid, 1, "communication");
    if (fabric) {
      thread_name(pid, kNicThread, "NIC (inter-node messages in flight)");
      thread_name(pid, kNvlinkThread, "NVLink (intra-node messages in flight)");
    }
    const std::vector<TimelineEvent>& events = g->timeline();
    const Lanes lanes = assign_lanes(events);
    for (const auto& [tid, name] : lanes.extra)
      thread_name(pid, static_cast<int>(tid), name.c_str());
    for (size_t i = 0; i < events.size(); ++i) {
      const TimelineEvent& e = events[i];
      const Op& op = g->program().ops[e.op];
      complete(op.name, op_kind_name(op.payload), pid, lanes.tid[i], e.start.ps(),
               (e.end - e.start).ps());
      w.raw("}");
    }
    for (int tid : {kNicThread, kNvlinkThread}) {
      if (!fabric) break;
      // Merged by the fabric as messages were delivered (bounded memory at any scale).
      for (const BusySlice& b : fabric->message_log().busy(pid, tid == kNvlinkThread)) {
        complete(tid == kNicThread ? "nic busy" : "nvlink busy", "network", pid, int64_t{tid},
                 b.start, b.end - b.start);
        w.key("args");
        w.raw("{");
        w.key("messages", true);
        w.num(b.messages);
        w.key("bytes");
        w.num(b.bytes);
        w.raw("}}");
      }
    }
    if (out.size() >= kFlushBytes) flush();
  }
  w.raw("],\"displayTimeUnit\":\"ns\"}");
  flush();
}

std::string chrome_timeline_text(const std::vector<GpuBase*>& gpus, const Fabric* fabric) {
  std::string text;
  write_chrome_timeline(gpus, fabric, [&](std::string_view part) { text.append(part); });
  return text;
}

nlohmann::ordered_json chrome_timeline(const std::vector<GpuBase*>& gpus, const Fabric* fabric) {
  return nlohmann::ordered_json::parse(chrome_timeline_text(gpus, fabric));
}

}  // namespace mlasim
