// Quantity parsing and printing: SI vs binary prefixes, bits vs bytes, malformed strings.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "sim/errors.h"
#include "sim/units.h"

namespace mlasim {
namespace {

TEST(Units, BandwidthPrefixesAndBits) {
  EXPECT_DOUBLE_EQ(Bandwidth::parse("400Gb/s").bytes_per_s(), 50e9);
  EXPECT_DOUBLE_EQ(Bandwidth::parse("50GB/s").bytes_per_s(), 50e9);
  EXPECT_DOUBLE_EQ(Bandwidth::parse("3.35TB/s").bytes_per_s(), 3.35e12);
  EXPECT_DOUBLE_EQ(Bandwidth::parse("1GiB/s").bytes_per_s(), 1073741824.0);
  EXPECT_DOUBLE_EQ(Bandwidth::parse("8 b/s").bytes_per_s(), 1.0);
}

TEST(Units, BytesSiAndBinary) {
  EXPECT_EQ(Bytes::parse("80GiB").count(), 80ULL << 30);
  EXPECT_EQ(Bytes::parse("80GB").count(), 80'000'000'000ULL);
  EXPECT_EQ(Bytes::parse("4KiB").count(), 4096u);
  EXPECT_EQ(Bytes::parse("4kB").count(), 4000u);
  EXPECT_EQ(Bytes::parse("64").count(), 64u);
  EXPECT_EQ(Bytes::parse("16b").count(), 2u);
}

TEST(Units, FrequencyAndPeriod) {
  EXPECT_DOUBLE_EQ(Frequency::parse("1.83GHz").hz(), 1.83e9);
  EXPECT_EQ(Frequency::parse("1.6GHz").period().ps(), 625);
}

TEST(Units, TimeParsesToPicoseconds) {
  EXPECT_EQ(Time::parse("0.625ns").ps(), 625);
  EXPECT_EQ(Time::parse("2.8us").ps(), 2'800'000);
  EXPECT_EQ(Time::parse("1s").ps(), 1'000'000'000'000);
  EXPECT_EQ(Time::parse("3ms").ps(), 3'000'000'000);
  EXPECT_EQ(Time::parse("17ps").ps(), 17);
}

TEST(Units, FlopRate) {
  EXPECT_DOUBLE_EQ(FlopRate::parse("989TFLOP/s").flop_per_s(), 989e12);
  EXPECT_DOUBLE_EQ(FlopRate::parse("1.979PFLOPS").flop_per_s(), 1.979e15);
}

TEST(Units, PrintsBackWithUnits) {
  EXPECT_EQ(Bytes::parse("4KiB").str(), "4KiB");
  EXPECT_EQ(Bytes::parse("512").str(), "512B");
  EXPECT_EQ(Bandwidth::parse("400Gb/s").str(), "50GB/s");
  EXPECT_EQ(Time::parse("2.8us").str(), "2.8us");
  EXPECT_EQ(Time::ps(625).str(), "625ps");
  EXPECT_EQ(Frequency::parse("1.83GHz").str(), "1.83GHz");
  // Round trip through the printed form.
  for (const char* s : {"3.35TB/s", "400Gb/s", "64GB/s"}) {
    Bandwidth b = Bandwidth::parse(s);
    EXPECT_DOUBLE_EQ(Bandwidth::parse(b.str()).bytes_per_s(), b.bytes_per_s()) << s;
  }
}

// config.resolved.yaml is written with str(): every value reads back exactly (six significant
// digits turned 1234567ps into 1.23457us and HBM's 3.350785e12 B/s into 3.35079TB/s, so a
// rerun of the resolved file simulated something else). Short forms stay short.
TEST(Units, PrintedFormsReadBackExactly) {
  for (int64_t ps : {1234567LL, 1LL, 999LL, 1000LL, 123456789012345LL, 3333333LL}) {
    EXPECT_EQ(Time::parse(Time::ps(ps).str()).ps(), ps) << Time::ps(ps).str();
  }
  for (uint64_t b : {1234567ULL, 1000ULL, 1001ULL, 4096ULL, 123456789012345ULL}) {
    EXPECT_EQ(Bytes::parse(Bytes(b).str()).count(), b) << Bytes(b).str();
  }
  for (double r : {3.350785e12, 1e12 / 3, 50e9, 63e9 * 0.984375, 1234.5678}) {
    const Bandwidth b = Bandwidth::bytes_per_s(r);
    EXPECT_EQ(Bandwidth::parse(b.str()).bytes_per_s(), r) << b.str();
  }
  EXPECT_EQ(Bandwidth::bytes_per_s(3.350785e12).str(), "3.350785TB/s");
  EXPECT_EQ(Time::ps(1234567).str(), "1.234567us");
  EXPECT_EQ(Bytes(1234567).str(), "1.234567MB");
  EXPECT_EQ(Frequency::parse("1.83GHz").str(), "1.83GHz");
}

TEST(Units, TransferTimeRoundsUpToWholePicoseconds) {
  // 1 MiB at 64 GB/s = 16384 ns exactly; 1 B at 3 B/ps-ish rounds up.
  EXPECT_EQ(Bandwidth::parse("64GB/s").transfer_time(Bytes(1 << 20)).ps(), 16'384'000);
  EXPECT_EQ(Bandwidth::parse("3TB/s").transfer_time(Bytes(1)).ps(), 1);
  EXPECT_EQ(Bandwidth::parse("3TB/s").transfer_time(Bytes(4)).ps(), 2);
}

// The ceiling without a library call against std::ceil, at the edges of its range and on
// random values; transfer times against the formula they round (std::ceil of bytes over rate,
// less a millionth of a ps).
TEST(Units, FastCeilingMatchesStdCeil) {
  for (double x : {-0.999, -0.5, -1e-6, -0.0, 0.0, 1e-300, 0.5, 1.0, 1.0000001, 2.5, 1e15 + 0.5,
                   kCeilSmallBelow - 1.0, kCeilSmallBelow - 0.5}) {
    EXPECT_EQ(ceil_small(x), static_cast<int64_t>(std::ceil(x))) << x;
  }
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> exponent(-6.0, 15.0);
  for (int i = 0; i < 100000; ++i) {
    const double x = std::pow(10.0, exponent(rng));
    ASSERT_EQ(ceil_small(x), static_cast<int64_t>(std::ceil(x))) << x;
  }
  std::uniform_real_distribution<double> log_rate(0.0, 13.0);
  for (int i = 0; i < 100000; ++i) {
    const double rate = std::pow(10.0, log_rate(rng));
    const uint64_t bytes = rng() % (uint64_t{1} << 30);
    const double ps = std::ceil(static_cast<double>(bytes) * 1e12 / rate - 1e-6);
    if (ps > static_cast<double>(kMaxDurationPs)) continue;
    ASSERT_EQ(Bandwidth::bytes_per_s(rate).transfer_time(Bytes(bytes)).ps(),
              static_cast<int64_t>(ps))
        << bytes << " B at " << rate << " B/s";
  }
}

// At 1 B/s a byte takes 1e12 ps: the longest duration (kMaxDurationPs, 2^63/4 ps) holds
// 2,305,843 B and not one more. Beyond it the figure would wrap in int64 (2^48 B at 1 B/s is
// 2.8e26 ps), so it is a SimulationError naming the amount and the rate; a zero rate is still
// "never" (kMaxDurationPs), not an error.
TEST(Units, DurationsBeyondTheTimeRangeAreSimulationErrors) {
  const Bandwidth slow = Bandwidth::bytes_per_s(1);
  const uint64_t most = static_cast<uint64_t>(kMaxDurationPs) / 1'000'000'000'000;
  EXPECT_EQ(slow.transfer_time(Bytes(most)).ps(), static_cast<int64_t>(most) * 1'000'000'000'000);
  EXPECT_THROW(slow.transfer_time(Bytes(most + 1)), SimulationError);
  try {
    slow.transfer_time(Bytes(uint64_t{1} << 48));
    ADD_FAILURE() << "no error";
  } catch (const SimulationError& e) {
    EXPECT_NE(std::string(e.what()).find("moving 256TiB at 1B/s takes 2.81e+14 s"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(Bandwidth().transfer_time(Bytes(1)).ps(), kMaxDurationPs);
  const FlopRate one = FlopRate::flop_per_s(1);
  EXPECT_EQ(one.compute_time(static_cast<double>(most)).ps(),
            static_cast<int64_t>(most) * 1'000'000'000'000);
  EXPECT_THROW(one.compute_time(static_cast<double>(uint64_t{1} << 57)), SimulationError);
  EXPECT_THROW(one.compute_time(std::nan("")), SimulationError);
  EXPECT_EQ(FlopRate().compute_time(1).ps(), kMaxDurationPs);
}

// The UnitError `fn` throws, or "no error".
template <class F>
std::string unit_error(F fn) {
  try {
    fn();
  } catch (const UnitError& e) {
    return std::string(e.what());
  }
  return std::string("no error");
}

TEST(Units, MalformedStringsAreRejectedWithAReason) {
  EXPECT_NE(unit_error([] { Bandwidth::parse("fast"); }).find("must start with a number"),
            std::string::npos);
  EXPECT_NE(unit_error([] { Bandwidth::parse("400Gb"); }).find("not a bandwidth"),
            std::string::npos);
  EXPECT_NE(unit_error([] { Bytes::parse("4KiBB"); }).find("not a size"), std::string::npos);
  EXPECT_NE(unit_error([] { Bytes::parse("0.5B"); }).find("whole number"), std::string::npos);
  EXPECT_NE(unit_error([] { Time::parse("3 parsecs"); }).find("not a time"), std::string::npos);
  EXPECT_NE(unit_error([] { Time::parse("-1ns"); }).find("finite and >= 0"), std::string::npos);
  EXPECT_NE(unit_error([] { Frequency::parse("1.8GB"); }).find("not a frequency"),
            std::string::npos);
  EXPECT_NE(unit_error([] { FlopRate::parse("9TB/s"); }).find("not a compute rate"),
            std::string::npos);
  EXPECT_THROW(Bandwidth::parse(""), UnitError);
  EXPECT_THROW(Bandwidth::parse("1KiGB/s"), UnitError);
}

// A rate below 1 B/s, 1 FLOP/s or 1 Hz makes every transfer outlast a run (1e-300 B/s: no
// finite time at all): refused when read, 0 included; 1 B/s, 1 FLOP/s and 1 Hz are rates.
TEST(Units, RatesBelowOnePerSecondAreRejected) {
  for (const char* s : {"1e-300B/s", "0.5B/s", "4b/s", "0B/s", "0.0009kB/s"}) {
    EXPECT_NE(unit_error([s] { Bandwidth::parse(s); }).find("at least 1 B/s"), std::string::npos)
        << s;
  }
  for (const char* s : {"1e-300FLOP/s", "0.5FLOP/s", "0FLOPS"}) {
    EXPECT_NE(unit_error([s] { FlopRate::parse(s); }).find("at least 1 FLOP/s"), std::string::npos)
        << s;
  }
  EXPECT_NE(unit_error([] { Frequency::parse("1e-300Hz"); }).find("at least 1 Hz"),
            std::string::npos);
  EXPECT_DOUBLE_EQ(Bandwidth::parse("1B/s").bytes_per_s(), 1.0);
  EXPECT_DOUBLE_EQ(Bandwidth::parse("8b/s").bytes_per_s(), 1.0);
  EXPECT_DOUBLE_EQ(FlopRate::parse("1FLOP/s").flop_per_s(), 1.0);
  EXPECT_EQ(Frequency::parse("1Hz").period().ps(), 1'000'000'000'000);
}

}  // namespace
}  // namespace mlasim
