// run_child: posix_spawn with a clean signal state, and wait (see subprocess.h).
#include "sim/subprocess.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "sim/errors.h"
#include "sim/interrupt.h"

extern char** environ;

namespace mlasim {

ChildStatus run_child(const std::vector<std::string>& argv, const ChildOptions& options,
                      Interrupts* interrupts) {
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  if (!options.stdin_path.empty()) {
    posix_spawn_file_actions_addopen(&files, STDIN_FILENO, options.stdin_path.c_str(), O_RDONLY, 0);
  }
  if (!options.stderr_path.empty()) {
    posix_spawn_file_actions_addopen(&files, STDERR_FILENO, options.stderr_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
  }
  if (options.stdout_to_stderr)
    posix_spawn_file_actions_adddup2(&files, STDERR_FILENO, STDOUT_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (const int s : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT})
    sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // The environment, with the parent's pid for a child that must not outlive it.
  const std::string parent = "MLASIM_PARENT_PID=" + std::to_string(::getpid());
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "MLASIM_PARENT_PID=", 18) != 0) env.push_back(*e);
  }
  if (options.die_with_parent) env.push_back(const_cast<char*>(parent.c_str()));
  env.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, argv.at(0).c_str(), &files, &attr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw InputError(fmt::format("{}: cannot start ({})", argv[0], std::strerror(rc)));
  if (interrupts) {
    interrupts->add_child(pid);
    // A signal taken before the child was registered was not forwarded to it.
    if (const int sig = interrupts->received()) ::kill(pid, sig);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (interrupts) interrupts->remove_child(pid);
  ChildStatus out;
  if (WIFSIGNALED(status)) {
    out.signal = WTERMSIG(status);
    out.exit_code = 128 + out.signal;
  } else {
    out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  }
  return out;
}

bool die_with_parent() {
  const char* parent = std::getenv("MLASIM_PARENT_PID");
  if (parent == nullptr) return true;
  char* end = nullptr;
  const long pid = std::strtol(parent, &end, 10);
  const bool valid = *parent != '\0' && *end == '\0' && pid > 0;
  ::unsetenv("MLASIM_PARENT_PID");  // not for this process's own children
  if (!valid) return true;          // not set by a sweep: nothing to follow
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  // Gone before the request was made: the kernel will send nothing.
  if (::getppid() == static_cast<pid_t>(pid)) return true;
  fmt::print(stderr,
             "mlasim: stopping: MLASIM_PARENT_PID names process {}, which is not this one's "
             "parent (the sweep that started this run has ended?)\n",
             pid);
  return false;
}

}  // namespace mlasim
