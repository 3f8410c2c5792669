// The progress line: its figures and the estimate of wall time left.
#include "sim/progress.h"

#include <gtest/gtest.h>

namespace mlasim {
namespace {

TEST(Progress, EstimatesTheWallTimeLeftFromTheShareOfOpsDone) {
  ProgressFigures f{.simulated = Time::us(250), .ops_done = 250, .ops_total = 1000, .wall_s = 30};
  // A quarter done in 30 s: the other three quarters take 90 s at that pace.
  EXPECT_DOUBLE_EQ(progress_eta_s(f), 90.0);
  const std::string line = format_progress(f);
  EXPECT_NE(line.find("250.000 us simulated"), std::string::npos) << line;
  EXPECT_NE(line.find(", 25.0 % of ops"), std::string::npos) << line;
  EXPECT_NE(line.find("30 s wall"), std::string::npos) << line;
  EXPECT_NE(line.find("~90 s left"), std::string::npos) << line;
  EXPECT_EQ(line.size(), 79u) << line;  // one terminal line, rewritten in place
  // Longer estimates read in minutes, then hours.
  f.ops_done = 10;  // 1%: 99 times the 30 s so far
  EXPECT_NE(format_progress(f).find("~50 min left"), std::string::npos) << format_progress(f);
  f.wall_s = 600;
  EXPECT_NE(format_progress(f).find("~16.5 h left"), std::string::npos) << format_progress(f);
}

TEST(Progress, GivesNoEstimateOnTooLittleToGoOn) {
  ProgressFigures f{.simulated = Time::us(1), .ops_done = 9, .ops_total = 1000, .wall_s = 30};
  EXPECT_LT(progress_eta_s(f), 0);  // under 1% of the ops
  EXPECT_EQ(format_progress(f).find("left"), std::string::npos);
  f.ops_done = 500;
  f.wall_s = 1.5;  // under 2 s of wall time
  EXPECT_LT(progress_eta_s(f), 0);
  f.ops_total = 0;  // nothing to do (no ops at all)
  f.wall_s = 10;
  EXPECT_LT(progress_eta_s(f), 0);
  EXPECT_NE(format_progress(f).find("100.0 % of ops"), std::string::npos) << format_progress(f);
  // Simulated time to the microsecond, in the unit that fits.
  f.simulated = Time::ps(70'511'790'960);
  EXPECT_NE(format_progress(f).find("70.512 ms simulated"), std::string::npos)
      << format_progress(f);
}

}  // namespace
}  // namespace mlasim
