// Atomic writes and the summary table (see results.h).
#include "sim/results.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <fstream>

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

std::string format_summary_table(const nlohmann::ordered_json& summary) {
  size_t width = 3;
  for (const auto& [k, v] : summary.items())
    width = std::max(width, k.size());
  std::string out = fmt::format("{:<{}}  {:>16}  {}\n", "key", width, "value", "unit");
  out += fmt::format("{:-<{}}  {:->16}  {:-<8}\n", "", width, "", "");
  for (const auto& [k, v] : summary.items()) {
    std::string value;
    if (v.is_number_float()) {
      value = fmt::format("{:.6g}", v.get<double>());
    } else if (v.is_string()) {
      value = v.get<std::string>();
    } else {
      value = v.dump();
    }
    std::string unit;
    if (k == "sim_events") {
      unit = "events";
    } else if (k == "seed") {
      unit = "-";
    } else if (!v.is_string()) {
      unit = unit_of_key(k);
    }
    out += fmt::format("{:<{}}  {:>16}  {}\n", k, width, value, unit);
  }
  return out;
}

}  // namespace mlasim
