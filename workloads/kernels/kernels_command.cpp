// CLI wiring for `mlasim kernels`. Choices are parsed here rather than by CLI11 validators so
// that every bad value raises InputError (exit 2) with a one-line message.
#include "workloads/kernels/kernels_command.h"

#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "models/gpu/kernel_timer.h"
#include "sim/errors.h"
#include "workloads/kernels/explain.h"
#include "workloads/kernels/kernels_report.h"
#include "workloads/model_config.h"

namespace mlasim {
namespace {

struct KernelsOptions {
  std::string model = "deepseek-v3";
  std::string phase = "decode";
  int64_t batch = 1;
  int64_t context = 4096;
  int64_t new_tokens = 1;
  std::string dtype = "bf16";
  std::string kv_dtype;
  std::string gpu = "h100";
  std::string memory = "hbm_bandwidth";
  unsigned hbm_threads = 1;
  bool tf32 = false;
  bool json = false;
  bool explain = false;
};

DType parse_dtype(const std::string& option, const std::string& text) {
  if (text == "fp8") return DType::FP8;
  if (text == "bf16") return DType::BF16;
  if (text == "fp32") return DType::FP32;
  throw InputError(fmt::format("{}: '{}' is not one of fp8, bf16, fp32", option, text));
}

int run_kernels(const KernelsOptions& o) {
  kernels::KernelsRequest r;
  r.model = o.model;
  if (o.phase == "decode") {
    r.phase = kernels::Phase::Decode;
  } else if (o.phase == "prefill") {
    r.phase = kernels::Phase::Prefill;
    if (o.new_tokens != 1) {
      throw InputError(
          "--new-tokens applies to --phase decode (a chunk over --context cached "
          "tokens); --phase prefill processes --context tokens from an empty cache");
    }
  } else {
    throw InputError(fmt::format("--phase: '{}' is not one of decode, prefill", o.phase));
  }
  // Token counts far beyond any model's positions, before they are added up in 64 bits.
  for (const auto& [option, tokens] :
       {std::pair{"--context", o.context}, {"--new-tokens", o.new_tokens}}) {
    if (tokens > (int64_t{1} << 40))
      throw InputError(fmt::format("{} {}: at most 2^40 tokens", option, tokens));
  }
  r.batch = o.batch;
  r.context = o.context;
  r.new_tokens = o.new_tokens;
  r.dtype = parse_dtype("--dtype", o.dtype);
  if (!o.kv_dtype.empty()) r.kv_dtype = parse_dtype("--kv-dtype", o.kv_dtype);
  r.gpu = o.gpu;
  r.tf32 = o.tf32;
  if (o.memory != "hbm_bandwidth" && o.memory != "hbm") {
    throw InputError(fmt::format("--memory: '{}' is not one of hbm_bandwidth, hbm", o.memory));
  }
  // Unknown names (or a config.json in error) fail here, listing the known ones, each error
  // naming its option.
  try {
    kernels::gpu_peaks(o.gpu);
  } catch (const InputError& e) {
    throw InputError(fmt::format("--gpu: {}", e.what()));
  }
  try {
    (void)resolve_model(o.model);
  } catch (const InputError& e) {
    throw InputError(fmt::format("--model: {}", e.what()));
  }
  // The tile GPU model of the preset times the kernels of one layer (a fresh GPU per variant,
  // cold L2).
  auto timer = std::make_shared<KernelTimer>(KernelTimer::from_preset(o.gpu, o.memory));
  timer->gpu().fp32_gemm_on_tf32 = o.tf32;
  timer->set_hbm_threads(o.hbm_threads);
  // Tile stages the GPU model may run per variant: it runs about 2 x 10^6 a second on
  // bandwidth-fidelity HBM (2^25: about 15 s) and about 10^4 on the cycle-level HBM (2^20:
  // about 2 minutes). The defaults take about 5 x 10^4 per variant.
  timer->set_max_tile_stages(o.memory == "hbm" ? uint64_t{1} << 20 : uint64_t{1} << 25);
  r.timer = [timer](const std::vector<OpPayload>& ops) -> std::optional<kernels::GpuStepTime> {
    try {
      const KernelTiming t = timer->time(ops);
      return kernels::GpuStepTime{t.time_us, t.hbm_bytes};
    } catch (const std::invalid_argument&) {
      return std::nullopt;  // a tile that does not fit an SM
    }
  };
  std::string memory_label = "cycle-level HBM";
  if (o.memory != "hbm") {
    // The efficiency and latency calibrated on the preset's cycle-level HBM.
    const ConfigNode* eff = timer->memory().find("efficiency");
    const ConfigNode* lat = timer->memory().find("latency");
    memory_label =
        fmt::format("bandwidth-fidelity HBM (calibrated: efficiency {}, latency {})",
                    eff ? eff->as_string() : "default", lat ? lat->as_string() : "default");
  }
  r.timer_label = fmt::format("tile GPU model of {} ({} SMs at {:.2f} GHz) on {} memory", o.gpu,
                              timer->gpu().sms, timer->gpu().clock.hz() / 1e9, memory_label);

  const kernels::KernelsReport report = kernels::build_kernels_report(r);
  std::optional<std::vector<kernels::DimensionFlow>> flows;
  if (o.explain) flows = kernels::dimension_flows(report.model, report.shape, report.precision);
  std::string text;
  if (o.json) {
    text = kernels::format_report_json(report, flows ? &*flows : nullptr);
  } else {
    if (flows) text = kernels::format_flows(report.model, *flows) + "\n";
    text += kernels::format_report_table(report);
  }
  std::fputs(text.c_str(), stdout);
  return kExitOk;
}

constexpr const char* kFooter = R"(Variants:
  mla_absorbed  MLA as inference engines run it: W_UK folded into the query, W_UV applied
                after attention, so attention reads only the cached latent [c | k_rope].
  mla_naive     MLA with the cached latent up-projected through kv_b_proj to per-head K and V
                at every step (K and V of the whole context are materialised, and the
                cached rotary key copied to every head to complete per-head K).
  mha           For an MLA model, the MHA baseline is the same model with full per-head K and
                V of the same head dims (keys d_nope+d_rope, values d_v, one K/V head per query
                head) and the same query path. For other models: n_kv = number of query heads.
  gqa           For an MLA model: as mha with 8 K/V heads (or the largest divisor of the head
                count below 8). For a GQA model: its own num_key_value_heads.
  mqa           As mha with a single K/V head.
Figures cover one step of the attention block (projections, cache, attention, output
projection) of all layers; kv_cache_bytes_per_token counts all layers. Bytes: every stage is a
kernel that reads its operands from HBM and writes its result back (weights once per step,
attention fused flash-style, naive MLA materialises K and V). FLOPs: 2 per multiply-add of the
matrix products. With --dtype fp8 the projections run in FP8 (128x128 weight blocks, 1x128
activation tiles) and activations, attention, absorbed MLA's W_UK and W_UV products (their
weights kept dequantised) and by default the KV cache stay in BF16, as DeepSeek-V3 serves. roofline [us] is max(compute, memory) on the preset's datasheet peaks.
time [us] comes from the tile GPU model of the preset (configs/hardware/<gpu>.yaml: SMs, tensor
rates, L2, HBM) running the same stages as kernels (GEMMs, per-head grouped GEMMs for MLA's
absorption, FlashMLA decode or FlashAttention for the core) on one layer, times the layer
count; by default on the bandwidth fidelity of HBM calibrated on the cycle-level model
(--memory hbm runs the cycle-level HBM itself: exact, slower). "HBM [TB/s]" is the HBM traffic
the model moved over its time (it may differ from the accounted bytes: L2 reuse, tile padding);
"compute [TFLOP/s]" is the accounted FLOPs over it.
Examples:
  mlasim kernels                                    DeepSeek-V3 decode, batch 1, 4096 cached, bf16
  mlasim kernels --model qwen2.5-72b --batch 64 --json
  mlasim kernels --phase prefill --context 8192 --dtype fp8
  mlasim kernels --context 4096 --new-tokens 512    chunked prefill over a 4096-token cache
  mlasim kernels --model teaching --explain)";

}  // namespace

void register_kernels_command(CLI::App& app, CommandAction& action) {
  CLI::App* cmd = app.add_subcommand(
      "kernels", "Compare attention variants (MLA vs MHA/GQA/MQA): KV cache, FLOPs, bytes, time");
  auto o = std::make_shared<KernelsOptions>();
  cmd->add_option("--model", o->model,
                  "Built-in model (deepseek-v3, deepseek-v2, deepseek-v2-lite, qwen2.5-72b, "
                  "llama-3.1-405b, teaching) or the path of a HuggingFace config.json")
      ->capture_default_str();
  cmd->add_option("--phase", o->phase,
                  "decode: --new-tokens appended to --context cached tokens; prefill: --context "
                  "tokens from an empty cache")
      ->capture_default_str();
  cmd->add_option("--batch", o->batch, "Sequences in the batch (at most 2^16)")
      ->capture_default_str();
  cmd->add_option("--context", o->context,
                  "Tokens already cached (decode) or prompt length (prefill)")
      ->capture_default_str();
  cmd->add_option("--new-tokens", o->new_tokens,
                  "Tokens computed this step (decode; >1: chunked prefill or multi-token decode)")
      ->capture_default_str();
  cmd->add_option("--dtype", o->dtype, "Compute dtype: fp8, bf16 or fp32")->capture_default_str();
  cmd->add_option(
      "--kv-dtype", o->kv_dtype,
      "KV-cache dtype: fp8, bf16 or fp32 (default: the activation dtype, bf16 for fp8)");
  cmd->add_option("--gpu", o->gpu,
                  "GPU preset (configs/hardware/<gpu>.yaml) for the GPU model and the roofline: "
                  "h100, h800 or h200")
      ->capture_default_str();
  cmd->add_option("--memory", o->memory,
                  "HBM fidelity of the GPU model: hbm_bandwidth (fast, calibrated) or hbm "
                  "(cycle-level)")
      ->capture_default_str();
  cmd->add_option("--hbm-threads", o->hbm_threads,
                  "Threads advancing the cycle-level HBM's pseudo-channels (same results, less "
                  "wall time; --memory hbm only)")
      ->check(CLI::Range(1u, 64u))
      ->capture_default_str();
  cmd->add_flag("--tf32", o->tf32,
                "Run fp32 products at the TF32 tensor rate (default: CUDA cores)");
  cmd->add_flag("--json", o->json, "Print JSON instead of a table");
  cmd->add_flag("--explain", o->explain,
                "Also print the dimension flow of every projection for the model");
  cmd->footer(kFooter);
  cmd->callback([o, &action]() { action = [o]() { return run_kernels(*o); }; });
}

}  // namespace mlasim
