// A scenario as the config describes it, read and validated without creating any SystemC
// object: parameters, the cluster graph (with its static faults applied), routing and network
// parameters, the workload generator and its op graphs. Elaboration (simulation.cpp) builds the
// modules from it; `mlasim validate` and `mlasim trace` stop here.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "models/common/network_params.h"
#include "sim/builtin_components.h"
#include "sim/config.h"
#include "sim/scenario.h"
#include "topology/cluster_graph.h"
#include "topology/faults.h"
#include "topology/metrics.h"
#include "topology/routing.h"
#include "workloads/workload_generator.h"

namespace mlasim {

// What the config describes.
struct ScenarioModel {
  ScenarioParams params;
  ConfigNode resolved;
  // The cluster, network and hardware sections as they would resolve with nothing but each
  // component's type given, for telling settings from defaults (a section whose type has
  // required keys is left out: all of it counts as set).
  ConfigNode defaults;
  ClusterGraph cluster;
  RoutingParams routing;
  NetworkParams network;
  std::unique_ptr<WorkloadGenerator> generator;
  Workload workload;
  CostBreakdown network_cost;  // switches and cables at the builder's unit prices
};

// Reads, validates and resolves every section; throws ConfigError/InputError on bad input.
ScenarioModel read_scenario(const ConfigNode& root, const Components& comps);

// A `hardware.memory` retyped from `hbm` to `hbm_bandwidth` by a later layer (its `org` is
// inherited) becomes the bandwidth fidelity of that HBM rather than of the h800 defaults: the
// `peak`, `efficiency` and `latency` no layer set are its pin peak and the figures calibrated on
// it (bandwidth_fidelity_of, about 0.2 s), written into `root`. Anything else is left as it is.
// Called on a loaded scenario (its layers and --set values applied) before it is read.
void derive_retyped_memory(ConfigNode& root);

// What the scenario sets that its run will not read, or reads other than the user may expect,
// one line each, warned about rather than refused (a sweep may compare fidelities or clusters
// with them set):
//  * settings given other values than their defaults that the run will not read: what only the
//    packet fabric reads (routing, lanes, buffers and arbitration) in a scenario that runs at
//    another `fidelity` ("flow" or "message"); the flow level's settings at another fidelity;
//    retransmission and detection settings with no fault at a simulated time; NVLink settings
//    in a `cluster` without NVSwitches; hardware.nvswitch.transfer_unit where packets are the
//    NICs' (`nic_packets_mtu`, their MTU, given). Values equal to the defaults say nothing, so
//    a run of a resolved config (every key written out) warns no more than the original;
//  * a `workload` all_to_all that forwards over NVLink (DeepEP's relay) in a cluster of several
//    nodes without NVSwitches, where the relay hop crosses the NICs instead.
std::vector<std::string> scenario_warnings(const ScenarioModel& m, const ClusterGraph& cluster,
                                           const Workload& workload, std::string_view fidelity,
                                           std::optional<uint32_t> nic_packets_mtu);
// Whether the scenario resolves `key` (a dotted path) to another value than its default (see
// ScenarioModel::defaults).
bool set_off_default(const ScenarioModel& m, std::string_view key);

// Checks every section and key of a scenario as read_scenario does (unknown keys, types, values
// of each component's params) without building the cluster or generating the workload, for
// commands that use only some sections (`mlasim topology`); returns the network params.
NetworkParams check_scenario_keys(const ConfigNode& root, const Components& comps);

// Checks a hardware mapping as a scenario's `hardware:` is checked: only the known sections
// (gpu, memory, nic, switch, nvswitch), each one given read by its component type (unknown
// keys, wrong types and values are errors). `path` is where the mapping sits ("hardware" in a
// scenario; "" for a hardware preset file, whose sections are at its top level). With
// `require_gpu_and_memory`, a missing gpu or memory section is an error too.
void check_hardware_keys(const ConfigNode* hw, const std::string& path, const Components& comps,
                         bool require_gpu_and_memory);

// The scenario's hardware sections, resolved: gpu and memory always, nic, switch and nvswitch
// where the cluster has such vertices (a missing one is an error; one given that the cluster
// does not use is checked all the same). `mlasim topology` applies it to a scenario's cluster,
// so that it refuses what `run` refuses.
ConfigNode resolve_hardware(const ConfigNode& root, const ClusterGraph& cluster,
                            const Components& comps);

// The fault a timed fault event describes, as topology/faults applies it.
FaultSpec fault_spec(const FaultEventParams& e);

// `message`, raised by a model that names the key it concerns but not where it was written
// ("network.fidelity: ...", "hardware.switch.shared_buffer_per_port: ..."), prefixed with that
// key's file:line in `root`, or that of the nearest mapping above it the config gives, or else
// the scenario's file name.
std::string locate_key_message(const ConfigNode& root, std::string_view message);

// Runs `step` (a part of elaboration), turning its InputErrors into ConfigErrors located by
// locate_key_message; ConfigErrors, already located, pass as they are.
template <class F>
void with_key_locations(const ConfigNode& root, F&& step) {
  try {
    step();
  } catch (const ConfigError&) {
    throw;
  } catch (const InputError& e) {
    throw ConfigError(locate_key_message(root, e.what()));
  }
}

}  // namespace mlasim
