// Levelled logging to stderr through fmt. A Logger is an object handed to whoever needs it
// (no global logger), so two simulations in one process can log independently.
#pragma once

#include <fmt/format.h>

#include <cstdio>

namespace mlasim {

enum class LogLevel { Quiet = 0, Info = 1, Verbose = 2, Debug = 3 };

class Logger {
 public:
  explicit Logger(LogLevel level = LogLevel::Info) : level_(level) {}
  LogLevel level() const { return level_; }
  void set_level(LogLevel level) { level_ = level; }
  bool enabled(LogLevel l) const { return static_cast<int>(l) <= static_cast<int>(level_); }

  template <class... A>
  void info(fmt::format_string<A...> f, A&&... a) const {
    emit(LogLevel::Info, "", f, std::forward<A>(a)...);
  }
  template <class... A>
  void verbose(fmt::format_string<A...> f, A&&... a) const {
    emit(LogLevel::Verbose, "", f, std::forward<A>(a)...);
  }
  template <class... A>
  void debug(fmt::format_string<A...> f, A&&... a) const {
    emit(LogLevel::Debug, "debug: ", f, std::forward<A>(a)...);
  }
  // Warnings show unless quiet.
  template <class... A>
  void warn(fmt::format_string<A...> f, A&&... a) const {
    emit(LogLevel::Info, "warning: ", f, std::forward<A>(a)...);
  }

 private:
  template <class... A>
  void emit(LogLevel l, const char* prefix, fmt::format_string<A...> f, A&&... a) const {
    if (!enabled(l)) return;
    fmt::print(stderr, "{}{}\n", prefix, fmt::format(f, std::forward<A>(a)...));
  }
  LogLevel level_;
};

}  // namespace mlasim
