// mlasim: the command-line entry point. Parses the command, runs it, maps errors to exit codes:
// 0 success, 2 bad input, 3 simulation failure, 1 internal error (DESIGN.md §6); 128 + the
// signal when interrupted by SIGINT, SIGTERM or SIGHUP (sim/interrupt.h).
#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <systemc>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#ifdef __GLIBC__
#include <malloc.h>
#endif
#ifdef __linux__
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "models/hbm/calibrate_command.h"
#include "sim/commands.h"
#include "sim/errors.h"
#include "sim/interrupt.h"
#include "sim/subprocess.h"
#include "sim/sweep.h"
#include "sim/version.h"
#if __has_include("workloads/kernels/kernels_command.h")
#include "workloads/kernels/kernels_command.h"
#define MLASIM_HAS_KERNELS 1
#endif
#if __has_include("topology/topology_command.h")
#include "topology/topology_command.h"
#define MLASIM_HAS_TOPOLOGY 1
#endif

namespace {

// Text on one line: control characters a file name or value brought in (a newline, a tab)
// written as escapes; with `bytes_too`, also every byte past ASCII (text that is not UTF-8).
std::string one_line(std::string_view text, bool bytes_too = false) {
  std::string out;
  for (const char ch : text) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f || (bytes_too && u > 0x7f)) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += ch;
    }
  }
  return out;
}

// Whether `s` is text the results' JSON can hold: nlohmann's own check, the one writing run.json
// would fail on after the whole run.
bool valid_utf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

int dispatch(int argc, char** argv) {
  using namespace mlasim;
  std::vector<std::string> args(argv, argv + argc);
  for (size_t i = 1; i < args.size(); ++i) {
    if (!valid_utf8(args[i])) {
      fmt::print(stderr,
                 "mlasim: error: argument {} ('{}') is not valid UTF-8 (results record names "
                 "and values as JSON text)\n",
                 i, one_line(args[i], true));
      return kExitBadInput;
    }
  }
  CLI::App app{"mlasim: cycle-level simulator of MLA/MoE LLM inference on GPU clusters"};
  app.set_version_flag("--version", std::string(version()));
  app.require_subcommand(1);
  app.fallthrough();  // -q/-v also work after the subcommand's name
  // A flag takes no value: `--full=3` is an error, not "true". Subcommands inherit this.
  app.option_defaults()->disable_flag_override();
  // Before any thread starts: every thread inherits the blocked signals.
  Interrupts interrupts;
  GlobalOptions global;
  global.interrupts = &interrupts;
  app.add_flag("-q,--quiet", global.quiet, "print only errors");
  app.add_flag("-v,--verbose", global.verbose, "more detail (repeat for debug)");
  CommandAction action;
  register_run_command(app, action, global, args);
  register_validate_command(app, action, global);
  register_list_command(app, action);
  register_sweep_command(app, action, global);
  register_trace_command(app, action, global);
  register_calibrate_command(app, action);
#ifdef MLASIM_HAS_KERNELS
  register_kernels_command(app, action);
#endif
#ifdef MLASIM_HAS_TOPOLOGY
  register_topology_command(app, action);
#endif
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    // CLI11 reports a mistyped command (or subcommand, as in `calibrate dram`) as a missing
    // one: follow the words that name commands down to the level that needs one, and name the
    // word given there and the real choices instead.
    CLI::App* level = &app;
    std::string path;  // the commands followed, "calibrate"
    int i = 1;
    for (; i < argc; ++i) {
      if (argv[i][0] == '-') continue;  // the levels that hold subcommands take flags only
      CLI::App* sub = nullptr;
      for (CLI::App* s : level->get_subcommands([](CLI::App*) { return true; }))
        if (s->get_name() == argv[i]) sub = s;
      if (sub == nullptr || sub->get_subcommands([](CLI::App*) { return true; }).empty()) break;
      level = sub;
      path += (path.empty() ? "" : " ") + sub->get_name();
    }
    std::string choices;
    bool known = false;
    for (const CLI::App* sub : level->get_subcommands([](CLI::App*) { return true; })) {
      choices += (choices.empty() ? "" : ", ") + sub->get_name();
      known = known || (i < argc && sub->get_name() == argv[i]);
    }
    if (i < argc && !known) {
      fmt::print(stderr, "mlasim: error: {} '{}' (one of: {})\n",
                 level == &app ? "unknown command" : path + ": unknown subcommand",
                 one_line(argv[i]), choices);
    } else if (level != &app && i == argc) {
      fmt::print(stderr, "mlasim: error: {}: a subcommand is required (one of: {})\n", path,
                 choices);
    } else if (const std::string what = e.what(), tail = " was given a disallowed flag override";
               what.ends_with(tail)) {
      const std::string flag = what.substr(0, what.size() - tail.size());
      fmt::print(stderr,
                 "mlasim: error: --{}: a flag takes no value (write --{}, not --{}=VALUE)\n", flag,
                 flag, flag);
    } else {
      // CLI11's own message ("The following argument was not expected: --bogus"), on one line
      // with the prefix every other error has.
      fmt::print(stderr, "mlasim: error: {}\n", one_line(e.what()));
    }
    return kExitBadInput;
  }
  try {
    const int code = action ? action() : kExitOk;
    // Output that never reached its destination (a full disk) is an error, not a silent
    // success: what was buffered is written now. (A closed pipe ends the process on SIGPIPE.)
    errno = 0;
    std::cout.flush();
    if (std::fflush(stdout) != 0 || std::ferror(stdout) || !std::cout) {
      fmt::print(stderr, "mlasim: error: cannot write to standard output: {}\n",
                 errno != 0 ? std::strerror(errno) : "write error");
      return kExitBadInput;
    }
    return code;
  } catch (const InputError& e) {
    fmt::print(stderr, "mlasim: error: {}\n", one_line(e.what()));
    return kExitBadInput;
  } catch (const std::filesystem::filesystem_error& e) {
    // A path the system refuses (too long, a loop of links): the input names it.
    fmt::print(stderr, "mlasim: error: {}: {}\n", one_line(e.path1().string()), e.code().message());
    return kExitBadInput;
  } catch (const SimulationError& e) {
    fmt::print(stderr, "mlasim: simulation failed: {}\n", e.what());
    return kExitSimFailure;
  } catch (const std::system_error& e) {
    // What the system refused (writing to a full device, say) is no internal error.
    fmt::print(stderr, "mlasim: error: {}\n", one_line(e.what()));
    return kExitBadInput;
  } catch (const std::exception& e) {
    fmt::print(stderr, "mlasim: internal error: {}\n", e.what());
    return kExitInternal;
  }
}

}  // namespace

// SystemC's library provides main() and calls sc_main(); the CLI lives here.
int sc_main(int argc, char** argv) {
  return dispatch(argc, argv);
}

#if defined(__GLIBC__) && defined(__linux__)
// Large blocks from the heap rather than mmap, and freed memory kept for reuse: the models'
// big vectors (packets, messages, event slots) grow by doubling, and from mmap every regrowth
// faults its pages in afresh (measured: about 1.5% less wall time on the 128-host all-to-all
// benchmark). And the heap's first GiB on transparent huge pages: where the kernel grants them
// only on request (THP "madvise", Debian's default), that GiB is reserved at once and marked
// for them, so that memory a run touches for the first time (packet and message pools, event
// slots, logs) faults once per 2 MiB instead of once per 4 KiB. Faults are dear in virtual
// machines: measured 33% more packet hops per second on the 128-host all-to-all benchmark
// (a short run) and 5% less wall time on the 4-layer EP144 step, for 10-20% more peak RSS.
// Results do not depend on any of it.
void tune_heap() {
  constexpr size_t kReserve = size_t{1} << 30, kHuge = size_t{2} << 20;
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  // One growth of the heap by the whole reserve (address space only until touched).
  mallopt(M_TOP_PAD, static_cast<int>(kReserve));
  const auto before = reinterpret_cast<uintptr_t>(sbrk(0));
  void* grow = malloc(kHuge);
  asm volatile("" : : "r"(grow) : "memory");  // (a malloc and free of nothing may be elided)
  free(grow);
  const auto after = reinterpret_cast<uintptr_t>(sbrk(0));
  mallopt(M_TOP_PAD, 64 << 20);
  const uintptr_t lo = (before + kHuge - 1) & ~(kHuge - 1), hi = after & ~(kHuge - 1);
  if (before != static_cast<uintptr_t>(-1) && hi > lo) {
    madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);  // advice: failure is harmless
  }
}
#endif

int main(int argc, char** argv) {
#if defined(__GLIBC__) && defined(__linux__)
  tune_heap();
#endif
  // A sweep's point run ends with its sweep, however the sweep ended.
  if (!mlasim::die_with_parent()) return 128 + SIGTERM;
  // Keep SystemC's banner out of every command's output.
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);
  return sc_core::sc_elab_and_sim(argc, argv);
}
