#!/usr/bin/env python3
"""Network plots of one run folder (results/<run>/), from its network result files only.

  link_utilization_heatmap.png  mean and max link utilisation by tier (link direction kind)
                                and plane
  queue_occupancy.png           mean receive-buffer occupancy over time of the links with the
                                most credit-stall time (or the busiest); not for a flow-level
                                network, which has no buffers (summary.json network_fidelity)
  fct_slowdown_cdf.png          CDF of message completion time over its ideal
  p2p_bandwidth.png             bandwidth per message size, when one GPU pair sent batches of
                                several sizes (net-p2p-bandwidth)
  throughput_faults.png         goodput over time (and per plane) with faults and route
                                rebuilds marked, for runs with network.faults.events

plot_run.py calls network_plots() after every run; run alone, this script draws the same
plots and prints a one-line summary. Like plot_run.py it needs a finished run: a folder that
does not exist or has no summary.json stops it with one line saying so, exit 2. It writes
nothing (and exits 0) for a run without a packet or flow network (no links.csv). A damaged
result file stops it with one line naming the file, exit 2.
"""
import math
import os
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot_common import (MISSING_MATPLOTLIB, BadInput, argument_parser, expect,  # noqa: E402
                         field, load_pyplot, read_csv, read_json, run_summary, save_figure)

# The columns each file must have: text, then numbers (plot_common.read_csv checks both).
LINKS = (("link", "tier"), ("plane", "utilization", "credit_stall_us", "peak_queue_bytes",
                            "bytes", "bandwidth_bytes_per_s"))
MESSAGES = (("src", "dst"), ("bytes", "injected_us", "completed_us", "fct_us", "slowdown"))
SERIES = (("link", "tier"), ("plane", "bin_start_us", "utilization", "mean_queue_bytes"))
THROUGHPUT = ((), ("bin_start_us", "goodput_bytes_per_s"))
# Each bin's width, read where the file has it (plot_common.read_csv's optional_numbers).
BIN_WIDTH = ("bin_width_us",)
# Read where the file has them: the rate a link's wire bytes go at (line rate x encoding;
# links.csv since 2026-12-05, before which the line rate stands in) and its wire bytes (else its
# payload bytes tell whether it carried traffic).
LINK_OPTIONAL = ("rate_bytes_per_s", "wire_bytes")


def bin_width(rows):
    """The width (us) of a time series' bins: the file's own bin_width_us, else the smallest
    step between two bin starts; None with a single bin and no width column."""
    widths = [r["bin_width_us"] for r in rows if r.get("bin_width_us", 0) > 0]
    if widths:
        return max(widths)
    starts = sorted({r["bin_start_us"] for r in rows})
    steps = [b - a for a, b in zip(starts, starts[1:]) if b > a]
    return min(steps) if steps else None


def bin_steps(points, width):
    """x and y lists for ax.step(where="post") that draw every bin over its whole width.
    points: [(bin start, value)] sorted by start. step() alone ends the line at the last bin's
    start, so that bin shows only as a vertical drop; here each bin followed by no other (the
    last, or one before a gap in the series) gets its end edge, and a gap is drawn at zero."""
    xs, ys = [], []
    for i, (start, value) in enumerate(points):
        xs.append(start)
        ys.append(value)
        if width is None:
            continue
        end = start + width
        last = i + 1 == len(points)
        if last or points[i + 1][0] > end + 1e-9 * max(1.0, abs(end)):
            xs.append(end)
            ys.append(value)
            if not last:  # nothing measured until the next bin: zero
                xs.append(end)
                ys.append(0.0)
    return xs, ys


def nice_ceiling(percent):
    """The smallest readable colour-scale top at or above percent (1, 1.5, 2, 2.5, 3, 4, 5, 6,
    8 times a power of ten), at most 100."""
    if percent <= 0:
        return 100.0
    power = 10.0 ** math.floor(math.log10(percent))
    for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * power >= percent * (1 - 1e-12):
            return min(100.0, m * power)
    return 100.0


def plot_heatmap(plt, links, out_png):
    cells = defaultdict(list)
    for r in links:
        cells[(r["tier"], int(r["plane"]))].append(r["utilization"])
    # The mean over the links that carried traffic (wire bytes: a message of no payload still
    # crosses), as the summary's mean_link_utilization and network_report.json's
    # mean_active_utilization (an idle spare would dilute it); blank where none did.
    active = defaultdict(list)
    for r in links:
        if r.get("wire_bytes", r["bytes"]) > 0:
            active[(r["tier"], int(r["plane"]))].append(r["utilization"])
    if not cells:
        return False
    tiers = sorted({t for t, _ in cells})
    planes = sorted({p for _, p in cells})
    # At least 3.5 in per panel: the axis labels of one plane (one column) must not run together.
    fig, axes = plt.subplots(1, 2, figsize=(max(8.5, 5 + 1.4 * len(planes)),
                                            1.5 + 0.45 * len(tiers)),
                             sharey=True, constrained_layout=True)
    # The colour scale ends at the busiest link rounded up to a readable figure (not at 100%:
    # a network whose busiest link is 13% busy would be one dark colour), so that its links can
    # be told apart. Cells print percentages: to 0.1%, or to two significant digits on a lightly
    # loaded network (every link under 10%), where 0.1% steps would flatten them.
    top = max(max(v) for v in cells.values())
    vmax = nice_ceiling(100 * top) / 100
    precise = 0 < top < 0.1
    def mean_active(key):
        v = active.get(key, [])
        return sum(v) / len(v) if v else float("nan")

    for ax, (title, agg) in zip(axes, (("mean link utilisation (links with traffic)", mean_active),
                                       ("max link utilisation", lambda key: max(cells[key])))):
        grid = [[agg((t, p)) if cells.get((t, p)) else float("nan") for p in planes]
                for t in tiers]
        im = ax.imshow([[100 * v for v in row] for row in grid], vmin=0.0, vmax=100 * vmax,
                       cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(planes)))
        ax.set_xticklabels(["-" if p < 0 else str(p) for p in planes])
        ax.set_yticks(range(len(tiers)))
        ax.set_yticklabels(tiers)
        ax.set_title(title)
        for i, row in enumerate(grid):
            for j, v in enumerate(row):
                if v == v:
                    text = f"{100 * v:.2g}" if precise and v != 0 else f"{100 * v:.1f}"
                    ax.text(j, i, text, ha="center", va="center", fontsize=7,
                            color="white" if v < 0.6 * vmax else "black")
    axes[0].set_ylabel("link tier (from -> to)")
    # One label under both panels (two would run together over a single column).
    fig.supxlabel("plane / rail (- : inside a node, or a fabric without planes)", fontsize=10)
    busiest = f"{100 * top:.2g}" if precise else f"{100 * top:.1f}"
    scale = "" if vmax == 1.0 else f"\nscale up to {100 * vmax:g}% (busiest link {busiest}%)"
    fig.colorbar(im, ax=axes, shrink=0.8, label="busy share of the run (%)" + scale)
    save_figure(plt, fig, out_png, tight=False)  # the shared colour bar has its own layout
    return True


def plot_queues(plt, links, series, out_png, top=8):
    if not series:
        return False
    ranked = sorted(links, key=lambda r: (r["credit_stall_us"], r["peak_queue_bytes"]),
                    reverse=True)
    chosen = [r for r in ranked[:top] if r["bytes"] > 0]
    by_link = defaultdict(list)
    names = {r["link"] for r in chosen}
    for r in series:
        if r["link"] in names:
            by_link[r["link"]].append((r["bin_start_us"], r["mean_queue_bytes"]))
    if not by_link:
        return False
    # Links with the same series (symmetric traffic) are drawn once, labelled with their count.
    lines = {}
    for r in chosen:
        pts = tuple(sorted(by_link.get(r["link"], [])))
        if pts:
            lines.setdefault(pts, []).append(r["link"])
    width = bin_width(series)
    fig, ax = plt.subplots(figsize=(11, 4))
    for pts, same in lines.items():
        label = same[0] + (f" (and {len(same) - 1} more, the same)" if len(same) > 1 else "")
        xs, ys = bin_steps([(t, q / 1024) for t, q in pts], width)
        ax.step(xs, ys, where="post", label=label)
    ax.set_xlabel("simulated time (us)")
    ax.set_ylabel("mean receive-buffer occupancy (KiB)")
    stalled = sum(1 for r in chosen if r["credit_stall_us"] > 0)
    picked = ("the links with the most credit stall" if stalled == len(chosen) else
              "the links with the highest peak queue (no credit stall)" if stalled == 0 else
              f"{stalled} links with credit stall, then the highest peak queues")
    ax.set_title(f"Queue occupancy over time: {picked}", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    save_figure(plt, fig, out_png)
    return True


def plot_cdf(plt, messages, out_png, summary=None, delivered=None):
    """delivered: the messages the run delivered (summary.json), of which messages.csv may
    hold only the first network.report.max_message_rows."""
    vals = sorted(m["slowdown"] for m in messages if m["completed_us"] >= 0)
    if not vals:
        return False
    n = len(vals)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.step(vals, [(i + 1) / n for i in range(n)], where="post")
    # A log axis only where the slowdowns span a decade or more; its ticks as plain numbers.
    if vals[0] > 0 and vals[-1] / vals[0] >= 10:
        from matplotlib.ticker import ScalarFormatter
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(ScalarFormatter())
        ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel("FCT slowdown (completion time / ideal)")
    ax.set_ylabel("fraction of messages")
    # The run's own percentiles (every message, where messages.csv may hold only the first).
    summary = summary or {}
    p50 = summary.get("p50_fct_slowdown", vals[int(0.5 * (n - 1))])
    p99 = summary.get("p99_fct_slowdown", vals[int(0.99 * (n - 1))])
    # messages.csv cut short (network.report.max_message_rows): the curve is of its rows, the
    # percentile lines of every message, and the figure says both counts.
    cut = delivered is not None and delivered > n

    def over(key):
        return f" (of all {delivered:,.0f})" if cut and key in summary else ""

    ax.axvline(p50, color="tab:green", ls="--", lw=0.8,
               label=f"p50 {p50:.2f}{over('p50_fct_slowdown')}")
    ax.axvline(p99, color="tab:red", ls="--", lw=0.8,
               label=f"p99 {p99:.2f}{over('p99_fct_slowdown')}")
    ax.set_title(f"FCT slowdown CDF (first {n:,} of {delivered:,.0f} messages)" if cut else
                 f"FCT slowdown CDF ({n:,} messages)")
    ax.legend()
    save_figure(plt, fig, out_png)
    return True


def plot_p2p_bandwidth(plt, messages, out_png):
    # Batches of one size from one GPU to another; acks (8 B back) are left out.
    pairs = defaultdict(list)
    for m in messages:
        pairs[(m["src"], m["dst"])].append(m)
    if not pairs or len(pairs) > 2:
        return False
    main = max(pairs.values(), key=len)
    sizes = defaultdict(list)
    for m in main:
        sizes[int(m["bytes"])].append(m)
    if len(sizes) < 3:
        return False
    xs, bw, lat = [], [], []
    for size in sorted(sizes):
        batch = sizes[size]
        start = min(m["injected_us"] for m in batch)
        end = max(m["completed_us"] for m in batch)
        if end <= start:
            return False  # a batch not completed: no bandwidth to show
        xs.append(size)
        bw.append(size * len(batch) / ((end - start) * 1e-6) / 1e9)
        lat.append(min(m["fct_us"] for m in batch))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(xs, bw, marker="o", label="bandwidth (batch)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("message size (B)")
    ax.set_ylabel("bandwidth (GB/s)")
    ax2 = ax.twinx()
    ax2.plot(xs, lat, marker="x", color="tab:orange", label="completion time (fastest message)")
    ax2.set_yscale("log")
    ax2.set_ylabel("message completion time (us)")
    ax.set_title("Point-to-point bandwidth and completion time by size")
    ax.legend(loc="upper left", fontsize=8)
    ax2.legend(loc="lower right", fontsize=8)
    save_figure(plt, fig, out_png)
    return True


def read_faults(path):
    """The faults of network_report.json that happened during the run (parts failed before it
    have no "around"), each checked to have what the plot reads."""
    faults = field(read_json(path), "faults", "list", path, default=[])
    for i, fr in enumerate(faults):
        where = f"faults[{i}]"
        expect(fr, "object", path, where)
        field(fr, "what", "string", path, where)
        field(fr, "at_us", "number", path, where)
        field(fr, "reroute_us", "number", path, where, default=None)
    return [fr for fr in faults if not fr.get("before_run")]


def plot_fault_throughput(plt, d, links, series, out_png):
    """Goodput over time with the faults marked; per plane when the network has planes."""
    faults = read_faults(os.path.join(d, "network_report.json"))
    total = read_csv(os.path.join(d, "throughput.csv"), *THROUGHPUT, BIN_WIDTH)
    if not faults or not total:
        return False
    # Per plane: bytes leaving the fabric towards NICs (leaf -> NIC), utilisation x the rate the
    # link's wire bytes go at.
    rate = {r["link"]: r.get("rate_bytes_per_s", r["bandwidth_bytes_per_s"]) for r in links}
    per_plane = defaultdict(lambda: defaultdict(float))
    for r in series:
        if r["tier"] == "leaf->nic" and int(r["plane"]) >= 0:
            per_plane[int(r["plane"])][r["bin_start_us"]] += (
                r["utilization"] * rate.get(r["link"], 0.0))
    planes = len(per_plane) > 1
    fig, axes = plt.subplots(2 if planes else 1, 1, figsize=(9, 7 if planes else 4.5),
                             sharex=True, squeeze=False)
    ax = axes[0][0]
    xs, ys = bin_steps(sorted((r["bin_start_us"], r["goodput_bytes_per_s"] / 1e9) for r in total),
                       bin_width(total))
    ax.step(xs, ys, where="post",
            color="black", lw=1.4, label="payload delivered to GPUs (NVLink and network)")
    ax.set_ylabel("goodput (GB/s)")
    what = faults[0]["what"] + (f" and {len(faults) - 1} more" if len(faults) > 1 else "")
    ax.set_title(f"Throughput around the fault: {what}")
    if planes:
        bx = axes[1][0]
        cmap = plt.get_cmap("tab10")
        width = bin_width(series)
        # A link's rows stop at its last busy bin: a plane that falls silent reads 0 from then
        # on, not where its line happened to end.
        bins = sorted({r["bin_start_us"] for r in series})
        for plane in sorted(per_plane):
            pts = [(t, per_plane[plane].get(t, 0.0) / 1e9) for t in bins]
            bx.step(*bin_steps(pts, width), where="post", lw=1.0,
                    color=cmap(plane % 10), label=f"plane {plane}")
        bx.set_ylabel("network delivery per plane,\nleaf -> NIC (GB/s)")
        bx.set_title("Per plane")
    for row in axes:
        a = row[0]
        for i, fr in enumerate(faults):
            a.axvline(fr["at_us"], color="tab:red", ls="--", lw=0.9,
                      label="fault" if i == 0 else None)
            if fr.get("reroute_us", -1) >= 0:
                a.axvline(fr["reroute_us"], color="tab:green", ls=":", lw=0.9,
                          label="routes rebuilt" if i == 0 else None)
        a.set_ylim(bottom=0)
        a.legend(fontsize=7, loc="lower left", ncol=4)
    axes[-1][0].set_xlabel("simulated time (us)")
    save_figure(plt, fig, out_png)
    return True


def network_plots(plt, d):
    """Draws every network plot the run's files allow; returns [(title, png name)]. A damaged
    file raises BadInput (plot_common.py) naming it."""
    links = read_csv(os.path.join(d, "links.csv"), *LINKS, LINK_OPTIONAL)
    if not links:
        return []
    messages = read_csv(os.path.join(d, "messages.csv"), *MESSAGES)
    series = read_csv(os.path.join(d, "link_timeseries.csv"), *SERIES, BIN_WIDTH)
    # A flow-level network has no buffers: its queue figures are zeros, not measurements.
    path = os.path.join(d, "summary.json")
    summary = read_json(path)
    flow = summary.get("network_fidelity") == "flow"
    delivered = field(summary, "net_delivered_messages_count", "number", path, default=None)
    made = []
    if plot_heatmap(plt, links, os.path.join(d, "link_utilization_heatmap.png")):
        made.append(("Link utilisation by tier and plane", "link_utilization_heatmap.png"))
    if not flow and plot_queues(plt, links, series, os.path.join(d, "queue_occupancy.png")):
        made.append(("Queue occupancy over time", "queue_occupancy.png"))
    if plot_cdf(plt, messages, os.path.join(d, "fct_slowdown_cdf.png"), summary, delivered):
        made.append(("FCT slowdown CDF", "fct_slowdown_cdf.png"))
    if plot_p2p_bandwidth(plt, messages, os.path.join(d, "p2p_bandwidth.png")):
        made.append(("Point-to-point bandwidth by message size", "p2p_bandwidth.png"))
    if plot_fault_throughput(plt, d, links, series, os.path.join(d, "throughput_faults.png")):
        made.append(("Throughput around the fault", "throughput_faults.png"))
    return made


def main():
    ap = argument_parser(__doc__)
    ap.add_argument("run_dir", metavar="RESULTS_DIR", help="a run folder")
    d = ap.parse_args().run_dir
    # A finished run first, as plot_run.py requires: plots of a run still going (or of a
    # folder that is no run) would pass for its results.
    path, s = run_summary("plot_network", d)
    if s is None:
        return 2
    if not os.path.exists(os.path.join(d, "links.csv")):
        print(f"plot_network: {d}: no links.csv (no packet or flow network); no plots",
              file=sys.stderr)
        return 0
    try:
        figures = {k: field(s, k, "number", path, default=0)
                   for k in ("max_link_utilization", "p50_fct_slowdown", "p99_fct_slowdown")}
        plt = load_pyplot()
        if plt is None:
            print(f"plot_network: {MISSING_MATPLOTLIB} (install python3-matplotlib)",
                  file=sys.stderr)
            return 0
        made = [png for _, png in network_plots(plt, d)]
    except BadInput as e:
        print(f"plot_network: {e}", file=sys.stderr)
        return 2
    print(f"{d}: network {s.get('network_fidelity', '?')}, max link utilisation "
          f"{figures['max_link_utilization']:.3f}, p99 FCT slowdown "
          f"{figures['p99_fct_slowdown']:.2f}; plots: {', '.join(made) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
