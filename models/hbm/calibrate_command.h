// `mlasim calibrate hbm`: measures the cycle-level HBM model of a hardware preset (streaming
// and random-access efficiency, idle latency) for the bandwidth fidelity. Only the memory
// section is measured, but the whole file is checked as `run` checks hardware (a preset's
// sections as a scenario's hardware section; a scenario whole), so no misspelt key passes.
#pragma once

#include <CLI/CLI.hpp>

#include "sim/command.h"

namespace mlasim {

void register_calibrate_command(CLI::App& app, CommandAction& action);

}  // namespace mlasim
