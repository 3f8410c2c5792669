// The harness of the bad-input tests: a case is files written into a fresh folder and an
// `mlasim` command line; the run must exit 2 with exactly one line on stderr, starting
// "mlasim: ", holding every expected piece and no library's prefix.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "tests/sim/cli_runner.h"

namespace mlasim {

inline std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

struct BadInput {
  std::string name;
  std::map<std::string, std::string> files;  // written into a fresh folder; @DIR@ is replaced
  std::vector<std::string> args;             // @DIR@ is replaced
  std::vector<std::string> expect;           // substrings of the one stderr line
};

inline void PrintTo(const BadInput& c, std::ostream* os) {
  *os << c.name;
}

// A fresh, empty folder for one case (`prefix` keeps the test files apart).
inline std::filesystem::path fresh_case_dir(const std::string& prefix, const std::string& name) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      ("mlasim_" + prefix + "_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Runs `raw_args` (with @DIR@ replaced by `dir`) and checks the one-line exit-2 error.
inline void expect_input_error(const std::filesystem::path& dir,
                               const std::vector<std::string>& raw_args,
                               const std::vector<std::string>& expect) {
  std::vector<std::string> args;
  for (const auto& a : raw_args)
    args.push_back(replace_all(a, "@DIR@", dir.string()));
  const CliResult r = run_cli(args);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "expected one line:\n" << r.err;
  EXPECT_EQ(r.err.rfind("mlasim: ", 0), 0u) << r.err;
  EXPECT_EQ(r.err.find("[json.exception"), std::string::npos) << "a library's prefix: " << r.err;
  for (const auto& e : expect) {
    EXPECT_NE(r.err.find(replace_all(e, "@DIR@", dir.string())), std::string::npos)
        << "missing '" << e << "' in: " << r.err;
  }
}

// Writes the case's files into a fresh folder, runs it and checks the error.
inline void expect_bad_input(const std::string& prefix, const BadInput& c) {
  const std::filesystem::path dir = fresh_case_dir(prefix, c.name);
  for (const auto& [name, text] : c.files)
    std::ofstream(dir / name) << replace_all(text, "@DIR@", dir.string());
  expect_input_error(dir, c.args, c.expect);
  std::filesystem::remove_all(dir);
}

}  // namespace mlasim
