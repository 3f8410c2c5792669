// Orderly interruption of a command by SIGINT, SIGTERM or SIGHUP.
//
// The signals are blocked in every thread and taken by one watcher thread (sigwait), so none of
// them can land in the middle of a results file: the watcher ends the process only while no
// write_file_atomic() is under way (it takes the same lock), after forwarding the signal to the
// child processes registered with it (plot scripts, sweep points). A command may install a
// handler: it runs on the watcher thread first and either lets the process end at once (exit
// 128 + signal, after one line on stderr) or says it will stop by itself (a sweep finishing its
// bookkeeping); a second signal then ends the process at once.
//
// Signal dispositions are process-wide, so this is one object per process, made by main()
// before any other thread exists (threads inherit the blocked mask). Nothing else in the
// simulator depends on it: without one (tests, benchmarks) signals keep their default effect.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>

namespace mlasim {

class Interrupts {
 public:
  // Returns true when the command stops by itself after this signal.
  using Handler = std::function<bool(int signal)>;

  Interrupts();
  ~Interrupts();
  Interrupts(const Interrupts&) = delete;
  Interrupts& operator=(const Interrupts&) = delete;

  void set_handler(Handler handler);
  // Words added to the line printed when the process ends on a signal, e.g. what is left
  // unfinished ("; results/x has no summary.json").
  void set_note(std::string note);
  // The signal received so far, 0 if none.
  int received() const;
  // Children that get the signal forwarded while they are registered.
  void add_child(pid_t pid);
  void remove_child(pid_t pid);

  static std::string signal_name(int signal);

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace mlasim
