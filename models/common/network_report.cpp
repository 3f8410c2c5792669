// Network reports: summary keys, CSVs and the hot-spot report (see network_report.h).
#include "models/common/network_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <iterator>
#include <map>
#include <numeric>
#include <sstream>

#include "sim/results.h"

namespace mlasim {

namespace {

void append(fmt::memory_buffer& b, std::string_view s) {
  b.append(s.data(), s.data() + s.size());
}

double utilization(const FabricLink& l, Time end) {
  return end.ps() > 0 ? static_cast<double>(l.stats.busy_ps) / static_cast<double>(end.ps()) : 0.0;
}

struct Totals {
  uint64_t links = 0, active = 0, bytes = 0, busy_ps = 0, stall_ps = 0;
  double util_sum = 0, util_max = 0;
  void add(const FabricLink& l, Time end) {
    ++links;
    bytes += l.stats.bytes;
    busy_ps += l.stats.busy_ps;
    stall_ps += l.stats.stall_ps;
    const double u = utilization(l, end);
    util_max = std::max(util_max, u);
    if (l.stats.wire_bytes > 0) {  // (headers count: zero-byte messages are traffic too)
      ++active;
      util_sum += u;
    }
  }
  nlohmann::ordered_json json() const {
    return {{"links", links},
            {"active_links", active},
            {"bytes", bytes},
            {"busy_us", static_cast<double>(busy_ps) * 1e-6},
            {"credit_stall_us", static_cast<double>(stall_ps) * 1e-6},
            {"mean_active_utilization", active ? util_sum / static_cast<double>(active) : 0.0},
            {"max_utilization", util_max}};
  }
};

std::vector<const FabricLink*> hotspots(const Fabric& f, size_t n) {
  std::vector<const FabricLink*> v;
  for (const auto& l : f.links())
    if (l.stats.stall_ps > 0) v.push_back(&l);
  std::stable_sort(v.begin(), v.end(), [](const FabricLink* a, const FabricLink* b) {
    return a->stats.stall_ps > b->stats.stall_ps;
  });
  if (v.size() > n) v.resize(n);
  return v;
}

}  // namespace

void add_network_summary(const Fabric& f, Time end, nlohmann::ordered_json& j) {
  j["network_fidelity"] = f.fidelity_name();
  j["packet_hops"] = f.packet_hops;
  j["net_injected_messages_count"] = f.messages_injected;
  j["net_delivered_messages_count"] = f.messages_delivered;
  j["net_injected_bytes"] = f.bytes_injected;
  j["net_delivered_bytes"] = f.bytes_delivered;
  // Relayed parts (DeepEP forwarding) are delivered twice: to the relaying GPU, then to theirs.
  j["net_relayed_bytes"] = f.bytes_delivered - f.final_bytes_delivered;
  j["net_injected_packets_count"] = f.packets_injected;
  j["net_delivered_packets_count"] = f.packets_delivered;

  Totals all;
  for (const auto& l : f.links())
    all.add(l, end);
  j["max_link_utilization"] = all.util_max;
  // Over the links that carried traffic (idle ones, an unused plane or tier, would dilute it).
  j["mean_link_utilization"] = all.active ? all.util_sum / static_cast<double>(all.active) : 0.0;
  j["credit_stall_fraction"] =
      all.busy_ps + all.stall_ps > 0
          ? static_cast<double>(all.stall_ps) / static_cast<double>(all.busy_ps + all.stall_ps)
          : 0.0;
  j["credit_stall_us"] = static_cast<double>(all.stall_ps) * 1e-6;

  const MessageLog& log = f.message_log();
  j["fct_min_us"] = log.fct_us().min();
  j["fct_p50_us"] = log.fct_us().quantile(0.5);
  j["fct_p99_us"] = log.fct_us().quantile(0.99);
  j["fct_max_us"] = log.fct_us().max();
  j["p50_fct_slowdown"] = log.slowdown().quantile(0.5);
  j["p99_fct_slowdown"] = log.slowdown().quantile(0.99);
  j["max_fct_slowdown"] = log.slowdown().max();
  const int64_t first = log.first_injected_ps(), last = log.last_delivered_ps();
  j["network_end_us"] = last >= 0 ? static_cast<double>(last) * 1e-6 : 0.0;
  j["net_goodput_bytes_per_s"] = last > first && first >= 0
                                     ? static_cast<double>(f.final_bytes_delivered) /
                                           (static_cast<double>(last - first) * 1e-12)
                                     : 0.0;
  size_t gpus = 0;
  for (size_t i = 0; i < f.num_nodes(); ++i)
    gpus += f.node(static_cast<uint32_t>(i)).endpoint_rank() >= 0 ? 1 : 0;
  // All-to-all bandwidth per GPU: what each GPU received per second of the exchange.
  j["net_goodput_per_gpu_bytes_per_s"] =
      gpus > 0 ? j["net_goodput_bytes_per_s"].get<double>() / static_cast<double>(gpus) : 0.0;
  const auto hot = hotspots(f, 1);
  j["hotspot_link"] = hot.empty() ? std::string("-") : hot.front()->name;
  j["hotspot_credit_stall_us"] =
      hot.empty() ? 0.0 : static_cast<double>(hot.front()->stats.stall_ps) * 1e-6;
  if (!f.faults().empty()) {
    // Times are measured from the first fault at a simulated time; with none (every fault
    // before the run) there is no "before" and no recovery, only the count and the counters.
    int64_t first_fault = INT64_MAX, reroute = -1;
    uint64_t before_run = 0;
    for (const auto& r : f.faults()) {
      if (r.before_run) {
        ++before_run;
      } else if (r.at_ps <= last) {  // one the traffic met (so applied)
        first_fault = std::min(first_fault, r.at_ps);
      }
      reroute = std::max(reroute, r.reroute_ps);
    }
    // (A timed fault after the last delivery met no traffic, whether or not the run reached it
    // before sim.max_time: it is listed, counted, and warned about, with no recovery figures.)
    const bool timed = first_fault != INT64_MAX;
    if (!timed) first_fault = 0;
    j["fault_count"] = f.faults().size();
    j["fault_before_run_count"] = before_run;
    j["fault_first_at_us"] = static_cast<double>(first_fault) * 1e-6;
    j["fault_last_reroute_at_us"] = reroute >= 0 ? static_cast<double>(reroute) * 1e-6 : 0.0;
    j["fault_packets_lost_count"] = f.packets_lost;
    j["fault_lost_bytes"] = f.bytes_lost;
    j["fault_packets_retransmitted_count"] = f.packets_retransmitted;
    j["fault_duplicate_packets_count"] = f.duplicate_packets;
    j["fault_retransmit_timeouts_count"] = f.retransmit_timeouts;
    j["fault_naks_count"] = f.retransmit_naks;
    j["fault_messages_failed_count"] = f.messages_failed;
    if (timed) {
      // Recovery: from the first fault to the arrival of the last resent packet.
      j["fault_recovery_us"] =
          f.last_repair_ps >= 0 ? static_cast<double>(f.last_repair_ps - first_fault) * 1e-6 : 0.0;
      // (A fault after the last delivery finds no traffic: "before" ends with the traffic.)
      const double before_s = static_cast<double>(std::min(first_fault, last)) * 1e-12;
      const double after_s = static_cast<double>(last - first_fault) * 1e-12;
      j["fault_goodput_before_bytes_per_s"] =
          before_s > 0 ? static_cast<double>(f.payload_delivered_at_fault) / before_s : 0.0;
      j["fault_goodput_after_bytes_per_s"] =
          after_s > 0
              ? static_cast<double>(f.payload_delivered - f.payload_delivered_at_fault) / after_s
              : 0.0;
    }
  }
  j["net_peak_in_flight_packets_count"] = f.peak_in_flight_packets;
  j["net_credit_violations_count"] = f.credit_violations;
  j["net_peak_shared_buffer_bytes"] = f.peak_shared_buffer_bytes;
  j["net_memory_per_in_flight_packet_bytes"] = f.bytes_per_in_flight_packet();
  j["net_engine_activations_count"] = f.activations;
  j["net_flow_rate_recomputations_count"] = f.rate_recomputations;
  j["net_flow_rerated_flows_count"] = f.flows_rerated;
  j["net_flow_handed_over_flows_count"] = f.flows_handed_over;
  j["net_cpu_s"] = f.cpu_seconds();
  j["packet_hops_per_cpu_s"] =
      f.cpu_seconds() > 0 ? static_cast<double>(f.packet_hops) / f.cpu_seconds() : 0.0;
}

void write_network_results(const Fabric& f, Time end, const std::filesystem::path& dir) {
  {
    fmt::memory_buffer o;
    append(o,
           "link,from,to,kind,tier,plane,bandwidth_bytes_per_s,bytes,wire_bytes,packets,messages,"
           "utilization,busy_us,credit_stall_us,peak_queue_bytes,mean_queue_bytes,"
           "mean_shared_memory_bytes,rate_bytes_per_s\n");
    for (const auto& l : f.links()) {
      const auto& s = l.stats;
      fmt::format_to(fmt::appender(o),
                     "{},{},{},{},{},{},{},{},{},{},{},{:.6f},{:.6f},{:.6f},{},{:.3f},{:.3f},{}\n",
                     l.name, f.node(l.from).basename(), f.node(l.to).basename(), l.timing.kind,
                     l.timing.tier, l.timing.plane, l.timing.bandwidth.bytes_per_s(), s.bytes,
                     s.wire_bytes, s.packets, s.messages, utilization(l, end),
                     static_cast<double>(s.busy_ps) * 1e-6, static_cast<double>(s.stall_ps) * 1e-6,
                     s.peak_queue_bytes,
                     end.ps() > 0 ? s.queue_byte_ps / static_cast<double>(end.ps()) : 0.0,
                     end.ps() > 0 ? s.shared_byte_ps / static_cast<double>(end.ps()) : 0.0,
                     l.rate.bytes_per_s());
    }
    write_file_atomic(dir / "links.csv", std::string_view(o.data(), o.size()));
  }
  {
    // Millions of rows: into a buffer that goes to the file every few MB (not one buffer of
    // the whole file), times in us from their integer ps (exactly the digits "{:.6f}" gives
    // ps * 1e-6, whose error is far below half a last digit).
    write_file_atomic(dir / "messages.csv", [&](const AtomicSink& put) {
      constexpr size_t kFlushBytes = size_t{4} << 20;
      fmt::memory_buffer o;
      append(o, "id,src,dst,bytes,injected_us,completed_us,fct_us,ideal_us,slowdown\n");
      const size_t rows =
          std::min<uint64_t>(f.messages().size(), f.params().report.max_message_rows);
      o.reserve(kFlushBytes + 1024);
      for (size_t i = 0; i < rows; ++i) {
        const MessageRecord& r = f.messages()[i];
        const bool done = r.completed_ps >= 0;
        const int64_t fct = done ? r.completed_ps - r.injected_ps : 0;
        char row[6 * 24 + 2 * 30 + kFixedRoom];
        char* p = row;
        p = put_int(p, r.id);
        *p++ = ',';
        p = put_int(p, r.src);
        *p++ = ',';
        p = put_int(p, r.dst);
        *p++ = ',';
        p = put_int(p, r.bytes);
        *p++ = ',';
        p = put_us(p, r.injected_ps);
        *p++ = ',';
        if (done) {
          p = put_us(p, r.completed_ps);
        } else {
          p = std::copy_n("-1.000000", 9, p);
        }
        *p++ = ',';
        p = put_us(p, fct);
        *p++ = ',';
        p = put_us(p, r.ideal_ps);
        *p++ = ',';
        p = put_fixed(p,
                      r.ideal_ps > 0 && done
                          ? static_cast<double>(fct) / static_cast<double>(r.ideal_ps)
                          : 0.0,
                      6);
        *p++ = '\n';
        o.append(row, p);
        if (o.size() >= kFlushBytes) {
          put(std::string_view(o.data(), o.size()));
          o.clear();
        }
      }
      put(std::string_view(o.data(), o.size()));
    });
  }
  {
    // One bin width for all links: the widest any series had to grow to.
    int64_t width = 0;
    for (const auto& l : f.links()) {
      width = std::max({width, l.stats.busy_series.width_ps(), l.stats.queue_series.width_ps()});
    }
    fmt::memory_buffer o;
    append(o, "link,tier,plane,bin,bin_start_us,bin_width_us,utilization,mean_queue_bytes\n");
    if (width > 0) {
      for (const auto& l : f.links()) {
        if (l.stats.bytes == 0) continue;
        const auto busy = l.stats.busy_series.coarsened(width);
        const auto queue = l.stats.queue_series.coarsened(width);
        const size_t n = std::max(busy.size(), queue.size());
        const double w = static_cast<double>(width);
        for (size_t i = 0; i < n; ++i) {
          const double b = i < busy.size() ? busy[i] : 0.0;
          const double q = i < queue.size() ? queue[i] : 0.0;
          append(o, l.name);
          o.push_back(',');
          append(o, l.timing.tier);
          char row[2 * 24 + 4 * kFixedRoom + 8];
          char* p = row;
          *p++ = ',';
          p = put_int(p, l.timing.plane);
          *p++ = ',';
          p = put_int(p, i);
          *p++ = ',';
          p = put_fixed(p, static_cast<double>(i) * w * 1e-6, 6);
          *p++ = ',';
          p = put_fixed(p, w * 1e-6, 6);
          *p++ = ',';
          p = put_fixed(p, b / w, 6);
          *p++ = ',';
          p = put_fixed(p, q / w, 3);
          *p++ = '\n';
          o.append(row, p);
        }
      }
    }
    write_file_atomic(dir / "link_timeseries.csv", std::string_view(o.data(), o.size()));
  }
  {
    // Payload delivered to GPUs per bin: the network's goodput over time (faults show here).
    const TimeSeries& d = f.delivered_series;
    std::ostringstream o;
    o << "bin,bin_start_us,bin_width_us,delivered_bytes,goodput_bytes_per_s\n";
    const double w = static_cast<double>(d.width_ps());
    for (size_t i = 0; i < d.bins().size(); ++i) {
      o << fmt::format("{},{:.6f},{:.6f},{:.0f},{:.6g}\n", i, static_cast<double>(i) * w * 1e-6,
                       w * 1e-6, d.bins()[i], w > 0 ? d.bins()[i] / (w * 1e-12) : 0.0);
    }
    write_file_atomic(dir / "throughput.csv", o.str());
  }
  {
    nlohmann::ordered_json r;
    r["fidelity"] = f.fidelity_name();
    r["end_us"] = end.to_us();
    nlohmann::ordered_json hot = nlohmann::ordered_json::array();
    for (const FabricLink* l : hotspots(f, static_cast<size_t>(f.params().report.hotspots))) {
      hot.push_back({{"link", l->name},
                     {"tier", l->timing.tier},
                     {"plane", l->timing.plane},
                     {"credit_stall_us", static_cast<double>(l->stats.stall_ps) * 1e-6},
                     {"utilization", utilization(*l, end)},
                     {"peak_queue_bytes", l->stats.peak_queue_bytes}});
    }
    r["hotspots"] = std::move(hot);
    std::map<std::string, Totals> tiers;
    std::map<int32_t, Totals> planes;
    for (const auto& l : f.links()) {
      tiers[l.timing.tier].add(l, end);
      planes[l.timing.plane].add(l, end);
    }
    nlohmann::ordered_json t = nlohmann::ordered_json::object();
    for (const auto& [name, tot] : tiers)
      t[name] = tot.json();
    r["tiers"] = std::move(t);
    nlohmann::ordered_json p = nlohmann::ordered_json::object();
    for (const auto& [plane, tot] : planes)
      p[plane < 0 ? std::string("none") : std::to_string(plane)] = tot.json();
    r["planes"] = std::move(p);
    nlohmann::ordered_json faults = nlohmann::ordered_json::array();
    for (const auto& fr : f.faults()) {
      faults.push_back(
          {{"what", fr.what},
           {"at_us", static_cast<double>(fr.at_ps) * 1e-6},
           {"reroute_us", fr.reroute_ps >= 0 ? static_cast<double>(fr.reroute_ps) * 1e-6 : -1.0},
           {"before_run", fr.before_run},
           {"applied", fr.applied}});
    }
    r["faults"] = std::move(faults);
    write_file_atomic(dir / "network_report.json", r.dump(2) + "\n");
  }
}

}  // namespace mlasim
