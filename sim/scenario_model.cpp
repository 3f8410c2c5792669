// Reading a scenario into its typed model (see scenario_model.h).
#include "sim/scenario_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include <boost/range/iterator_range.hpp>

#include "models/hbm/hbm_calibration.h"
#include "models/hbm/hbm_params.h"
#include "sim/errors.h"
#include "sim/params.h"

namespace mlasim {

namespace {

bool graph_has(const ClusterGraph& c, bool (*pred)(VertexKind)) {
  for (auto v : boost::make_iterator_range(boost::vertices(c.g))) {
    if (pred(c.g[v].kind)) return true;
  }
  return false;
}

// Errors raised while generating the workload (a model config.json, a trace file, a shape that
// does not fit the cluster) get the scenario file:line of the key they concern: the key the
// message names ("workload.attention_tp: ..."), or the key whose value opens it (the trace or
// model file), or else the section's `type`.
std::string locate_workload_error(const ConfigNode* section, const std::string& message) {
  if (!section || !section->is_map()) return message;
  if (message.rfind("workload.", 0) == 0) {
    const size_t colon = message.find(':');
    const std::string key = message.substr(9, colon == std::string::npos ? 0 : colon - 9);
    if (const ConfigNode* n = section->at_path(key)) return config_message(n->loc(), "", message);
  }
  for (const auto& [key, value] : section->entries()) {
    if (value.is_scalar() && !value.as_string().empty() &&
        message.rfind(value.as_string() + ":", 0) == 0) {
      return config_message(value.loc(), "workload." + key, message);
    }
  }
  const ConfigNode* type = section->find("type");
  return config_message(type ? type->loc() : section->loc(), "workload", message);
}

}  // namespace

FaultSpec fault_spec(const FaultEventParams& e) {
  FaultSpec f;
  if (e.plane >= 0) f.planes.push_back(e.plane);
  if (!e.switch_name.empty()) f.switches.push_back(e.switch_name);
  if (!e.nic.empty()) f.nics.push_back(e.nic);
  if (!e.link.empty()) f.links.push_back(e.link);
  return f;
}

namespace {

// The top-level params (unknown top-level keys are errors), once the required sections are
// known to be there.
ScenarioParams read_top_level(const ConfigNode& root) {
  if (!root.is_map()) throw_config_error(root.loc(), "", "a scenario must be a mapping");
  ScenarioParams params = read_params<ScenarioParams>(&root, "", scenario_sections());
  // A missing section has no line of its own: the error names the file (often a cluster or
  // hardware preset given where a scenario belongs).
  for (const char* key : {"cluster", "hardware", "workload"}) {
    if (root.find(key) == nullptr) {
      throw_config_error(SourceLoc{root.loc().file, 0}, key,
                         "required section is missing (a scenario has cluster, hardware and "
                         "workload sections: is this a scenario file?)");
    }
  }
  return params;
}

// Checks that `hw` (at `path`) is a mapping of known hardware sections only.
void check_hardware_mapping(const ConfigNode* hw, const std::string& path) {
  if (hw && !hw->is_map()) throw_config_error(hw->loc(), path, "expected a mapping");
  // Unknown hardware sections are errors, like unknown keys anywhere else.
  ParamReader check(hw, path, hardware_sections());
  check.finish();
}

// The hardware mapping, whose sections must all be known ones.
const ConfigNode* hardware_section(const ConfigNode& root) {
  const ConfigNode* hw = root.find("hardware");
  check_hardware_mapping(hw, "hardware");
  return hw;
}

// See ScenarioModel::defaults.
ConfigNode plain_defaults(const ConfigNode& resolved, const Components& comps) {
  auto type_only = [](const ConfigNode* section) {
    ConfigNode node = ConfigNode::map();
    if (const ConfigNode* type = section ? section->find("type") : nullptr) node.set("type", *type);
    return node;
  };
  ConfigNode out = ConfigNode::map();
  out.set("network", write_params(NetworkParams{}));
  out.set("routing", write_params(RoutingParams{}));
  try {
    const ConfigNode cluster = type_only(resolved.find("cluster"));
    out.set("cluster", comps.cluster.create(&cluster, "cluster").resolved);
  } catch (const InputError&) {
  }
  ConfigNode hw = ConfigNode::map();
  auto add = [&](const char* key, auto& table) {
    const ConfigNode* section = resolved.at_path(std::string("hardware.") + key);
    if (section == nullptr) return;
    try {
      const ConfigNode plain = type_only(section);
      hw.set(key, table.resolve(&plain, std::string("hardware.") + key));
    } catch (const InputError&) {
    }
  };
  add("gpu", comps.gpu);
  add("memory", comps.memory);
  add("nic", comps.nic);
  add("switch", comps.network_switch);
  add("nvswitch", comps.nvswitch);
  out.set("hardware", std::move(hw));
  return out;
}

}  // namespace

void derive_retyped_memory(ConfigNode& root) {
  ConfigNode* hw = root.find("hardware");
  ConfigNode* mem = hw ? hw->find("memory") : nullptr;
  if (!mem || !mem->is_map()) return;
  const ConfigNode* type = mem->find("type");
  const ConfigNode* org = mem->find("org");
  if (!type || !type->is_scalar() || type->as_string() != "hbm_bandwidth" || !org ||
      !org->inherited()) {
    return;
  }
  const char* keys[] = {"peak", "efficiency", "latency"};
  if (std::all_of(std::begin(keys), std::end(keys), [&](const char* k) { return mem->find(k); }))
    return;
  // The HBM the earlier layers described (its own keys only; the bandwidth fidelity's are not
  // its).
  ConfigNode hbm = *mem;
  for (const char* k : {"type", "peak", "efficiency", "latency"})
    hbm.erase(k);
  HbmBandwidthFigures f;
  try {
    f = bandwidth_fidelity_of(read_params<HbmParams>(&hbm, "hardware.memory"));
  } catch (const InputError& e) {
    throw InputError(fmt::format(
        "{} (hardware.memory: type hbm_bandwidth takes its peak, efficiency and latency from the "
        "hbm section it replaces; set those three to use it without one)",
        e.what()));
  }
  const SourceLoc at = type->loc();  // (setting keys may move the mapping's entries)
  for (const auto& [key, value] : f.config_values()) {
    if (!mem->find(key)) mem->set(key, ConfigNode::scalar(value, at));
  }
}

ScenarioModel read_scenario(const ConfigNode& root, const Components& comps) {
  ScenarioModel m;
  m.params = read_top_level(root);
  m.resolved = write_params(m.params);

  const ConfigNode* cluster_node = root.find("cluster");
  auto builder = comps.cluster.create(cluster_node, "cluster");
  try {
    m.cluster = builder.product->build();
  } catch (const ConfigError&) {
    throw;
  } catch (const InputError& e) {  // a count and cost model (slim_fly, dragonfly): no graph
    const ConfigNode* type = root.at_path("cluster.type");
    throw ConfigError(
        config_message(type ? type->loc() : SourceLoc{root.loc().file, 0}, "cluster.type",
                       fmt::format("{} to run on (mlasim topology measures it)", e.what())));
  }
  m.network_cost = price_fabric(count_graph(m.cluster).fabric, builder.product->prices());
  m.resolved.set("cluster", builder.resolved);
  // Network: fidelity, buffers, faults applied to the graph before routes are built.
  m.network = read_params<NetworkParams>(root.find("network"), "network");
  m.resolved.set("network", write_params(m.network));
  // The cluster before its faults: for finding the entry at fault, and the links they removed.
  const ClusterGraph healthy =
      m.network.faults.empty() && m.network.faults.events.empty() ? ClusterGraph{} : m.cluster;
  if (!m.network.faults.empty()) {
    const auto& nf = m.network.faults;
    try {
      apply_faults(m.cluster, FaultSpec{nf.planes, nf.switches, nf.nics, nf.links});
    } catch (const InputError& e) {
      // The entry at fault: the first that fails as the entries are applied one at a time, in
      // apply_faults' order (its line, its index).
      std::string key = "network.faults";
      const ConfigNode* at = root.at_path(key);
      ClusterGraph partial = healthy;
      auto locate = [&](const char* list, size_t j, const FaultSpec& one) {
        if (key != "network.faults") return;
        try {
          apply_faults(partial, one);
        } catch (const InputError&) {
          key = fmt::format("network.faults.{}[{}]", list, j);
          const ConfigNode* seq = root.at_path(std::string("network.faults.") + list);
          if (seq && seq->is_seq() && j < seq->items().size()) at = &seq->items()[j];
        }
      };
      for (size_t j = 0; j < nf.planes.size(); ++j)
        locate("planes", j, FaultSpec{{nf.planes[j]}, {}, {}, {}});
      for (size_t j = 0; j < nf.switches.size(); ++j)
        locate("switches", j, FaultSpec{{}, {nf.switches[j]}, {}, {}});
      for (size_t j = 0; j < nf.nics.size(); ++j)
        locate("nics", j, FaultSpec{{}, {}, {nf.nics[j]}, {}});
      for (size_t j = 0; j < nf.links.size(); ++j)
        locate("links", j, FaultSpec{{}, {}, {}, {nf.links[j]}});
      throw ConfigError(config_message(at ? at->loc() : root.loc(), key, e.what()));
    }
  }
  // Faults at a simulated time must name parts of the (statically faulted) cluster.
  const ConfigNode* events = root.at_path("network.faults.events");
  for (size_t i = 0; i < m.network.faults.events.size(); ++i) {
    ClusterGraph copy = m.cluster;
    try {
      const FaultSpec spec = fault_spec(m.network.faults.events[i]);
      if (const std::string gone = already_failed(healthy, m.cluster, spec); !gone.empty()) {
        throw InputError(fmt::format(
            "{} has failed before the run (network.faults): the fault would change nothing", gone));
      }
      apply_faults(copy, spec);
    } catch (const InputError& e) {
      const ConfigNode* event =
          events && events->is_seq() && i < events->items().size() ? &events->items()[i] : events;
      throw ConfigError(config_message(event ? event->loc() : SourceLoc{root.loc().file, 0},
                                       fmt::format("network.faults.events[{}]", i), e.what()));
    }
  }
  m.routing = read_params<RoutingParams>(root.find("routing"), "routing");
  m.resolved.set("routing", write_params(m.routing));

  m.resolved.set("hardware", resolve_hardware(root, m.cluster, comps));
  m.defaults = plain_defaults(m.resolved, comps);

  const ConfigNode* workload_node = root.find("workload");
  auto gen = comps.workload.create(workload_node, "workload");
  m.resolved.set("workload", gen.resolved);
  m.generator = std::move(gen.product);
  try {
    m.workload = m.generator->generate(ClusterShape{m.cluster.nodes, m.cluster.gpus_per_node});
    if (m.workload.ranks.size() != m.cluster.num_gpus()) {
      throw InputError(fmt::format("workload has {} ranks but the cluster has {} GPUs",
                                   m.workload.ranks.size(), m.cluster.num_gpus()));
    }
    validate_workload(m.workload);
  } catch (const InputError& e) {
    throw ConfigError(locate_workload_error(workload_node, e.what()));
  }
  return m;
}

std::string locate_key_message(const ConfigNode& root, std::string_view message) {
  const size_t colon = message.find(": ");
  std::string key(message.substr(0, colon == std::string_view::npos ? 0 : colon));
  if (const size_t bracket = key.find('['); bracket != std::string::npos) key.resize(bracket);
  if (key.find(' ') != std::string::npos) key.clear();  // words, not a key path
  // The key where the config gives it, else the nearest mapping above it that it gives.
  while (!key.empty()) {
    const ConfigNode* node = root.at_path(key);
    if (node && !node->loc().file.empty()) return config_message(node->loc(), "", message);
    const size_t dot = key.rfind('.');
    key.resize(dot == std::string::npos ? 0 : dot);
  }
  return config_message(SourceLoc{root.loc().file, 0}, "", message);
}

ConfigNode resolve_hardware(const ConfigNode& root, const ClusterGraph& cluster,
                            const Components& comps) {
  const ConfigNode* hw = hardware_section(root);
  ConfigNode resolved = ConfigNode::map();
  // A missing section has no line of its own: the error names the file of the hardware mapping
  // (or of the scenario), where it belongs.
  ConfigNode missing;
  missing.set_loc(SourceLoc{(hw ? hw->loc() : root.loc()).file, 0});
  auto need = [&](const std::string& key, bool needed, auto& table) {
    const ConfigNode* section = hw ? hw->find(key) : nullptr;
    if (!needed && !section) return;
    resolved.set(key, table.resolve(section ? section : &missing, "hardware." + key));
  };
  need("gpu", true, comps.gpu);
  need("memory", true, comps.memory);
  need("nic", graph_has(cluster, [](VertexKind k) { return k == VertexKind::Nic; }), comps.nic);
  need("switch", graph_has(cluster, is_network_switch), comps.network_switch);
  need("nvswitch", graph_has(cluster, [](VertexKind k) { return k == VertexKind::NvSwitch; }),
       comps.nvswitch);
  return resolved;
}

NetworkParams check_scenario_keys(const ConfigNode& root, const Components& comps) {
  read_top_level(root);
  comps.cluster.resolve(root.find("cluster"), "cluster");
  NetworkParams network = read_params<NetworkParams>(root.find("network"), "network");
  read_params<RoutingParams>(root.find("routing"), "routing");
  // gpu and memory are required; the others are read when given (whether the cluster needs
  // them is known only once it is built).
  check_hardware_keys(root.find("hardware"), "hardware", comps, true);
  comps.workload.resolve(root.find("workload"), "workload");
  return network;
}

void check_hardware_keys(const ConfigNode* hw, const std::string& path, const Components& comps,
                         bool require_gpu_and_memory) {
  check_hardware_mapping(hw, path);
  for (const std::string& key : hardware_sections()) {
    const ConfigNode* section = hw ? hw->find(key) : nullptr;
    const bool required = require_gpu_and_memory && (key == "gpu" || key == "memory");
    if (!section && !required) continue;
    const std::string at = join_path(path, key);
    if (key == "gpu") comps.gpu.resolve(section, at);
    if (key == "memory") comps.memory.resolve(section, at);
    if (key == "nic") comps.nic.resolve(section, at);
    if (key == "switch") comps.network_switch.resolve(section, at);
    if (key == "nvswitch") comps.nvswitch.resolve(section, at);
  }
}

ConfigNode validate_scenario(const ConfigNode& root, const Components& components) {
  return read_scenario(root, components).resolved;
}

Workload scenario_workload(const ConfigNode& root, const Components& components) {
  return read_scenario(root, components).workload;
}

bool set_off_default(const ScenarioModel& m, std::string_view key) {
  const ConfigNode* value = m.resolved.at_path(key);
  const ConfigNode* plain = m.defaults.at_path(key);
  return value != nullptr && (plain == nullptr || value->to_flow() != plain->to_flow());
}

static std::optional<std::string> unused_transfer_unit(const ScenarioModel& m,
                                                       bool packets_from_nics, uint32_t nic_mtu) {
  if (!packets_from_nics || !set_off_default(m, "hardware.nvswitch.transfer_unit")) return {};
  return fmt::format(
      "hardware.nvswitch.transfer_unit is not used: with NICs, NVLink carries their {} B packets "
      "(hardware.nic.mtu)",
      nic_mtu);
}

static std::optional<std::string> forwarding_without_nvswitch(const ClusterGraph& cluster,
                                                              const Workload& workload) {
  // Forwarding inside a node is meant for NVLink; without an NVSwitch the relay hop still runs,
  // through the NICs and their switch (GPUs of a node reach each other only that way).
  if (cluster.nodes <= 1 ||
      graph_has(cluster, [](VertexKind k) { return k == VertexKind::NvSwitch; })) {
    return std::nullopt;
  }
  for (const RankProgram& rank : workload.ranks) {
    const auto it = std::find_if(rank.ops.begin(), rank.ops.end(), [](const Op& op) {
      const auto* a = std::get_if<AllToAllOp>(&op.payload);
      return a != nullptr && a->nvlink_forwarding;
    });
    if (it == rank.ops.end()) continue;
    return fmt::format(
        "all_to_all '{}' forwards over NVLink (nvlink_forwarding) but the cluster has no NVSwitch "
        "(cluster.nvswitch: false): its relay hop inside a node crosses the NICs and their switch "
        "instead",
        it->name);
  }
  return std::nullopt;
}

static std::vector<std::string> unread_settings(const ScenarioModel& m, const ClusterGraph& cluster,
                                                std::string_view fidelity) {
  const bool has_nvswitch =
      graph_has(cluster, [](VertexKind k) { return k == VertexKind::NvSwitch; });
  std::vector<std::string> out;
  auto set = [&m](std::string_view key) { return set_off_default(m, key); };
  auto unused = [&](std::string_view key, std::string_view why) {
    out.push_back(fmt::format("{} is not used at network.fidelity {}: {}", key, fidelity, why));
  };
  if (fidelity != "flow" && set("network.flow")) {
    unused("network.flow", "it sets the flow level's rate recomputation");
  }
  if (m.network.faults.events.empty()) {
    for (const char* key : {"network.retransmit", "network.faults.detection_delay"}) {
      if (set(key)) {
        out.push_back(fmt::format(
            "{} is not used: no fault happens at a simulated time (network.faults.events)", key));
      }
    }
  }
  if (!has_nvswitch && set("cluster.nvlink")) {
    out.push_back(
        "cluster.nvlink is not used: the cluster has no NVSwitch (cluster.nvswitch: false)");
  }
  if (cluster.planes <= 1 && m.network.faults.empty() && m.network.faults.events.empty() &&
      set("routing.cross_plane")) {
    // Only a GPU whose NIC cannot reach the destination's NIC crosses over NVLink: another
    // plane, or a failed part on its own.
    out.push_back(
        "routing.cross_plane is not used: the cluster has one network plane and no faults, so "
        "every NIC reaches every other");
  }
  if (fidelity == "packet") return out;
  if (fidelity == "message") {
    // Whole messages through the placeholder models, which take their own latencies; no
    // network report is written.
    for (const char* key : {"network.gpu_port.forward_latency", "network.gpu_port.issue_latency"})
      if (set(key)) unused(key, "the placeholder models take their own latencies");
    if (set("network.report")) unused("network.report", "no network report is written");
  }
  if (m.routing.mode == RoutingMode::Adaptive && fidelity != "flow") {
    unused("routing.mode: adaptive",
           "routes take the ECMP hash (adaptive routing decides per packet by queue length)");
  }
  if (m.network.spray) unused("network.spray", "each message follows one route");
  if (m.network.vls > 1) unused("network.vls", "there are no buffers or credits");
  for (const char* key : {"network.gpu_port.buffer", "hardware.nic.buffer",
                          "hardware.switch.buffer", "hardware.switch.shared_buffer_per_port",
                          "hardware.switch.shared_alpha", "hardware.switch.arbitration",
                          "hardware.nvswitch.buffer", "hardware.nvswitch.arbitration"}) {
    if (set(key)) unused(key, "there are no buffers or credits");
  }
  return out;
}

std::vector<std::string> scenario_warnings(const ScenarioModel& m, const ClusterGraph& cluster,
                                           const Workload& workload, std::string_view fidelity,
                                           std::optional<uint32_t> nic_packets_mtu) {
  std::vector<std::string> out = unread_settings(m, cluster, fidelity);
  if (auto w = forwarding_without_nvswitch(cluster, workload)) out.push_back(*w);
  if (auto w = unused_transfer_unit(m, nic_packets_mtu.has_value(), nic_packets_mtu.value_or(0)))
    out.push_back(*w);
  return out;
}

}  // namespace mlasim
