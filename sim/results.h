// Result files: every file is written to a temporary name and renamed into place, so an
// interrupted run never leaves a half file that looks complete. summary.json is written last
// and marks a finished run.
#pragma once

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <string_view>

namespace mlasim {

void write_file_atomic(const std::filesystem::path& path, std::string_view content);

// Terminal table of a summary: key, value, unit (the unit comes from the key's suffix). With
// `full` false it shows only the headline figures (run, inference, KV cache, network congestion,
// faults, time breakdown) and ends with a line counting the keys left out; a summary with no
// headline figure beyond the run's own is always shown in full.
std::string format_summary_table(const nlohmann::ordered_json& summary, bool full = true);

// Numbers for CSV files of millions of rows, appended to `b`: the very bytes fmt's "{:.6f}" and
// "{:.Nf}" write, faster.
// Picoseconds as microseconds with six decimals, from the integer (no double formatted).
void append_us(fmt::memory_buffer& b, int64_t ps);
// `v` with `decimals` (0..6) decimals; fmt's exact (Dragon4) formatting only near a rounding tie.
void append_fixed(fmt::memory_buffer& b, double v, int decimals);

// The unit a summary key's suffix names ("tpot_ms" -> "ms"); "-" when it names none.
std::string unit_of_key(std::string_view key);

}  // namespace mlasim
