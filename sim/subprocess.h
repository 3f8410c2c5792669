// Child processes of a command (plot scripts, sweep points), started without a shell and
// waited for. A child starts with every signal unblocked and at its default disposition, so
// that it can be interrupted even though the parent takes its signals on a watcher thread
// (sim/interrupt.h); while it runs, an interrupt of the parent is forwarded to it.
#pragma once

#include <string>
#include <vector>

namespace mlasim {

class Interrupts;

struct ChildOptions {
  std::string stdin_path;   // empty: inherited
  std::string stderr_path;  // empty: inherited; else truncated and written
  bool stdout_to_stderr = false;
  // An mlasim child that ends (SIGTERM) when this process dies, even by SIGKILL: it is told
  // the parent's pid in MLASIM_PARENT_PID and asks the kernel for that (die_with_parent()).
  bool die_with_parent = false;
};

// In an mlasim started with ChildOptions::die_with_parent: ends this process by SIGTERM when its
// parent dies, and returns false (saying so on stderr) if MLASIM_PARENT_PID names a process
// that is not its parent (gone already). True in any other process, or for a value that is not
// a process id.
bool die_with_parent();

struct ChildStatus {
  int exit_code = 0;  // the exit status, or 128 + the signal that ended the child
  int signal = 0;     // the signal that ended the child, 0 if it exited
  bool ok() const { return exit_code == 0; }
};

// Runs `argv` (argv[0] is the program's path; PATH is not searched) and waits for it. Throws
// InputError naming the program when it cannot be started.
ChildStatus run_child(const std::vector<std::string>& argv, const ChildOptions& options,
                      Interrupts* interrupts);

}  // namespace mlasim
