// How subcommands plug into the `mlasim` CLI: each area provides
//   void register_<name>_command(CLI::App& app, CommandAction& action);
// which adds a CLI11 subcommand with its options and, in the subcommand's callback, stores into
// `action` the function to run. main() parses, then runs the stored action and maps exceptions
// to exit codes (InputError -> 2, SimulationError -> 3, anything else -> 1).
#pragma once

#include <functional>

namespace mlasim {

using CommandAction = std::function<int()>;

}  // namespace mlasim
