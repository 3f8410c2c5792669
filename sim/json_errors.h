// The message for JSON input that does not parse (trace files, model config.json):
// "FILE:LINE:COLUMN: WHAT: detail", without nlohmann's "[json.exception.parse_error.101] parse
// error at line L, column C: " prefix. Errors without a position (a number beyond a double's
// range) name the file alone.
#pragma once

#include <fmt/format.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace mlasim {

inline std::string json_error_message(std::string_view file, std::string_view what,
                                      const nlohmann::json::exception& e) {
  std::string detail = e.what();
  if (detail.rfind("[json.exception.", 0) == 0) {
    const size_t end = detail.find("] ");
    if (end != std::string::npos) detail.erase(0, end + 2);
  }
  std::string where(file);
  unsigned long line = 0, column = 0;
  int used = 0;
  if (std::sscanf(detail.c_str(), "parse error at line %lu, column %lu: %n", &line, &column,
                  &used) == 2 &&
      used > 0) {
    where += fmt::format(":{}:{}", line, column);
    detail.erase(0, static_cast<size_t>(used));
  } else if (detail.rfind("parse error: ", 0) == 0) {
    detail.erase(0, 13);
  }
  return fmt::format("{}: {}: {}", where, what, detail);
}

}  // namespace mlasim
