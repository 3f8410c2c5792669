// The `mlasim kernels` subcommand: compares attention variants for one model and step shape
// (see kernels_report.h) and optionally explains the dimension flow (explain.h).
#pragma once

#include <CLI/CLI.hpp>

#include "sim/command.h"

namespace mlasim {

void register_kernels_command(CLI::App& app, CommandAction& action);

}  // namespace mlasim
