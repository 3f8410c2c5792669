// Checks on a path before it is opened as an input (scenario or included YAML, trace, model
// config.json). Only regular files are read: a named pipe would block the run until something
// writes to it, and a device such as /dev/zero never ends, so both are refused up front.
#pragma once

#include <filesystem>
#include <string>

namespace mlasim {

// Why `path` cannot be read as an input file, as a phrase ("is a named pipe (FIFO), not a
// regular file"); "" when it is a regular file or does not exist (opening it then reports the
// missing file as before). A symbolic link is judged by what it points to.
std::string non_regular_file_problem(const std::filesystem::path& path);

}  // namespace mlasim
