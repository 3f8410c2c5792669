// Shared by the libFuzzer targets. Bad input must surface as InputError (exit 2 in the CLI);
// anything else escaping a target (another exception, a sanitizer report, an abort) is a
// finding: libFuzzer stops and writes the input to its artifact folder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace mlasim::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace mlasim::fuzz
