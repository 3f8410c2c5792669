"""The drawn figures checked in-process (draw mode of test_plots.py): what each figure says and
shows, with plot_common.save_figure replaced by a recorder."""
import json
import os
import shutil
import subprocess
import sys

from plot_test_common import FIXTURES, SCRIPTS, check, write_json


class Figures:
    """Stands in for plot_common.save_figure in-process: keeps what each figure says."""

    def __init__(self):
        self.saved = {}

    def __call__(self, plt, fig, path, tight=True):
        texts = [fig._suptitle.get_text() if fig._suptitle else ""]
        handles, lines, clims, cells, xticks = [], [], [], [], []
        for ax in fig.axes:
            texts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
            texts += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
            h, labels = ax.get_legend_handles_labels()
            handles += h
            texts += labels
            # The data as drawn: each line's points, each image's colour limits, cell texts.
            lines += [(line.get_label(), list(line.get_xdata()), list(line.get_ydata()))
                      for line in ax.get_lines()]
            clims += [im.get_clim() for im in ax.get_images()]
            cells += [t.get_text() for t in ax.texts]
            xticks += [t.get_text() for t in ax.get_xticklabels()]
        self.saved[os.path.basename(path)] = {
            "text": "\n".join(texts), "handles": handles, "lines": lines, "clims": clims,
            "cells": cells, "xticks": xticks, "height_px": fig.get_figheight() * fig.dpi}
        plt.close(fig)


def case_figures_in_process():
    # What the drawn figures say: phase-aware titles, the run's own KV figure, a timeline of a
    # large cluster capped to a readable size with a colour of its own per op kind.
    sys.path.insert(0, SCRIPTS)
    import plot_run
    plt = plot_run.load_pyplot()
    figures = Figures()
    plot_run.save_figure = figures
    with open(os.path.join(FIXTURES, "prefill", "summary.json")) as f:
        summary = json.load(f)
    phase = plot_run.run_phase(summary, {})  # from the summary's keys alone
    check(phase == "prefill", f"a summary with ttft_ms read as {phase}")
    plot_run.plot_step_breakdown(plt, summary, phase, "step_breakdown.png")
    rows = plot_run.read_csv(os.path.join(FIXTURES, "prefill", "layers.csv"))
    plot_run.plot_layers(plt, rows, summary, phase, "layer_breakdown.png")
    plot_run.plot_kv_cache(plt, summary, {}, phase, "kv_cache.png")
    for png in ("step_breakdown.png", "layer_breakdown.png", "kv_cache.png"):
        text = figures.saved.get(png, {}).get("text", "")
        check(text and "decode" not in text.lower() and "TPOT" not in text,
              f"prefill {png} speaks of decode: {text!r}")
    step = figures.saved["step_breakdown.png"]["text"]
    check("TTFT" in step and "input tokens" in step, f"prefill step breakdown: {step!r}")
    kv = figures.saved["kv_cache.png"]["text"]
    own = f"{summary['kv_cache_bytes_per_gpu'] / 1e9:.3g} GB per GPU"
    check(own in kv and f"{summary['kv_cached_tokens_per_gpu']:,} tokens" in kv,
          f"kv_cache.png does not show the summary's {own}: {kv!r}")

    gpus = 40  # GPU 29 finishes last, GPU 7 second; every GPU has a network slice
    spans = []
    for g in range(gpus):
        end = 100.0 + (50 if g == 29 else 40 if g == 7 else g % 5)
        spans += [{"ph": "X", "pid": g, "tid": 0, "cat": "gemm", "ts": 0.0, "dur": end},
                  {"ph": "X", "pid": g, "tid": 1, "cat": "elementwise", "ts": 5.0, "dur": 5.0},
                  {"ph": "X", "pid": g, "tid": 2, "cat": "network", "ts": 10.0, "dur": 20.0}]
    plot_run.plot_timeline(plt, {"traceEvents": spans}, "timeline.png")
    tl = figures.saved["timeline.png"]
    shown = [t for t in tl["text"].splitlines() if t.startswith("GPU ")]
    check(len(shown) <= plot_run.TIMELINE_MAX_GPUS and {"GPU 0", "GPU 29", "GPU 7"} <= set(shown),
          f"timeline of {gpus} GPUs shows {shown}")
    check(f"of {gpus} GPUs" in tl["text"], "timeline title does not say which GPUs it shows")
    # All ending together: the title does not claim the ones shown finish last.
    together = [dict(e, dur=100.0) if e["tid"] == 0 else e for e in spans]
    plot_run.plot_timeline(plt, {"traceEvents": together}, "timeline.png")
    title = figures.saved["timeline.png"]["text"]
    check("all end together" in title and "finish last" not in title,
          f"timeline of GPUs ending together: {title!r}")
    # One GPU over the limit is drawn rather than left out.
    few = [e for e in spans if e["pid"] <= plot_run.TIMELINE_MAX_GPUS]
    plot_run.plot_timeline(plt, {"traceEvents": few}, "timeline.png")
    check("every GPU" in figures.saved["timeline.png"]["text"], "one GPU over the limit left out")
    # The MTP modules' layers are named, counted from 0 as layers.csv and the README count
    # them (module d is layer num_hidden_layers + d), not numbered after the model's layers.
    base = [dict(r) for r in rows]
    rows = [dict(r, layer=str(n)) for r, n in zip(base * 3, (0, 1, 2, 27))][:4]
    plot_run.plot_layers(plt, rows, summary, "decode", "layer_breakdown.png", mtp_depth=1)
    ticks = figures.saved["layer_breakdown.png"]["xticks"]
    check(ticks == ["0", "1", "2", "MTP 0"], f"MTP module 0 (layer 27) tick: {ticks!r}")
    rows = [dict(r, layer=str(n)) for r, n in zip(base * 3, (0, 1, 2, 27, 28))][:5]
    plot_run.plot_layers(plt, rows, summary, "decode", "layer_breakdown.png", mtp_depth=2)
    ticks = figures.saved["layer_breakdown.png"]["xticks"]
    check(ticks == ["0", "1", "2", "MTP 0", "MTP 1"],
          f"MTP modules 0 and 1 (layers 27, 28) ticks: {ticks!r}")
    # DeepSeek-V3: 61 layers and MTP module 0 (layer 61), too many for a label each: the
    # thinned labels still name the MTP module, and without one they reach layer 60.
    rows = [dict(base[0], layer=str(n)) for n in range(62)]
    plot_run.plot_layers(plt, rows, summary, "decode", "layer_breakdown.png", mtp_depth=1)
    ticks = figures.saved["layer_breakdown.png"]["xticks"]
    check(ticks[-2:] == ["58", "MTP 0"] and len(ticks) <= 32, f"V3 with MTP ticks: {ticks!r}")
    plot_run.plot_layers(plt, rows[:61], summary, "decode", "layer_breakdown.png")
    ticks = figures.saved["layer_breakdown.png"]["xticks"]
    check(ticks[-1:] == ["60"] and "MTP 0" not in ticks, f"V3 without MTP ticks: {ticks!r}")
    check(tl["height_px"] < 2000, f"timeline {tl['height_px']:.0f} px tall")
    colors = [tuple(h.get_facecolor()[0]) for h in tl["handles"]]
    check(len(colors) == 3 and len(set(colors)) == 3, "timeline op kinds share a colour")


def case_network_figures_in_process(tmp):
    # What the network plots draw, from their data: the CDF's title when messages.csv is cut
    # short, step plots that reach the last bin's end edge, a heatmap scaled to its data.
    sys.path.insert(0, SCRIPTS)
    import plot_network
    plt = plot_network.load_pyplot()
    figures = Figures()
    plot_network.save_figure = figures

    # messages.csv holds 5 rows; the run delivered 992 (max_message_rows cut it short): the
    # title says both, the percentile lines say they are of every message.
    d = os.path.join(tmp, "fct_cut")
    shutil.copytree(os.path.join(FIXTURES, "run"), d)
    with open(os.path.join(d, "summary.json")) as f:
        summary = json.load(f)
    for delivered, expected in ((992, "FCT slowdown CDF (first 5 of 992 messages)"),
                                (5, "FCT slowdown CDF (5 messages)")):
        write_json(os.path.join(d, "summary.json"),
                   dict(summary, net_delivered_messages_count=delivered, p50_fct_slowdown=18.17))
        figures.saved.pop("fct_slowdown_cdf.png", None)
        plot_network.network_plots(plt, d)
        lines = figures.saved.get("fct_slowdown_cdf.png", {}).get("text", "").splitlines()
        check(expected in lines, f"CDF of 5 rows, {delivered} delivered, title: {lines!r}")
        check(("p50 18.17 (of all 992)" if delivered > 5 else "p50 18.17") in lines,
              f"CDF with {delivered} delivered: the p50 line's label: {lines!r}")

    # Step plots: every bin drawn over its width, the last one to its end edge (8 us bins).
    check(plot_network.bin_steps([(0.0, 1.0), (8.0, 2.0), (24.0, 3.0)], 8.0) ==
          ([0.0, 8.0, 16.0, 16.0, 24.0, 32.0], [1.0, 2.0, 2.0, 0.0, 3.0, 3.0]),
          "bin_steps: last bin's end edge, or a gap at zero")
    links = [{"link": "a->b", "tier": "leaf->nic", "plane": 0.0, "utilization": 0.5,
              "credit_stall_us": 3.0, "peak_queue_bytes": 4096.0, "bytes": 1e6,
              "bandwidth_bytes_per_s": 1e9},
             dict(link="c->d", tier="leaf->nic", plane=1.0, utilization=0.4, credit_stall_us=2.0,
                  peak_queue_bytes=4096.0, bytes=1e6, bandwidth_bytes_per_s=1e9)]
    series = [{"link": name, "tier": "leaf->nic", "plane": plane, "bin_start_us": 8.0 * i,
               "bin_width_us": 8.0, "utilization": u, "mean_queue_bytes": 1024.0 * (i + 1)}
              for name, plane in (("a->b", 0.0), ("c->d", 1.0))
              for i, u in enumerate((0.2, 0.6, 0.9))]
    for with_width in (True, False):  # without the column: the width from the bin starts
        rows = [dict(r) for r in series]
        if not with_width:
            for r in rows:
                del r["bin_width_us"]
        plot_network.plot_queues(plt, links, rows, "queue_occupancy.png")
        drawn = figures.saved["queue_occupancy.png"]["lines"]
        check(drawn and all(xs[-1] == 24.0 and ys[-1] == 3.0 for _, xs, ys in drawn),
              f"queue plot (bin width in file: {with_width}) ends before the last bin's end "
              f"edge, 24 us at 3 KiB: {drawn!r}")
    fault = os.path.join(tmp, "fault_steps")
    os.makedirs(fault)
    write_json(os.path.join(fault, "network_report.json"),
               {"faults": [{"what": "plane 1 down", "at_us": 5.0, "reroute_us": 7.0}]})
    with open(os.path.join(fault, "throughput.csv"), "w") as f:
        f.write("bin,bin_start_us,bin_width_us,delivered_bytes,goodput_bytes_per_s\n"
                "0,0,8,8000,1e9\n1,8,8,16000,2e9\n2,16,8,4000,5e8\n")
    plot_network.plot_fault_throughput(plt, fault, links, series, "throughput_faults.png")
    drawn = {label: (xs, ys) for label, xs, ys in
             figures.saved["throughput_faults.png"]["lines"] if not label.startswith("_")}
    total = drawn.get("payload delivered to GPUs (NVLink and network)", ([], []))
    check(total[0][-1:] == [24.0] and total[1][-1:] == [0.5],
          f"goodput line does not reach the last bin's end edge (24 us, 0.5 GB/s): {total!r}")
    for plane, u in (("plane 0", 0.9), ("plane 1", 0.9)):
        xs, ys = drawn.get(plane, ([], []))
        check(xs[-1:] == [24.0] and ys[-1:] == [u], f"{plane} line stops short: {xs!r} {ys!r}")
    # Plane 1 falls silent after its first bin (its link's rows stop there) and its line reads 0
    # from then on; a link whose encoding halves its rate delivers utilisation x that rate.
    quiet = [r for r in series if r["link"] == "a->b" or r["bin_start_us"] == 0.0]
    halved = [dict(r, rate_bytes_per_s=5e8) for r in links]
    plot_network.plot_fault_throughput(plt, fault, halved, quiet, "throughput_faults.png")
    drawn = {label: (xs, ys) for label, xs, ys in
             figures.saved["throughput_faults.png"]["lines"] if not label.startswith("_")}
    xs, ys = drawn.get("plane 1", ([], []))
    check(xs[-1:] == [24.0] and ys[-1:] == [0.0] and ys[:1] == [0.2 * 0.5],
          f"a silent plane ends at 0 GB/s, its first bin at 0.1: {xs!r} {ys!r}")
    xs, ys = drawn.get("plane 0", ([], []))
    check(ys[-1:] == [0.9 * 0.5], f"plane 0 at half rate ends at 0.45 GB/s: {ys!r}")

    # Heatmap colour scale: up to the busiest link rounded up to a readable figure, whatever
    # the load (DeepSeek decode's busiest link at 12.9% gets 0-15%, not 0-100%), numbers kept.
    fixture_links = plot_network.read_csv(os.path.join(FIXTURES, "run", "links.csv"),
                                          *plot_network.LINKS, plot_network.LINK_OPTIONAL)
    for top, vmax, cell in ((0.129, 15.0, "12.9"), (0.734, 80.0, "73.4"), (0.024, 2.5, "2.4"),
                            (1.0, 100.0, "100.0")):
        rows = [dict(r, utilization=u) for r, u in zip(fixture_links, (top, top / 3, top / 10,
                                                                       0.0))]
        plot_network.plot_heatmap(plt, rows, "link_utilization_heatmap.png")
        heat = figures.saved["link_utilization_heatmap.png"]
        check(heat["clims"] and all(c == (0.0, vmax) for c in heat["clims"]),
              f"busiest link {100 * top:g}%: colour scale {heat['clims']}, not 0-{vmax:g}%")
        check(cell in heat["cells"], f"busiest link {100 * top:g}%: cells {heat['cells']}")
    # The mean cell is over the links that carried traffic, wire bytes, as mean_link_utilization:
    # a link at 50% and one that carried only headers (no payload, about 0%) read 25.0; a third,
    # idle link does not dilute it to 16.7.
    pair = [dict(links[0], utilization=0.5),
            dict(links[0], link="e->f", utilization=0.0, bytes=0, wire_bytes=100),
            dict(links[0], link="g->h", utilization=0.0, bytes=0, wire_bytes=0)]
    plot_network.plot_heatmap(plt, pair, "link_utilization_heatmap.png")
    cells = figures.saved["link_utilization_heatmap.png"]["cells"]
    check(cells.count("25.0") == 1 and cells.count("50.0") == 1, f"mean over busy links: {cells}")
    check(plot_network.nice_ceiling(12.9) == 15 and plot_network.nice_ceiling(15) == 15 and
          plot_network.nice_ceiling(0.31) == 0.4 and plot_network.nice_ceiling(99) == 100,
          "nice_ceiling")


def case_real_runs_in_process(tmp, mlasim):
    # The same on the simulator's own output: a cut-short messages.csv (net-a2a-mpft keeping
    # 100 rows of its messages), and MTP module 0 of teaching-deepseek (layers.csv's layer 27,
    # DeepSeek-V2-Lite's num_hidden_layers + 0) drawn as "MTP 0".
    sys.path.insert(0, SCRIPTS)
    import plot_network
    import plot_run
    plt = plot_run.load_pyplot()
    figures = Figures()
    plot_network.save_figure = plot_run.save_figure = figures
    configs = os.path.join(os.path.dirname(SCRIPTS), "configs")
    d = os.path.join(tmp, "a2a_cut")
    r = subprocess.run([mlasim, "run", os.path.join(configs, "scenarios", "net-a2a-mpft.yaml"),
                        "--no-plots", "--out", d, "--set", "network.report.max_message_rows=100"],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"mlasim run net-a2a-mpft: exit {r.returncode}: {r.stderr}")
    if r.returncode == 0:
        with open(os.path.join(d, "summary.json")) as f:
            delivered = json.load(f)["net_delivered_messages_count"]
        check(delivered > 100, f"net-a2a-mpft delivered only {delivered} messages")
        plot_network.network_plots(plt, d)
        title = figures.saved.get("fct_slowdown_cdf.png", {}).get("text", "")
        check(f"FCT slowdown CDF (first 100 of {delivered:,} messages)" in title,
              f"CDF of a messages.csv cut at 100 rows: {title!r}")
    d = os.path.join(tmp, "teaching")
    r = subprocess.run([mlasim, "run", os.path.join(configs, "scenarios", "teaching-deepseek.yaml"),
                        "--no-plots", "--out", d], capture_output=True, text=True)
    check(r.returncode == 0, f"mlasim run teaching-deepseek: exit {r.returncode}: {r.stderr}")
    if r.returncode == 0:
        rows = plot_run.read_csv(os.path.join(d, "layers.csv"), ["layer"], plot_run.LAYER_COLUMNS)
        with open(os.path.join(configs, "models", "deepseek-v2-lite.json")) as f:
            hidden = json.load(f)["num_hidden_layers"]
        check(rows and rows[-1]["layer"] == str(hidden),
              f"layers.csv's MTP module 0 is not layer {hidden}: {[r['layer'] for r in rows]}")
        with open(os.path.join(d, "summary.json")) as f:
            summary = json.load(f)
        plot_run.plot_layers(plt, rows, summary, "decode", "layer_breakdown.png", mtp_depth=1)
        ticks = figures.saved.get("layer_breakdown.png", {}).get("xticks", [])
        check(ticks[-1:] == ["MTP 0"] and "MTP 1" not in ticks,
              f"teaching-deepseek layer ticks: {ticks!r}")
        # The workload's settings come from run.json without PyYAML (not a dependency): with it
        # missing, the KV plot once showed 1 request per GPU and the MTP module as layer 27.
        saved_yaml = sys.modules.get("yaml")
        sys.modules["yaml"] = None  # import yaml now raises ImportError
        try:
            config = plot_run.read_config(d)
        finally:
            if saved_yaml is None:
                del sys.modules["yaml"]
            else:
                sys.modules["yaml"] = saved_yaml
        workload = config.get("workload", {})
        check(workload.get("requests_per_gpu") == 16 and workload.get("mtp", {}).get("depth") == 1
              and workload.get("phase") == "decode" and "teaching" in config.get("name", ""),
              f"resolved config without PyYAML: {workload!r}")
