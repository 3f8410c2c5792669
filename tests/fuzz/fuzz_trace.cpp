// Fuzz target: the trace reader (JSON parse, schema, op graph validation), and the writer on
// whatever it accepts: a trace read back from its own output must give the same JSON.
#include <nlohmann/json.hpp>

#include <cstdlib>

#include "sim/errors.h"
#include "tests/fuzz/fuzz_common.h"
#include "workloads/trace.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mlasim;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(fuzz::as_text(data, size));
  } catch (const nlohmann::json::exception&) {  // syntax, or a number out of range
    return 0;
  }
  try {
    const Workload w = workload_from_json(j, "fuzz.json");
    const nlohmann::ordered_json out = workload_to_json(w);
    const Workload again = workload_from_json(nlohmann::json::parse(out.dump()), "again.json");
    if (workload_to_json(again) != out) std::abort();  // the round trip lost something
  } catch (const InputError&) {
  }
  return 0;
}
