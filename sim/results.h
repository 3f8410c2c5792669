// Result files: every file is written to a temporary name and renamed into place, so an
// interrupted run never leaves a half file that looks complete. summary.json is written last
// and marks a finished run.
#pragma once

#include <nlohmann/json.hpp>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace mlasim {

void write_file_atomic(const std::filesystem::path& path, std::string_view content);
// The same for a file too large to build in memory first: `fill` hands its content to the sink
// piece by piece (the pieces go straight to the temporary file, in order). An exception from
// `fill` removes the temporary file and goes on up.
using AtomicSink = std::function<void(std::string_view)>;
void write_file_atomic(const std::filesystem::path& path,
                       const std::function<void(const AtomicSink&)>& fill);
// Held by write_file_atomic() from the temporary file's creation to its rename, and taken for
// good by the interrupt watcher (sim/interrupt.h) before it ends the process: a signal never
// leaves a temporary file behind. Process-wide by nature, like the signals it guards against.
std::mutex& results_write_lock();

// The names of every file `mlasim run` and its plot script (scripts/plot_run.py) may write into
// a run's folder, summary.json first.
const std::vector<std::string>& run_output_files();

// Removes from `dir` what an earlier run left there, before a new run writes anything: first
// summary.json (so that a folder is never taken for a finished run while it holds a mix), then
// every other file of run_output_files(), and the temporary files of write_file_atomic() that a
// killed run (SIGKILL, a crash of the machine) left for any of them. Other files in `dir` are
// the user's and stay.
void clear_run_outputs(const std::filesystem::path& dir);

// Terminal table of a summary: key, value, unit (the unit comes from the key's suffix). With
// `full` false it shows only the headline figures (run, inference, KV cache, network congestion,
// faults, time breakdown) and ends with a line counting the keys left out; a summary with no
// headline figure beyond the run's own is always shown in full.
std::string format_summary_table(const nlohmann::ordered_json& summary, bool full = true);

// Numbers for CSV files of millions of rows: each writer puts the very bytes fmt would write
// at `p` and returns the end (a row is built in a local array and appended once).
// An integer in decimal, the bytes "{}" writes (at most 20 characters).
template <class Int>
char* put_int(char* p, Int v) {
  return std::to_chars(p, p + 24, v).ptr;
}
// `whole`, a point and the `places` low decimal digits of `frac` (zero-padded).
char* put_decimal(char* p, uint64_t whole, uint64_t frac, int places);
// Picoseconds as microseconds with six decimals, from the integer: the bytes "{:.6f}" writes
// for ps * 1e-6, without formatting a double.
char* put_us(char* p, int64_t ps);
// Room put_fixed may need: "{:.6f}" of the largest double.
inline constexpr size_t kFixedRoom = 330;
// A double with 3 or 6 `places`: the bytes "{:.3f}" / "{:.6f}" write (correctly rounded), from
// integers where that is safe, by fmt's exact formatting near a rounding tie.
char* put_fixed(char* p, double v, int places);

// The unit a summary key's suffix names ("tpot_ms" -> "ms"), saying what a count or rate
// counts ("net_injected_packets_count" -> "packets", "sim_events_per_wall_s" -> "events/s",
// "mtp_accepted_tokens_per_step" -> "tokens/step"); dimensionless quotients are "ratio" (max
// over mean, slowdowns) or "fraction" (of a whole); "-" when the key names no unit.
std::string unit_of_key(std::string_view key);

}  // namespace mlasim
