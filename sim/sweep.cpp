// Sweep definition: axes, points, sharding, completeness and merge of results (see sweep.h).
#include "sim/sweep.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <system_error>

#include "sim/builtin_components.h"
#include "sim/commands.h"
#include "sim/config.h"
#include "sim/errors.h"
#include "sim/results.h"
#include "sim/scenario_model.h"
#include "sim/simulation.h"
#include "sim/version.h"

namespace mlasim {

namespace fs = std::filesystem;

namespace {

// Prints a swept number without float noise (4 not 4.000000, 0.35 not 0.35000000000000003,
// 0.0001 not 9.99999999999999e-05) but with every digit a value asked for has (0.8500001,
// 1234567.5): the fewest significant digits, from 6 to 15, that give it back to 1 part in 10^12.
std::string format_number(double v) {
  if (std::fabs(v - std::llround(v)) < 1e-9 * std::max(1.0, std::fabs(v))) {
    return fmt::format("{}", std::llround(v));
  }
  for (int digits = 6; digits < 15; ++digits) {
    std::string text = fmt::format("{:.{}g}", v, digits);
    if (std::fabs(std::strtod(text.c_str(), nullptr) - v) <= 1e-12 * std::fabs(v)) return text;
  }
  return fmt::format("{:.15g}", v);
}

// FNV-1a over the resolved base scenario, the `set` list and the simulator's version: a
// fingerprint, not a security hash (it only tells an edited sweep, or one run by another
// build, from the one a folder was run with). Files the scenario names (a model's config.json,
// a trace) are not read: editing one in place is not seen.
std::string base_digest(const ConfigNode& base, const std::vector<std::string>& sets) {
  uint64_t h = 0xcbf29ce484222325ULL;
  auto add = [&h](std::string_view s) {
    for (const unsigned char c : s) {
      h ^= c;
      h *= 0x100000001b3ULL;
    }
    h ^= 0xff;  // separator: ("ab", "c") and ("a", "bc") differ
    h *= 0x100000001b3ULL;
  };
  add(base.to_yaml());
  for (const auto& s : sets)
    add(s);
  add(version());
  return fmt::format("{:016x}", h);
}

// Checks the plots' keys that can be checked before any point runs (see SweepPlotParams): a
// series must be an axis, and so must an x or y written as a dotted config key. Records where
// each plot's x and y are written, for the check after the runs.
void check_plot_keys(Sweep& s, const ConfigNode& section) {
  const ConfigNode* plots = section.find("plots");
  std::vector<std::string> axes;
  for (const auto& a : s.params.axes)
    axes.push_back(a.key);
  auto is_axis = [&axes](const std::string& key) {
    return std::find(axes.begin(), axes.end(), key) != axes.end();
  };
  for (size_t i = 0; i < s.params.plots.size(); ++i) {
    const SweepPlotParams& plot = s.params.plots[i];
    const ConfigNode& item = plots->items()[i];
    auto loc_of = [&item](std::string_view field) {
      const ConfigNode* n = item.find(field);
      return n ? n->loc() : item.loc();
    };
    s.plot_locs.emplace_back(loc_of("x"), loc_of("y"));
    auto refuse = [&](std::string_view field, const std::string& key, std::string_view why) {
      throw_config_error(loc_of(field), fmt::format("sweep.plots[{}].{}", i, field),
                         fmt::format("'{}' is not an axis of this sweep{} (axes: {}); {}", key,
                                     detail::did_you_mean(key, axes), fmt::join(axes, ", "), why));
    };
    if (!plot.series.empty() && !is_axis(plot.series))
      refuse("series", plot.series, "a series draws one curve per value of an axis");
    constexpr std::string_view kDotted =
        "a dotted key names a config value, which only an axis puts in sweep.csv (summary keys "
        "have no dots)";
    if (plot.x.find('.') != std::string::npos && !is_axis(plot.x)) refuse("x", plot.x, kDotted);
    if (plot.y.find('.') != std::string::npos && !is_axis(plot.y)) refuse("y", plot.y, kDotted);
  }
}

}  // namespace

nlohmann::ordered_json point_json(const SweepPoint& p) {
  nlohmann::ordered_json j;
  j["index"] = p.index;
  nlohmann::ordered_json o = nlohmann::ordered_json::object();
  for (const auto& [k, v] : p.overrides)
    o[k] = v;
  j["overrides"] = o;
  j["base_digest"] = p.base_digest;
  return j;
}

void SweepAxisParams::validate(const ParamCheck& c) const {
  const int forms =
      (values.empty() ? 0 : 1) + (range.empty() ? 0 : 1) + (log_range.empty() ? 0 : 1);
  c.require(forms == 1, "values", "give exactly one of values, range or log_range");
  c.require(values.empty() || unit.empty(), "unit",
            "applies to range and log_range (values carry their own units)");
  if (!range.empty()) {
    c.require(range.size() == 3, "range", "must be [start, stop, step]");
    c.require(range[2] > 0, "range", "step must be > 0");
    c.require(range[1] >= range[0], "range", "stop must be >= start");
    c.require((range[1] - range[0]) / range[2] < 1e6, "range", "more than a million values");
  }
  if (!log_range.empty()) {
    c.require(log_range.size() == 3, "log_range", "must be [start, stop, points]");
    c.require(log_range[0] > 0 && log_range[1] > 0, "log_range", "start and stop must be > 0");
    c.require(log_range[2] >= 2 && log_range[2] == std::floor(log_range[2]), "log_range",
              "points must be a whole number >= 2");
    c.require(log_range[2] < 1e6, "log_range", "more than a million points");
  }
  // Two equal values would be two runs of one point under different names (numbers compared
  // as numbers: 1, 1.0 and 1e0 are one value).
  std::vector<std::string> all = expand();
  for (std::string& v : all) {
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (!v.empty() && end == v.c_str() + v.size() && std::isfinite(x)) v = fmt::format("{}", x);
  }
  std::sort(all.begin(), all.end());
  const auto twice = std::adjacent_find(all.begin(), all.end());
  if (twice != all.end()) {
    c.fail(values.empty() ? (range.empty() ? "log_range" : "range") : "values",
           fmt::format("the value {} comes twice (each value makes one point)", *twice));
  }
}

std::vector<std::string> SweepAxisParams::expand() const {
  if (!values.empty()) return values;
  std::vector<std::string> out;
  if (!range.empty()) {
    const double start = range[0], stop = range[1], step = range[2];
    const auto n = static_cast<int64_t>(std::floor((stop - start) / step + 1e-9)) + 1;
    for (int64_t i = 0; i < n; ++i)
      out.push_back(format_number(start + step * i) + unit);
    return out;
  }
  const double a = std::log(log_range[0]), b = std::log(log_range[1]);
  const auto n = static_cast<int>(log_range[2]);
  for (int i = 0; i < n; ++i) {
    out.push_back(format_number(std::exp(a + (b - a) * i / (n - 1))) + unit);
  }
  return out;
}

std::string SweepPoint::dir_name() const {
  return fmt::format("p{:04d}", index);
}

Sweep load_sweep(const fs::path& file) {
  ConfigNode root = load_config_file(file);
  const ConfigNode* section = root.is_map() ? root.find("sweep") : nullptr;
  // Without a `sweep` key the file is most likely a scenario: say so rather than reject its
  // keys one by one.
  if (!section) {
    throw_config_error(SourceLoc{root.loc().file, 0}, "sweep",
                       "not a sweep file (it has no `sweep` key with `base` and `axes`; "
                       "`mlasim run` takes a scenario)");
  }
  {
    ParamReader top(&root, "", {"sweep"});
    top.finish();
  }
  Sweep s;
  s.file = file;
  s.paths_from = fs::absolute(file).parent_path();
  s.params = read_params<SweepParams>(section, "sweep");
  s.base_path = fs::path(s.params.base).is_relative() ? file.parent_path() / s.params.base
                                                      : fs::path(s.params.base);
  if (!fs::exists(s.base_path)) {
    throw_config_error(section->find("base")->loc(), "sweep.base",
                       fmt::format("cannot open file '{}'", s.base_path.string()));
  }

  const std::string digest = base_digest(load_config_file(s.base_path), s.params.set);

  // Dimensions: each zip tag is one dimension, each untagged axis its own; first seen first.
  struct Dim {
    std::vector<size_t> axes;
    size_t size = 0;
  };
  std::vector<Dim> dims;
  std::map<std::string, size_t> tag_dim;
  std::vector<std::vector<std::string>> values;
  std::set<std::string> keys;
  const ConfigNode* axes_node = section->find("axes");
  for (size_t a = 0; a < s.params.axes.size(); ++a) {
    s.axis_locs.push_back(axes_node->items()[a].loc());
  }
  if (const ConfigNode* set_node = section->find("set"); set_node && set_node->is_seq()) {
    for (size_t i = 0; i < set_node->items().size(); ++i)
      s.set_locs.push_back(set_node->items()[i].loc());
  }
  for (size_t a = 0; a < s.params.axes.size(); ++a) {
    const auto& axis = s.params.axes[a];
    const std::string path = fmt::format("sweep.axes[{}]", a);
    if (!keys.insert(axis.key).second) {
      throw_config_error(s.axis_locs[a], path, fmt::format("key '{}' is swept twice", axis.key));
    }
    // One axis inside another's key: the later one would set over the earlier (a whole mapping
    // replacing a value in it, or the reverse), and points be labelled with values they did not
    // run with.
    for (size_t b = 0; b < a; ++b) {
      const std::string& other = s.params.axes[b].key;
      const bool inside = axis.key.starts_with(other + ".") || other.starts_with(axis.key + ".");
      if (inside) {
        throw_config_error(s.axis_locs[a], path,
                           fmt::format("key '{}' overlaps axis {} ('{}'): sweep one or the other",
                                       axis.key, b, other));
      }
    }
    values.push_back(axis.expand());
    if (axis.zip.empty()) {
      dims.push_back({{a}, values.back().size()});
      continue;
    }
    auto [it, fresh] = tag_dim.emplace(axis.zip, dims.size());
    if (fresh) {
      dims.push_back({{a}, values.back().size()});
    } else {
      Dim& d = dims[it->second];
      if (d.size != values.back().size()) {
        throw_config_error(s.axis_locs[a], path,
                           fmt::format("zip group '{}' has axes of {} and {} values", axis.zip,
                                       d.size, values.back().size()));
      }
      d.axes.push_back(a);
    }
  }
  size_t total = 1;
  for (const auto& d : dims) {
    if (d.size == 0 || total > 1'000'000 / d.size) {
      throw_config_error(section->loc(), "sweep.axes",
                         "more than a million points (the product of the axes' lengths)");
    }
    total *= d.size;
  }
  // The cover set: point 0, then each further value of each dimension with the others at 0.
  s.cover.emplace_back(0, -1);
  size_t stride = total;
  for (const auto& d : dims) {
    stride /= d.size;
    for (size_t v = 1; v < d.size; ++v)
      s.cover.emplace_back(v * stride, static_cast<int>(d.axes.front()));
  }
  // Mixed-radix counting, first dimension slowest.
  for (size_t i = 0; i < total; ++i) {
    SweepPoint p;
    p.index = i;
    p.base_digest = digest;
    size_t rest = i;
    std::vector<size_t> digit(dims.size());
    for (size_t d = dims.size(); d-- > 0;) {
      digit[d] = rest % dims[d].size;
      rest /= dims[d].size;
    }
    for (size_t a = 0; a < s.params.axes.size(); ++a) {
      for (size_t d = 0; d < dims.size(); ++d) {
        for (size_t ax : dims[d].axes) {
          if (ax == a) p.overrides.emplace_back(s.params.axes[a].key, values[a][digit[d]]);
        }
      }
    }
    s.points.push_back(std::move(p));
  }
  check_plot_keys(s, *section);
  return s;
}

void validate_sweep_points(const Sweep& sweep) {
  const Components comps = make_builtin_components();
  for (const auto& [index, axis] : sweep.cover) {
    const SweepPoint& p = sweep.points[index];
    try {
      // The sweep's `set` and the point's axis values are one layer, as on the command line
      // of the run that simulates the point.
      std::vector<std::string> sets = sweep.params.set;
      for (const auto& [k, v] : p.overrides)
        sets.push_back(k + "=" + v);
      ConfigNode root = load_config_file(sweep.base_path);
      apply_overrides(root, sets, sweep.paths_from);
      derive_retyped_memory(root);
      validate_scenario(root, comps);
    } catch (const InputError& e) {
      std::string label;
      for (const auto& [k, v] : p.overrides)
        label += fmt::format("{}{}={}", label.empty() ? "" : ", ", k, v);
      const std::string what = fmt::format("point {} ({}): {}", p.dir_name(), label, e.what());
      // The first point has every axis at its first value: blame the axis the message names.
      int blamed = axis;
      for (size_t a = 0; blamed < 0 && a < sweep.params.axes.size(); ++a) {
        if (std::string(e.what()).find(sweep.params.axes[a].key) != std::string::npos) {
          blamed = static_cast<int>(a);
        }
      }
      // Else the `set` entry the message quotes (as --set '<entry>').
      for (size_t i = 0; blamed < 0 && i < sweep.params.set.size() && i < sweep.set_locs.size();
           ++i) {
        if (std::string(e.what()).find("--set '" + sweep.params.set[i]) != std::string::npos ||
            std::string(e.what()).find("--set " + sweep.params.set[i]) != std::string::npos) {
          throw_config_error(sweep.set_locs[i], fmt::format("sweep.set[{}]", i), what);
        }
      }
      if (blamed < 0) throw ConfigError(fmt::format("{}: {}", sweep.file.string(), what));
      throw_config_error(sweep.axis_locs[blamed], fmt::format("sweep.axes[{}]", blamed), what);
    }
  }
}

std::vector<size_t> shard_points(size_t total, size_t shard, size_t shards) {
  std::vector<size_t> out;
  for (size_t i = shard; i < total; i += shards)
    out.push_back(i);
  return out;
}

namespace {

// Whether `dir` holds a run of exactly this point (its point.json matches: not a point of an
// edited sweep, or of another sweep that used the folder before).
bool is_this_point(const fs::path& dir, const SweepPoint& point) {
  try {
    std::ifstream p(dir / "point.json");
    return p && nlohmann::ordered_json::parse(p) == point_json(point);
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

// The summary of a finished run of exactly this point (its point.json matches, its summary
// parses as a non-empty object); nothing otherwise.
std::optional<nlohmann::ordered_json> finished_summary(const fs::path& dir,
                                                       const SweepPoint& point) {
  try {
    if (!is_this_point(dir, point)) return std::nullopt;
    std::ifstream s(dir / "summary.json");
    if (!s) return std::nullopt;
    nlohmann::ordered_json summary = nlohmann::ordered_json::parse(s);
    if (!summary.is_object() || summary.empty()) return std::nullopt;
    return summary;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

}  // namespace

bool point_is_complete(const fs::path& dir, const SweepPoint& point) {
  return finished_summary(dir, point).has_value();
}

size_t merge_sweep(const Sweep& sweep, const fs::path& out_dir, std::vector<std::string>* left_out,
                   std::vector<std::string>* summary_columns) {
  std::vector<std::string> columns;
  std::set<std::string> seen;
  std::vector<std::pair<const SweepPoint*, nlohmann::ordered_json>> rows;
  for (const auto& p : sweep.points) {
    const fs::path dir = out_dir / p.dir_name();
    if (!fs::exists(dir / "summary.json")) continue;  // not run (yet)
    // Only a finished run of this very point (not of an edited sweep's) makes a row.
    std::optional<nlohmann::ordered_json> j = finished_summary(dir, p);
    if (!j) {
      if (left_out) left_out->push_back(p.dir_name());
      continue;
    }
    for (const auto& [k, v] : j->items()) {
      if (v.is_structured()) continue;  // per-layer lists stay in each run's summary.json
      if (seen.insert(k).second) columns.push_back(k);
    }
    rows.emplace_back(&p, std::move(*j));
  }
  auto csv = [](const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s)
      q += (c == '"') ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  std::string out = "point";
  for (const auto& a : sweep.params.axes)
    out += "," + csv(a.key);
  for (const auto& c : columns)
    out += "," + csv(c);
  out += "\n";
  for (const auto& [p, j] : rows) {
    out += p->dir_name();
    for (const auto& [k, v] : p->overrides) {
      out.push_back(',');
      out.append(csv(v));
    }
    for (const auto& c : columns) {
      out += ",";
      if (!j.contains(c)) continue;
      const auto& v = j[c];
      out += csv(v.is_string() ? v.get<std::string>() : v.dump());
    }
    out += "\n";
  }
  write_file_atomic(out_dir / "sweep.csv", out);
  if (summary_columns) *summary_columns = columns;
  return rows.size();
}

std::vector<std::string> unreported_plot_keys(const Sweep& sweep,
                                              const std::vector<std::string>& summary_columns) {
  std::vector<std::string> out;
  auto check = [&](size_t i, std::string_view field, const std::string& key, SourceLoc loc) {
    for (const auto& a : sweep.params.axes)
      if (a.key == key) return;
    if (std::find(summary_columns.begin(), summary_columns.end(), key) != summary_columns.end())
      return;
    if (loc.file.empty()) loc = SourceLoc{sweep.file.string(), 0};
    out.push_back(config_message(
        loc, fmt::format("sweep.plots[{}].{}", i, field),
        fmt::format("no point reported '{}'{}, so its plot is empty (a plot's keys are axis keys "
                    "or summary keys)",
                    key, detail::did_you_mean(key, summary_columns))));
  };
  for (size_t i = 0; i < sweep.params.plots.size(); ++i) {
    const SweepPlotParams& p = sweep.params.plots[i];
    const bool located = i < sweep.plot_locs.size();
    check(i, "x", p.x, located ? sweep.plot_locs[i].first : SourceLoc{});
    check(i, "y", p.y, located ? sweep.plot_locs[i].second : SourceLoc{});
  }
  return out;
}

nlohmann::ordered_json failed_points(const Sweep& sweep, const fs::path& out_dir) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& p : sweep.points) {
    const fs::path dir = out_dir / p.dir_name();
    std::ifstream f(dir / "failure.json");
    if (!f || !is_this_point(dir, p) || point_is_complete(dir, p)) continue;
    nlohmann::ordered_json entry{{"point", p.dir_name()}};
    std::string label;
    for (const auto& [k, v] : p.overrides)
      label += fmt::format("{}{}={}", label.empty() ? "" : " ", k, v);
    entry["overrides"] = label;
    try {
      entry["exit_code"] = nlohmann::json::parse(f).at("exit_code");
    } catch (const nlohmann::json::exception&) {
      entry["exit_code"] = nullptr;
    }
    // The reason: the run's own error line (the first line mlasim wrote for it).
    std::ifstream err(dir / "stderr.txt");
    std::string line, reason;
    while (std::getline(err, line)) {
      if (line.rfind("mlasim: ", 0) == 0) {
        reason = line.substr(8);
        break;
      }
    }
    constexpr size_t kMaxReason = 300;
    if (reason.size() > kMaxReason) reason = reason.substr(0, kMaxReason) + "...";
    entry["reason"] = reason;
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace mlasim
