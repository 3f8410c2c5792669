// The configuration tree: YAML files loaded with their source locations, merged through
// `include:` and overridden with `--set a.b.c=value`.
//
// Every node remembers the file and line it came from, so any later error (unknown key, wrong
// type, failed validation) can name "file:line: key.path: what is wrong". Maps keep their key
// order. Nothing here knows about components or SystemC.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/errors.h"

namespace YAML {
class Node;
}

namespace mlasim {

struct SourceLoc {
  std::string file;  // file path, "<embedded:NAME>" or "--set"
  int line = 0;      // 1-based; 0 when unknown
  std::string str() const;
};

class ConfigNode {
 public:
  enum class Kind { Null, Scalar, Map, Seq };

  ConfigNode() = default;
  static ConfigNode scalar(std::string value, SourceLoc loc = {});
  static ConfigNode map(SourceLoc loc = {});
  static ConfigNode seq(SourceLoc loc = {});

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::Null; }
  bool is_scalar() const { return kind_ == Kind::Scalar; }
  bool is_map() const { return kind_ == Kind::Map; }
  bool is_seq() const { return kind_ == Kind::Seq; }
  const SourceLoc& loc() const { return loc_; }
  void set_loc(SourceLoc loc) { loc_ = std::move(loc); }

  const std::string& as_string() const { return scalar_; }
  const std::vector<std::pair<std::string, ConfigNode>>& entries() const { return map_; }
  std::vector<std::pair<std::string, ConfigNode>>& entries() { return map_; }
  const std::vector<ConfigNode>& items() const { return seq_; }
  std::vector<ConfigNode>& items() { return seq_; }

  // Map access. find() returns nullptr when absent (or when this is not a map).
  const ConfigNode* find(std::string_view key) const;
  ConfigNode* find(std::string_view key);
  ConfigNode& set(std::string_view key, ConfigNode value);  // adds or replaces
  bool erase(std::string_view key);
  void push_back(ConfigNode value) { seq_.push_back(std::move(value)); }

  // Follows a dotted path ("hardware.gpu.type"); nullptr when any part is missing.
  const ConfigNode* at_path(std::string_view dotted) const;

  // Deep merge: maps merge key by key, anything else in `overlay` replaces.
  void merge_from(const ConfigNode& overlay);

  // Merges one configuration layer (an included preset, a file's own keys over its includes, the
  // command line's overrides) over this tree. Same as merge_from, except where both sides are
  // mappings naming different `type:` values: everything this side held there is marked
  // inherited before the overlay's keys go in (see inherited()).
  void merge_layer(const ConfigNode& overlay);

  // True for a key that an earlier layer gave a component whose `type:` a later layer changed.
  // Where the new type has a param of that name it is read as before; where it has none, the
  // key is ignored instead of being an unknown-key error (it described the old type).
  bool inherited() const { return inherited_; }
  void mark_inherited();  // this node and everything under it

  // The folder a relative path in this value is taken from, for values given outside any file
  // (`--set` with `--set-dir`, a sweep's `set` and axis values: the sweep file's folder); empty
  // where the node's source decides (the folder of its file; the working folder for `--set`).
  const std::string& paths_from() const { return paths_from_; }
  void set_paths_from(const std::string& dir);  // this node and everything under it

  std::string to_yaml() const;
  // One-line flow-style rendering, for messages.
  std::string to_flow() const;

 private:
  Kind kind_ = Kind::Null;
  std::string scalar_;
  // merge_from (layer false) or merge_layer (true).
  void merge(const ConfigNode& overlay, bool layer);

  std::vector<std::pair<std::string, ConfigNode>> map_;
  std::vector<ConfigNode> seq_;
  SourceLoc loc_;
  bool inherited_ = false;
  std::string paths_from_;
};

// Raised for any config problem; the message already carries "file:line: key.path: ...".
class ConfigError : public InputError {
 public:
  using InputError::InputError;
};

// Formats "file:line: path: message" (parts omitted when unknown).
std::string config_message(const SourceLoc& loc, std::string_view path, std::string_view message);
[[noreturn]] void throw_config_error(const SourceLoc& loc, std::string_view path,
                                     std::string_view message);

// Loads a YAML file, resolving `include:` keys (a path or a list of paths, relative to the file
// that names them) at any mapping level: the included files are merged in order, then the
// including mapping's own keys override them, each as one layer (merge_layer: where a layer
// changes a component's `type:`, what the earlier ones gave that component is only inherited).
// Include cycles and missing files are errors.
ConfigNode load_config_file(const std::filesystem::path& path);

// Same, from text. `name` labels locations; relative includes resolve against `base_dir`.
ConfigNode load_config_string(std::string_view text, std::string_view name,
                              const std::filesystem::path& base_dir);

// Applies "a.b.c=value" assignments to the tree in order; each value is parsed as YAML ("[1, 2]"
// is a list). Together they form one layer over the tree: where they leave a mapping with a
// `type:` other than the one it had before, the keys the files gave that mapping become
// inherited (kept where the new type has them, ignored where not), while every key the
// assignments set, in whatever order, is the user's and is checked against the new type.
// Relative paths in the values are taken from `paths_from` (empty: the working folder).
void apply_overrides(ConfigNode& root, const std::vector<std::string>& assignments,
                     const std::filesystem::path& paths_from = {});

// One assignment as its own layer (apply_overrides with a single entry).
void apply_override(ConfigNode& root, std::string_view assignment);

}  // namespace mlasim
