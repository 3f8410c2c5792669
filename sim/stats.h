// The statistics tree. Modules keep their statistics as plain members (integers on the hot
// path) and register them once, with a name, unit and description, in a StatGroup; derived
// figures are formulas evaluated only when the tree is dumped. Writers walk the tree into
// stats.json and stats.csv; nothing parses stdout.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "sim/units.h"

namespace mlasim {

// Fixed-width bins over [0, bins * width); samples beyond fall in the last bin.
class Histogram {
 public:
  Histogram(double bin_width, size_t bins) : width_(bin_width), counts_(bins, 0) {}
  void sample(double v);
  uint64_t count() const { return n_; }
  double mean() const { return n_ ? sum_ / static_cast<double>(n_) : 0.0; }
  double max() const { return max_; }
  double bin_width() const { return width_; }
  const std::vector<uint64_t>& counts() const { return counts_; }

 private:
  double width_;
  std::vector<uint64_t> counts_;
  uint64_t n_ = 0;
  double sum_ = 0;
  double max_ = 0;
};

// Samples of a non-negative quantity in logarithmic bins, 2^kSubBits of them per power of two
// (each bin's width at most 2^-kSubBits of its lower edge): quantiles to within half a bin
// (relative error at most 2^-(kSubBits + 1), about 0.012%) in memory that grows with the range
// of the samples (32 KiB per power of two spanned), not with their number. Count, minimum and
// maximum are exact. Same samples in any order give the same figures.
class LogHistogram {
 public:
  static constexpr int kSubBits = 12;
  void sample(double v);  // v <= 0 (and NaN) counts as 0
  uint64_t count() const { return n_; }
  double min() const { return n_ ? min_ : 0.0; }
  double max() const { return n_ ? max_ : 0.0; }
  // The p-quantile as an exact sample list would give it (interpolated between the order
  // statistics at p (count - 1)), each order statistic taken as its bin's midpoint within
  // [min, max]; the minimum and maximum themselves are exact. 0 with no samples.
  double quantile(double p) const;

 private:
  double order_statistic(uint64_t k) const;  // k-th smallest, from 0
  std::vector<uint64_t> counts_;             // bins first_ .. first_ + counts_.size() - 1
  uint64_t first_ = 0;
  uint64_t zeros_ = 0;  // samples at 0
  uint64_t n_ = 0;
  double min_ = 0, max_ = 0;
};

// Time-weighted average of a level (queue occupancy, busy units) over simulated time.
class TimeWeighted {
 public:
  void set(double level, Time now);
  double mean(Time now) const;
  double peak() const { return peak_; }
  double level() const { return level_; }

 private:
  double level_ = 0;
  double peak_ = 0;
  double integral_ = 0;  // level x ps
  Time last_;
};

class StatGroup {
 public:
  explicit StatGroup(std::string name) : name_(std::move(name)) {}
  StatGroup(const StatGroup&) = delete;
  StatGroup& operator=(const StatGroup&) = delete;

  const std::string& name() const { return name_; }

  // Registration: the tree keeps pointers, so the registered members must outlive dumps.
  void counter(std::string name, const uint64_t* value, std::string unit, std::string desc);
  void value(std::string name, const double* value, std::string unit, std::string desc);
  void formula(std::string name, std::function<double()> f, std::string unit, std::string desc);
  void histogram(std::string name, const Histogram* h, std::string unit, std::string desc);

  // Children are owned by the group (for modules that want a sub-tree) or attached by pointer.
  StatGroup& child(const std::string& name);
  void attach(StatGroup* group);

  nlohmann::ordered_json to_json() const;
  // One row per scalar figure: path,name,value,unit,description (histograms: count and mean).
  void to_csv(std::ostream& out, const std::string& prefix = "") const;
  // Value of a scalar stat by dotted path below this group ("gpu0.busy_time"); NaN if absent.
  double lookup(const std::string& dotted) const;

 private:
  enum class Kind { Counter, Value, Formula, Histogram };
  struct Entry {
    Entry(std::string n, std::string u, std::string d, Kind k)
        : name(std::move(n)), unit(std::move(u)), desc(std::move(d)), kind(k) {}
    std::string name, unit, desc;
    Kind kind;
    const uint64_t* counter = nullptr;
    const double* value = nullptr;
    std::function<double()> formula;
    const Histogram* hist = nullptr;
    double scalar() const;
  };
  const StatGroup* find_child(const std::string& name) const;

  std::string name_;
  std::vector<Entry> entries_;
  std::vector<std::unique_ptr<StatGroup>> owned_;
  std::vector<StatGroup*> children_;
};

// Writes the CSV header used by StatGroup::to_csv.
void write_stats_csv_header(std::ostream& out);

}  // namespace mlasim
