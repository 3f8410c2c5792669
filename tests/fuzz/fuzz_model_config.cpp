// Fuzz target: the HuggingFace config.json reader (workloads/model_config.h).
#include "sim/errors.h"
#include "tests/fuzz/fuzz_common.h"
#include "workloads/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const mlasim::ModelConfig m =
        mlasim::parse_model_config(mlasim::fuzz::as_text(data, size), "fuzz.json");
    // The derived widths must be computable without overflow for any accepted model.
    (void)(m.qk_head_dim() + m.value_head_dim() + m.rotary_dim());
  } catch (const mlasim::InputError&) {
  }
  return 0;
}
