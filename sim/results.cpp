// Atomic writes and the summary table (see results.h).
#include "sim/results.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include "sim/errors.h"

namespace mlasim {

namespace {

// write_file_atomic() writes `name` to "<prefix><pid>" first.
std::string temporary_prefix(const std::string& name) {
  return "." + name + ".tmp.";
}

}  // namespace

std::mutex& results_write_lock() {
  static std::mutex lock;
  return lock;
}

void write_file_atomic(const std::filesystem::path& where, std::string_view content) {
  write_file_atomic(where, [&](const AtomicSink& put) { put(content); });
}

void write_file_atomic(const std::filesystem::path& where,
                       const std::function<void(const AtomicSink&)>& fill) {
  std::lock_guard<std::mutex> guard(results_write_lock());
  std::error_code ec;
  // A link is written through (its target replaced), not replaced by a file; anything but a
  // regular file (a device, a pipe, a folder) is refused rather than renamed over.
  std::filesystem::path path = where;
  if (std::filesystem::is_symlink(where, ec)) {
    path = std::filesystem::weakly_canonical(where, ec);
    if (ec) throw InputError(fmt::format("{}: cannot follow the link", where.string()));
  }
  const auto st = std::filesystem::status(path, ec);
  if (std::filesystem::exists(st) && !std::filesystem::is_regular_file(st)) {
    throw InputError(fmt::format("{}: exists and is not a regular file", where.string()));
  }
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  const std::filesystem::path tmp =
      path.parent_path() /
      fmt::format("{}{}", temporary_prefix(path.filename().string()), ::getpid());
  {
    // fsync before the rename: after a crash of the machine (not only of the process) the
    // file is then either the old one or the complete new one, never an empty new one.
    // Errors name the user's path and the system's reason, not the temporary file.
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      throw InputError(
          fmt::format("{}: cannot write file ({})", where.string(), std::strerror(errno)));
    }
    int write_errno = 0;
    bool ok = true;
    const AtomicSink put = [&](std::string_view part) {
      size_t done = 0;
      while (ok && done < part.size()) {
        const ssize_t n = ::write(fd, part.data() + done, part.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          ok = false;
          write_errno = n < 0 ? errno : ENOSPC;
        }
        if (n > 0) done += static_cast<size_t>(n);
      }
    };
    try {
      fill(put);
    } catch (...) {
      ::close(fd);
      std::filesystem::remove(tmp, ec);
      throw;
    }
    if (ok && ::fsync(fd) != 0) {
      ok = false;
      write_errno = errno;
    }
    ::close(fd);
    if (!ok) {
      std::filesystem::remove(tmp, ec);
      throw InputError(
          fmt::format("{}: write failed ({})", where.string(), std::strerror(write_errno)));
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    const std::string why = ec.message();
    std::filesystem::remove(tmp, ec);
    throw InputError(fmt::format("{}: cannot rename into place ({})", where.string(), why));
  }
}

namespace {

// What a key counts: the last word of its stem that is a plural noun or one the table knows
// ("fault_messages_failed" -> "messages", "gpu" -> "GPUs"); empty when none is.
std::string_view counted(std::string_view stem) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 6> kWords{{
      {"bytes", "B"},
      {"gpu", "GPUs"},
      {"node", "nodes"},
      {"prompt", "prompts"},
      {"pass", "passes"},
      {"fault", "faults"},
  }};
  while (!stem.empty()) {
    const size_t cut = stem.rfind('_');
    const std::string_view word = cut == std::string_view::npos ? stem : stem.substr(cut + 1);
    for (const auto& [w, noun] : kWords)
      if (w == word) return noun;
    if (word.size() > 2 && word.back() == 's') return word;
    stem = cut == std::string_view::npos ? std::string_view{} : stem.substr(0, cut);
  }
  return {};
}

}  // namespace

std::string unit_of_key(std::string_view key) {
  // Keys whose last word does not say what they count.
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 3> kKeys{{
      {"seed", "-"},
      {"breakdown_rank", "GPU rank"},
      {"node_limit_overflow_count", "tokens"},  // tokens whose experts overflowed the limit
  }};
  for (const auto& [k, unit] : kKeys)
    if (k == key) return std::string(unit);
  // Rates and amounts per something: "<what it counts>/s", "/step", "/token".
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 7> kPer{{
      {"_per_wall_s", "/s"},
      {"_per_cpu_s", "/s"},
      {"_per_s_per_gpu", "/s"},
      {"_per_s_per_node", "/s"},
      {"_per_s", "/s"},
      {"_per_step", "/step"},
      {"_per_token", "/token"},
  }};
  for (const auto& [suffix, per] : kPer) {
    if (!key.ends_with(suffix)) continue;
    const std::string_view what = counted(key.substr(0, key.size() - suffix.size()));
    return fmt::format("{}{}", what.empty() ? "1" : what, per);
  }
  if (key.ends_with("_count")) {
    const std::string_view what = counted(key.substr(0, key.size() - 6));
    return what.empty() ? "count" : std::string(what);
  }
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 18> kSuffixes{{
      {"_slowdown", "ratio"},
      {"_ratio", "ratio"},
      {"_bytes_per_gpu", "B"},
      {"_tokens_per_gpu", "tokens"},
      {"_ps", "ps"},
      {"_ns", "ns"},
      {"_us", "us"},
      {"_ms", "ms"},
      {"_s", "s"},
      {"_bytes", "B"},
      {"_flops", "FLOP"},
      {"_fraction", "fraction"},
      {"_utilization", "fraction"},
      {"_hops", "hops"},
      {"_usd", "USD"},
      {"_events", "events"},
      {"_tokens", "tokens"},
      {"_packets", "packets"},
  }};
  for (const auto& [suffix, unit] : kSuffixes)
    if (key.ends_with(suffix)) return std::string(unit);
  if (key.find("fraction") != std::string_view::npos) return "fraction";
  if (key.find("imbalance") != std::string_view::npos) return "ratio";  // max over mean
  return "-";
}

namespace {

// Headline keys of the short terminal table, in the order a user reads them.
constexpr std::array<std::string_view, 36> kHeadlineKeys{
    "scenario", "sim_time_us", "sim_wall_s", "gpu_count", "node_count", "gpu_busy_mean_fraction",
    "network_fidelity",
    // inference step
    "step_time_ms", "tpot_ms", "ttft_ms", "ttft_p50_ms", "ttft_p99_ms",
    "mtp_accepted_tokens_per_step", "output_tokens_per_s_per_gpu", "output_tokens_per_s_per_node",
    "input_tokens_per_s_per_gpu", "input_tokens_per_s_per_node", "expert_load_imbalance",
    "gpu_load_imbalance",
    // memory
    "kv_cache_bytes_per_token", "kv_cache_bytes_per_gpu", "kv_cache_capacity_tokens_per_gpu",
    // network
    "net_goodput_per_gpu_bytes_per_s", "max_link_utilization", "mean_link_utilization",
    "fct_min_us", "fct_p50_us", "fct_p99_us", "p99_fct_slowdown", "credit_stall_fraction",
    "hotspot_link", "hotspot_credit_stall_us",  // the link with the most credit-stall time
    // faults
    "fault_count", "fault_packets_lost_count", "fault_recovery_us", "fault_messages_failed_count"};
// Keys present only in a run's own bookkeeping: a summary with nothing else is shown whole.
constexpr size_t kRunKeys = 7;

bool is_headline(std::string_view key) {
  if (key.starts_with("time_") && key.ends_with("_ms")) return true;  // step breakdown
  for (const auto k : kHeadlineKeys)
    if (k == key) return true;
  return false;
}

std::string format_value(const nlohmann::ordered_json& v) {
  if (v.is_number_float()) return fmt::format("{:.6g}", v.get<double>());
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

}  // namespace

const std::vector<std::string>& run_output_files() {
  // summary.json first: clear_run_outputs relies on it.
  static const std::vector<std::string> kFiles{
      "summary.json", "config.resolved.yaml", "run.json", "stats.json", "stats.csv",
      "timeline.json",
      // the network's results (models/common/network_report.cpp)
      "links.csv", "messages.csv", "link_timeseries.csv", "throughput.csv", "network_report.json",
      // the inference workload's (workloads/inference_report.cpp, routing_loads.cpp)
      "layers.csv", "expert_loads.csv", "gpu_loads.csv",
      // scripts/plot_run.py, plot_router.py and plot_network.py
      "report.md", "step_breakdown.png", "layer_breakdown.png", "kv_cache.png", "expert_loads.png",
      "timeline.png", "gpu_busy.png", "link_utilization_heatmap.png", "queue_occupancy.png",
      "fct_slowdown_cdf.png", "p2p_bandwidth.png", "throughput_faults.png"};
  return kFiles;
}

void clear_run_outputs(const std::filesystem::path& dir) {
  for (const std::string& name : run_output_files()) {
    std::error_code ec;
    std::filesystem::remove(dir / name, ec);
    if (ec && std::filesystem::exists(dir / name)) {
      throw InputError(fmt::format("{}: cannot remove the earlier run's file ({})",
                                   (dir / name).string(), ec.message()));
    }
  }
  // What write_file_atomic() left for one of those names: its prefix, then a process id.
  std::error_code ec;
  std::vector<std::filesystem::path> stale;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string f = e.path().filename().string();
    for (const std::string& name : run_output_files()) {
      const std::string prefix = temporary_prefix(name);
      if (f.size() > prefix.size() && f.starts_with(prefix) &&
          f.find_first_not_of("0123456789", prefix.size()) == std::string::npos) {
        stale.push_back(e.path());
      }
    }
  }
  for (const auto& p : stale)
    std::filesystem::remove(p, ec);
}

std::string format_summary_table(const nlohmann::ordered_json& summary, bool full) {
  if (!full) {
    bool beyond_run = false;
    for (const auto& [k, v] : summary.items()) {
      if (!is_headline(k)) continue;
      const auto* const end = kHeadlineKeys.begin() + kRunKeys;
      beyond_run |= std::find(kHeadlineKeys.begin(), end, k) == end;
    }
    full = !beyond_run;
  }
  // Full: every key in the summary's order. Headline: the headline keys in reading order, then
  // the step breakdown.
  std::vector<std::string> keys;
  if (full) {
    for (const auto& [k, v] : summary.items())
      if (!v.is_structured()) keys.push_back(k);  // a list (per layer) does not fit a row
  } else {
    // A step whose layers list no routed layer (a dense model) has no router: its load
    // imbalance figures (1 by definition) stay out of the headline.
    bool routed = true;
    if (const auto it = summary.find("layers"); it != summary.end() && it->is_array()) {
      routed = std::any_of(it->begin(), it->end(), [](const nlohmann::ordered_json& l) {
        return l.is_object() && l.contains("expert_load_imbalance");
      });
    }
    // Below packet level there are no buffers: credit stalls and their hot spot are not measured.
    const auto fidelity = summary.find("network_fidelity");
    const bool buffers = fidelity == summary.end() || *fidelity == "packet";
    for (const auto k : kHeadlineKeys) {
      if (!routed && (k == "expert_load_imbalance" || k == "gpu_load_imbalance")) continue;
      if (!buffers && (k == "credit_stall_fraction" || k.starts_with("hotspot_"))) continue;
      // A run whose GPUs compute nothing (network traffic alone): no busy share to show.
      if (k == "gpu_busy_mean_fraction" && summary.value("gpu_busy_max_us", 0.0) == 0.0) continue;
      if (summary.contains(k)) keys.emplace_back(k);
    }
    for (const auto& [k, v] : summary.items()) {
      // (TP collectives only in a step that has any.)
      if (k == "time_tp_comm_ms" && v.is_number() && v.get<double>() == 0.0) continue;
      if (k.starts_with("time_") && k.ends_with("_ms") &&
          std::find(keys.begin(), keys.end(), k) == keys.end()) {
        keys.push_back(k);  // the step breakdown, last
      }
    }
  }
  size_t width = 3, value_width = 16;  // values wider than 16 characters widen the column
  for (const auto& k : keys) {
    width = std::max(width, k.size());
    value_width = std::max(value_width, format_value(summary.at(k)).size());
  }
  std::string out = fmt::format("{:<{}}  {:>{}}  {}\n", "key", width, "value", value_width, "unit");
  out += fmt::format("{:-<{}}  {:->{}}  {:-<8}\n", "", width, "", value_width, "");
  for (const auto& k : keys) {
    const auto& v = summary.at(k);
    std::string unit;
    if (!v.is_string()) unit = unit_of_key(k);
    out += fmt::format("{:<{}}  {:>{}}  {}\n", k, width, format_value(v), value_width, unit);
  }
  // Figures left out of a headline table, and the lists no table row holds.
  size_t left_out = 0;
  std::vector<std::string> lists;
  for (const auto& [k, v] : summary.items()) {
    if (v.is_structured()) {
      lists.push_back(k);
    } else if (std::find(keys.begin(), keys.end(), k) == keys.end()) {
      ++left_out;
    }
  }
  if (left_out > 0)
    out += fmt::format("({} more keys in summary.json; --full prints them all)\n", left_out);
  if (!lists.empty()) {
    out += fmt::format("(lists in summary.json, not tabled here: {})\n", fmt::join(lists, ", "));
  }
  return out;
}

// `whole`, a point and the `places` low decimal digits of `frac` (zero-padded).
char* put_decimal(char* p, uint64_t whole, uint64_t frac, int places) {
  p = put_int(p, whole);
  *p = '.';
  for (int i = places; i >= 1; --i, frac /= 10)
    p[i] = static_cast<char>('0' + frac % 10);
  return p + places + 1;
}

// Picoseconds as microseconds with six decimals, from the integer (the bytes "{:.6f}" writes
// for ps * 1e-6, without formatting a double).
char* put_us(char* p, int64_t ps) {
  uint64_t mag = static_cast<uint64_t>(ps);
  if (ps < 0) {
    *p++ = '-';
    mag = 0 - mag;
  }
  return put_decimal(p, mag / 1000000, mag % 1000000, 6);
}

// A double with 3 or 6 decimals: the bytes "{:.3f}" / "{:.6f}" write (correctly rounded). The
// value times 10^places, below 2^40, is within 2^-14 of the exact product, so where its
// fraction is not within 1e-3 of one half its nearest integer is the exact product's: digits
// from integers. Elsewhere (near a tie, negative, large, not finite) fmt formats it.
char* put_fixed(char* p, double v, int places) {
  const double scale = places == 6 ? 1e6 : 1e3;
  const double y = v * scale;
  if (v >= 0 && !std::signbit(v) && y < 1099511627776.0) {
    const double whole = std::floor(y);
    const double frac = y - whole;  // exact
    if (std::fabs(frac - 0.5) >= 1e-3) {
      const uint64_t n = static_cast<uint64_t>(whole) + (frac > 0.5 ? 1 : 0);
      const uint64_t unit = places == 6 ? 1000000 : 1000;
      return put_decimal(p, n / unit, n % unit, places);
    }
  }
  return places == 6 ? fmt::format_to(p, "{:.6f}", v) : fmt::format_to(p, "{:.3f}", v);
}

}  // namespace mlasim
