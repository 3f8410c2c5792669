// Atomic writes and the summary table (see results.h).
#include "sim/results.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <vector>

#include "sim/errors.h"

namespace mlasim {

void write_file_atomic(const std::filesystem::path& path, std::string_view content) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  const std::filesystem::path tmp =
      path.parent_path() / fmt::format(".{}.tmp.{}", path.filename().string(), ::getpid());
  {
    // fsync before the rename: after a crash of the machine (not only of the process) the
    // file is then either the old one or the complete new one, never an empty new one.
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw InputError(fmt::format("{}: cannot write file", tmp.string()));
    size_t done = 0;
    while (done < content.size()) {
      const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    const bool ok = done == content.size() && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) {
      std::filesystem::remove(tmp, ec);
      throw InputError(fmt::format("{}: write failed", tmp.string()));
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw InputError(fmt::format("{}: cannot rename into place", path.string()));
  }
}

std::string unit_of_key(std::string_view key) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 26> kSuffixes{{
      {"_per_wall_s", "1/s"},
      {"_per_cpu_s", "1/s"},
      {"_slowdown", "x"},
      {"_count", "count"},
      {"_bytes_per_s", "B/s"},
      {"_bytes_per_token", "B"},
      {"_bytes_per_gpu", "B"},
      {"_tokens_per_s_per_gpu", "tokens/s"},
      {"_tokens_per_s_per_node", "tokens/s"},
      {"_per_s_per_gpu", "1/s"},
      {"_per_s_per_node", "1/s"},
      {"_per_token", "-"},
      {"_tokens_per_gpu", "tokens"},
      {"_per_step", "-"},
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
  }};
  for (const auto& [suffix, unit] : kSuffixes) {
    if (key.size() >= suffix.size() && key.substr(key.size() - suffix.size()) == suffix) {
      return std::string(unit);
    }
  }
  if (key.find("fraction") != std::string_view::npos) return "fraction";
  return "-";
}

namespace {

// Headline keys of the short terminal table, in the order a user reads them.
constexpr std::array<std::string_view, 31> kHeadlineKeys{
    "scenario", "sim_time_us", "sim_wall_s", "gpu_count", "node_count", "gpu_busy_mean_fraction",
    "network_fidelity",
    // inference step
    "step_time_ms", "tpot_ms", "ttft_ms", "mtp_accepted_tokens_per_step",
    "output_tokens_per_s_per_gpu", "output_tokens_per_s_per_node", "input_tokens_per_s_per_node",
    "expert_load_imbalance", "gpu_load_imbalance",
    // memory
    "kv_cache_bytes_per_token", "kv_cache_bytes_per_gpu", "kv_cache_capacity_tokens_per_gpu",
    // network
    "net_goodput_per_gpu_bytes_per_s", "max_link_utilization", "mean_link_utilization",
    "fct_p50_us", "fct_p99_us", "p99_fct_slowdown", "credit_stall_fraction", "hotspot_link",
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
      keys.push_back(k);
  } else {
    for (const auto k : kHeadlineKeys)
      if (summary.contains(k)) keys.emplace_back(k);
    for (const auto& [k, v] : summary.items())
      if (is_headline(k) && std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  }
  size_t width = 3;
  for (const auto& k : keys)
    width = std::max(width, k.size());
  std::string out = fmt::format("{:<{}}  {:>16}  {}\n", "key", width, "value", "unit");
  out += fmt::format("{:-<{}}  {:->16}  {:-<8}\n", "", width, "", "");
  for (const auto& k : keys) {
    const auto& v = summary.at(k);
    std::string unit;
    if (k == "sim_events") {
      unit = "events";
    } else if (k == "seed") {
      unit = "-";
    } else if (!v.is_string()) {
      unit = unit_of_key(k);
    }
    out += fmt::format("{:<{}}  {:>16}  {}\n", k, width, format_value(v), unit);
  }
  const size_t left_out = summary.size() - keys.size();
  if (left_out > 0)
    out += fmt::format("({} more keys in summary.json; --full prints them all)\n", left_out);
  return out;
}

// Picoseconds as microseconds with six decimals, from the integer (the bytes "{:.6f}" writes
// for ps * 1e-6, without formatting a double).
void append_us(fmt::memory_buffer& b, int64_t ps) {
  uint64_t mag = static_cast<uint64_t>(ps);
  if (ps < 0) {
    b.push_back('-');
    mag = 0 - mag;
  }
  fmt::format_to(fmt::appender(b), "{}", mag / 1000000);
  char frac[7] = {'.', '0', '0', '0', '0', '0', '0'};
  uint64_t r = mag % 1000000;
  for (int i = 6; i >= 1; --i, r /= 10)
    frac[i] = static_cast<char>('0' + r % 10);
  b.append(frac, frac + 7);
}

// `v` with `decimals` (at most 6) decimals: the bytes "{:.Nf}" writes, without fmt's exact
// (Dragon4) path where plain arithmetic settles the rounding. Below 10^9, v x 10^N is within
// 2^-53 of that size (about 1e-7) of the exact product, so unless it lies that close to half
// way between two integers, its nearest integer is the exact product's; near a half, or for
// negative (-0 included), large or non-finite values, fmt decides.
void append_fixed(fmt::memory_buffer& b, double v, int decimals) {
  static constexpr double kScale[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6};
  const double y = v * kScale[decimals];
  const double frac = y - std::floor(y);  // exact in floating point
  if (!(v >= 0 && y < 1e9) || std::signbit(v) || std::fabs(frac - 0.5) < 1e-5) {
    fmt::format_to(fmt::appender(b), "{:.{}f}", v, decimals);
    return;
  }
  const auto n = static_cast<uint64_t>(y) + (frac > 0.5 ? 1 : 0);
  uint64_t unit = 1;
  for (int i = 0; i < decimals; ++i)
    unit *= 10;
  fmt::format_to(fmt::appender(b), "{}", n / unit);
  if (decimals == 0) return;
  char digits[7] = {'.'};
  uint64_t r = n % unit;
  for (int i = decimals; i >= 1; --i, r /= 10)
    digits[i] = static_cast<char>('0' + r % 10);
  b.append(digits, digits + decimals + 1);
}

}  // namespace mlasim
