#!/usr/bin/env python3
"""Draws the plots and the Markdown report of one run folder (results/<run>/).

Reads only the run's result files (summary.json, timeline.json, and the optional CSVs other
parts of the simulator write); never the simulator itself. Usage: plot_run.py RESULTS_DIR
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot_common import load_pyplot, unit_of_key, write_atomic  # noqa: E402


def plot_timeline(plt, timeline, out_png):
    spans = [e for e in timeline.get("traceEvents", []) if e.get("ph") == "X"]
    if not spans:
        return False
    pids = sorted({e["pid"] for e in spans})
    colors = {"gemm": "tab:blue", "send": "tab:orange", "recv": "tab:green"}
    fig, ax = plt.subplots(figsize=(10, 0.5 + 0.6 * len(pids)))
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
        ax.broken_barh(bars, (row - 0.15, 0.3), color=colors.get(cat, "tab:gray"), label=label,
                       alpha=0.6 if cat == "recv" else 1.0)
    ax.set_yticks(range(len(pids)))
    ax.set_yticklabels([f"GPU {p}" for p in pids])
    ax.set_xlabel("simulated time (us)")
    ax.set_ylabel("GPU (lower bar compute, upper bar communication)", fontsize=8)
    ax.set_title("Op timeline per GPU")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return True


def plot_busy(plt, summary, out_png):
    keys = sorted((k for k in summary if k.startswith("gpu") and k.endswith("_busy_us")
                   and k[3:-8].isdigit()), key=lambda k: int(k[3:-8]))
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
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return True


def format_value(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


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

    images = []
    plt = load_pyplot()
    if plt is None:
        print("plot_run: matplotlib is not available; plots skipped (install python3-matplotlib)",
              file=sys.stderr)
    else:
        if plot_timeline(plt, timeline, os.path.join(run_dir, "timeline.png")):
            images.append(("Op timeline", "timeline.png"))
        if plot_busy(plt, summary, os.path.join(run_dir, "gpu_busy.png")):
            images.append(("Busy time per GPU", "gpu_busy.png"))

    lines = [f"# Run report: {summary.get('scenario', run_dir)}", "",
             "Open `timeline.json` in Perfetto (ui.perfetto.dev) or chrome://tracing for the "
             "full timeline.", "", "| figure | value | unit |", "|---|---:|---|"]
    for k, v in summary.items():
        unit = "" if isinstance(v, str) else unit_of_key(k)
        lines.append(f"| {k} | {format_value(v)} | {unit} |")
    for title, img in images:
        lines += ["", f"## {title}", "", f"![{title}]({img})"]
    write_atomic(os.path.join(run_dir, "report.md"), "\n".join(lines) + "\n")
    print(f"plots and report: {run_dir}/report.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
