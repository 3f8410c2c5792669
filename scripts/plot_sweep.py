#!/usr/bin/env python3
"""Draws a sweep's trade-off curves from its sweep.csv and writes report.md beside them.

PLOTS_JSON (written by `mlasim sweep`) holds
  {"name": ..., "axes": [KEY, ...], "plots": [{"x": KEY, "y": KEY, "series": KEY or "",
                                               "title": TEXT or ""}]}
where keys are sweep.csv columns (axis keys or summary keys). Values with units ("400Gb/s")
are placed by their number and the unit goes into the axis label (an axis mixing units of one
kind, "400Gb/s" and "1.6Tb/s", is converted to one); summary keys take their unit from their
suffix. One curve per value of `series`. Reads only sweep.csv and PLOTS_JSON.
Without matplotlib the report keeps its table and the plots are skipped (exit 0). A damaged
PLOTS_JSON or sweep.csv stops it with one line naming the file, exit 2.
"""
import os
import re
import sys
import textwrap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot_common import (MISSING_MATPLOTLIB, BadInput, argument_parser,  # noqa: E402
                         axis_text, expect, field, label_of_key, load_pyplot, read_csv,
                         read_json, save_figure, scale_for, unit_of_key, write_atomic)

_NUMBER = re.compile(r"^\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(.*)$")


def split_value(text):
    m = _NUMBER.match(text or "")
    if not m:
        return None, ""
    return float(m.group(1)), m.group(2)


# Units an axis value may carry, as (factor to the base unit, base unit): an axis that mixes
# them ("200Gb/s", "1.6Tb/s"; "500ns", "2.5us") is placed and labelled in one unit.
_UNIT_BASE = {"s": (1.0, "s"), "ms": (1e-3, "s"), "us": (1e-6, "s"), "ns": (1e-9, "s"),
              "ps": (1e-12, "s")}
for _p, _f in (("", 1.0), ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12)):
    for _base in ("B", "B/s", "b/s", "Hz", "FLOP/s"):
        _UNIT_BASE[_p + _base] = (_f, _base)
for _p, _f in (("Ki", 2.0 ** 10), ("Mi", 2.0 ** 20), ("Gi", 2.0 ** 30), ("Ti", 2.0 ** 40)):
    _UNIT_BASE[_p + "B"] = (_f, "B")


def in_base_unit(text):
    """(number in its base unit, base unit) for a value with a known unit, else as written."""
    v, unit = split_value(text)
    if v is not None and unit in _UNIT_BASE:
        factor, base = _UNIT_BASE[unit]
        return v * factor, base
    return v, unit


def column_units(key, rows):
    """(unit, mixed): the unit a column's numbers are in, and whether they must first be brought
    to it (their units differ but share a base). Else the key's suffix unit."""
    units = {split_value(r.get(key, ""))[1] for r in rows} - {""}
    if len(units) == 1:
        return units.pop(), False
    bases = {_UNIT_BASE[u][1] for u in units if u in _UNIT_BASE}
    if units and len(bases) == 1 and all(u in _UNIT_BASE for u in units):
        return bases.pop(), True
    return unit_of_key(key), False


def unit_of_column(key, rows):
    """The unit of a column's numbers as plotted ("Gb/s"; "b/s" when it mixes Gb/s and Tb/s)."""
    return column_units(key, rows)[0]


def sort_key(text):
    v, _ = in_base_unit(text)
    return (0, v, text) if v is not None else (1, 0.0, text)


def display_scale(values, unit):
    """(factor, label) for a column's numbers: seconds as s, ms, us or ns; the rest as
    plot_common's scale_for does."""
    if unit != "s":
        return scale_for(values, unit)
    top = max((abs(v) for v in values if v == v), default=0.0)
    for factor, label in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns")):
        if top >= factor:
            return factor, label
    return 1e-12, "ps"


def draw(plt, rows, spec, out_png, sweep_name, axes):
    x, y, series = spec["x"], spec["y"], spec.get("series") or ""
    # A trade-off curve (x is a result, not a swept key) names each point by its swept values.
    tags = [a for a in axes if a not in (x, series)] if x not in axes else []
    groups = {}
    (xunit0, xmixed), (yunit0, ymixed) = column_units(x, rows), column_units(y, rows)
    for r in rows:
        xv = (in_base_unit if xmixed else split_value)(r.get(x, ""))[0]
        yv = (in_base_unit if ymixed else split_value)(r.get(y, ""))[0]
        if xv is None or yv is None:
            continue
        tag = ", ".join(f"{label_of_key(a)} {r.get(a, '')}" for a in tags)
        groups.setdefault(r.get(series, "") if series else "", []).append((xv, yv, tag))
    if not groups:
        return False
    xs = [p[0] for pts in groups.values() for p in pts]
    ys = [p[1] for pts in groups.values() for p in pts]
    xf, xunit = display_scale(xs, xunit0) if xmixed else scale_for(xs, xunit0)
    yf, yunit = display_scale(ys, yunit0) if ymixed else scale_for(ys, yunit0)
    xlabel = axis_text(label_of_key(x), xunit)
    ylabel = axis_text(label_of_key(y), yunit)
    fig, ax = plt.subplots(figsize=(8.5, 4.5))
    for name in sorted(groups, key=sort_key):
        pts = sorted(groups[name])
        label = f"{label_of_key(series)} = {name}" if series else label_of_key(y)
        ax.plot([p[0] / xf for p in pts], [p[1] / yf for p in pts], marker="o", label=label)
        for px, py, tag in pts:
            if tag:
                ax.annotate(tag, (px / xf, py / yf), textcoords="offset points", xytext=(4, 4),
                            fontsize=7)
    if min(xs) > 0 and max(xs) / min(xs) >= 16:
        ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    title = spec.get("title") or f"{sweep_name}: {label_of_key(y)} against {label_of_key(x)}"
    ax.set_title("\n".join(textwrap.wrap(title, 60)), fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside: hides no point
    save_figure(plt, fig, out_png)
    return True


def read_spec(path):
    """PLOTS_JSON, checked to have what this script reads (BadInput naming the key if not)."""
    spec = read_json(path)
    field(spec, "name", "string", path, default="")
    for i, a in enumerate(field(spec, "axes", "list", path, default=[])):
        expect(a, "string", path, f"axes[{i}]")
    for i, p in enumerate(field(spec, "plots", "list", path, default=[])):
        where = f"plots[{i}]"
        expect(p, "object", path, where)
        for key in ("x", "y"):
            field(p, key, "string", path, where)
        for key in ("series", "title"):
            field(p, key, "string?", path, where, default="")
    for i, f in enumerate(field(spec, "failed", "list", path, default=[])):
        expect(f, "object", path, f"failed[{i}]")
    field(spec, "points", "integer?", path, default=None)
    return spec


def table(rows, axes, plots):
    """Markdown table: point, axis values, then each plotted summary figure with its unit."""
    cols = [c for c in axes if rows and c in rows[0]]
    figures = []
    for p in plots:
        for k in (p["x"], p["y"]):
            if k not in cols and k not in figures and rows and k in rows[0]:
                figures.append(k)
    head = ["point"] + cols + figures
    units = [""] + [unit_of_column(c, rows) for c in cols] + [unit_of_key(k) for k in figures]
    lines = ["| " + " | ".join(axis_text(h, u) if u and u != "-" and h not in cols else h
                               for h, u in zip(head, units)) + " |",
             "|" + "---|" * len(head)]
    for r in rows:
        cells = []
        for h in head:
            v, _ = split_value(r.get(h, ""))
            cells.append(f"{v:.6g}" if v is not None and h in figures else r.get(h, ""))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main():
    ap = argument_parser(__doc__)
    ap.add_argument("sweep_dir", metavar="SWEEP_DIR", help="a sweep's results folder")
    ap.add_argument("plots_path", metavar="PLOTS_JSON", help="the plots to draw")
    ap.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    args = ap.parse_args()
    sweep_dir, plots_path = args.sweep_dir, args.plots_path
    if not os.path.exists(plots_path):
        print(f"plot_sweep: {plots_path}: no such file", file=sys.stderr)
        return 2
    csv_path = os.path.join(sweep_dir, "sweep.csv")
    if not os.path.exists(csv_path):
        print(f"plot_sweep: {csv_path}: no sweep.csv (run `mlasim sweep FILE --merge`)",
              file=sys.stderr)
        return 2
    try:
        spec = read_spec(plots_path)
        rows = read_csv(csv_path)
    except BadInput as e:
        print(f"plot_sweep: {e}", file=sys.stderr)
        return 2
    name = spec.get("name", "sweep")
    plots = spec.get("plots", [])
    plt = load_pyplot()
    if plt is None and not args.quiet:
        print(f"plot_sweep: {MISSING_MATPLOTLIB} (install python3-matplotlib); "
              "report.md has the table only", file=sys.stderr)
    failed = spec.get("failed", [])
    total = spec.get("points")
    counted = f"{len(rows)} of {total} points" if total is not None else f"{len(rows)} points"
    if failed:
        counted += f" ({len(failed)} failed, listed under Failed points)"
    lines = [f"# Sweep report: {name}", "",
             f"{counted}; every figure of every point is in `sweep.csv`, each point's "
             "own results in its `pNNNN/` folder (`scripts/plot_run.py` draws one point's "
             "report).", ""]
    for i, p in enumerate(plots):
        heading = f"## {label_of_key(p['y'])} against {label_of_key(p['x'])}"
        missing = [k for k in (p["x"], p["y"], p.get("series") or "")
                   if k and rows and k not in rows[0]]
        png = f"plot_{i}_{re.sub('[^A-Za-z0-9]+', '_', p['y'])}.png"
        if missing:
            text = f"(no point reported `{'`, `'.join(missing)}`: nothing to draw)"
        elif plt is None:
            text = "(plot skipped: matplotlib is not available)"
        elif draw(plt, rows, p, os.path.join(sweep_dir, png), name, spec.get("axes", [])):
            text = f"![{p.get('title') or heading[3:]}]({png})"
        else:
            text = "(no numeric data for this plot)"
        lines += [heading, "", text, ""]
    lines += ["## Points", ""] + table(rows, spec.get("axes", []), plots) + [""]
    if failed:
        lines += ["## Failed points", "",
                  "These points have no results; each one's `pNNNN/stderr.txt` has the whole "
                  "message.", "",
                  "| point | values | exit code | reason |", "|---|---|---|---|"]
        for f in failed:
            reason = str(f.get("reason", "")).replace("|", "\\|")
            code = f.get("exit_code")
            lines.append(f"| {f.get('point', '')} | {f.get('overrides', '')} | "
                         f"{'' if code is None else code} | {reason} |")
        lines.append("")
    write_atomic(os.path.join(sweep_dir, "report.md"), "\n".join(lines))
    if not args.quiet:
        print(f"sweep report: {sweep_dir}/report.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
