#!/usr/bin/env python3
"""Draws the plots and the Markdown report of one run folder (results/<run>/).

Reads only the run's result files, never the simulator:
  summary.json         every figure (required)
  timeline.json        op spans per GPU (at most 16 GPUs drawn) -> timeline.png
  summary.json         gpu<N>_busy_us                       -> gpu_busy.png
  summary.json         time_<part>_ms, step_time_ms, and per phase tpot_ms and
                       output_tokens_per_s_per_gpu (decode) or ttft_*_ms and
                       input_tokens_per_s_per_gpu (prefill)  -> step_breakdown.png
  layers.csv           layer,attention_ms,gate_ms,...       -> layer_breakdown.png
  expert_loads.csv     layer,routing,expert,tokens          -> expert_loads.png (plot_router.py)
  summary.json         kv_cache_*_per_token, kv_cache_bytes_per_gpu, kv_cached_tokens_per_gpu,
                       kv_cache_capacity_tokens_per_gpu
  run.json             resolved_config: workload.phase, requests_per_gpu, context_length,
                       attention_tp, mtp.depth, description (optional; older results:
                       config.resolved.yaml, read with PyYAML)  -> kv_cache.png, ...
  links.csv, ...       network plots drawn by plot_network.py
Plots whose inputs are absent are left out. report.md shows the key figures, every summary
figure with its unit, then every PNG of the folder (including ones other scripts drew).
A damaged summary.json stops it (one line naming the file, exit 2); a damaged optional file
loses only its plots: report.md still comes, then one line naming the file, exit 2.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot_router import plot_expert_loads  # noqa: E402
from plot_common import (MISSING_MATPLOTLIB, BadInput, argument_parser, expect,  # noqa: E402
                         field, format_value, load_pyplot, read_csv, read_json, run_summary,
                         save_figure, scale_for, unit_of_key, write_atomic)

# Parts of an inference step, as the workload reports them (summary keys and layers.csv
# columns). These add up to the step time; dispatch and combine run beside compute and only
# their exposed share (exposed_comm) is on the critical path, so they are drawn apart, as
# overlapped time.
STEP_PARTS = [("attention", "tab:blue"), ("gate", "tab:cyan"), ("experts", "tab:green"),
              ("exposed_comm", "tab:purple"), ("other", "tab:gray")]
OVERLAPPED_PARTS = [("dispatch", "tab:orange"), ("combine", "tab:red")]
# layers.csv's columns of time (its parts add up to a layer's time: it has no other_ms).
LAYER_COLUMNS = [f"{p}_ms" for p, _ in STEP_PARTS + OVERLAPPED_PARTS if p != "other"]

# Summary figures the plots compute with (and gpu<N>_busy_us): numbers wherever present.
SUMMARY_NUMBERS = {f"time_{p}_ms" for p, _ in STEP_PARTS + OVERLAPPED_PARTS} | {
    "step_time_ms", "tpot_ms", "ttft_mean_ms", "ttft_p50_ms", "prefill_pass_count",
    "output_tokens_per_s_per_gpu", "input_tokens_per_s_per_gpu", "sim_time_us",
    "kv_cache_per_gpu_bytes_per_token", "kv_cache_bytes_per_token", "kv_cache_bytes_per_gpu",
    "kv_cached_tokens_per_gpu", "kv_cache_capacity_tokens_per_gpu",
    "memory_capacity_bytes_per_gpu", "weight_bytes_per_gpu", "activation_bytes_per_gpu",
    "p50_fct_slowdown", "p99_fct_slowdown", "net_delivered_messages_count"}

KEY_FIGURES = ["tpot_ms", "ttft_ms", "ttft_p50_ms", "step_time_ms", "output_tokens_per_s_per_gpu",
               "input_tokens_per_s_per_gpu", "sim_time_us", "kv_cache_bytes_per_token",
               "kv_cache_bytes_per_gpu", "kv_cache_capacity_tokens_per_gpu",
               "hbm_read_mean_bytes", "gpu_busy_mean_fraction", "max_link_utilization",
               "network_cost_per_gpu_usd"]

# Figures of compute that a run without compute ops reports as zeros (left out of its report).
COMPUTE_KEYS = re.compile(r"gpu\d+_busy_us|gpu_busy_\w+|hbm_\w+")

# Titles of the PNGs this script and plot_network.py draw, in report order.
KNOWN_PNGS = [
    ("step_breakdown.png", "Decode step: TPOT and throughput breakdown"),
    ("layer_breakdown.png", "Time per layer"),
    ("kv_cache.png", "KV cache per GPU against context length"),
    ("expert_loads.png", "Router: tokens per expert by layer"),
    ("timeline.png", "Op timeline"),
    ("gpu_busy.png", "Busy time per GPU"),
    ("link_utilization_heatmap.png", "Link utilisation by tier and plane"),
    ("queue_occupancy.png", "Queue occupancy over time"),
    ("fct_slowdown_cdf.png", "FCT slowdown CDF"),
    ("p2p_bandwidth.png", "Point-to-point bandwidth by message size"),
    ("throughput_faults.png", "Throughput around the fault"),
]
PREFILL_TITLES = {"step_breakdown.png": "Prefill: TTFT and input-token throughput breakdown",
                  "kv_cache.png": "KV cache per GPU against prompt tokens cached"}

# Flow-level networks model no buffers: these figures are 0 (or "-") there, never measured.
FLOW_UNMEASURED = re.compile(r"credit_stall|hotspot|packet|shared_buffer")
FLOW_NOTE = ("Not drawn: this run's network is flow-level (`network_fidelity` flow), which "
             "models no buffers, so queue occupancy, credit stall and its hot spots are not "
             "measured (their zero figures are left out of the table below).")

CATEGORY_COLORS = {"gemm": "tab:blue", "grouped_gemm": "tab:green", "attention": "tab:red",
                   "elementwise": "tab:gray", "all_to_all": "tab:orange", "send": "tab:orange",
                   "recv": "tab:olive", "all_gather": "tab:purple",
                   "reduce_scatter": "tab:brown", "all_reduce": "tab:pink",
                   "network": "tab:cyan"}
SPARE_COLORS = ["black", "gold", "navy", "lime", "teal", "maroon"]  # categories not listed above
TIMELINE_MAX_GPUS = 16
TIMELINE_FIRST_GPUS = 4

try:  # network plots (links.csv, messages.csv, ...) when the run had a packet or flow network
    from plot_network import network_plots  # noqa: E402
except ImportError:
    network_plots = None


def timeline_gpus(spans):
    """The GPUs (pids) to draw and a phrase saying which: every GPU up to TIMELINE_MAX_GPUS + 1
    (one more row rather than one GPU left out), else the first few (the start of a node) and those whose last span ends latest (the ones
    that set the step time), so that the figure stays readable for any cluster."""
    pids = sorted({e["pid"] for e in spans})
    every = f"every GPU with ops, {len(pids)}"
    # One over the limit costs a row, not a GPU left out.
    if len(pids) <= TIMELINE_MAX_GPUS + 1:
        return pids, every
    end = {}
    for e in spans:
        end[e["pid"]] = max(end.get(e["pid"], 0.0), e["ts"] + e["dur"])
    first = pids[:TIMELINE_FIRST_GPUS]
    late = sorted((p for p in pids[TIMELINE_FIRST_GPUS:]), key=lambda p: (-end[p], p))
    late = late[:TIMELINE_MAX_GPUS - len(first)]
    ends = {round(t, 3) for t in end.values()}
    which = ("the next by rank (all end together)" if len(ends) == 1 else
             f"the {len(late)} that finish last")
    return sorted(first + late), (f"{len(first) + len(late)} of {len(pids)} GPUs with ops: "
                                  f"GPUs {first[0]}-{first[-1]} and {which}")


def check_summary(summary, path):
    """BadInput unless every figure the plots compute with is a number."""
    for k, v in summary.items():
        if k in SUMMARY_NUMBERS or re.fullmatch(r"gpu\d+_busy_us", k):
            expect(v, "number", path, k)
    return summary


def check_timeline(timeline, path):
    """BadInput unless every op span (ph "X") has what plot_timeline reads."""
    events = field(timeline, "traceEvents", "list", path, default=[])
    for i, e in enumerate(events):
        where = f"traceEvents[{i}]"
        if expect(e, "object", path, where).get("ph") == "X":
            field(e, "pid", "integer", path, where)
            field(e, "tid", "integer", path, where, default=0)
            field(e, "ts", "number", path, where)
            field(e, "dur", "number", path, where)
            field(e, "cat", "string", path, where, default="op")
    return timeline


def plot_timeline(plt, timeline, out_png):
    spans = [e for e in timeline.get("traceEvents", []) if e.get("ph") == "X"]
    if not spans:
        return False
    pids, which = timeline_gpus(spans)
    row_of = {p: i for i, p in enumerate(pids)}
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.6 * len(pids)))
    # Three lanes per GPU, bottom to top: compute ops, communication ops, then the NIC and
    # NVLink messages in flight (category "network"), so no lane hides another.
    lanes = {"compute": (0.0, 0.3), "comm": (0.3, 0.22), "network": (0.52, 0.14)}
    # One broken_barh per (row, category): one artist per op is far too slow for a full step.
    # Receives are posted early and span their wait; draw them first so sends stay visible.
    order = {"recv": 0}
    groups = {}
    for e in spans:
        if e["pid"] not in row_of:
            continue
        cat = e.get("cat", "op")
        lane = "network" if cat == "network" else "comm" if e.get("tid", 0) else "compute"
        key = (order.get(cat, 1), cat, row_of[e["pid"]], lane)
        groups.setdefault(key, []).append((e["ts"], max(e["dur"], 1e-3)))
    spare = iter(SPARE_COLORS * 4)
    colors = {cat: CATEGORY_COLORS.get(cat) or next(spare, "tab:gray")
              for cat in sorted({k[1] for k in groups})}
    seen = set()
    for (_, cat, row, lane), bars in sorted(groups.items()):
        label = None
        if cat not in seen:
            label = "network (NIC / NVLink\nmessages in flight)" if cat == "network" else cat
        seen.add(cat)
        mid, height = lanes[lane]
        # No edges: an edge is at least a pixel wide, so the many short ops of a kind drawn
        # last (grouped GEMMs of 1 us) would cover the long ones beside them.
        ax.broken_barh(bars, (row + mid - height / 2, height), facecolors=colors[cat],
                       linewidth=0, label=label, alpha=0.6 if cat == "recv" else 1.0)
    ax.set_yticks(range(len(pids)))
    ax.set_yticklabels([f"GPU {p}" for p in pids])
    ax.set_ylim(-0.6, len(pids) - 0.2)
    ax.set_xlabel("simulated time (us)")
    ax.set_ylabel("GPU")
    ax.set_title(f"Op timeline per GPU ({which})", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, title_fontsize=8,
              title="op kind; lanes per GPU,\nbottom up: compute,\ncommunication, network")
    save_figure(plt, fig, out_png)
    return True


def plot_busy(plt, summary, out_png):
    keys = sorted((k for k in summary if re.fullmatch(r"gpu\d+_busy_us", k)),
                  key=lambda k: int(k[3:-8]))
    if not keys:
        return False
    total = summary.get("sim_time_us", 0.0)
    busy = [summary[k] for k in keys]
    if not any(busy):
        return False  # no compute at all (a network-only run): nothing to show
    idle = [max(total - b, 0.0) for b in busy]
    labels = [k[3:-8] for k in keys]
    fig, ax = plt.subplots(figsize=(max(5, 0.3 * len(keys) + 3), 4))
    ax.bar(labels, busy, label="compute busy", color="tab:blue")
    ax.bar(labels, idle, bottom=busy, label="idle / waiting", color="lightgray")
    ax.set_ylabel("time (us)")
    ax.set_xlabel("GPU rank")
    ax.tick_params(axis="x", labelsize=7 if len(keys) > 16 else 9)
    ax.set_title("Compute busy time per GPU over the run")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    save_figure(plt, fig, out_png)
    return True


def stacked(ax, x, parts, width=0.6, hatch=None):
    """Stacked bars: parts is [(name, color, [value per bar])]; returns the bar tops."""
    bottom = [0.0] * len(x)
    for name, color, values in parts:
        ax.bar(x, values, width, bottom=bottom, label=name.replace("_", " "), color=color,
               hatch=hatch, alpha=0.5 if hatch else 1.0)
        bottom = [b + v for b, v in zip(bottom, values)]
    return bottom


def read_config(run_dir):
    """The run's resolved config as a mapping: run.json's `resolved_config` (the same as
    config.resolved.yaml, as JSON), else config.resolved.yaml where PyYAML is installed (results
    of older builds), else {}; a damaged file raises BadInput naming it."""
    run_json = os.path.join(run_dir, "run.json")
    if os.path.exists(run_json):
        meta = read_json(run_json)
        if "resolved_config" in meta:
            return field(meta, "resolved_config", "object", run_json)
    path = os.path.join(run_dir, "config.resolved.yaml")
    if not os.path.exists(path):
        return {}
    try:
        import yaml
    except ImportError:
        return {}
    try:
        with open(path) as f:
            config = yaml.safe_load(f)
    except (OSError, ValueError, yaml.YAMLError) as e:  # a decoding error is a ValueError
        reason = " ".join(str(e).split())  # PyYAML's messages span lines
        raise BadInput(f"{path}: not readable YAML ({reason})") from None
    return expect(config, "object", path)


def run_phase(summary, workload):
    """"prefill" or "decode" for an inference run, else None: the keys only each phase writes
    (tpot_ms, ttft_ms), then the workload's own phase (a replayed trace may have neither)."""
    if "tpot_ms" in summary:
        return "decode"
    if "ttft_ms" in summary:
        return "prefill"
    phase = workload.get("phase")
    return phase if phase in ("decode", "prefill") else None


def count_of(workload, key):
    try:
        return int(workload[key])
    except (KeyError, TypeError, ValueError):
        return None


def plot_step_breakdown(plt, summary, phase, out_png):
    parts = [(p, c, summary[f"time_{p}_ms"]) for p, c in STEP_PARTS if f"time_{p}_ms" in summary]
    if not parts:
        return False
    comm = [(p, c, summary[f"time_{p}_ms"]) for p, c in OVERLAPPED_PARTS
            if f"time_{p}_ms" in summary]
    step = summary.get("step_time_ms", sum(v for _, _, v in parts))
    prefill = phase == "prefill"
    tpot = None if prefill else summary.get("tpot_ms")
    tput = summary.get("input_tokens_per_s_per_gpu" if prefill else "output_tokens_per_s_per_gpu")
    kind = "input" if prefill else "output"
    panels = 2 if tput else 1
    fig, axes = plt.subplots(1, panels, figsize=(7 + 3.5 * panels, 4.5), squeeze=False)
    ax = axes[0][0]
    if prefill:
        passes = summary.get("prefill_pass_count")
        bars = ["prefill step" + (f"\n({passes} passes)" if passes else "")]
    else:
        bars = ["decode step"] + (["per output\ntoken (TPOT)"] if tpot else [])
    per_bar = [1.0] + ([tpot / step] if tpot and step else [])
    tops = stacked(ax, bars, [(p, c, [v * f for f in per_bar]) for p, c, v in parts])
    for x, top in zip(bars, tops):
        ax.annotate(f"{top:.3g} ms", (x, top), ha="center", va="bottom", fontsize=9)
    if prefill:  # prompts finish at different times: where their TTFT falls on the bar
        for key, what, style in (("ttft_mean_ms", "mean", ":"), ("ttft_p50_ms", "p50", "--")):
            if key in summary:
                ax.hlines(summary[key], -0.4, 0.4, colors="black", linestyles=style,
                          label=f"TTFT {what} per prompt ({summary[key]:.3g} ms)")
    if comm:
        # Communication in flight beside compute (not on the critical path except its exposed
        # part): its own bar, hatched, so the stacks above keep adding up to the step.
        label = "dispatch + combine\n(in flight)"
        (top,) = stacked(ax, [label], [(f"{p} (overlapped)", c, [v]) for p, c, v in comm],
                         hatch="//")
        ax.annotate(f"{top:.3g} ms", (label, top), ha="center", va="bottom", fontsize=9)
    ax.set_ylabel("time (ms)")
    ax.set_ylim(0, max(ax.get_ylim()[1], 1e-9) * 1.08)  # room for the totals above the bars
    ax.set_title("Where the prefill goes (TTFT of the last prompt = the whole prefill)" if prefill
                 else "Where the step goes (TPOT = step / tokens per request per step)",
                 fontsize=9)
    if tput:
        # 1 / throughput split like the step: GPU time per 1,000 tokens, by part.
        ax = axes[0][1]
        scale = 1e6 / tput / step if step else 0.0
        (top,) = stacked(ax, [f"GPU time per 1,000 {kind} tokens"],
                         [(p, c, [v * scale]) for p, c, v in parts])
        ax.annotate(f"{top:.3g} ms = 1,000 tokens / ({tput:,.0f} {kind} tokens/s per GPU)",
                    (0, top),
                    ha="center", va="bottom", fontsize=9)
        ax.set_ylabel(f"GPU time per 1,000 {kind} tokens (ms)")
        ax.set_ylim(0, max(ax.get_ylim()[1], 1e-9) * 1.08)
        ax.set_title(f"{kind.capitalize()}-token throughput breakdown", fontsize=9)
    # One legend for both panels (the same parts), beside them so it hides no bar.
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="center right", fontsize=8)
    fig.suptitle("Prefill breakdown by part: TTFT and input-token throughput" if prefill
                 else "Decode step breakdown by part: TPOT and throughput")
    fig.tight_layout(rect=(0, 0, 1 - 2.0 / fig.get_figwidth(), 1))
    save_figure(plt, fig, out_png, tight=False)  # the layout leaves the legend its margin
    return True


def plot_layers(plt, rows, summary, phase, out_png, mtp_depth=0):
    cols = [(p, c) for p, c in STEP_PARTS if rows and f"{p}_ms" in rows[0]]
    if not rows or not cols:
        return False
    layers = [r.get("layer", str(i)) for i, r in enumerate(rows)]
    # The MTP modules come last, numbered after the model's layers (module d is layer
    # num_hidden_layers + d in layers.csv): named as such, counted from 0 as the README and the
    # ops' names (mtp0., mtp1., ...) count them.
    if 0 < mtp_depth < len(layers):
        for d in range(mtp_depth):
            layers[len(layers) - mtp_depth + d] = f"MTP {d}"
        first = rows[len(rows) - mtp_depth].get("layer", "")
    fig, ax = plt.subplots(figsize=(max(7, 0.25 * len(rows) + 4), 4.5))
    x = list(range(len(rows)))
    stacked(ax, x, [(p, c, [float(r[f"{p}_ms"]) for r in rows]) for p, c in cols], width=0.8)
    for p, c in OVERLAPPED_PARTS:  # in flight beside compute: a line, not part of the stack
        if f"{p}_ms" in rows[0]:
            ax.plot(x, [float(r[f"{p}_ms"]) for r in rows], color=c, marker=".",
                    linewidth=1, label=f"{p} in flight (overlapped)")
    # At most about 30 tick labels; the MTP modules' are always shown (every other layer's
    # label would skip DeepSeek-V3's MTP 0, layer 61), the model's layers thinned before them.
    step = max(1, len(rows) // 30)
    mtp = len(rows) - mtp_depth if 0 < mtp_depth < len(rows) else len(rows)
    ticks = [i for i in range(0, mtp, step) if mtp == len(rows) or mtp - i >= step]
    ticks += list(range(mtp, len(rows)))
    ax.set_xticks(ticks)
    ax.set_xticklabels([layers[i] for i in ticks], fontsize=8)
    ax.set_xlabel("layer" if not 0 < mtp_depth < len(layers) else
                  f"layer (MTP d: MTP module d, layer {first} + d in layers.csv)")
    ax.set_ylabel("time (ms)")
    what = {"prefill": "prefill step", "decode": "decode step"}.get(phase, "step")
    rank = summary.get("breakdown_rank")
    gpu = f"GPU {rank}" if isinstance(rank, int) else "one GPU"
    ax.set_title(f"Time per layer by part\n({what}, {gpu})", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    save_figure(plt, fig, out_png)
    return True


def powers_of_two_to(top):
    """1K, 2K, ... up to the first power of two at or above top (at least 128K)."""
    xs = [2 ** 10]
    while xs[-1] < max(top, 2 ** 17):
        xs.append(xs[-1] * 2)
    return xs


def plot_kv_cache(plt, summary, workload, phase, out_png):
    """KV cache per GPU with the HBM-capacity wall. Decode: against context length, for this
    run's requests per GPU; prefill: against the prompt tokens a GPU caches. This run's point
    is the summary's own kv_cache_bytes_per_gpu."""
    per_token = (summary.get("kv_cache_per_gpu_bytes_per_token") or
                 summary.get("kv_cache_bytes_per_token"))
    if not per_token:
        return False
    capacity = summary.get("kv_cache_capacity_tokens_per_gpu")
    run_bytes = summary.get("kv_cache_bytes_per_gpu")
    run_tokens = summary.get("kv_cached_tokens_per_gpu") or (
        run_bytes / per_token if run_bytes else None)
    # The MTP module's cache goes with every token too, as the capacity in tokens counts it: the
    # curve and this run's point include it, so that the curve meets the wall at that capacity.
    mtp_bytes = summary.get("kv_cache_mtp_bytes_per_gpu") or 0
    with_mtp = ""
    if run_bytes and mtp_bytes:
        per_token *= (run_bytes + mtp_bytes) / run_bytes
        run_bytes += mtp_bytes
        with_mtp = " (MTP module's cache included)"
    prefill = phase == "prefill"
    requests = count_of(workload, "requests_per_gpu")
    # A GPU of an attention-TP group caches the sequences of the whole group (its heads' share).
    tp = count_of(workload, "attention_tp") or 1
    seqs = requests * tp if requests else None
    what = "requests" if tp == 1 else "sequences"
    per_x = per_token if prefill else per_token * (seqs or 1)
    run_x = run_tokens if prefill else (run_tokens / seqs if seqs and run_tokens else None)
    xs = powers_of_two_to((run_x or 0) if not prefill else max(run_x or 0, capacity or 0))
    two = capacity and not prefill
    fig, axes = plt.subplots(1, 2 if two else 1, figsize=(12 if two else 6.5, 4.5),
                             squeeze=False)
    ax = axes[0][0]
    kv = [per_x * x for x in xs]
    f, unit = scale_for(kv + [v for v in (run_bytes, capacity and capacity * per_token) if v],
                        "B")  # (the wall is within 5% of capacity x per_token: same scale)
    if prefill:
        label = f"{per_token:,.0f} B per token{with_mtp}"
    else:
        label = (f"{seqs or 1} {what if (seqs or 1) > 1 else what[:-1]} per GPU"
                 f"{f' ({requests} requests x attention TP {tp})' if tp > 1 else ''}, "
                 f"{per_token:,.0f} B per token{with_mtp}")
    ax.plot(xs, [v / f for v in kv], marker="o", label=label)
    if capacity:
        # The HBM left after weights and activations (the capacity in tokens counts each
        # token's MTP-module cache as well, so the wall is those bytes, not tokens x per_token).
        parts = [summary.get(k) for k in ("memory_capacity_bytes_per_gpu",
                                          "weight_bytes_per_gpu", "activation_bytes_per_gpu")]
        left = (parts[0] - parts[1] - parts[2] if all(v is not None for v in parts)
                else capacity * per_token)
        ax.axhline(left / f, color="tab:red", ls="--",
                   label=f"HBM left for KV ({capacity:,.0f} tokens)")
    if run_bytes:
        rf, run_unit = scale_for([run_bytes], "B")
        label = f"this run: {run_bytes / rf:.3g} {run_unit} per GPU"
    if run_bytes and run_x:
        mean = "" if prefill or "kv_cached_tokens_per_gpu" not in summary else "mean "
        ax.plot([run_x], [run_bytes / f], "k*", ms=12,
                label=f"{label} at {mean}{run_x:,.0f} tokens" +
                      ("" if prefill else " per request"))
    elif run_bytes:  # where on the curve is unknown (no config): the figure alone
        ax.axhline(run_bytes / f, color="black", ls=":", label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("prompt tokens cached per GPU (tokens)" if prefill
                  else "context length per request (tokens)")
    ax.set_ylabel(f"KV cache per GPU ({unit})")
    ax.set_title("KV cache per GPU against prompt tokens (prefill)" if prefill
                 else "KV cache per GPU against context length")
    ax.legend(fontsize=8)
    if two:
        ax = axes[0][1]
        ax.plot(xs, [capacity / x for x in xs], marker="o", color="tab:green",
                label=f"{what} whose KV fits in HBM")
        if seqs:
            ax.axhline(seqs, color="tab:gray", ls=":", label=f"this run: {seqs} {what}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("context length per request (tokens)")
        ax.set_ylabel(f"{what} per GPU (count)")
        ax.set_title(f"The HBM-capacity wall: {what} per GPU that fit")
        ax.legend(fontsize=8)
    save_figure(plt, fig, out_png)
    return True


def report(run_dir, summary, images, description=None):
    """images: [(title, png or None, note)]; a note stands where a plot was left out."""
    flow = summary.get("network_fidelity") == "flow"
    lines = [f"# Run report: {summary.get('scenario', run_dir)}", ""]
    if isinstance(description, str) and description:
        lines += [description, ""]
    # A run without compute (a network-only workload): its GPU busy and HBM figures are all
    # zero and say nothing; they are left out, and the report says so.
    busy = [v for k, v in summary.items() if re.fullmatch(r"gpu\d+_busy_us", k)]
    no_compute = bool(busy) and not any(busy) and not summary.get("gpu_busy_mean_fraction")
    if no_compute:
        lines += ["No compute ops ran (a network-only workload): the GPU busy and HBM figures, "
                  "all zero, are left out.", ""]

    def shown(k, v):
        return not (no_compute and v == 0 and COMPUTE_KEYS.fullmatch(k))

    key = [k for k in KEY_FIGURES if k in summary and shown(k, summary[k])]
    if key:
        lines += ["## Key figures", "", "| figure | value | unit |", "|---|---:|---|"]
        lines += [f"| {k} | {format_value(summary[k])} | {unit_of_key(k)} |" for k in key]
        lines.append("")
    for title, img, note in images:
        lines += [f"## {title}", "", f"![{title}]({img})" if img else note, ""]
    lines += ["## Every figure", "",
              "Open `timeline.json` in Perfetto (ui.perfetto.dev) or chrome://tracing for the "
              "full timeline; `stats.json` has every counter of every module.", "",
              "| figure | value | unit |", "|---|---:|---|"]
    for k, v in summary.items():
        if isinstance(v, (list, dict)):
            continue  # the per-layer list: layers.csv and its plot show it
        if flow and FLOW_UNMEASURED.search(k) and v in (0, "-"):
            continue  # not measured at flow level (FLOW_NOTE says so)
        if not shown(k, v):
            continue
        unit = "" if isinstance(v, str) else unit_of_key(k)
        lines.append(f"| {k} | {format_value(v)} | {unit} |")
    write_atomic(os.path.join(run_dir, "report.md"), "\n".join(lines) + "\n")


def report_images(run_dir, summary, phase):
    """Every PNG of the folder, known ones in a fixed order (the flow-level note in place of
    the queue plot), any others after them by name."""
    present = sorted(f for f in os.listdir(run_dir) if f.endswith(".png") and
                     not f.startswith("."))
    flow = (summary.get("network_fidelity") == "flow" and
            os.path.exists(os.path.join(run_dir, "links.csv")))
    titles = dict(KNOWN_PNGS, **(PREFILL_TITLES if phase == "prefill" else {}))
    images = []
    for png, _ in KNOWN_PNGS:
        if png in present:
            images.append((titles[png], png, None))
        elif png == "queue_occupancy.png" and flow:
            images.append((titles[png], None, FLOW_NOTE))
    images += [(os.path.splitext(f)[0].replace("_", " "), f, None) for f in present
               if f not in titles]
    return images


def main():
    ap = argument_parser(__doc__)
    ap.add_argument("run_dir", metavar="RESULTS_DIR", help="a run folder (holds summary.json)")
    ap.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    args = ap.parse_args()
    run_dir = args.run_dir
    summary_path, summary = run_summary("plot_run", run_dir)
    if summary is None:
        return 2
    try:
        check_summary(summary, summary_path)
    except BadInput as e:
        print(f"plot_run: {e}", file=sys.stderr)
        return 2
    # A damaged optional file loses its plots only; the first one is reported at the end.
    damaged = []

    def attempt(read, fallback=None):
        try:
            return read()
        except BadInput as e:
            damaged.append(str(e))
            return fallback

    config = attempt(lambda: read_config(run_dir), {})
    config_path = os.path.join(run_dir, "config.resolved.yaml")
    workload = attempt(lambda: field(config, "workload", "object", config_path, default={}), {})
    phase = run_phase(summary, workload)

    # Plots of an earlier run into the same folder must not pass for this run's.
    for png, _ in KNOWN_PNGS:
        if os.path.exists(os.path.join(run_dir, png)):
            os.remove(os.path.join(run_dir, png))
    plt = load_pyplot()
    if plt is None:
        if not args.quiet:
            print(f"plot_run: {MISSING_MATPLOTLIB} (install python3-matplotlib); "
                  "report.md has the tables only", file=sys.stderr)
    else:
        plot_step_breakdown(plt, summary, phase, os.path.join(run_dir, "step_breakdown.png"))
        layers = os.path.join(run_dir, "layers.csv")
        rows = attempt(lambda: read_csv(layers, ["layer"], LAYER_COLUMNS), [])
        mtp = workload.get("mtp") if isinstance(workload.get("mtp"), dict) else {}
        depth = mtp.get("depth") if isinstance(mtp.get("depth"), int) else 0
        plot_layers(plt, rows, summary, phase, os.path.join(run_dir, "layer_breakdown.png"),
                    depth)
        plot_kv_cache(plt, summary, workload, phase, os.path.join(run_dir, "kv_cache.png"))
        attempt(lambda: plot_expert_loads(plt, os.path.join(run_dir, "expert_loads.csv"),
                                          os.path.join(run_dir, "expert_loads.png")))
        path = os.path.join(run_dir, "timeline.json")
        timeline = attempt(lambda: check_timeline(read_json(path), path), {})
        plot_timeline(plt, timeline, os.path.join(run_dir, "timeline.png"))
        plot_busy(plt, summary, os.path.join(run_dir, "gpu_busy.png"))
        if network_plots is not None:
            attempt(lambda: network_plots(plt, run_dir))
    report(run_dir, summary, report_images(run_dir, summary, phase), config.get("description"))
    if damaged:
        more = f" (and {len(damaged) - 1} more damaged file(s))" if len(damaged) > 1 else ""
        print(f"plot_run: {damaged[0]}{more}; report.md has the rest", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"plots and report: {run_dir}/report.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
