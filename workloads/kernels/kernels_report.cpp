// Evaluation and rendering for `mlasim kernels`; also the roofline of roofline.h.
#include "workloads/kernels/kernels_report.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "sim/errors.h"
#include "workloads/kernels/kernels_timing.h"

namespace mlasim::kernels {

const GpuPeaks& gpu_peaks(std::string_view name) {
  for (const GpuPeaks& g : kGpuPeaks) {
    if (g.name == name) return g;
  }
  std::string known;
  for (const GpuPeaks& g : kGpuPeaks)
    known += (known.empty() ? "" : ", ") + std::string(g.name);
  throw InputError(fmt::format("unknown GPU '{}' (known: {})", name, known));
}

FlopRate peak_rate(const GpuPeaks& gpu, DType dtype, bool tf32) {
  switch (dtype) {
    case DType::FP8:
      return gpu.fp8;
    case DType::BF16:
    case DType::FP16:
      return gpu.bf16;
    case DType::FP32:
      return tf32 ? gpu.tf32 : gpu.fp32;
    case DType::FP64:
      break;
  }
  throw InputError("roofline: no fp64 rate in the GPU presets");
}

RooflineEstimate roofline(const KernelCost& cost, const Precision& precision, const GpuPeaks& gpu,
                          bool tf32) {
  RooflineEstimate e;
  e.compute = peak_rate(gpu, precision.compute, tf32)
                  .compute_time(static_cast<double>(cost.projection_flops)) +
              peak_rate(gpu, precision.activation, tf32)
                  .compute_time(static_cast<double>(cost.absorb_flops)) +
              peak_rate(gpu, precision.attention, tf32)
                  .compute_time(static_cast<double>(cost.attention_flops));
  e.memory = gpu.hbm.transfer_time(Bytes(cost.traffic.bytes_read() + cost.traffic.bytes_written()));
  return e;
}

double VariantReport::achieved_tb_per_s() const {
  if (!gpu_time || gpu_time->time_us <= 0) return 0;
  return static_cast<double>(gpu_time->hbm_bytes) / (gpu_time->time_us * 1e-6) * 1e-12;
}

double VariantReport::achieved_tflops() const {
  if (!gpu_time || gpu_time->time_us <= 0) return 0;
  return static_cast<double>(cost.flops()) / (gpu_time->time_us * 1e-6) * 1e-12;
}

std::string phase_label(const StepShape& shape) {
  if (shape.q_len == 1) return "decode";
  if (shape.kv_start == 0) return "prefill";
  return "chunked";
}

KernelsReport build_kernels_report(const KernelsRequest& r) {
  if (r.batch < 1 || r.batch > kMaxKernelsBatch) {
    throw InputError(
        fmt::format("--batch must be between 1 and {} (2^16), got {}", kMaxKernelsBatch, r.batch));
  }
  if (r.context < 0) throw InputError(fmt::format("--context must be >= 0, got {}", r.context));
  if (r.new_tokens < 1) {
    throw InputError(fmt::format("--new-tokens must be at least 1, got {}", r.new_tokens));
  }
  if (r.dtype == DType::FP64 || r.dtype == DType::FP16) {
    throw InputError(fmt::format("--dtype must be fp8, bf16 or fp32, got {}", enum_name(r.dtype)));
  }
  if (r.kv_dtype && (*r.kv_dtype == DType::FP64 || *r.kv_dtype == DType::FP16)) {
    throw InputError(
        fmt::format("--kv-dtype must be fp8, bf16 or fp32, got {}", enum_name(*r.kv_dtype)));
  }
  KernelsReport rep;
  rep.timed = static_cast<bool>(r.timer);
  rep.timer_label = r.timer_label;
  rep.model = resolve_model(r.model);
  rep.gpu = gpu_peaks(r.gpu);
  rep.tf32 = r.tf32;
  rep.precision = Precision::make(r.dtype, r.kv_dtype);
  if (r.phase == Phase::Prefill) {
    if (r.context < 1) throw InputError("--phase prefill needs --context of at least 1 token");
    rep.shape = StepShape::self_attention(r.batch, 0, r.context);
  } else {
    rep.shape = StepShape::self_attention(r.batch, r.context, r.new_tokens);
  }
  if (rep.shape.kv_len() > rep.model.max_position_embeddings) {
    throw InputError(fmt::format("{} tokens exceed {}'s max_position_embeddings {}",
                                 rep.shape.kv_len(), rep.model.name,
                                 rep.model.max_position_embeddings));
  }
  const uint64_t layers = static_cast<uint64_t>(rep.model.num_hidden_layers);
  for (Variant v : model_variants(rep.model)) {
    VariantReport vr;
    vr.variant = v;
    vr.spec = attention_spec(rep.model, v);
    const MlaMode mode = v == Variant::MlaNaive ? MlaMode::Naive : MlaMode::Absorbed;
    vr.cost = attention_step_cost(vr.spec, rep.shape, rep.precision, mode).scaled(layers);
    vr.kv_bytes_per_token = layers * kv_cache_bytes_per_token(vr.spec, rep.precision.cache);
    vr.kv_bytes_per_request = vr.kv_bytes_per_token * static_cast<uint64_t>(rep.shape.kv_len());
    vr.kv_bytes_total = vr.kv_bytes_per_request * static_cast<uint64_t>(rep.shape.batch);
    vr.estimate = roofline(vr.cost, rep.precision, rep.gpu, rep.tf32);
    const uint64_t moved = vr.cost.traffic.bytes_read() + vr.cost.traffic.bytes_written();
    vr.arithmetic_intensity =
        moved ? static_cast<double>(vr.cost.flops()) / static_cast<double>(moved) : 0.0;
    if (r.timer) {
      // Every layer runs the same kernels: time one, count it num_hidden_layers times.
      // A variant the model cannot run is reported untimed (its roofline and byte counts
      // stand), so one heavy variant (naive MLA at long contexts) does not lose the others.
      std::optional<GpuStepTime> t;
      try {
        t = r.timer(attention_step_ops(vr.spec, rep.shape, rep.precision, mode));
        if (!t) vr.untimed_reason = "a tile of its kernels does not fit an SM at these dtypes";
      } catch (const InputError& e) {  // more work than the timer takes
        vr.untimed_reason = fmt::format(
            "at hidden_size {}, batch {} and kv_len {} it {} (lower --batch, --context or "
            "--new-tokens for a model time)",
            rep.model.hidden_size, rep.shape.batch, rep.shape.kv_len(), e.what());
      }
      if (t) {
        t->time_us *= static_cast<double>(layers);
        t->hbm_bytes *= layers;
        vr.gpu_time = t;
      }
    }
    rep.variants.push_back(vr);
  }
  return rep;
}

std::string format_report_table(const KernelsReport& rep) {
  const StepShape& sh = rep.shape;
  std::string out = fmt::format(
      "{}: {}, {} layers, {} query heads\n"
      "step: {} (batch {}, {} cached + {} new tokens, kv_len {}), {}\n"
      "figures: one step of every layer's attention block; roofline on {} "
      "({:.4g} TFLOP/s for the compute dtype, HBM {:.2f} TB/s)\n",
      rep.model.name, rep.model.is_mla() ? "MLA" : "GQA/MHA", rep.model.num_hidden_layers,
      rep.model.num_attention_heads,
      phase_label(sh) == "chunked" ? "several new tokens (multi-token decode or chunked prefill)"
                                   : phase_label(sh),
      sh.batch, sh.kv_start, sh.q_len, sh.kv_len(), rep.precision.describe(), rep.gpu.name,
      peak_rate(rep.gpu, rep.precision.compute, rep.tf32).flop_per_s() / 1e12,
      rep.gpu.hbm.bytes_per_s() / 1e12);
  out += rep.timed ? fmt::format(
                         "time: {}; HBM [TB/s]: the model's HBM bytes over its time, compute "
                         "[TFLOP/s]: the FLOPs above over it\n",
                         rep.timer_label)
                   : std::string("time: the roofline\n");
  out += rep.model.is_mla()
             ? "KV heads: key/value heads cached per layer (- for MLA, which caches one latent of "
               "kv_lora_rank + qk_rope_head_dim per token, shared by every head); AI: arithmetic "
               "intensity\n\n"
             : "KV heads: key/value heads cached per layer; AI: arithmetic intensity\n\n";
  out += fmt::format(
      "{:<13} {:>8} {:>13} {:>14} {:>12} {:>13} {:>15} {:>12} {:>14} {:>11} {:>10} {:>17} "
      "{:>8}\n",
      "variant", "KV heads", "KV/token [B]", "KV total [MB]", "read [MB]", "written [MB]",
      "compute [GFLOP]", "AI [FLOP/B]", "roofline [us]", "time [us]", "HBM [TB/s]",
      "compute [TFLOP/s]", "bound");
  for (const VariantReport& v : rep.variants) {
    const std::string nkv = v.spec.is_mla() ? "-" : std::to_string(v.spec.n_kv_heads);
    const bool have = !rep.timed || v.gpu_time;
    out += fmt::format(
        "{:<13} {:>8} {:>13} {:>14.3f} {:>12.3f} {:>13.3f} {:>15.3f} {:>12.2f} {:>14.2f} {:>11} "
        "{:>10} {:>17} {:>8}\n",
        variant_name(v.variant), nkv, v.kv_bytes_per_token, v.kv_bytes_total / 1e6,
        v.cost.traffic.bytes_read() / 1e6, v.cost.traffic.bytes_written() / 1e6,
        v.cost.flops() / 1e9, v.arithmetic_intensity, v.estimate.time().to_us(),
        have ? fmt::format("{:.2f}", v.time_us()) : "-",
        v.gpu_time ? fmt::format("{:.2f}", v.achieved_tb_per_s()) : "-",
        v.gpu_time ? fmt::format("{:.1f}", v.achieved_tflops()) : "-",
        v.estimate.memory_bound() ? "memory" : "compute");
  }
  if (rep.timed) {
    for (const VariantReport& v : rep.variants) {
      if (!v.gpu_time) {
        out += fmt::format("{}: {}; no model time (time [us] shows -)\n", variant_name(v.variant),
                           v.untimed_reason);
      }
    }
  }
  return out;
}

namespace {

nlohmann::json traffic_json(const MemoryTraffic& t) {
  return {{"weight_bytes_read", t.weight_bytes_read},
          {"kv_cache_bytes_read", t.kv_cache_bytes_read},
          {"kv_cache_bytes_written", t.kv_cache_bytes_written},
          {"activation_bytes_read", t.activation_bytes_read},
          {"activation_bytes_written", t.activation_bytes_written}};
}

}  // namespace

std::string format_report_json(const KernelsReport& rep, const std::vector<DimensionFlow>* flows) {
  const StepShape& sh = rep.shape;
  nlohmann::json j;
  j["model"] = rep.model.name;
  j["model_source"] = rep.model.source;
  j["shape"] = {{"phase", phase_label(sh)},
                {"batch", sh.batch},
                {"start_pos", sh.kv_start},
                {"new_tokens", sh.q_len},
                {"kv_len", sh.kv_len()},
                {"layers", rep.model.num_hidden_layers},
                {"dtype", enum_name(rep.precision.compute)},
                {"activation_dtype", enum_name(rep.precision.activation)},
                {"kv_dtype", enum_name(rep.precision.cache)},
                {"gpu", rep.gpu.name},
                {"tf32", rep.tf32},
                {"timer", rep.timed ? rep.timer_label : std::string("roofline")}};
  nlohmann::json variants = nlohmann::json::array();
  for (const VariantReport& v : rep.variants) {
    variants.push_back({{"variant", variant_name(v.variant)},
                        {"n_kv_heads", v.spec.is_mla() ? 0 : v.spec.n_kv_heads},
                        {"kv_cache_bytes_per_token", v.kv_bytes_per_token},
                        {"kv_cache_bytes_per_request", v.kv_bytes_per_request},
                        {"kv_cache_bytes_total", v.kv_bytes_total},
                        {"bytes_read", v.cost.traffic.bytes_read()},
                        {"bytes_written", v.cost.traffic.bytes_written()},
                        {"traffic", traffic_json(v.cost.traffic)},
                        {"flops", v.cost.flops()},
                        {"projection_flops", v.cost.projection_flops},
                        {"absorb_flops", v.cost.absorb_flops},
                        {"attention_flops", v.cost.attention_flops},
                        {"arithmetic_intensity", v.arithmetic_intensity},
                        {"compute_time_us", v.estimate.compute.to_us()},
                        {"memory_time_us", v.estimate.memory.to_us()},
                        {"roofline_time_us", v.estimate.time().to_us()},
                        {"bound", v.estimate.memory_bound() ? "memory" : "compute"}});
    nlohmann::json& last = variants.back();
    if (rep.timed && !v.gpu_time) {
      last["time_us"] = nullptr;
      last["untimed_reason"] = v.untimed_reason;
    } else {
      last["time_us"] = v.time_us();
    }
    if (v.gpu_time) {
      last["gpu_hbm_bytes"] = v.gpu_time->hbm_bytes;
      last["achieved_tb_per_s"] = v.achieved_tb_per_s();
      last["achieved_tflops"] = v.achieved_tflops();
    }
  }
  j["variants"] = std::move(variants);
  if (flows) {
    nlohmann::json list = nlohmann::json::array();
    for (const DimensionFlow& f : *flows) {
      nlohmann::json steps = nlohmann::json::array();
      for (const FlowStep& s : f.steps) {
        steps.push_back({{"stage", s.stage},
                         {"shape", s.shape},
                         {"dims", s.dims},
                         {"weight", s.weight},
                         {"bytes", s.bytes},
                         {"note", s.note}});
      }
      list.push_back({{"variant", variant_name(f.variant)}, {"title", f.title}, {"steps", steps}});
    }
    j["explain"] = std::move(list);
  }
  return j.dump(2) + "\n";
}

}  // namespace mlasim::kernels
