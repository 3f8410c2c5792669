// `mlasim calibrate hbm`: measures the cycle-level HBM model of a hardware preset (streaming
// and random-access efficiency, idle latency) for the bandwidth fidelity.
#pragma once

#include <CLI/CLI.hpp>

#include "sim/command.h"

namespace mlasim {

void register_calibrate_command(CLI::App& app, CommandAction& action);

}  // namespace mlasim
