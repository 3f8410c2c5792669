#!/usr/bin/python3
"""Render a cluster graph written by `mlasim topology CONFIG --dot FILE` to PNG.

By default the layout is drawn here with matplotlib (Agg), layer by layer: NVSwitches, GPUs,
NICs, then leaf, spine and core switches, each layer ordered by the mean position of its
neighbours below (a barycentre sweep) so links cross little. Servers are boxed; switches of a
plane (MPFT) or rail (MRFT) share a colour. `--engine dot` hands the file to Graphviz instead,
when the `dot` program is installed (Graphviz is not a dependency of mlasim).

Without matplotlib (and without --engine dot) it prints that the plot was skipped and exits 0.
"""
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot_common import MISSING_MATPLOTLIB, BadInput, argument_parser, load_pyplot  # noqa: E402

NODE_RE = re.compile(r'^\s*"([^"]+)"\s*\[(.*)\];\s*$')
EDGE_RE = re.compile(r'^\s*"([^"]+)"\s*--\s*"([^"]+)"\s*\[(.*)\];\s*$')
ATTR_RE = re.compile(r'(\w+)=("[^"]*"|[^,\s]+)')

LAYER = {"nvswitch": 0, "gpu": 1, "nic": 2, "leaf": 3, "spine": 4, "core": 5}
KIND_COLOR = {"gpu": "#8fd18f", "nvswitch": "#f2c14e", "nic": "#9ecae1",
              "leaf": "#c6dbef", "spine": "#6baed6", "core": "#3182bd"}
LINK_COLOR = {"nvlink": "#2ca02c", "pcie": "#ff7f0e", "ib": "#1f77b4"}


def attrs(text):
    return {k: v.strip('"') for k, v in ATTR_RE.findall(text)}


def parse_dot(path):
    """Vertices {name: attrs} and edges [(a, b, attrs)] of a file from write_dot(); BadInput
    naming the file and line for what the layout cannot place."""
    vertices, edges = {}, []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            m = EDGE_RE.match(line)
            if m:
                edges.append((number, m.group(1), m.group(2), attrs(m.group(3))))
                continue
            m = NODE_RE.match(line)
            if m and "kind" in m.group(2):
                a = attrs(m.group(2))
                for key in ("tier", "node", "plane", "pod", "failed"):
                    try:
                        a[key] = int(a.get(key, -1))
                    except ValueError:
                        raise BadInput(f"{path}:{number}: {key}={a[key]} is not a whole "
                                       "number") from None
                # Servers hold GPUs, NICs and NVSwitches; the other switches stand outside.
                if a.get("kind") not in LAYER or (a["node"] >= 0) != (LAYER[a["kind"]] < 3):
                    raise BadInput(f"{path}:{number}: vertex {m.group(1)!r}: kind "
                                   f"{a.get('kind', '(none)')} with node {a['node']}")
                vertices[m.group(1)] = a
    if not vertices:
        raise BadInput(f"{path}: no vertices found (is it a file from `mlasim topology --dot`?)")
    for number, a, b, _ in edges:
        for end in (a, b):
            if end not in vertices:
                raise BadInput(f"{path}:{number}: a link to {end!r}, which is no vertex")
    return vertices, [e[1:] for e in edges]


def layout(vertices, edges):
    """x, y per vertex: servers side by side at the bottom, switches by barycentre above."""
    nbrs = defaultdict(list)
    for a, b, _ in edges:
        nbrs[a].append(b)
        nbrs[b].append(a)
    pos = {}
    # Servers: GPUs and NICs in name order within a node, nodes left to right.
    by_node = defaultdict(lambda: defaultdict(list))
    for name, a in vertices.items():
        if a["node"] >= 0:
            by_node[a["node"]][a["kind"]].append(name)
    x0, node_boxes = 0.0, []
    for node in sorted(by_node):
        kinds = by_node[node]
        width = max(len(kinds.get("gpu", [])), len(kinds.get("nic", [])), 1)
        for kind in ("gpu", "nic"):
            for i, name in enumerate(sorted(kinds.get(kind, []), key=natural_key)):
                pos[name] = (x0 + i, LAYER[kind])
        for name in kinds.get("nvswitch", []):
            pos[name] = (x0 + (width - 1) / 2, LAYER["nvswitch"])
        node_boxes.append((node, x0 - 0.45, x0 + width - 0.55))
        x0 += width + 0.8
    span = max(x0 - 0.8, 1.0)
    # Switch layers bottom-up: order by mean x of already placed neighbours, spread evenly.
    for kind in ("leaf", "spine", "core"):
        layer = [n for n, a in vertices.items() if a["kind"] == kind and a["node"] < 0]
        if not layer:
            continue

        def barycentre(name):
            xs = [pos[m][0] for m in nbrs[name] if m in pos]
            return (sum(xs) / len(xs) if xs else span / 2, natural_key(name))

        layer.sort(key=barycentre)
        step = span / len(layer)
        for i, name in enumerate(layer):
            pos[name] = (step * (i + 0.5) - 0.5, LAYER[kind])
    return pos, node_boxes


def natural_key(name):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def draw_matplotlib(plt, vertices, edges, out, title):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    pos, node_boxes = layout(vertices, edges)
    width = max(8.0, min(40.0, 0.22 * max(p[0] for p in pos.values())))
    fig, ax = plt.subplots(figsize=(width, 6.5))
    for a, b, e in edges:
        (xa, ya), (xb, yb) = pos[a], pos[b]
        ax.plot([xa, xb], [ya, yb], color=LINK_COLOR.get(e.get("kind"), "gray"), lw=0.6,
                alpha=0.55, zorder=1)
    planes = sorted({a["plane"] for a in vertices.values() if a["plane"] >= 0})
    cmap = plt.get_cmap("tab10")
    for name, a in vertices.items():
        x, y = pos[name]
        face = KIND_COLOR.get(a["kind"], "white")
        edge = cmap(planes.index(a["plane"]) % 10) if a["plane"] >= 0 and planes else "black"
        if a["failed"]:
            face, edge = "#dddddd", "gray"
        marker = "s" if a["kind"] == "gpu" else "o"
        ax.scatter([x], [y], s=36, marker=marker, c=[face], edgecolors=[edge], linewidths=1.2,
                   linestyle="--" if a["failed"] else "-", zorder=2)
    for node, left, right in node_boxes:
        ax.add_patch(Rectangle((left, -0.35), right - left, 2.7, fill=False, lw=0.5,
                               edgecolor="#888888", zorder=0))
        if len(node_boxes) <= 64:
            ax.text((left + right) / 2, -0.6, f"node {node}", ha="center", fontsize=6)
    present = sorted({a["kind"] for a in vertices.values()}, key=LAYER.get)
    ax.set_yticks([LAYER[k] for k in present], present)
    ax.set_xticks([])
    ax.set_ylim(-0.9, LAYER[present[-1]] + 0.9)
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    legend = [Line2D([0], [0], color=c, lw=2, label=k) for k, c in LINK_COLOR.items()]
    legend += [Line2D([0], [0], marker="o", color="w", markeredgecolor=cmap(i % 10),
                      markerfacecolor="white", label=f"plane/rail {p}")
               for i, p in enumerate(planes[:10])]
    ax.legend(handles=legend, loc="upper right", fontsize=7, ncol=2)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=150)
    plt.close(fig)


def main():
    ap = argument_parser(__doc__)
    ap.add_argument("dot_file", metavar="GRAPH.dot", help="from `mlasim topology CONFIG --dot`")
    ap.add_argument("-o", "--output", help="PNG to write (default: DOT file with .png)")
    ap.add_argument("--engine", choices=["matplotlib", "dot"], default="matplotlib")
    args = ap.parse_args()
    out = args.output or re.sub(r"\.dot$", "", args.dot_file) + ".png"
    if not os.path.exists(args.dot_file):
        print(f"plot_topology: {args.dot_file}: no such file", file=sys.stderr)
        return 2
    if args.engine == "dot":
        dot = shutil.which("dot")
        if not dot:
            print("plot_topology: Graphviz `dot` is not installed; use --engine matplotlib",
                  file=sys.stderr)
            return 2
        if subprocess.run([dot, "-Tpng", args.dot_file, "-o", out]).returncode != 0:
            print(f"plot_topology: `dot -Tpng {args.dot_file}` failed", file=sys.stderr)
            return 2
    else:
        try:
            vertices, edges = parse_dot(args.dot_file)
            with open(args.dot_file, encoding="utf-8") as f:
                title = f.readline().lstrip("/ ").strip()
        except (OSError, ValueError) as e:  # UnicodeDecodeError is a ValueError
            print(f"plot_topology: {e}", file=sys.stderr)
            return 2
        plt = load_pyplot()
        if plt is None:
            print(f"plot_topology: {MISSING_MATPLOTLIB} (install python3-matplotlib, or use "
                  "--engine dot)", file=sys.stderr)
            return 0
        draw_matplotlib(plt, vertices, edges, out, title)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
