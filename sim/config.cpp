// Loading, merging and overriding the configuration tree (see config.h).
#include "sim/config.h"

#include <fmt/format.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "sim/input_file.h"

namespace mlasim {

std::string SourceLoc::str() const {
  if (file.empty()) return {};
  if (line > 0) return fmt::format("{}:{}", file, line);
  return file;
}

std::string config_message(const SourceLoc& loc, std::string_view path, std::string_view message) {
  std::string out;
  if (!loc.file.empty()) out += loc.str() + ": ";
  if (!path.empty()) out += fmt::format("{}: ", path);
  out += message;
  return out;
}

void throw_config_error(const SourceLoc& loc, std::string_view path, std::string_view message) {
  throw ConfigError(config_message(loc, path, message));
}

ConfigNode ConfigNode::scalar(std::string value, SourceLoc loc) {
  ConfigNode n;
  n.kind_ = Kind::Scalar;
  n.scalar_ = std::move(value);
  n.loc_ = std::move(loc);
  return n;
}

ConfigNode ConfigNode::map(SourceLoc loc) {
  ConfigNode n;
  n.kind_ = Kind::Map;
  n.loc_ = std::move(loc);
  return n;
}

ConfigNode ConfigNode::seq(SourceLoc loc) {
  ConfigNode n;
  n.kind_ = Kind::Seq;
  n.loc_ = std::move(loc);
  return n;
}

const ConfigNode* ConfigNode::find(std::string_view key) const {
  for (const auto& [k, v] : map_) {
    if (k == key) return &v;
  }
  return nullptr;
}

ConfigNode* ConfigNode::find(std::string_view key) {
  for (auto& [k, v] : map_) {
    if (k == key) return &v;
  }
  return nullptr;
}

ConfigNode& ConfigNode::set(std::string_view key, ConfigNode value) {
  if (kind_ != Kind::Map) {
    kind_ = Kind::Map;
    scalar_.clear();
    seq_.clear();
  }
  if (ConfigNode* existing = find(key)) {
    *existing = std::move(value);
    return *existing;
  }
  map_.emplace_back(std::string(key), std::move(value));
  return map_.back().second;
}

bool ConfigNode::erase(std::string_view key) {
  for (auto it = map_.begin(); it != map_.end(); ++it) {
    if (it->first == key) {
      map_.erase(it);
      return true;
    }
  }
  return false;
}

const ConfigNode* ConfigNode::at_path(std::string_view dotted) const {
  const ConfigNode* node = this;
  while (node && !dotted.empty()) {
    size_t dot = dotted.find('.');
    node = node->find(dotted.substr(0, dot));
    dotted = dot == std::string_view::npos ? std::string_view{} : dotted.substr(dot + 1);
  }
  return node;
}

namespace {

// True when both are mappings that name a component type and the types differ.
bool changes_type(const ConfigNode& base, const ConfigNode& overlay) {
  if (!base.is_map() || !overlay.is_map()) return false;
  const ConfigNode* from = base.find("type");
  const ConfigNode* to = overlay.find("type");
  return from && to && from->is_scalar() && to->is_scalar() && from->as_string() != to->as_string();
}

}  // namespace

void ConfigNode::mark_inherited() {
  inherited_ = true;
  for (auto& [k, v] : map_)
    v.mark_inherited();
  for (auto& item : seq_)
    item.mark_inherited();
}

void ConfigNode::set_paths_from(const std::string& dir) {
  paths_from_ = dir;
  for (auto& [k, v] : map_)
    v.set_paths_from(dir);
  for (auto& item : seq_)
    item.set_paths_from(dir);
}

void ConfigNode::merge_from(const ConfigNode& overlay) {
  merge(overlay, false);
}

void ConfigNode::merge_layer(const ConfigNode& overlay) {
  merge(overlay, true);
}

void ConfigNode::merge(const ConfigNode& overlay, bool layer) {
  if (overlay.is_map() && is_map()) {
    if (layer && changes_type(*this, overlay)) {
      for (auto& [k, v] : map_)
        v.mark_inherited();
    }
    for (const auto& [k, v] : overlay.map_) {
      if (ConfigNode* mine = find(k)) {
        mine->merge(v, layer);
      } else {
        map_.emplace_back(k, v);
      }
    }
    loc_ = overlay.loc_;
    // A mapping both layers wrote is the later one's: its own key must exist for the new type.
    if (layer) inherited_ = inherited_ && overlay.inherited_;
    return;
  }
  *this = overlay;
}

namespace {

YAML::Node to_yaml_node(const ConfigNode& n) {
  switch (n.kind()) {
    case ConfigNode::Kind::Null:
      return YAML::Node(YAML::NodeType::Null);
    case ConfigNode::Kind::Scalar:
      return YAML::Node(n.as_string());
    case ConfigNode::Kind::Seq: {
      YAML::Node out(YAML::NodeType::Sequence);
      for (const auto& item : n.items())
        out.push_back(to_yaml_node(item));
      return out;
    }
    case ConfigNode::Kind::Map: {
      YAML::Node out(YAML::NodeType::Map);
      for (const auto& [k, v] : n.entries())
        out[k] = to_yaml_node(v);
      return out;
    }
  }
  return {};
}

// Values one YAML document may expand to. Aliases share their anchor's nodes in yaml-cpp but
// are copied here, so nested anchors ("billion laughs") would grow exponentially; a scenario
// holds a few hundred values, a sweep a few thousand; 200,000 take about 50 MB.
constexpr size_t kMaxYamlValues = 200'000;
// Nesting one document may reach, aliases followed (the parser's own limit does not see an
// alias's depth, and an alias inside its own anchor never ends); configs nest a few levels.
constexpr size_t kMaxYamlDepth = 64;

// A control character in a value or key (YAML's escapes can write any, "a\x00b") is refused:
// a NUL cut every message that echoed the value short (messages travel as C strings), and the
// others garble the one-line messages and the reports that print values. Tab is text, and so is
// newline in a value (a block scalar's lines).
void check_control_characters(const std::string& text, const SourceLoc& loc,
                              const std::string& path, std::string_view what) {
  for (const char ch : text) {
    const auto u = static_cast<unsigned char>(ch);
    if ((u < 0x20 && ch != '\t' && (ch != '\n' || what != "value")) || u == 0x7f) {
      throw_config_error(loc, path,
                         fmt::format("control character U+{:04X} in a {} (config text holds no "
                                     "control characters but tab, and newline in values)",
                                     static_cast<unsigned>(u), what));
    }
  }
}

ConfigNode from_yaml(const YAML::Node& y, const std::string& file, const std::string& path,
                     size_t& values_left, size_t depth = 0) {
  SourceLoc loc{file, y.Mark().is_null() ? 0 : y.Mark().line + 1};
  if (depth > kMaxYamlDepth) {
    throw_config_error(loc, path.size() > 40 ? path.substr(0, 40) + "..." : path,
                       fmt::format("the YAML nests deeper than {} levels (an alias inside its "
                                   "own anchor?)",
                                   kMaxYamlDepth));
  }
  if (values_left == 0) {
    throw_config_error(loc, path,
                       fmt::format("the YAML expands to more than {} values (aliases of anchors "
                                   "that hold aliases?)",
                                   kMaxYamlValues));
  }
  --values_left;
  switch (y.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null: {
      ConfigNode null_node;
      null_node.set_loc(loc);
      return null_node;
    }
    case YAML::NodeType::Scalar:
      check_control_characters(y.Scalar(), loc, path, "value");
      return ConfigNode::scalar(y.Scalar(), loc);
    case YAML::NodeType::Sequence: {
      ConfigNode out = ConfigNode::seq(loc);
      size_t i = 0;
      for (const auto& item : y) {
        out.push_back(
            from_yaml(item, file, fmt::format("{}[{}]", path, i++), values_left, depth + 1));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      ConfigNode out = ConfigNode::map(loc);
      for (const auto& kv : y) {
        SourceLoc kloc{file, kv.first.Mark().line + 1};
        if (!kv.first.IsScalar())
          throw_config_error(kloc, path, "mapping keys must be plain names");
        std::string key = kv.first.Scalar();
        check_control_characters(key, kloc, path, "key");
        // yaml-cpp keeps YAML 1.1's merge key as a plain key named "<<"; read as such it would
        // surface later as an unknown key, or as a required key (`type`) gone missing.
        if (key == "<<") {
          throw_config_error(kloc, path,
                             "'<<' merge keys are not supported (write the keys out, or share "
                             "them through include:)");
        }
        std::string child_path = path.empty() ? key : path + "." + key;
        if (out.find(key)) throw_config_error(kloc, child_path, "duplicate key");
        ConfigNode child = from_yaml(kv.second, file, child_path, values_left, depth + 1);
        // A key with no value: its (null) node is placed at the next token, not on the key's line.
        if (child.loc().line == 0 || child.is_null()) child.set_loc(kloc);
        out.set(key, std::move(child));
      }
      return out;
    }
  }
  return {};
}

// The line where a second YAML document starts, or 0 when there is none. The parser is asked
// for two documents at most (YAML::LoadAll never returned on some malformed input).
int second_document_line(const std::string& text) {
  struct Starts : YAML::EventHandler {
    int line = 0;
    void OnDocumentStart(const YAML::Mark& m) override { line = m.line + 1; }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
  } starts;
  std::istringstream in(text);
  YAML::Parser parser(in);
  if (!parser.HandleNextDocument(starts)) return 0;
  return parser.HandleNextDocument(starts) ? std::max(starts.line, 1) : 0;
}

ConfigNode parse_yaml_text(std::string_view text, const std::string& name) {
  try {
    const std::string owned(text);
    YAML::Node y = YAML::Load(owned);
    if (const int line = second_document_line(owned); line > 0) {
      throw ConfigError(fmt::format(
          "{}:{}: a second YAML document (after ---): a config file holds one", name, line));
    }
    size_t values_left = kMaxYamlValues;
    return from_yaml(y, name, "", values_left);
  } catch (const YAML::DeepRecursion& e) {  // yaml-cpp says only "bad file"
    throw ConfigError(
        fmt::format("{}:{}: invalid YAML: nesting too deep (the parser stops at {} "
                    "levels)",
                    name, e.mark.line + 1, e.depth()));
  } catch (const YAML::Exception& e) {
    throw ConfigError(fmt::format("{}:{}: invalid YAML: {}", name, e.mark.line + 1, e.msg));
  }
}

struct IncludeResolver {
  std::vector<std::filesystem::path> stack;

  ConfigNode load_file(const std::filesystem::path& path, const SourceLoc& from) {
    std::error_code ec;
    auto canonical = std::filesystem::weakly_canonical(path, ec);
    if (ec) canonical = path;
    for (const auto& p : stack) {
      if (p == canonical) {
        throw_config_error(from, "include",
                           fmt::format("include cycle through '{}'", path.string()));
      }
    }
    // Checked before opening: opening a named pipe blocks until something writes to it.
    if (const std::string why = non_regular_file_problem(path);
        !why.empty() && !std::filesystem::is_directory(path)) {
      if (from.file.empty()) throw ConfigError(fmt::format("{}: {}", path.string(), why));
      throw_config_error(from, "include", fmt::format("'{}' {}", path.string(), why));
    }
    std::ifstream in(path);
    if (!in || std::filesystem::is_directory(path)) {
      if (from.file.empty()) throw ConfigError(fmt::format("{}: cannot open file", path.string()));
      throw_config_error(from, "include", fmt::format("cannot open file '{}'", path.string()));
    }
    std::stringstream buf;
    buf << in.rdbuf();
    stack.push_back(canonical);
    ConfigNode root = parse_yaml_text(buf.str(), path.string());
    resolve(root, path.parent_path(), "");
    stack.pop_back();
    return root;
  }

  void resolve(ConfigNode& node, const std::filesystem::path& base_dir, const std::string& path) {
    if (node.is_seq()) {
      for (auto& item : node.items())
        resolve(item, base_dir, path);
      return;
    }
    if (!node.is_map()) return;
    if (const ConfigNode* inc = node.find("include")) {
      std::vector<const ConfigNode*> files;
      if (inc->is_scalar()) {
        files.push_back(inc);
      } else if (inc->is_seq()) {
        for (const auto& item : inc->items()) {
          if (!item.is_scalar())
            throw_config_error(item.loc(), path, "include entries must be paths");
          files.push_back(&item);
        }
      } else {
        throw_config_error(inc->loc(), path.empty() ? "include" : path + ".include",
                           "include must be a path or a list of paths");
      }
      ConfigNode merged = ConfigNode::map(node.loc());
      for (const ConfigNode* f : files) {
        std::filesystem::path p(f->as_string());
        if (p.is_relative()) p = base_dir / p;
        ConfigNode included = load_file(p, f->loc());
        if (!included.is_map()) {
          throw_config_error(f->loc(), path, fmt::format("'{}' must hold a mapping", p.string()));
        }
        merged.merge_layer(included);
      }
      ConfigNode own = node;
      own.erase("include");
      for (auto& [k, v] : own.entries()) {
        resolve(v, base_dir, path.empty() ? k : path + "." + k);
      }
      merged.merge_layer(own);
      merged.set_loc(node.loc());
      node = std::move(merged);
      return;
    }
    for (auto& [k, v] : node.entries()) {
      resolve(v, base_dir, path.empty() ? k : path + "." + k);
    }
  }
};

}  // namespace

std::string ConfigNode::to_yaml() const {
  YAML::Emitter out;
  out << to_yaml_node(*this);
  return std::string(out.c_str()) + "\n";
}

std::string ConfigNode::to_flow() const {
  YAML::Emitter out;
  out << YAML::Flow << to_yaml_node(*this);
  return out.c_str();
}

ConfigNode load_config_file(const std::filesystem::path& path) {
  IncludeResolver r;
  return r.load_file(path, SourceLoc{});
}

ConfigNode load_config_string(std::string_view text, std::string_view name,
                              const std::filesystem::path& base_dir) {
  IncludeResolver r;
  ConfigNode root = parse_yaml_text(text, std::string(name));
  r.resolve(root, base_dir, "");
  return root;
}

namespace {

// A value of YAML null written out (`~`, `null`): the assignment removes its key, so that the
// key takes its default. (An empty value is not one: it reads as a key given no value.)
bool is_unset(std::string_view assignment) {
  const size_t eq = assignment.find('=');
  if (eq == std::string_view::npos) return false;
  std::string_view v = assignment.substr(eq + 1);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
    v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
    v.remove_suffix(1);
  return v == "~" || v == "null" || v == "Null" || v == "NULL";
}

// `--set` names keys of mappings: a list's element (`a.b[0]`, or `a.b.0` where a.b is a list)
// is not addressable, and saying so beats "not set" or "expected a list, got a mapping".
[[noreturn]] void throw_list_element(std::string_view assignment, std::string_view list) {
  throw ConfigError(
      fmt::format("--set '{}': {} is a list; --set gives a whole list ({}=[...]), not one element",
                  assignment, list, list));
}

// The part of `key` up to the end of `part` (a view into it).
std::string_view key_upto(std::string_view key, std::string_view part) {
  return key.substr(0, static_cast<size_t>(part.data() + part.size() - key.data()));
}

// Removes the key at the dotted path of an unset assignment (`key` its path). When the key is
// not there, `must_exist` makes that an error (a misspelt key would otherwise unset nothing).
void unset_path(ConfigNode& root, std::string_view assignment, std::string_view key,
                bool must_exist) {
  ConfigNode* node = &root;
  std::string_view rest = key;
  while (true) {
    const size_t dot = rest.find('.');
    const std::string_view part = rest.substr(0, dot);
    if (part.empty()) throw ConfigError(fmt::format("--set '{}': empty key in path", assignment));
    if (const size_t b = part.find('['); b != std::string_view::npos) {
      throw_list_element(assignment, key_upto(key, part.substr(0, b)));
    }
    if (dot == std::string_view::npos) {
      if (node->is_map() && node->erase(part)) return;
      break;
    }
    node = node->is_map() ? node->find(part) : nullptr;
    if (node == nullptr) break;
    if (node->is_seq()) throw_list_element(assignment, key_upto(key, part));
    rest = rest.substr(dot + 1);
  }
  if (must_exist) {
    throw ConfigError(fmt::format(
        "--set '{}': {} is not set, so there is nothing to unset (a value of ~ removes a key "
        "the config gives, leaving its default)",
        assignment, key));
  }
}

// Sets the value at the dotted path, creating mappings on the way; a mapping value merges into
// a mapping already there. A null value (`~`) removes the key instead (see unset_path).
void assign_path(ConfigNode& root, std::string_view assignment,
                 const std::filesystem::path& paths_from, bool unset_must_exist) {
  SourceLoc loc{fmt::format("--set {}", assignment), 0};
  size_t eq = assignment.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    throw ConfigError(fmt::format("--set '{}': expected KEY.PATH=VALUE", assignment));
  }
  std::string_view key = assignment.substr(0, eq);
  std::string_view value = assignment.substr(eq + 1);
  // No config nests deeper than YAML values may (kMaxYamlDepth): a longer path is a slip, and
  // walking one of tens of thousands of parts took minutes.
  if (const auto parts = static_cast<size_t>(std::count(key.begin(), key.end(), '.')) + 1;
      parts > kMaxYamlDepth) {
    throw ConfigError(fmt::format("--set '{}...': a key path of {} parts; at most {}",
                                  key.substr(0, 40), parts, kMaxYamlDepth));
  }
  if (is_unset(assignment)) {
    if (key.front() == '.' || key.back() == '.' || key.find("..") != std::string_view::npos) {
      throw ConfigError(fmt::format("--set '{}': empty key in path", assignment));
    }
    unset_path(root, assignment, key, unset_must_exist);
    return;
  }
  ConfigNode parsed;
  try {
    size_t values_left = kMaxYamlValues;
    parsed = from_yaml(YAML::Load(std::string(value)), loc.file, std::string(key), values_left);
  } catch (const YAML::DeepRecursion& e) {
    throw ConfigError(
        fmt::format("--set '{}=...': invalid value: nesting too deep (the parser "
                    "stops at {} levels)",
                    key, e.depth()));
  } catch (const YAML::Exception& e) {
    throw ConfigError(fmt::format("--set '{}': invalid value: {}", assignment, e.msg));
  }
  parsed.set_loc(loc);
  if (!paths_from.empty()) parsed.set_paths_from(paths_from.string());
  ConfigNode* node = &root;
  if (!node->is_map()) *node = ConfigNode::map(loc);
  std::string_view rest = key;
  while (true) {
    size_t dot = rest.find('.');
    std::string_view part = rest.substr(0, dot);
    if (part.empty()) throw ConfigError(fmt::format("--set '{}': empty key in path", assignment));
    if (const size_t b = part.find('['); b != std::string_view::npos) {
      throw_list_element(assignment, key_upto(key, part.substr(0, b)));
    }
    if (dot == std::string_view::npos) {
      ConfigNode* existing = node->find(part);
      if (existing && existing->is_map() && parsed.is_map()) {
        existing->merge_from(parsed);
      } else {
        node->set(part, parsed);
      }
      return;
    }
    ConfigNode* next = node->find(part);
    if (next && next->is_seq()) throw_list_element(assignment, key_upto(key, part));
    if (!next || !next->is_map()) next = &node->set(part, ConfigNode::map(loc));
    node = next;
    rest = rest.substr(dot + 1);
  }
}

// Where the assignments left a mapping (`node`) with a `type:` other than the one it had
// (`before`), it is rebuilt as the assignments' layer (`layer`, what they alone built there)
// merged over the old mapping, so that the old keys are marked inherited. Elsewhere the walk
// descends only where the assignments reached.
void retype_layer(ConfigNode& node, const ConfigNode& before, const ConfigNode& layer) {
  if (!node.is_map() || !before.is_map() || !layer.is_map()) return;
  if (changes_type(before, node)) {
    ConfigNode rebuilt = before;
    rebuilt.merge_layer(layer);
    node = std::move(rebuilt);
    return;
  }
  for (auto& [k, v] : node.entries()) {
    const ConfigNode* old = before.find(k);
    const ConfigNode* set = layer.find(k);
    if (old && set) retype_layer(v, *old, *set);
  }
}

}  // namespace

void apply_overrides(ConfigNode& root, const std::vector<std::string>& assignments,
                     const std::filesystem::path& paths_from) {
  if (assignments.empty()) return;
  // The earlier layers, less what this one unsets: what a component retyped here inherits
  // from (an unset key must not come back with the rest).
  ConfigNode before = root;
  ConfigNode layer = ConfigNode::map();
  for (const std::string& a : assignments) {
    assign_path(root, a, paths_from, true);
    assign_path(layer, a, paths_from, false);
    if (is_unset(a)) assign_path(before, a, paths_from, false);
  }
  retype_layer(root, before, layer);
}

void apply_override(ConfigNode& root, std::string_view assignment) {
  apply_overrides(root, {std::string(assignment)});
}

}  // namespace mlasim
