// Scalar parsing and key checking for params.h.
#include "sim/params.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace mlasim::detail {

void type_error(const ConfigNode& n, std::string_view path, std::string_view expected) {
  std::string got = n.is_map()    ? "a mapping"
                    : n.is_seq()  ? "a list"
                    : n.is_null() ? "nothing"
                                  : "'" + n.as_string() + "'";
  throw_config_error(n.loc(), path, fmt::format("expected {}, got {}", expected, got));
}

const std::string& expect_scalar(const ConfigNode& n, std::string_view path,
                                 std::string_view expected) {
  if (!n.is_scalar()) type_error(n, path, expected);
  return n.as_string();
}

int64_t parse_int(const ConfigNode& n, std::string_view path, int64_t lo, int64_t hi) {
  const std::string& s = expect_scalar(n, path, "an integer");
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) type_error(n, path, "an integer");
  if (v < lo || v > hi) {
    throw_config_error(n.loc(), path, fmt::format("{} is out of range [{}, {}]", v, lo, hi));
  }
  return v;
}

double parse_double(const ConfigNode& n, std::string_view path) {
  const std::string& s = expect_scalar(n, path, "a number");
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range && ptr == s.data() + s.size()) {
    throw_config_error(n.loc(), path,
                       fmt::format("{} is out of range (a double holds magnitudes "
                                   "from about 2.2e-308 to 1.8e308)",
                                   s));
  }
  if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(v)) {
    type_error(n, path, "a number");
  }
  return v;
}

bool parse_bool(const ConfigNode& n, std::string_view path) {
  const std::string& s = expect_scalar(n, path, "true or false");
  if (s == "true" || s == "True" || s == "yes") return true;
  if (s == "false" || s == "False" || s == "no") return false;
  type_error(n, path, "true or false");
}

std::string format_double(double v) {
  return fmt::format("{}", v);
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] =
          std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string did_you_mean(std::string_view key, const std::vector<std::string>& names) {
  std::string best;
  size_t best_d = 3;
  for (const std::string& name : names) {
    const size_t d = edit_distance(key, name);
    if (d < best_d) {
      best_d = d;
      best = name;
    }
  }
  return best.empty() ? std::string() : fmt::format(" (did you mean '{}'?)", best);
}

}  // namespace mlasim::detail

namespace mlasim {

namespace {

void diff_into(const ConfigNode& a, const ConfigNode& b, const std::string& path,
               std::vector<std::string>& out) {
  if (a.is_map() && b.is_map()) {
    for (const auto& [key, value] : b.entries()) {
      const ConfigNode* other = a.find(key);
      if (other == nullptr) {
        out.push_back(join_path(path, key));
      } else {
        diff_into(*other, value, join_path(path, key), out);
      }
    }
    return;
  }
  auto same = [](const ConfigNode& x, const ConfigNode& y) {
    if (x.kind() != y.kind()) return false;
    if (x.is_scalar()) return x.as_string() == y.as_string();
    if (!x.is_seq()) return true;
    if (x.items().size() != y.items().size()) return false;
    for (size_t i = 0; i < x.items().size(); ++i) {
      std::vector<std::string> inner;
      diff_into(x.items()[i], y.items()[i], "", inner);
      if (!inner.empty()) return false;
    }
    return true;
  };
  if (!same(a, b)) out.push_back(path);
}

}  // namespace

std::vector<std::string> differing_keys(const ConfigNode& a, const ConfigNode& b) {
  std::vector<std::string> out;
  diff_into(a, b, "", out);
  return out;
}

std::string folder_name_problem(std::string_view name) {
  constexpr size_t kMaxLength = 200;
  if (name.empty()) return "must not be empty (it names the results folder)";
  if (name == "." || name == "..") return fmt::format("'{}' cannot name a results folder", name);
  if (name.size() > kMaxLength) return fmt::format("longer than {} characters", kMaxLength);
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-' || c == '+' || c == '=' || c == '@';
    if (!ok) {
      return fmt::format(
          "'{}' names the results folder: use letters, digits and . _ - + = @ only (found {})",
          name, c == '/' ? std::string("'/'") : fmt::format("'{}'", c));
    }
  }
  return "";
}

void ParamCheck::fail(std::string_view key, std::string_view message) const {
  // A dotted key ("mtp.acceptance_rate") names a value in a nested mapping: the error points at
  // the deepest node of it that the config has (the value itself when it is there).
  const ConfigNode* at = node_;
  for (std::string_view rest = key; at != nullptr && !rest.empty();) {
    const size_t dot = rest.find('.');
    const ConfigNode* next = at->is_map() ? at->find(rest.substr(0, dot)) : nullptr;
    if (next == nullptr) break;
    at = next;
    rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
  }
  throw_config_error(at ? at->loc() : SourceLoc{}, join_path(path_, key), message);
}

ParamReader::ParamReader(const ConfigNode* node, std::string path,
                         std::vector<std::string> extra_known)
    : node_(node && node->is_map() ? node : nullptr),
      path_(std::move(path)),
      known_(std::move(extra_known)) {
  if (node && !node->is_map() && !node->is_null()) detail::type_error(*node, path_, "a mapping");
}

const ConfigNode* ParamReader::child(std::string_view key) const {
  if (!node_) return nullptr;
  const ConfigNode* n = node_->find(key);
  // `key:` with nothing after it (or `--set key=`) is a slip, not a request for the default.
  if (n && n->is_null()) {
    throw_config_error(n->loc(), join_path(path_, key),
                       "has no value (give one, or leave the key out for its default)");
  }
  return n;
}

void ParamReader::missing(std::string_view key) const {
  throw_config_error(node_ ? node_->loc() : SourceLoc{}, join_path(path_, key),
                     "required key is missing");
}

void ParamReader::finish() const {
  if (!node_) return;
  for (const auto& [key, value] : node_->entries()) {
    if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
    // A key a preset gave the component's old type: not an error for the new one (config.h).
    if (value.inherited()) continue;
    for (const auto& [name, reason] : elsewhere_) {
      if (name == key)
        throw_config_error(value.loc(), join_path(path_, key), "not a key here: " + reason);
    }
    throw_config_error(value.loc(), join_path(path_, key),
                       "unknown key" + detail::did_you_mean(key, known_));
  }
}

}  // namespace mlasim
