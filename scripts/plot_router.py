#!/usr/bin/env python3
"""The router's expert loads of an inference run: expert_loads.csv -> expert_loads.png.

expert_loads.csv has a row per routing and logical expert (layer,routing,expert,tokens; a
routing is a routed layer of one EP group, micro-batch and prefill pass). The plot shows each
layer's load per expert relative to the mean expert (1 = balanced), averaged over the layer's
routings, as a heat map, and beside it each layer's max / mean: the mean over its routings, as
layers.csv's expert_load_imbalance has it. plot_run.py draws it with the run's other plots;
run alone, this script draws only it.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot_common import (MISSING_MATPLOTLIB, BadInput, argument_parser,  # noqa: E402
                         load_pyplot, read_csv, run_summary, save_figure)


def expert_load_grid(rows, path):
    """(layers, grid, imbalance): the layer numbers in order, per layer the mean over its
    routings of tokens / mean tokens per expert, and per layer the mean over its routings of
    max / mean. BadInput when a routing lacks an expert or the experts differ between rows."""
    routings = {}  # (layer, routing) -> {expert: tokens}
    for row in rows:
        key = (int(row["layer"]), int(row["routing"]))
        expert = int(row["expert"])
        loads = routings.setdefault(key, {})
        if expert in loads:
            raise BadInput(f"{path}: layer {key[0]}, routing {key[1]}: expert {expert} twice")
        loads[expert] = row["tokens"]
    experts = 1 + max((max(loads) for loads in routings.values()), default=-1)
    per_layer = {}  # layer -> list of per-routing relative loads
    for (layer, routing), loads in sorted(routings.items()):
        if len(loads) != experts:
            raise BadInput(f"{path}: layer {layer}, routing {routing}: {len(loads)} of experts "
                           f"0..{experts - 1} (a row cut short?)")
        mean = sum(loads.values()) / experts
        per_layer.setdefault(layer, []).append(
            [loads[e] / mean if mean > 0 else 1.0 for e in range(experts)])
    layers = sorted(per_layer)
    grid = [[sum(col) / len(col) for col in zip(*per_layer[l])] for l in layers]
    imbalance = [sum(max(r) for r in per_layer[l]) / len(per_layer[l]) for l in layers]
    return layers, grid, imbalance


def plot_expert_loads(plt, csv_path, out_png):
    """Draws expert_loads.png when the run wrote expert_loads.csv; BadInput on a damaged one."""
    rows = read_csv(csv_path, numbers=["layer", "routing", "expert", "tokens"])
    if not rows:
        return
    layers, grid, imbalance = expert_load_grid(rows, csv_path)
    height = min(9.0, 2.0 + 0.12 * len(layers))
    fig, (ax, side) = plt.subplots(1, 2, figsize=(11, height), sharey=True,
                                   gridspec_kw={"width_ratios": [5, 1]})
    top = max(max(r) for r in grid)
    im = ax.imshow(grid, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0.0,
                   vmax=max(top, 2.0), origin="lower")
    ax.set_yticks(range(len(layers)))
    step = max(1, len(layers) // 20)
    ax.set_yticklabels([str(l) if i % step == 0 else "" for i, l in enumerate(layers)])
    ax.set_xlabel("logical expert")
    ax.set_ylabel("layer (as in layers.csv)")
    ax.set_title("Tokens per expert / mean (mean over the layer's routings)")
    fig.colorbar(im, ax=ax, label="load / mean (1 = balanced)")
    side.barh(range(len(layers)), imbalance, color="tab:orange")
    side.axvline(1.0, color="black", linewidth=0.8)
    side.set_xlabel("max / mean (ratio)")
    side.set_title("imbalance")
    save_figure(plt, fig, out_png)


def main():
    ap = argument_parser(__doc__)
    ap.add_argument("run_dir", metavar="RESULTS_DIR", help="a run folder")
    d = ap.parse_args().run_dir
    if run_summary("plot_router", d)[1] is None:
        return 2
    path = os.path.join(d, "expert_loads.csv")
    png = os.path.join(d, "expert_loads.png")
    if os.path.exists(png):
        os.remove(png)  # an earlier run's must not pass for this one's
    if not os.path.exists(path):
        print(f"plot_router: {d}: no expert_loads.csv (no routed layers); no plot", file=sys.stderr)
        return 0
    plt = load_pyplot()
    if plt is None:
        print(f"plot_router: {MISSING_MATPLOTLIB} (install python3-matplotlib)", file=sys.stderr)
        return 0
    try:
        plot_expert_loads(plt, path, png)
    except BadInput as e:
        print(f"plot_router: {e}", file=sys.stderr)
        return 2
    print(f"{d}: expert_loads.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
