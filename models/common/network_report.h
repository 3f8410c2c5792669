// Congestion and traffic reports of a packet- or flow-level run, read from the fabric's link
// statistics and message records:
//  - summary keys (max/mean link utilisation, credit-stall fraction, FCT and slowdown
//    percentiles, conservation counters, hot spot);
//  - links.csv (one row per link direction), messages.csv (one row per message),
//    link_timeseries.csv (utilisation and mean queue per time bin, links that carried data),
//    network_report.json (hot spots, totals per tier and per plane, faults: those before the
//    run at time 0, then those at a simulated time).
// Utilisation is busy (serialising) time over the run's length `end`; slowdown is a message's
// completion time over its ideal (setup + propagation + pipelines + size over the bottleneck
// payload rate).
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>

#include "models/common/fabric.h"

namespace mlasim {

void add_network_summary(const Fabric& fabric, Time end, nlohmann::ordered_json& summary);
void write_network_results(const Fabric& fabric, Time end, const std::filesystem::path& dir);

}  // namespace mlasim
