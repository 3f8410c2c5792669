// Physical quantities as types: bytes, bandwidth, frequency, compute rate and time.
//
// Every config value with a unit is parsed into one of these from a string such as "400Gb/s",
// "3.35TB/s", "1.83GHz", "0.625ns" or "80GiB". SI prefixes are powers of 10 (GB = 1e9 B),
// binary prefixes powers of 2 (GiB = 2^30 B); a lower-case "b" means bits. Time is an integer
// count of picoseconds, the simulator's resolution. A bandwidth, compute rate or frequency parsed
// from text must be at least 1 B/s, 1 FLOP/s or 1 Hz (UnitError otherwise): slower, a few
// million bytes, FLOP or cycles outlast the longest simulated duration. Nothing here knows about
// SystemC.
#pragma once

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>

namespace mlasim {

// Thrown for a malformed quantity string; the message says what was expected.
class UnitError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A duration in integer picoseconds.
class Time {
 public:
  constexpr Time() = default;
  static constexpr Time ps(int64_t v) { return Time(v); }
  static constexpr Time ns(double v) { return Time(static_cast<int64_t>(v * 1e3 + 0.5)); }
  static constexpr Time us(double v) { return Time(static_cast<int64_t>(v * 1e6 + 0.5)); }
  static Time seconds(double s);
  static Time parse(std::string_view text);
  constexpr int64_t ps() const { return ps_; }
  double to_ns() const { return static_cast<double>(ps_) * 1e-3; }
  double to_us() const { return static_cast<double>(ps_) * 1e-6; }
  double to_ms() const { return static_cast<double>(ps_) * 1e-9; }
  double to_seconds() const { return static_cast<double>(ps_) * 1e-12; }
  std::string str() const;
  constexpr auto operator<=>(const Time&) const = default;
  constexpr Time operator+(Time o) const { return Time(ps_ + o.ps_); }
  constexpr Time operator-(Time o) const { return Time(ps_ - o.ps_); }
  constexpr Time& operator+=(Time o) {
    ps_ += o.ps_;
    return *this;
  }
  constexpr Time operator*(int64_t k) const { return Time(ps_ * k); }

 private:
  constexpr explicit Time(int64_t v) : ps_(v) {}
  int64_t ps_ = 0;
};

// The longest duration a rate may turn an amount into: a quarter of the int64 picosecond range
// (about 27 days, the flow model's horizon too). Longer is beyond any run, and sums of a few
// such durations stay inside int64.
inline constexpr int64_t kMaxDurationPs = std::numeric_limits<int64_t>::max() / 4;

// An amount of data in bytes.
class Bytes {
 public:
  constexpr Bytes() = default;
  constexpr explicit Bytes(uint64_t v) : v_(v) {}
  static Bytes parse(std::string_view text);
  constexpr uint64_t count() const { return v_; }
  std::string str() const;
  constexpr auto operator<=>(const Bytes&) const = default;
  constexpr Bytes operator+(Bytes o) const { return Bytes(v_ + o.v_); }
  constexpr Bytes& operator+=(Bytes o) {
    v_ += o.v_;
    return *this;
  }
  constexpr Bytes operator*(uint64_t k) const { return Bytes(v_ * k); }

 private:
  uint64_t v_ = 0;
};

// std::ceil(x) as an integer for -1 < x < kCeilSmallBelow (2^52, where doubles are still finer
// than 1), without a library call: the baseline x86-64 target has no rounding instruction.
inline constexpr double kCeilSmallBelow = 4503599627370496.0;
inline int64_t ceil_small(double x) {
  const double t = static_cast<double>(static_cast<int64_t>(x));  // towards zero
  return static_cast<int64_t>(t < x ? t + 1 : t);
}

// A data rate in bytes per second.
class Bandwidth {
 public:
  constexpr Bandwidth() = default;
  static constexpr Bandwidth bytes_per_s(double v) { return Bandwidth(v); }
  static constexpr Bandwidth gbit_per_s(double v) { return Bandwidth(v * 1e9 / 8); }
  static Bandwidth parse(std::string_view text);
  constexpr double bytes_per_s() const { return v_; }
  // Time to push `b` bytes through this rate, rounded up to a whole picosecond. Throws
  // SimulationError (exit 3) when that is longer than kMaxDurationPs, rather than wrapping;
  // a rate of 0 gives kMaxDurationPs ("never").
  Time transfer_time(Bytes b) const {
    // Inline for the fabrics' per-message statistics; below 2^52 ps (far below
    // kMaxDurationPs) the ceiling is ceil_small's.
    if (v_ > 0) {
      const double x = static_cast<double>(b.count()) * 1e12 / v_ - 1e-6;
      if (x > -1.0 && x < kCeilSmallBelow) return Time::ps(ceil_small(x));
    }
    return transfer_time_slow(b);
  }
  std::string str() const;
  constexpr auto operator<=>(const Bandwidth&) const = default;

 private:
  constexpr explicit Bandwidth(double v) : v_(v) {}
  Time transfer_time_slow(Bytes b) const;  // rate 0, or beyond the fast range
  double v_ = 0;
};

// A clock frequency in hertz.
class Frequency {
 public:
  constexpr Frequency() = default;
  static constexpr Frequency hz(double v) { return Frequency(v); }
  static Frequency parse(std::string_view text);
  constexpr double hz() const { return v_; }
  // Clock period rounded to the nearest picosecond.
  Time period() const;
  std::string str() const;
  constexpr auto operator<=>(const Frequency&) const = default;

 private:
  constexpr explicit Frequency(double v) : v_(v) {}
  double v_ = 0;
};

// A compute rate in floating-point operations per second ("989TFLOP/s", "1.979PFLOPS").
class FlopRate {
 public:
  constexpr FlopRate() = default;
  static constexpr FlopRate flop_per_s(double v) { return FlopRate(v); }
  static FlopRate parse(std::string_view text);
  constexpr double flop_per_s() const { return v_; }
  // Time to execute `flops` operations at this rate, rounded up to a whole picosecond; the same
  // bound as Bandwidth::transfer_time.
  Time compute_time(double flops) const;
  std::string str() const;
  constexpr auto operator<=>(const FlopRate&) const = default;

 private:
  constexpr explicit FlopRate(double v) : v_(v) {}
  double v_ = 0;
};

}  // namespace mlasim
