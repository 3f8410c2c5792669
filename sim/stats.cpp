// Statistics tree and its JSON/CSV writers (see stats.h).
#include "sim/stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

namespace mlasim {

void Histogram::sample(double v) {
  size_t bin = v <= 0 ? 0 : static_cast<size_t>(v / width_);
  if (bin >= counts_.size()) bin = counts_.size() - 1;
  ++counts_[bin];
  ++n_;
  sum_ += v;
  if (v > max_) max_ = v;
}

// A positive double's bits, read as an integer, grow with its value: the top bits (exponent
// and the first kSubBits of the mantissa) number its logarithmic bin.
namespace {
constexpr int kBinShift = 52 - LogHistogram::kSubBits;
uint64_t bin_of(double v) {
  return std::bit_cast<uint64_t>(v) >> kBinShift;
}
double bin_edge(uint64_t bin) {
  return std::bit_cast<double>(bin << kBinShift);
}
}  // namespace

void LogHistogram::sample(double v) {
  if (!(v > 0)) v = 0;
  if (n_ == 0 || v < min_) min_ = v;
  if (n_ == 0 || v > max_) max_ = v;
  ++n_;
  if (v == 0) {
    ++zeros_;
    return;
  }
  const uint64_t b = bin_of(v);
  if (counts_.empty()) {
    first_ = b;
    counts_.assign(1, 0);
  } else if (b < first_) {
    // Grown by at least its size (to the front as to the back), so a run of new minima costs
    // amortised constant time.
    const uint64_t grow = std::max<uint64_t>(first_ - b, counts_.size());
    const uint64_t start = first_ > grow ? first_ - grow : 0;
    counts_.insert(counts_.begin(), first_ - start, 0);
    first_ = start;
  } else if (b - first_ >= counts_.size()) {
    counts_.resize(std::max<uint64_t>(b - first_ + 1, 2 * counts_.size()), 0);
  }
  ++counts_[b - first_];
}

double LogHistogram::order_statistic(uint64_t k) const {
  if (k == 0) return min_;
  if (k + 1 >= n_) return max_;
  if (k < zeros_) return 0;
  uint64_t seen = zeros_;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (k < seen) {
      const double mid = 0.5 * (bin_edge(first_ + i) + bin_edge(first_ + i + 1));
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

double LogHistogram::quantile(double p) const {
  if (n_ == 0) return 0.0;
  const double pos = std::clamp(p, 0.0, 1.0) * static_cast<double>(n_ - 1);
  const auto lo = static_cast<uint64_t>(pos);
  const double a = order_statistic(lo);
  const double b = lo + 1 < n_ ? order_statistic(lo + 1) : a;
  return a + (b - a) * (pos - static_cast<double>(lo));
}

void TimeWeighted::set(double level, Time now) {
  integral_ += level_ * static_cast<double>((now - last_).ps());
  last_ = now;
  level_ = level;
  if (level > peak_) peak_ = level;
}

double TimeWeighted::mean(Time now) const {
  if (now.ps() <= 0) return level_;
  double integral = integral_ + level_ * static_cast<double>((now - last_).ps());
  return integral / static_cast<double>(now.ps());
}

void StatGroup::counter(std::string name, const uint64_t* v, std::string unit, std::string desc) {
  Entry e{std::move(name), std::move(unit), std::move(desc), Kind::Counter};
  e.counter = v;
  entries_.push_back(std::move(e));
}

void StatGroup::value(std::string name, const double* v, std::string unit, std::string desc) {
  Entry e{std::move(name), std::move(unit), std::move(desc), Kind::Value};
  e.value = v;
  entries_.push_back(std::move(e));
}

void StatGroup::formula(std::string name, std::function<double()> f, std::string unit,
                        std::string desc) {
  Entry e{std::move(name), std::move(unit), std::move(desc), Kind::Formula};
  e.formula = std::move(f);
  entries_.push_back(std::move(e));
}

void StatGroup::histogram(std::string name, const Histogram* h, std::string unit,
                          std::string desc) {
  Entry e{std::move(name), std::move(unit), std::move(desc), Kind::Histogram};
  e.hist = h;
  entries_.push_back(std::move(e));
}

StatGroup& StatGroup::child(const std::string& name) {
  for (StatGroup* c : children_) {
    if (c->name() == name) return *c;
  }
  owned_.push_back(std::make_unique<StatGroup>(name));
  children_.push_back(owned_.back().get());
  return *owned_.back();
}

void StatGroup::attach(StatGroup* group) {
  children_.push_back(group);
}

double StatGroup::Entry::scalar() const {
  switch (kind) {
    case Kind::Counter:
      return static_cast<double>(*counter);
    case Kind::Value:
      return *value;
    case Kind::Formula:
      return formula();
    case Kind::Histogram:
      return hist->mean();
  }
  return 0;
}

nlohmann::ordered_json StatGroup::to_json() const {
  nlohmann::ordered_json stats = nlohmann::ordered_json::object();
  for (const auto& e : entries_) {
    nlohmann::ordered_json j;
    if (e.kind == Kind::Counter) {
      j["value"] = *e.counter;
    } else if (e.kind == Kind::Histogram) {
      j["count"] = e.hist->count();
      j["mean"] = e.hist->mean();
      j["max"] = e.hist->max();
      j["bin_width"] = e.hist->bin_width();
      j["bins"] = e.hist->counts();
    } else {
      double v = e.scalar();
      j["value"] = std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
    }
    j["unit"] = e.unit;
    j["description"] = e.desc;
    stats[e.name] = std::move(j);
  }
  nlohmann::ordered_json groups = nlohmann::ordered_json::object();
  for (const StatGroup* c : children_)
    groups[c->name()] = c->to_json();
  nlohmann::ordered_json out;
  out["stats"] = std::move(stats);
  out["groups"] = std::move(groups);
  return out;
}

void write_stats_csv_header(std::ostream& out) {
  out << "group,name,value,unit,description\n";
}

namespace {
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s)
    q += (c == '"') ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}
}  // namespace

void StatGroup::to_csv(std::ostream& out, const std::string& prefix) const {
  std::string path = prefix.empty() ? name_ : prefix + "." + name_;
  for (const auto& e : entries_) {
    if (e.kind == Kind::Histogram) {
      out << fmt::format("{},{},{},count,{}\n", csv_field(path), csv_field(e.name + ".count"),
                         e.hist->count(), csv_field(e.desc));
    }
    std::string name = e.kind == Kind::Histogram ? e.name + ".mean" : e.name;
    std::string value =
        e.kind == Kind::Counter ? fmt::format("{}", *e.counter) : fmt::format("{}", e.scalar());
    out << fmt::format("{},{},{},{},{}\n", csv_field(path), csv_field(name), value,
                       csv_field(e.unit), csv_field(e.desc));
  }
  for (const StatGroup* c : children_)
    c->to_csv(out, path);
}

const StatGroup* StatGroup::find_child(const std::string& name) const {
  for (const StatGroup* c : children_) {
    if (c->name() == name) return c;
  }
  return nullptr;
}

double StatGroup::lookup(const std::string& dotted) const {
  size_t dot = dotted.find('.');
  if (dot != std::string::npos) {
    const StatGroup* c = find_child(dotted.substr(0, dot));
    return c ? c->lookup(dotted.substr(dot + 1)) : std::numeric_limits<double>::quiet_NaN();
  }
  for (const auto& e : entries_) {
    if (e.name == dotted) return e.scalar();
  }
  return std::numeric_limits<double>::quiet_NaN();
}

}  // namespace mlasim
