#!/usr/bin/env python3
"""Draws the plots and the Markdown report of one run folder (results/<run>/).

Reads only the run's result files, never the simulator:
  summary.json         every figure (required)
  timeline.json        op spans per GPU                     -> timeline.png
  summary.json         gpu<N>_busy_us                       -> gpu_busy.png
  summary.json         time_<part>_ms, step_time_ms, tpot_ms, output_tokens_per_s_per_gpu
                                                            -> step_breakdown.png
  layers.csv           layer,attention_ms,gate_ms,...       -> layer_breakdown.png
  summary.json         kv_cache_bytes_per_token, kv_cache_capacity_tokens_per_gpu
  config.resolved.yaml workload.requests_per_gpu, context_length (optional)
                                                            -> kv_cache.png
  links.csv, ...       network plots drawn by plot_network.py
Plots whose inputs are absent are left out. report.md shows the key figures, every summary
figure with its unit, then every PNG of the folder (including ones other scripts drew).
Usage: plot_run.py RESULTS_DIR
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot_common import (MISSING_MATPLOTLIB, format_value, load_pyplot,  # noqa: E402
                         read_csv, save_figure, scale_for, unit_of_key, write_atomic)

# Parts of a decode step, as the workload reports them (summary keys and layers.csv columns).
# These add up to the step time; dispatch and combine run beside compute and only their exposed
# share (exposed_comm) is on the critical path, so they are drawn apart, as overlapped time.
STEP_PARTS = [("attention", "tab:blue"), ("gate", "tab:cyan"), ("experts", "tab:green"),
              ("exposed_comm", "tab:purple"), ("other", "tab:gray")]
OVERLAPPED_PARTS = [("dispatch", "tab:orange"), ("combine", "tab:red")]

KEY_FIGURES = ["tpot_ms", "step_time_ms", "output_tokens_per_s_per_gpu", "sim_time_us",
               "kv_cache_bytes_per_token", "kv_cache_capacity_tokens_per_gpu",
               "hbm_read_mean_bytes", "gpu_busy_mean_fraction", "max_link_utilization",
               "network_cost_per_gpu_usd"]

# Titles of the PNGs this script and plot_network.py draw, in report order.
KNOWN_PNGS = [
    ("step_breakdown.png", "Decode step: TPOT and throughput breakdown"),
    ("layer_breakdown.png", "Time per layer"),
    ("kv_cache.png", "KV cache per GPU against context length"),
    ("timeline.png", "Op timeline"),
    ("gpu_busy.png", "Busy time per GPU"),
    ("link_utilization_heatmap.png", "Link utilisation by tier and plane"),
    ("queue_occupancy.png", "Queue occupancy over time"),
    ("fct_slowdown_cdf.png", "FCT slowdown CDF"),
    ("p2p_bandwidth.png", "Point-to-point bandwidth by message size"),
    ("throughput_faults.png", "Throughput around the fault"),
]

CATEGORY_COLORS = {"gemm": "tab:blue", "grouped_gemm": "tab:green", "attention": "tab:red",
                   "elementwise": "tab:gray", "all_to_all": "tab:orange", "send": "tab:orange",
                   "recv": "tab:olive", "all_gather": "tab:purple",
                   "reduce_scatter": "tab:brown", "all_reduce": "tab:pink"}

try:  # network plots (links.csv, messages.csv, ...) when the run had a packet or flow network
    from plot_network import network_plots  # noqa: E402
except ImportError:
    network_plots = None


def plot_timeline(plt, timeline, out_png):
    spans = [e for e in timeline.get("traceEvents", []) if e.get("ph") == "X"]
    if not spans:
        return False
    pids = sorted({e["pid"] for e in spans})
    fig, ax = plt.subplots(figsize=(10, 1.0 + 0.6 * len(pids)))
    # One broken_barh per (row, category): one artist per op is far too slow for a full step.
    # Receives are posted early and span their wait; draw them first so sends stay visible.
    order = {"recv": 0}
    groups = {}
    for e in spans:
        row = pids.index(e["pid"]) + (0.35 if e.get("tid", 0) else 0.0)
        groups.setdefault((order.get(e.get("cat"), 1), e.get("cat", "op"), row), []).append(
            (e["ts"], max(e["dur"], 1e-3)))
    seen = set()
    for (_, cat, row), bars in sorted(groups.items()):
        label = cat if cat not in seen else None
        seen.add(cat)
        ax.broken_barh(bars, (row - 0.15, 0.3), color=CATEGORY_COLORS.get(cat, "tab:gray"),
                       label=label,
                       alpha=0.6 if cat == "recv" else 1.0)
    ax.set_yticks(range(len(pids)))
    ax.set_yticklabels([f"GPU {p}" for p in pids])
    ax.set_xlabel("simulated time (us)")
    ax.set_ylabel("GPU (lower bar compute, upper bar communication)", fontsize=8)
    ax.set_title("Op timeline per GPU")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, title="op kind")
    save_figure(plt, fig, out_png)
    return True


def plot_busy(plt, summary, out_png):
    keys = sorted((k for k in summary if re.fullmatch(r"gpu\d+_busy_us", k)),
                  key=lambda k: int(k[3:-8]))
    if not keys:
        return False
    total = summary.get("sim_time_us", 0.0)
    busy = [summary[k] for k in keys]
    idle = [max(total - b, 0.0) for b in busy]
    labels = [k[:-8].upper() for k in keys]
    fig, ax = plt.subplots(figsize=(max(5, 0.5 * len(keys) + 2), 4))
    ax.bar(labels, busy, label="compute busy", color="tab:blue")
    ax.bar(labels, idle, bottom=busy, label="idle / waiting", color="lightgray")
    ax.set_ylabel("time (us)")
    ax.set_xlabel("GPU")
    ax.set_title("Compute busy time per GPU over the run")
    ax.legend()
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


def plot_step_breakdown(plt, summary, out_png):
    parts = [(p, c, summary[f"time_{p}_ms"]) for p, c in STEP_PARTS if f"time_{p}_ms" in summary]
    if not parts:
        return False
    comm = [(p, c, summary[f"time_{p}_ms"]) for p, c in OVERLAPPED_PARTS
            if f"time_{p}_ms" in summary]
    step = summary.get("step_time_ms", sum(v for _, _, v in parts))
    tpot = summary.get("tpot_ms")
    tput = summary.get("output_tokens_per_s_per_gpu")
    panels = 2 if tput else 1
    fig, axes = plt.subplots(1, panels, figsize=(5 + 3.5 * panels, 4.5), squeeze=False)
    ax = axes[0][0]
    bars = ["decode step"] + (["per output\ntoken (TPOT)"] if tpot else [])
    per_bar = [1.0] + ([tpot / step] if tpot and step else [])
    tops = stacked(ax, bars, [(p, c, [v * f for f in per_bar]) for p, c, v in parts])
    for x, top in zip(bars, tops):
        ax.annotate(f"{top:.3g} ms", (x, top), ha="center", va="bottom", fontsize=9)
    if comm:
        # Communication in flight beside compute (not on the critical path except its exposed
        # part): its own bar, hatched, so the stacks above keep adding up to the step.
        label = "dispatch + combine\n(in flight)"
        (top,) = stacked(ax, [label], [(f"{p} (overlapped)", c, [v]) for p, c, v in comm],
                         hatch="//")
        ax.annotate(f"{top:.3g} ms", (label, top), ha="center", va="bottom", fontsize=9)
    ax.set_ylabel("time (ms)")
    ax.set_title("Where the step goes (TPOT = step / tokens per request per step)", fontsize=9)
    ax.legend(fontsize=8)
    if tput:
        # 1 / throughput split like the step: GPU time per 1,000 output tokens, by part.
        ax = axes[0][1]
        scale = 1e6 / tput / step if step else 0.0
        (top,) = stacked(ax, ["GPU time per 1,000 output tokens"],
                         [(p, c, [v * scale]) for p, c, v in parts])
        ax.annotate(f"{top:.3g} ms = 1e6 / ({tput:.4g} tokens/s per GPU)", (0, top),
                    ha="center", va="bottom", fontsize=9)
        ax.set_ylabel("GPU time per 1,000 output tokens (ms)")
        ax.set_title("Throughput breakdown", fontsize=9)
        ax.legend(fontsize=8)
    fig.suptitle("Decode step breakdown by part: TPOT and throughput")
    save_figure(plt, fig, out_png)
    return True


def plot_layers(plt, rows, out_png):
    cols = [(p, c) for p, c in STEP_PARTS if rows and f"{p}_ms" in rows[0]]
    if not rows or not cols:
        return False
    layers = [r.get("layer", str(i)) for i, r in enumerate(rows)]
    fig, ax = plt.subplots(figsize=(max(6, 0.25 * len(rows) + 3), 4.5))
    x = list(range(len(rows)))
    stacked(ax, x, [(p, c, [float(r[f"{p}_ms"] or 0) for r in rows]) for p, c in cols], width=0.8)
    for p, c in OVERLAPPED_PARTS:  # in flight beside compute: a line, not part of the stack
        if f"{p}_ms" in rows[0]:
            ax.plot(x, [float(r[f"{p}_ms"] or 0) for r in rows], color=c, marker=".",
                    linewidth=1, label=f"{p} in flight (overlapped)")
    step = max(1, len(rows) // 30)
    ax.set_xticks(list(range(0, len(rows), step)))
    ax.set_xticklabels(layers[::step], fontsize=8)
    ax.set_xlabel("layer")
    ax.set_ylabel("time (ms)")
    ax.set_title("Time per layer by part (decode step, one GPU)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    save_figure(plt, fig, out_png)
    return True


def workload_shape(run_dir):
    """(requests_per_gpu, context_length) from config.resolved.yaml, or (None, None)."""
    path = os.path.join(run_dir, "config.resolved.yaml")
    if not os.path.exists(path):
        return None, None
    try:
        import yaml
        with open(path) as f:
            w = (yaml.safe_load(f) or {}).get("workload", {}) or {}
        return int(w["requests_per_gpu"]), int(w["context_length"])
    except Exception:  # PyYAML missing, or a workload without these keys
        return None, None


def plot_kv_cache(plt, summary, run_dir, out_png):
    per_token = summary.get("kv_cache_bytes_per_token")
    if not per_token:
        return False
    capacity = summary.get("kv_cache_capacity_tokens_per_gpu")
    requests, context = workload_shape(run_dir)
    batch = requests or 1
    contexts = [2 ** i for i in range(10, 18)]  # 1K .. 128K
    if context and context > contexts[-1]:
        contexts.append(context)
    fig, axes = plt.subplots(1, 2 if capacity else 1, figsize=(12 if capacity else 6.5, 4.5),
                             squeeze=False)
    ax = axes[0][0]
    kv = [per_token * batch * c for c in contexts]
    f, unit = scale_for(kv + ([capacity * per_token] if capacity else []), "B")
    ax.plot(contexts, [v / f for v in kv], marker="o",
            label=f"{batch} request{'s' if batch > 1 else ''} per GPU, "
                  f"{per_token:,.0f} B per token")
    if capacity:
        ax.axhline(capacity * per_token / f, color="tab:red", ls="--",
                   label=f"HBM left for KV ({capacity:,.0f} tokens)")
    if context:
        ax.plot([context], [per_token * batch * context / f], "k*", ms=12,
                label=f"this run: {context:,} tokens")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel(f"KV cache per GPU ({unit})")
    ax.set_title("KV cache per GPU against context length")
    ax.legend(fontsize=8)
    if capacity:
        ax = axes[0][1]
        ax.plot(contexts, [capacity / c for c in contexts], marker="o", color="tab:green",
                label="requests whose KV fits in HBM")
        if requests:
            ax.axhline(requests, color="tab:gray", ls=":", label=f"this run: {requests} requests")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("context length (tokens)")
        ax.set_ylabel("requests per GPU (count)")
        ax.set_title("The HBM-capacity wall: requests per GPU that fit")
        ax.legend(fontsize=8)
    save_figure(plt, fig, out_png)
    return True


def report(run_dir, summary, images):
    lines = [f"# Run report: {summary.get('scenario', run_dir)}", ""]
    if isinstance(summary.get("description"), str):
        lines += [summary["description"], ""]
    key = [k for k in KEY_FIGURES if k in summary]
    if key:
        lines += ["## Key figures", "", "| figure | value | unit |", "|---|---:|---|"]
        lines += [f"| {k} | {format_value(summary[k])} | {unit_of_key(k)} |" for k in key]
        lines.append("")
    for title, img in images:
        lines += [f"## {title}", "", f"![{title}]({img})", ""]
    lines += ["## Every figure", "",
              "Open `timeline.json` in Perfetto (ui.perfetto.dev) or chrome://tracing for the "
              "full timeline; `stats.json` has every counter of every module.", "",
              "| figure | value | unit |", "|---|---:|---|"]
    for k, v in summary.items():
        if isinstance(v, (list, dict)):
            continue  # the per-layer list: layers.csv and its plot show it
        unit = "" if isinstance(v, str) else unit_of_key(k)
        lines.append(f"| {k} | {format_value(v)} | {unit} |")
    write_atomic(os.path.join(run_dir, "report.md"), "\n".join(lines) + "\n")


def main():
    if len(sys.argv) != 2:
        print("usage: plot_run.py RESULTS_DIR", file=sys.stderr)
        return 2
    run_dir = sys.argv[1]
    summary_path = os.path.join(run_dir, "summary.json")
    if not os.path.exists(summary_path):
        print(f"plot_run: {summary_path}: no summary (run not finished?)", file=sys.stderr)
        return 2
    with open(summary_path) as f:
        summary = json.load(f)
    timeline = {}
    tl_path = os.path.join(run_dir, "timeline.json")
    if os.path.exists(tl_path):
        with open(tl_path) as f:
            timeline = json.load(f)

    # Plots of an earlier run into the same folder must not pass for this run's.
    for png, _ in KNOWN_PNGS:
        if os.path.exists(os.path.join(run_dir, png)):
            os.remove(os.path.join(run_dir, png))
    plt = load_pyplot()
    if plt is None:
        print(f"plot_run: {MISSING_MATPLOTLIB} (install python3-matplotlib); "
              "report.md has the tables only", file=sys.stderr)
    else:
        plot_step_breakdown(plt, summary, os.path.join(run_dir, "step_breakdown.png"))
        plot_layers(plt, read_csv(os.path.join(run_dir, "layers.csv")),
                    os.path.join(run_dir, "layer_breakdown.png"))
        plot_kv_cache(plt, summary, run_dir, os.path.join(run_dir, "kv_cache.png"))
        plot_timeline(plt, timeline, os.path.join(run_dir, "timeline.png"))
        plot_busy(plt, summary, os.path.join(run_dir, "gpu_busy.png"))
        if network_plots is not None:
            try:  # a broken network plot must not lose the run's report
                network_plots(plt, run_dir)
            except Exception as e:  # noqa: BLE001
                print(f"plot_run: network plots failed: {e}", file=sys.stderr)

    # Every PNG of the folder: known ones in a fixed order, any others after them by name.
    present = sorted(f for f in os.listdir(run_dir) if f.endswith(".png") and
                     not f.startswith("."))
    images = [(t, f) for f, t in KNOWN_PNGS if f in present]
    known = {f for f, _ in KNOWN_PNGS}
    images += [(os.path.splitext(f)[0].replace("_", " "), f) for f in present if f not in known]
    report(run_dir, summary, images)
    print(f"plots and report: {run_dir}/report.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
