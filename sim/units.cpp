// Parsing and printing of the quantity types in units.h.
#include "sim/units.h"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>

#include "sim/errors.h"

namespace mlasim {
namespace {

struct Split {
  double number;
  std::string_view suffix;
};

// Splits "3.35TB/s" into 3.35 and "TB/s"; spaces between the two are allowed.
Split split_number(std::string_view text, std::string_view what) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
      s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
      s.remove_suffix(1);
    return s;
  };
  std::string_view s = trim(text);
  double value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec == std::errc::result_out_of_range) {  // "1e400", "1e-400": no double holds it
    throw UnitError(
        fmt::format("'{}' is not a {}: the number {} is out of range (a double holds "
                    "magnitudes from about 2.2e-308 to 1.8e308)",
                    text, what, std::string_view(s.data(), ptr - s.data())));
  }
  if (ec != std::errc() || ptr == s.data()) {
    throw UnitError(fmt::format("'{}' is not a {}: it must start with a number", text, what));
  }
  if (!std::isfinite(value) || value < 0) {
    throw UnitError(
        fmt::format("'{}' is not a {}: the number must be finite and >= 0", text, what));
  }
  return {value, trim(std::string_view(ptr, s.data() + s.size() - ptr))};
}

struct Prefix {
  std::string_view name;
  double factor;
};
constexpr std::array<Prefix, 13> kPrefixes{{{"Ki", 1024.0},
                                            {"Mi", 1048576.0},
                                            {"Gi", 1073741824.0},
                                            {"Ti", 1099511627776.0},
                                            {"Pi", 1125899906842624.0},
                                            {"k", 1e3},
                                            {"K", 1e3},
                                            {"M", 1e6},
                                            {"G", 1e9},
                                            {"T", 1e12},
                                            {"P", 1e15},
                                            {"m", 1e-3},
                                            {"", 1.0}}};

// Matches `suffix` against prefix+base for every known prefix; returns the factor.
std::optional<double> match_prefixed(std::string_view suffix, std::string_view base,
                                     bool allow_binary, bool allow_milli) {
  if (suffix.size() < base.size() || suffix.substr(suffix.size() - base.size()) != base) {
    return std::nullopt;
  }
  std::string_view prefix = suffix.substr(0, suffix.size() - base.size());
  for (const auto& p : kPrefixes) {
    if (p.name != prefix) continue;
    if (!allow_binary && p.name.size() == 2) return std::nullopt;
    if (!allow_milli && p.name == "m") return std::nullopt;
    return p.factor;
  }
  return std::nullopt;
}

// `v` as a number of `f` units that reads back as `v` (parse multiplies by `f`; `integral`:
// then rounds to a whole number): the short form when that is exact, else the shortest exact
// one, else none (empty). Results must read back as they were: config.resolved.yaml is written
// with these, and a rounded rate or time would change what a rerun of it simulates.
std::string exact_number(double v, double f, bool integral) {
  for (const char* spec : {"{:g}", "{}"}) {
    const std::string s = fmt::format(fmt::runtime(spec), v / f);
    const double back = std::strtod(s.c_str(), nullptr) * f;
    if (integral ? std::llround(back) == std::llround(v) : back == v) return s;
  }
  return {};
}

std::string format_scaled(double v, std::string_view unit) {
  constexpr std::array<std::pair<double, const char*>, 5> kSi{
      {{1e15, "P"}, {1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}}};
  for (const auto& [f, p] : kSi) {
    if (v >= f) {
      if (std::string s = exact_number(v, f, false); !s.empty()) {
        return fmt::format("{}{}{}", s, p, unit);
      }
      break;
    }
  }
  return fmt::format("{}{}", v, unit);  // the shortest form that reads back exactly
}

}  // namespace

Time Time::seconds(double s) {
  return Time(static_cast<int64_t>(std::llround(s * 1e12)));
}

Time Time::parse(std::string_view text) {
  auto [v, suffix] = split_number(text, "time (e.g. '2.8us')");
  static constexpr std::array<std::pair<std::string_view, double>, 5> kUnits{
      {{"ps", 1.0}, {"ns", 1e3}, {"us", 1e6}, {"ms", 1e9}, {"s", 1e12}}};
  for (const auto& [name, factor] : kUnits) {
    if (suffix == name) {
      double ps = v * factor;
      if (ps > 9.2e18) throw UnitError(fmt::format("'{}' is too long a time", text));
      return Time(static_cast<int64_t>(std::llround(ps)));
    }
  }
  throw UnitError(fmt::format("'{}' is not a time: expected a unit ps, ns, us, ms or s", text));
}

std::string Time::str() const {
  const double v = static_cast<double>(ps_), a = std::fabs(v);
  static constexpr std::array<std::pair<double, const char*>, 4> kUnits{
      {{1e12, "s"}, {1e9, "ms"}, {1e6, "us"}, {1e3, "ns"}}};
  for (const auto& [f, name] : kUnits) {
    if (a >= f) {
      if (std::string s = exact_number(v, f, true); !s.empty()) return s + name;
      break;
    }
  }
  return fmt::format("{}ps", ps_);
}

Bytes Bytes::parse(std::string_view text) {
  auto [v, suffix] = split_number(text, "size in bytes (e.g. '4KiB')");
  double factor = 0;
  if (auto f = match_prefixed(suffix, "B", true, false)) {
    factor = *f;
  } else if (auto fb = match_prefixed(suffix, "b", true, false); fb && !suffix.empty()) {
    factor = *fb / 8.0;
  } else if (suffix.empty()) {
    factor = 1.0;
  } else {
    throw UnitError(fmt::format(
        "'{}' is not a size: expected B with an optional prefix (k, M, G, T, KiB, MiB, GiB...)",
        text));
  }
  double bytes = v * factor;
  if (bytes != std::floor(bytes)) {
    throw UnitError(fmt::format("'{}' is not a whole number of bytes", text));
  }
  if (bytes > 1.8e19) throw UnitError(fmt::format("'{}' is too large", text));
  return Bytes(static_cast<uint64_t>(bytes));
}

std::string Bytes::str() const {
  constexpr std::array<std::pair<uint64_t, const char*>, 4> kBin{
      {{1ULL << 40, "TiB"}, {1ULL << 30, "GiB"}, {1ULL << 20, "MiB"}, {1ULL << 10, "KiB"}}};
  for (const auto& [f, name] : kBin) {
    if (v_ >= f && v_ % f == 0) return fmt::format("{}{}", v_ / f, name);
  }
  if (v_ >= 1000) return format_scaled(static_cast<double>(v_), "B");  // parse wants it whole
  return fmt::format("{}B", v_);
}

namespace {

// Rates below 1 per second are refused where they are read (every rate a config gives must be
// positive anyway): at that rate a million bytes, FLOP or cycles take about 12 days already,
// 2.3 million overrun the 27 days one simulated duration may span (kMaxDurationPs), and far
// below it (1e-300 B/s, or a 1e-300 Hz clock, whose period is no number) nothing takes a finite
// time.
double at_least_one(double rate, std::string_view text, std::string_view what,
                    std::string_view unit, std::string_view amount) {
  if (!(rate >= 1.0)) {
    throw UnitError(
        fmt::format("'{}' is too low a {}: it must be at least 1 {} (at 1 {} a million {} take "
                    "about 12 days)",
                    text, what, unit, unit, amount));
  }
  return rate;
}

}  // namespace

Bandwidth Bandwidth::parse(std::string_view text) {
  auto [v, suffix] = split_number(text, "bandwidth (e.g. '400Gb/s')");
  for (std::string_view base : {"B/s", "Bps"}) {
    if (auto f = match_prefixed(suffix, base, true, false)) {
      return Bandwidth(at_least_one(v * *f, text, "bandwidth", "B/s", "bytes"));
    }
  }
  for (std::string_view base : {"b/s", "bps"}) {
    if (auto f = match_prefixed(suffix, base, true, false)) {
      return Bandwidth(at_least_one(v * *f / 8.0, text, "bandwidth", "B/s", "bytes"));
    }
  }
  throw UnitError(fmt::format(
      "'{}' is not a bandwidth: expected B/s or b/s with an optional prefix (e.g. 50GB/s, 400Gb/s)",
      text));
}

namespace {

// `ps` as a Time, or SimulationError naming what took that long (NaN included).
Time bounded_duration(double ps, std::string_view what) {
  if (!(ps <= static_cast<double>(kMaxDurationPs))) {
    throw SimulationError(
        fmt::format("{} takes {:.3g} s, more than the {:.3g} s (about 27 days) one simulated "
                    "duration may span",
                    what, ps * 1e-12, static_cast<double>(kMaxDurationPs) * 1e-12));
  }
  return Time::ps(static_cast<int64_t>(ps));
}

}  // namespace

Time Bandwidth::transfer_time_slow(Bytes b) const {
  if (v_ <= 0) return Time::ps(kMaxDurationPs);
  const double ps = std::ceil(static_cast<double>(b.count()) * 1e12 / v_ - 1e-6);
  if (ps <= static_cast<double>(kMaxDurationPs)) return Time::ps(static_cast<int64_t>(ps));
  return bounded_duration(ps, fmt::format("moving {} at {}", b.str(), str()));
}

std::string Bandwidth::str() const {
  return format_scaled(v_, "B/s");
}

Frequency Frequency::parse(std::string_view text) {
  auto [v, suffix] = split_number(text, "frequency (e.g. '1.83GHz')");
  if (auto f = match_prefixed(suffix, "Hz", false, false)) {
    return Frequency(at_least_one(v * *f, text, "frequency", "Hz", "cycles"));
  }
  throw UnitError(fmt::format(
      "'{}' is not a frequency: expected Hz with an optional prefix (e.g. 1.83GHz)", text));
}

Time Frequency::period() const {
  if (v_ <= 0) throw UnitError("a frequency of 0 has no period");
  return Time::ps(static_cast<int64_t>(std::llround(1e12 / v_)));
}

std::string Frequency::str() const {
  return format_scaled(v_, "Hz");
}

FlopRate FlopRate::parse(std::string_view text) {
  auto [v, suffix] = split_number(text, "compute rate (e.g. '989TFLOP/s')");
  for (std::string_view base : {"FLOP/s", "FLOPS", "flop/s"}) {
    if (auto f = match_prefixed(suffix, base, false, false)) {
      return FlopRate(at_least_one(v * *f, text, "compute rate", "FLOP/s", "FLOP"));
    }
  }
  throw UnitError(
      fmt::format("'{}' is not a compute rate: expected FLOP/s with an optional prefix", text));
}

Time FlopRate::compute_time(double flops) const {
  if (v_ <= 0) return Time::ps(kMaxDurationPs);
  const double ps = std::ceil(flops * 1e12 / v_ - 1e-6);
  if (ps <= static_cast<double>(kMaxDurationPs)) return Time::ps(static_cast<int64_t>(ps));
  return bounded_duration(ps, fmt::format("computing {:g} FLOP at {}", flops, str()));
}

std::string FlopRate::str() const {
  return format_scaled(v_, "FLOP/s");
}

}  // namespace mlasim
