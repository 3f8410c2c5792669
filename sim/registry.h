// The component registry: components are created from the YAML `type:` of their config
// section, never from an if/else ladder. One ComponentTable per kind of component (gpu, memory,
// nic, switch, cluster, workload...), each typed by the interface it produces and the arguments
// its constructors take after the params struct.
//
// Adding a component = its header/source pair plus one `table.add<Impl, Params>(...)` line in
// sim/builtin_components.cpp.
#pragma once

#include <fmt/format.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sim/config.h"
#include "sim/params.h"

namespace mlasim {

struct ComponentInfo {
  std::string kind;
  std::string type;
  std::string description;
  std::vector<ParamInfo> params;
};

template <class Product, class... Args>
class ComponentTable {
 public:
  struct Made {
    std::unique_ptr<Product> product;
    ConfigNode resolved;  // `type` plus every param with defaults filled in
  };
  using Factory = std::function<Made(const ConfigNode* node, const std::string& path, Args...)>;
  using Resolver = std::function<ConfigNode(const ConfigNode* node, const std::string& path)>;

  explicit ComponentTable(std::string kind) : kind_(std::move(kind)) {}

  // Registers Impl, constructed as Impl(const Params&, Args...).
  template <class Impl, class Params>
  void add(const std::string& type, std::string description) {
    Entry e;
    e.info = ComponentInfo{kind_, type, std::move(description), describe_params<Params>()};
    e.factory = [type](const ConfigNode* node, const std::string& path, Args... args) {
      Params p = read_params<Params>(node, path, {"type"});
      ConfigNode resolved = ConfigNode::map();
      resolved.set("type", ConfigNode::scalar(type));
      resolved.merge_from(write_params(p));
      return Made{std::make_unique<Impl>(p, std::forward<Args>(args)...), std::move(resolved)};
    };
    e.resolver = [type](const ConfigNode* node, const std::string& path) {
      ConfigNode resolved = ConfigNode::map();
      resolved.set("type", ConfigNode::scalar(type));
      resolved.merge_from(write_params(read_params<Params>(node, path, {"type"})));
      return resolved;
    };
    entries_[type] = std::move(e);
  }

  // Creates the component described by `section` (a mapping with a `type:` key).
  Made create(const ConfigNode* section, const std::string& path, Args... args) const {
    return entry(section, path).factory(section, path, std::forward<Args>(args)...);
  }

  // Reads and validates the section's params without constructing anything; returns the
  // resolved section (type plus every param).
  ConfigNode resolve(const ConfigNode* section, const std::string& path) const {
    return entry(section, path).resolver(section, path);
  }

  bool contains(const std::string& type) const { return entries_.count(type) > 0; }
  const std::string& kind() const { return kind_; }

  std::vector<ComponentInfo> infos() const {
    std::vector<ComponentInfo> out;
    for (const auto& [type, e] : entries_)
      out.push_back(e.info);
    return out;
  }

 private:
  struct Entry {
    ComponentInfo info;
    Factory factory;
    Resolver resolver;
  };

  const Entry& entry(const ConfigNode* section, const std::string& path) const {
    if (!section || !section->is_map()) {
      throw_config_error(section ? section->loc() : SourceLoc{}, path,
                         section && !section->is_null()
                             ? fmt::format("the {} section must be a mapping with 'type:' "
                                           "(one of: {})",
                                           kind_, type_list())
                             : fmt::format("missing {} section (a mapping with 'type:', one "
                                           "of: {})",
                                           kind_, type_list()));
    }
    const ConfigNode* type = section->find("type");
    if (!type || !type->is_scalar()) {
      throw_config_error(
          type ? type->loc() : section->loc(), join_path(path, "type"),
          fmt::format("{} (one of: {})",
                      !type             ? "required key is missing"
                      : type->is_null() ? "expected a type name, got null"
                                        : "expected a type name, not a list or mapping",
                      type_list()));
    }
    auto it = entries_.find(type->as_string());
    if (it == entries_.end()) {
      throw_config_error(
          type->loc(), join_path(path, "type"),
          fmt::format("unknown {} type '{}' (one of: {})", kind_, type->as_string(), type_list()));
    }
    return it->second;
  }

  std::string type_list() const {
    std::string out;
    for (const auto& [type, e] : entries_)
      out += (out.empty() ? "" : ", ") + type;
    return out;
  }

  std::string kind_;
  std::map<std::string, Entry> entries_;
};

}  // namespace mlasim
