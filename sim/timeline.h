// timeline.json: the run as a Chrome trace (Perfetto, chrome://tracing). One process per GPU
// with four threads: compute (ops on the compute engine), communication (send/recv and
// collective ops, from ready to done), NIC (inter-node messages this GPU injected, from
// injection to delivery, overlapping ones merged into one slice) and NVLink (the same for
// messages to GPUs of its own node). The NIC and NVLink threads need a packet or flow fabric.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace mlasim {

class GpuBase;
class Fabric;

// Network threads show the fabric's busy slices, split by Fabric::set_gpus_per_node.
nlohmann::ordered_json chrome_timeline(const std::vector<GpuBase*>& gpus, const Fabric* fabric);
// The same document as JSON text, written without building the tree (what timeline.json is
// written from; chrome_timeline parses it). Times are in us with six decimals, exact to the ps.
std::string chrome_timeline_text(const std::vector<GpuBase*>& gpus, const Fabric* fabric);
// The same text handed to `put` in parts of a few MB (what timeline.json is written from).
void write_chrome_timeline(const std::vector<GpuBase*>& gpus, const Fabric* fabric,
                           const std::function<void(std::string_view)>& put);

}  // namespace mlasim
