// Shared by the libFuzzer targets: SystemC's library wants an sc_main even where, as here, no
// simulation kernel ever runs (the targets only read input), and bad input must surface as
// InputError (exit 2 in the CLI). Anything else escaping a target is a finding: libFuzzer
// reports an uncaught exception as a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

int sc_main(int, char**) {
  return 0;
}

namespace mlasim::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace mlasim::fuzz
