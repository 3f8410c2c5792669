#!/usr/bin/env python3
"""Draws a sweep's trade-off curves from its sweep.csv and writes report.md beside it.

Usage: plot_sweep.py SWEEP_DIR PLOTS_JSON
PLOTS_JSON holds {"name": ..., "plots": [{"x": KEY, "y": KEY, "series": KEY or ""}]}; keys are
sweep.csv columns (axis keys or summary keys). Values with units ("400Gb/s") are placed by
their number; the unit goes into the axis label.
"""
import csv
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot_common import load_pyplot, unit_of_key, write_atomic  # noqa: E402

_NUMBER = re.compile(r"^\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(.*)$")


def split_value(text):
    m = _NUMBER.match(text or "")
    if not m:
        return None, ""
    return float(m.group(1)), m.group(2)


def axis_label(key, rows):
    units = {split_value(r.get(key, ""))[1] for r in rows} - {""}
    unit = units.pop() if len(units) == 1 else unit_of_key(key)
    return f"{key} ({unit})" if unit and unit != "-" else key


def draw(plt, rows, spec, out_png, title_prefix):
    x, y, series = spec["x"], spec["y"], spec.get("series") or ""
    groups = {}
    for r in rows:
        xv, _ = split_value(r.get(x, ""))
        yv, _ = split_value(r.get(y, ""))
        if xv is None or yv is None:
            continue
        groups.setdefault(r.get(series, "") if series else "", []).append((xv, yv))
    if not groups:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, pts in sorted(groups.items()):
        pts.sort()
        label = f"{series} = {name}" if series else y
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
    xs = [p[0] for pts in groups.values() for p in pts]
    if min(xs) > 0 and max(xs) / min(xs) >= 50:
        ax.set_xscale("log")
    ax.set_xlabel(axis_label(x, rows))
    ax.set_ylabel(axis_label(y, rows))
    ax.set_title(f"{title_prefix}: {y} against {x}")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return True


def main():
    if len(sys.argv) != 3:
        print("usage: plot_sweep.py SWEEP_DIR PLOTS_JSON", file=sys.stderr)
        return 2
    sweep_dir, plots_path = sys.argv[1], sys.argv[2]
    with open(plots_path) as f:
        spec = json.load(f)
    with open(os.path.join(sweep_dir, "sweep.csv")) as f:
        rows = list(csv.DictReader(f))
    plt = load_pyplot()
    if plt is None:
        print("plot_sweep: matplotlib is not available; plots skipped (install python3-matplotlib)",
              file=sys.stderr)
        return 0
    lines = [f"# Sweep report: {spec.get('name', '')}", "",
             f"{len(rows)} points; every figure is in `sweep.csv`.", ""]
    for i, p in enumerate(spec.get("plots", [])):
        name = f"plot_{i}_{re.sub('[^A-Za-z0-9]+', '_', p['y'])}.png"
        if draw(plt, rows, p, os.path.join(sweep_dir, name), spec.get("name", "sweep")):
            lines += [f"## {p['y']} against {p['x']}", "", f"![{p['y']}]({name})", ""]
        else:
            lines += [f"## {p['y']} against {p['x']}", "", "(no numeric data for this plot)", ""]
    write_atomic(os.path.join(sweep_dir, "report.md"), "\n".join(lines))
    print(f"sweep report: {sweep_dir}/report.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
