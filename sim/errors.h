// Error types that map to the CLI's exit codes (DESIGN.md §6):
//   InputError      -> 2  bad config, trace or command line
//   SimulationError -> 3  deadlock, unreachable destination, time limit
// Anything else escaping to main is an internal error (exit 1).
#pragma once

#include <stdexcept>
#include <string>

namespace mlasim {

class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class SimulationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr int kExitOk = 0;
inline constexpr int kExitInternal = 1;
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitSimFailure = 3;

}  // namespace mlasim
