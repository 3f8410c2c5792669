// Typed component parameters: one struct per component declares each field once, with its
// default (the member initialiser), unit and one-line description, in a visit() member:
//
//   struct FixedBandwidthMemoryParams {
//     Bandwidth bandwidth = Bandwidth::parse("3.35TB/s");
//     template <class V> void visit(V& v) {
//       v("bandwidth", bandwidth, "B/s", "sustained bandwidth of the memory");
//     }
//     void validate(const ParamCheck& c) const { c.require(bandwidth.bytes_per_s() > 0, ...); }
//   };
//
// The same visit() drives reading from the config tree (ParamReader: unknown keys and wrong
// types are errors with file:line and key path), writing the resolved config (ParamWriter) and
// listing for `mlasim list` (ParamLister), so the three can never disagree.
#pragma once

#include <fmt/format.h>

#include <array>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "sim/config.h"
#include "sim/units.h"

namespace mlasim {

// Enumerations usable as params specialise EnumNames with a `values` array of {value, name}.
template <class E>
struct EnumNames;

template <class E>
concept NamedEnum = std::is_enum_v<E> && requires {
  EnumNames<E>::values;
};

template <NamedEnum E>
std::string_view enum_name(E value) {
  for (const auto& [v, name] : EnumNames<E>::values) {
    if (v == value) return name;
  }
  return "?";
}

template <NamedEnum E>
std::string enum_choices() {
  std::string out;
  for (const auto& [v, name] : EnumNames<E>::values) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

// Conversion between config scalars and typed values.
template <class T>
struct ParamTraits;

// The folder a relative path in value `n` is taken from, as `include:` paths are: the one its
// node was given (a sweep's values, --set-dir), else the folder of the file that gives it; empty
// (the working folder) for a value from --set or --trace, or an embedded scenario.
inline std::filesystem::path relative_path_base(const ConfigNode& n) {
  if (!n.paths_from().empty()) return n.paths_from();
  const std::string& from = n.loc().file;  // a file, "--set ..." or "<embedded:...>"
  if (from.rfind("--set", 0) != 0 && std::filesystem::is_regular_file(from))
    return std::filesystem::path(from).parent_path();
  return {};
}

namespace detail {
[[noreturn]] void type_error(const ConfigNode& n, std::string_view path, std::string_view expected);
const std::string& expect_scalar(const ConfigNode& n, std::string_view path,
                                 std::string_view expected);
int64_t parse_int(const ConfigNode& n, std::string_view path, int64_t lo, int64_t hi);
double parse_double(const ConfigNode& n, std::string_view path);
bool parse_bool(const ConfigNode& n, std::string_view path);
std::string format_double(double v);
size_t edit_distance(std::string_view a, std::string_view b);
// " (did you mean 'NAME'?)" for the name among `names` nearest `key` (a near-miss spelling:
// fewer than 3 edits), or "" when none is close.
std::string did_you_mean(std::string_view key, const std::vector<std::string>& names);
}  // namespace detail

template <std::integral T>
requires(!std::same_as<T, bool>) struct ParamTraits<T> {
  static constexpr std::string_view type_name = std::is_signed_v<T> ? "int" : "uint";
  static T parse(const ConfigNode& n, std::string_view path) {
    constexpr auto hi = static_cast<int64_t>(
        std::min<uint64_t>(std::numeric_limits<T>::max(), std::numeric_limits<int64_t>::max()));
    constexpr int64_t lo =
        std::is_signed_v<T> ? static_cast<int64_t>(std::numeric_limits<T>::min()) : 0;
    return static_cast<T>(detail::parse_int(n, path, lo, hi));
  }
  static std::string format(T v) { return fmt::format("{}", v); }
};

template <>
struct ParamTraits<bool> {
  static constexpr std::string_view type_name = "bool";
  static bool parse(const ConfigNode& n, std::string_view path) {
    return detail::parse_bool(n, path);
  }
  static std::string format(bool v) { return v ? "true" : "false"; }
};

template <>
struct ParamTraits<double> {
  static constexpr std::string_view type_name = "float";
  static double parse(const ConfigNode& n, std::string_view path) {
    return detail::parse_double(n, path);
  }
  static std::string format(double v) { return detail::format_double(v); }
};

template <>
struct ParamTraits<std::string> {
  static constexpr std::string_view type_name = "string";
  static std::string parse(const ConfigNode& n, std::string_view path) {
    return detail::expect_scalar(n, path, "a string");
  }
  static std::string format(const std::string& v) { return v; }
};

// Quantities with units parse from strings like "400Gb/s".
template <class Q>
concept Quantity = requires(std::string_view s, const Q& q) {
  { Q::parse(s) } -> std::same_as<Q>;
  { q.str() } -> std::convertible_to<std::string>;
};

template <class Q>
constexpr std::string_view quantity_name() {
  if constexpr (std::same_as<Q, Time>) return "time";
  if constexpr (std::same_as<Q, Bytes>) return "bytes";
  if constexpr (std::same_as<Q, Bandwidth>) return "bandwidth";
  if constexpr (std::same_as<Q, Frequency>) return "frequency";
  if constexpr (std::same_as<Q, FlopRate>) return "flop_rate";
  return "quantity";
}

template <Quantity Q>
struct ParamTraits<Q> {
  static constexpr std::string_view type_name = quantity_name<Q>();
  static Q parse(const ConfigNode& n, std::string_view path) {
    const std::string& s = detail::expect_scalar(n, path, type_name);
    try {
      return Q::parse(s);
    } catch (const UnitError& e) {
      throw_config_error(n.loc(), path, e.what());
    }
  }
  static std::string format(const Q& v) { return v.str(); }
};

template <NamedEnum E>
struct ParamTraits<E> {
  static constexpr std::string_view type_name = "enum";
  static E parse(const ConfigNode& n, std::string_view path) {
    const std::string& s = detail::expect_scalar(n, path, "one of: " + enum_choices<E>());
    for (const auto& [v, name] : EnumNames<E>::values) {
      if (name == s) return v;
    }
    throw_config_error(n.loc(), path, fmt::format("'{}' is not one of: {}", s, enum_choices<E>()));
  }
  static std::string format(E v) { return std::string(enum_name(v)); }
};

template <class T>
struct ParamTraits<std::vector<T>> {
  static constexpr std::string_view type_name = "list";
  static std::vector<T> parse(const ConfigNode& n, std::string_view path) {
    if (!n.is_seq()) detail::type_error(n, path, "a list");
    std::vector<T> out;
    size_t i = 0;
    for (const auto& item : n.items()) {
      out.push_back(ParamTraits<T>::parse(item, fmt::format("{}[{}]", path, i++)));
    }
    return out;
  }
  static std::string format(const std::vector<T>& v) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) out += ", ";
      out += ParamTraits<T>::format(v[i]);
    }
    return out + "]";
  }
};

template <class T>
concept Parameter = requires {
  ParamTraits<T>::type_name;
};

// Validation helper handed to a params struct's validate(): failures name file:line and path.
class ParamCheck {
 public:
  ParamCheck(const ConfigNode* node, std::string path) : node_(node), path_(std::move(path)) {}
  void require(bool ok, std::string_view key, std::string_view message) const {
    if (!ok) fail(key, message);
  }
  [[noreturn]] void fail(std::string_view key, std::string_view message) const;
  const std::string& path() const { return path_; }

 private:
  const ConfigNode* node_;
  std::string path_;
};

// Why `name` cannot be a folder name under results/ ("" when it can): it must be non-empty, not
// "." or "..", and made of letters, digits and . _ - + = @ only (no '/', no spaces), so that a
// scenario or sweep name never points outside the folder it is meant to name.
std::string folder_name_problem(std::string_view name);

template <class P>
concept HasValidate = requires(const P& p, const ParamCheck& c) {
  p.validate(c);
};

inline std::string join_path(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return fmt::format("{}.{}", path, key);
}

// Reads a params struct from a mapping node (nullptr: all defaults).
class ParamReader {
 public:
  ParamReader(const ConfigNode* node, std::string path, std::vector<std::string> extra_known = {});

  template <Parameter T>
  void operator()(std::string_view key, T& field, std::string_view /*unit*/,
                  std::string_view /*description*/) {
    known_.emplace_back(key);
    if (const ConfigNode* n = child(key)) field = ParamTraits<T>::parse(*n, join_path(path_, key));
  }

  template <Parameter T>
  void required(std::string_view key, T& field, std::string_view /*unit*/,
                std::string_view /*description*/) {
    known_.emplace_back(key);
    const ConfigNode* n = child(key);
    if (!n) missing(key);
    field = ParamTraits<T>::parse(*n, join_path(path_, key));
  }

  // A name that is not a key here although users may expect it: giving it is an error that
  // says where the value comes from instead (`reason`).
  void elsewhere(std::string_view key, std::string_view reason) {
    elsewhere_.emplace_back(std::string(key), std::string(reason));
  }

  template <class S>
  void group(std::string_view key, S& sub, std::string_view /*description*/) {
    known_.emplace_back(key);
    const ConfigNode* n = child(key);
    ParamReader r(n, join_path(path_, key));
    sub.visit(r);
    r.finish();
    if constexpr (HasValidate<S>) sub.validate(ParamCheck(n, join_path(path_, key)));
  }

  // A list of structs: each item is a mapping read like a group.
  template <class S>
  void list(std::string_view key, std::vector<S>& items, std::string_view /*description*/) {
    known_.emplace_back(key);
    const ConfigNode* n = child(key);
    if (!n) return;
    const std::string path = join_path(path_, key);
    if (!n->is_seq()) detail::type_error(*n, path, "a list");
    items.clear();
    size_t i = 0;
    for (const auto& item : n->items()) {
      const std::string item_path = fmt::format("{}[{}]", path, i++);
      if (!item.is_map()) detail::type_error(item, item_path, "a mapping");
      S sub{};
      ParamReader r(&item, item_path);
      sub.visit(r);
      r.finish();
      if constexpr (HasValidate<S>) sub.validate(ParamCheck(&item, item_path));
      items.push_back(std::move(sub));
    }
  }

  // Errors on any key of the node that no field claimed, suggesting the nearest known key.
  void finish() const;

 private:
  const ConfigNode* child(std::string_view key) const;
  [[noreturn]] void missing(std::string_view key) const;

  const ConfigNode* node_;
  std::string path_;
  std::vector<std::string> known_;
  std::vector<std::pair<std::string, std::string>> elsewhere_;
};

// Writes a params struct's values into a mapping node (the resolved config).
class ParamWriter {
 public:
  template <Parameter T>
  void operator()(std::string_view key, const T& field, std::string_view, std::string_view) {
    put(key, field);
  }
  template <Parameter T>
  void required(std::string_view key, const T& field, std::string_view, std::string_view) {
    put(key, field);
  }
  void elsewhere(std::string_view, std::string_view) {}
  template <class S>
  void group(std::string_view key, const S& sub, std::string_view) {
    ParamWriter w;
    const_cast<S&>(sub).visit(w);
    out.set(key, std::move(w.out));
  }
  template <class S>
  void list(std::string_view key, const std::vector<S>& items, std::string_view) {
    ConfigNode seq = ConfigNode::seq();
    for (const auto& item : items) {
      ParamWriter w;
      const_cast<S&>(item).visit(w);
      seq.push_back(std::move(w.out));
    }
    out.set(key, std::move(seq));
  }
  ConfigNode out = ConfigNode::map();

 private:
  template <class T>
  void put(std::string_view key, const T& field) {
    if constexpr (requires {
                    field.size();
                    typename T::value_type;
                  } &&
                  !std::same_as<T, std::string>) {
      ConfigNode list = ConfigNode::seq();
      for (const auto& item : field)
        list.push_back(ConfigNode::scalar(ParamTraits<typename T::value_type>::format(item)));
      out.set(key, std::move(list));
    } else {
      out.set(key, ConfigNode::scalar(ParamTraits<T>::format(field)));
    }
  }
};

struct ParamInfo {
  std::string key;  // dotted within the component, e.g. "gemm.m"
  std::string type;
  std::string default_value;  // "(required)" for required fields
  std::string unit;
  std::string description;
};

// The description `mlasim list` shows for a param of type T: as written, except that an
// enumeration's values are appended when the text leaves any of them out (so that the list
// always says what may be written there).
template <class T>
std::string listed_description(std::string_view description) {
  std::string out(description);
  if constexpr (NamedEnum<T>) {
    bool names_all = true;
    for (const auto& [value, name] : EnumNames<T>::values)
      names_all = names_all && out.find(name) != std::string::npos;
    if (!names_all) out += fmt::format(" (one of: {})", enum_choices<T>());
  }
  return out;
}

// Lists a params struct's fields with their defaults, for `mlasim list` and docs.
class ParamLister {
 public:
  explicit ParamLister(std::string prefix = {}) : prefix_(std::move(prefix)) {}
  template <Parameter T>
  void operator()(std::string_view key, const T& field, std::string_view unit,
                  std::string_view description) {
    out.push_back({join_path(prefix_, key), std::string(ParamTraits<T>::type_name),
                   ParamTraits<T>::format(field), std::string(unit),
                   listed_description<T>(description)});
  }
  template <Parameter T>
  void required(std::string_view key, const T&, std::string_view unit,
                std::string_view description) {
    out.push_back({join_path(prefix_, key), std::string(ParamTraits<T>::type_name), "(required)",
                   std::string(unit), listed_description<T>(description)});
  }
  void elsewhere(std::string_view, std::string_view) {}
  template <class S>
  void group(std::string_view key, const S& sub, std::string_view) {
    ParamLister l(join_path(prefix_, key));
    const_cast<S&>(sub).visit(l);
    out.insert(out.end(), l.out.begin(), l.out.end());
  }
  template <class S>
  void list(std::string_view key, const std::vector<S>&, std::string_view description) {
    out.push_back({join_path(prefix_, key), "list", "[]", "-", std::string(description)});
    S item{};
    ParamLister l(join_path(prefix_, key) + "[]");
    item.visit(l);
    out.insert(out.end(), l.out.begin(), l.out.end());
  }
  std::vector<ParamInfo> out;

 private:
  std::string prefix_;
};

// Reads and validates params P from `node` (a mapping or nullptr) at `path`.
template <class P>
P read_params(const ConfigNode* node, const std::string& path,
              std::vector<std::string> extra_known = {}) {
  if (node && !node->is_map() && !node->is_null()) detail::type_error(*node, path, "a mapping");
  P p{};
  ParamReader r(node, path, std::move(extra_known));
  p.visit(r);
  r.finish();
  if constexpr (HasValidate<P>) p.validate(ParamCheck(node, path));
  return p;
}

template <class P>
ConfigNode write_params(const P& p) {
  ParamWriter w;
  const_cast<P&>(p).visit(w);
  return std::move(w.out);
}

// Dotted keys (within the struct) where `b` holds another value than `a`: scalars and lists
// compared as written, groups key by key.
std::vector<std::string> differing_keys(const ConfigNode& a, const ConfigNode& b);

// Dotted keys (within P) whose values in `p` are not P's defaults: the settings a user gave.
template <class P>
std::vector<std::string> changed_params(const P& p) {
  return differing_keys(write_params(P{}), write_params(p));
}

template <class P>
std::vector<ParamInfo> describe_params() {
  P p{};
  ParamLister l;
  p.visit(l);
  return l.out;
}

}  // namespace mlasim
