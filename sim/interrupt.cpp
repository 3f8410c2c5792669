// Interrupts: the signal-watcher thread (see interrupt.h).
#include "sim/interrupt.h"

#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "sim/results.h"

namespace mlasim {

struct Interrupts::State {
  sigset_t signals;
  std::mutex m;  // guards the fields below; held while the handler runs
  Handler handler;
  std::string note;
  std::vector<pid_t> children;
  std::atomic<int> received{0};
};

Interrupts::Interrupts() : state_(std::make_shared<State>()) {
  sigset_t& set = state_->signals;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // Detached, holding its own reference to the state: it may outlive this object by the few
  // instructions between the end of the command and the end of the process.
  std::thread([s = state_] {
    for (;;) {
      int sig = 0;
      if (sigwait(&s->signals, &sig) != 0) continue;
      const bool first = s->received.exchange(sig) == 0;
      bool stops_itself = false;
      std::string note;
      {
        std::lock_guard<std::mutex> lock(s->m);
        for (const pid_t child : s->children)
          ::kill(child, sig);
        if (first && s->handler) stops_itself = s->handler(sig);
        note = s->note;
      }
      if (stops_itself) continue;
      // Never released: no results file is half written when the process ends.
      results_write_lock().lock();
      const std::string line = fmt::format("mlasim: interrupted by {}{}\n", signal_name(sig), note);
      [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
      ::_exit(128 + sig);
    }
  }).detach();
}

Interrupts::~Interrupts() {
  set_handler(nullptr);
}

void Interrupts::set_handler(Handler handler) {
  std::lock_guard<std::mutex> lock(state_->m);
  state_->handler = std::move(handler);
}

void Interrupts::set_note(std::string note) {
  std::lock_guard<std::mutex> lock(state_->m);
  state_->note = std::move(note);
}

int Interrupts::received() const {
  return state_->received.load();
}

void Interrupts::add_child(pid_t pid) {
  std::lock_guard<std::mutex> lock(state_->m);
  state_->children.push_back(pid);
}

void Interrupts::remove_child(pid_t pid) {
  std::lock_guard<std::mutex> lock(state_->m);
  auto& c = state_->children;
  c.erase(std::remove(c.begin(), c.end(), pid), c.end());
}

std::string Interrupts::signal_name(int signal) {
  const char* abbrev = sigabbrev_np(signal);  // "INT" (glibc)
  return abbrev ? fmt::format("SIG{}", abbrev) : fmt::format("signal {}", signal);
}

}  // namespace mlasim
