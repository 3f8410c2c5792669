// The core CLI commands: run, validate and list (see command.h for how commands plug in).
#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "sim/command.h"
#include "sim/config.h"
#include "sim/log.h"

namespace mlasim {

class Interrupts;

struct GlobalOptions {
  bool quiet = false;
  int verbose = 0;
  Interrupts* interrupts = nullptr;  // main()'s signal watcher; null in tests
  LogLevel level() const {
    if (quiet) return LogLevel::Quiet;
    return verbose >= 2 ? LogLevel::Debug : verbose == 1 ? LogLevel::Verbose : LogLevel::Info;
  }
};

// Loads CONFIG (or the embedded default scenario when empty) and applies --set overrides, whose
// relative paths are taken from `paths_from` (empty: the working folder).
ConfigNode load_scenario(const std::string& config_path, const std::vector<std::string>& sets,
                         const std::filesystem::path& paths_from = {});

void register_run_command(CLI::App& app, CommandAction& action, const GlobalOptions& global,
                          const std::vector<std::string>& argv);
void register_validate_command(CLI::App& app, CommandAction& action, const GlobalOptions& global);
void register_list_command(CLI::App& app, CommandAction& action);
void register_trace_command(CLI::App& app, CommandAction& action, const GlobalOptions& global);

}  // namespace mlasim
