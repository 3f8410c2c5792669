// Statistics tree and its JSON/CSV writers (see stats.h).
#include "sim/stats.h"

#include <fmt/format.h>

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
