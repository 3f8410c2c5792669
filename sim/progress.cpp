// The progress line (see progress.h).
#include "sim/progress.h"

#include <fmt/format.h>

#include <cmath>

namespace mlasim {

namespace {

// A wall time in the unit that reads best: seconds under two minutes, then minutes, then hours.
std::string wall_time(double s) {
  if (s < 119.5) return fmt::format("{:.0f} s", s);  // (rounded: never "120 s")
  if (s < 7170) return fmt::format("{:.0f} min", s / 60);
  return fmt::format("{:.1f} h", s / 3600);
}

// A simulated time to the microsecond, in us, ms or s.
std::string sim_time(Time t) {
  const double ps = static_cast<double>(t.ps());
  if (ps < 1e9) return fmt::format("{:.3f} us", ps * 1e-6);
  if (ps < 1e12) return fmt::format("{:.3f} ms", ps * 1e-9);
  return fmt::format("{:.6f} s", ps * 1e-12);
}

}  // namespace

double progress_eta_s(const ProgressFigures& f) {
  if (f.ops_total == 0 || f.wall_s < 2.0) return -1;
  const double done = static_cast<double>(f.ops_done) / static_cast<double>(f.ops_total);
  if (done < 0.01 || !std::isfinite(f.wall_s)) return -1;
  return f.wall_s * (1.0 - done) / done;
}

std::string format_progress(const ProgressFigures& f) {
  const double pct =
      f.ops_total == 0 ? 100.0
                       : 100.0 * static_cast<double>(f.ops_done) / static_cast<double>(f.ops_total);
  std::string out = fmt::format("[mlasim] {} simulated, {:.1f} % of ops, {:.0f} s wall",
                                sim_time(f.simulated), pct, f.wall_s);
  if (const double eta = progress_eta_s(f); eta >= 0) {
    out += fmt::format(", ~{} left", wall_time(eta));
  }
  // Padded, so that a shorter line rewritten over a longer one leaves nothing of it behind.
  return fmt::format("{:<79}", out);
}

}  // namespace mlasim
