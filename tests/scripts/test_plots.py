#!/usr/bin/env python3
"""The plot scripts on tiny result fixtures (tests/scripts/fixtures), run as ctest tests.

  test_plots.py draw MLASIM   every script draws non-empty PNGs and a report with units
                              (exit 77 = skipped when this interpreter has no matplotlib)
  test_plots.py skip MLASIM   with matplotlib made unimportable, every script prints the
                              "plots skipped" line, exits 0 and still writes its report tables
Both modes also check each script's command line (--help, bad usage), the prefill report and
the flow-level report, and that damaged result files (cut short, not JSON, JSON of the wrong
type, missing columns, cells that are no numbers) stop the scripts with one line naming the
file and exit 2, never a traceback; draw also checks the drawn figures' titles, labels and
sizes (and the damaged files only the plots read).

Each case works on a copy of the fixtures in a temporary folder; the fixtures stay untouched.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(os.path.dirname(os.path.dirname(HERE)), "scripts")
FIXTURES = os.path.join(HERE, "fixtures")
SKIP_LINE = "matplotlib is not available; plots skipped"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print(f"FAIL: {what}", file=sys.stderr)


def run(args, env=None):
    r = subprocess.run([sys.executable] + args, capture_output=True, text=True, env=env)
    return r.returncode, r.stdout + r.stderr


def png_ok(path):
    if not os.path.exists(path):
        return False
    with open(path, "rb") as f:
        head = f.read(8)
    return head == PNG_MAGIC and os.path.getsize(path) > 5000


def read(path):
    with open(path) as f:
        return f.read()


def case_run(tmp, env, draw):
    d = os.path.join(tmp, "run")
    shutil.copytree(os.path.join(FIXTURES, "run"), d)
    rc, out = run([os.path.join(SCRIPTS, "plot_run.py"), d], env)
    check(rc == 0, f"plot_run.py exit {rc}: {out}")
    pngs = ["step_breakdown.png", "layer_breakdown.png", "kv_cache.png", "timeline.png",
            "gpu_busy.png", "link_utilization_heatmap.png", "queue_occupancy.png",
            "fct_slowdown_cdf.png"]
    report = read(os.path.join(d, "report.md")) if os.path.exists(os.path.join(d, "report.md")) \
        else ""
    check(report.startswith("# Run report: plot-fixture"), "run report.md missing or untitled")
    # Units beside the figures: tpot_ms in ms, kv bytes in B, cost in USD.
    for row in ("| tpot_ms | 0.65 | ms |", "| kv_cache_bytes_per_token | 70272 | B/token |",
                "| network_cost_per_gpu_usd | 10600 | USD |"):
        check(row in report, f"run report lacks the row {row!r}")
    for p in pngs:
        if draw:
            check(png_ok(os.path.join(d, p)), f"{p}: missing, not a PNG or nearly empty")
            check(f"]({p})" in report, f"run report does not show {p}")
        else:
            check(not os.path.exists(os.path.join(d, p)), f"{p} drawn without matplotlib")
    if not draw:
        check(SKIP_LINE in out, f"plot_run.py did not say the plots were skipped: {out}")


def case_run_without_optional_inputs(tmp, env, draw):
    # Only summary.json: the optional plots are left out cleanly, the report still appears.
    d = os.path.join(tmp, "bare")
    os.makedirs(d)
    shutil.copy(os.path.join(FIXTURES, "run", "summary.json"), d)
    with open(os.path.join(d, "summary.json")) as f:
        text = f.read()
    for key in ("time_attention_ms", "time_gate_ms", "time_dispatch_ms", "time_experts_ms",
                "time_combine_ms", "time_exposed_comm_ms", "time_other_ms",
                "kv_cache_bytes_per_token"):
        text = "\n".join(line for line in text.splitlines() if f'"{key}"' not in line)
    with open(os.path.join(d, "summary.json"), "w") as f:
        f.write(text)
    rc, out = run([os.path.join(SCRIPTS, "plot_run.py"), d], env)
    check(rc == 0, f"plot_run.py on a bare summary: exit {rc}: {out}")
    for p in ("step_breakdown.png", "layer_breakdown.png", "kv_cache.png", "timeline.png"):
        check(not os.path.exists(os.path.join(d, p)), f"{p} drawn without its inputs")
    check(os.path.exists(os.path.join(d, "report.md")), "no report for a bare summary")
    if draw:
        check(png_ok(os.path.join(d, "gpu_busy.png")), "gpu_busy.png missing for a bare summary")


def case_report_details(tmp, env):
    # The scenario's description from its resolved config; a run with no compute (a
    # network-only workload) leaves its all-zero GPU busy and HBM figures out, and says so.
    d = os.path.join(tmp, "details")
    shutil.copytree(os.path.join(FIXTURES, "run"), d)
    config = os.path.join(d, "config.resolved.yaml")
    with open(config) as f:
        text = f.read()
    with open(config, "w") as f:
        f.write("description: a fixture that says what it is\n" + text)
    path = os.path.join(d, "summary.json")
    with open(path) as f:
        summary = json.load(f)
    for k in summary:
        if re.fullmatch(r"gpu\d+_busy_us|gpu_busy_mean_fraction|hbm_read_mean_bytes", k):
            summary[k] = 0
    write_json(path, summary)
    rc, out = run([os.path.join(SCRIPTS, "plot_run.py"), d], env)
    check(rc == 0, f"plot_run.py on a network-only run: exit {rc}: {out}")
    report = read(os.path.join(d, "report.md"))
    try:
        import yaml  # noqa: F401
        check("a fixture that says what it is" in report, "report.md lacks the description")
    except ImportError:
        pass  # without PyYAML the config is not read (read_config)
    check("No compute ops ran" in report, "network-only report does not say why figures lack")
    for key in ("gpu0_busy_us", "gpu_busy_mean_fraction", "hbm_read_mean_bytes"):
        check(f"| {key} |" not in report, f"network-only report still lists {key}")
    check("| tpot_ms |" in report, "network-only filter dropped a figure it should keep")
    check(not os.path.exists(os.path.join(d, "gpu_busy.png")), "gpu_busy.png of all zeros")
    # Labels keep what a per-GPU rate is per; the unit says tokens/s.
    sys.path.insert(0, SCRIPTS)
    from plot_common import label_of_key, unit_of_key
    check(label_of_key("output_tokens_per_s_per_gpu") == "output tokens per GPU",
          f"label of a per-GPU rate: {label_of_key('output_tokens_per_s_per_gpu')!r}")
    check(unit_of_key("output_tokens_per_s_per_node") == "tokens/s" and
          label_of_key("output_tokens_per_s_per_node") == "output tokens per node",
          "per-node rate label or unit")


def case_sweep(tmp, env, draw):
    d = os.path.join(tmp, "sweep")
    shutil.copytree(os.path.join(FIXTURES, "sweep"), d)
    rc, out = run([os.path.join(SCRIPTS, "plot_sweep.py"), d, os.path.join(d, "plots.json")],
                  env)
    check(rc == 0, f"plot_sweep.py exit {rc}: {out}")
    report = read(os.path.join(d, "report.md")) if os.path.exists(os.path.join(d, "report.md")) \
        else ""
    check(report.startswith("# Sweep report: fixture"), "sweep report.md missing")
    check("no point reported `tpot_ms`" in report, "a plot of an absent key is not explained")
    check("| p0005 | 4 | 400Gb/s | 90 | 32500 | 2.8e+12 |" in report,
          "sweep report table row missing")
    check("sim_time_us (us)" in report and "network_cost_per_gpu_usd (USD)" in report,
          "sweep report table headers lack units")
    for p in ("plot_0_sim_time_us.png", "plot_1_net_goodput_bytes_per_s.png"):
        if draw:
            check(png_ok(os.path.join(d, p)), f"{p}: missing, not a PNG or nearly empty")
        else:
            check(not os.path.exists(os.path.join(d, p)), f"{p} drawn without matplotlib")
    check(not os.path.exists(os.path.join(d, "plot_2_tpot_ms.png")), "plot of an absent key")
    if not draw:
        check(SKIP_LINE in out, f"plot_sweep.py did not say the plots were skipped: {out}")
    # A failed point has no row in sweep.csv: the report lists it with its exit code and reason.
    with open(os.path.join(d, "plots.json")) as f:
        spec = json.load(f)
    rows = len(read(os.path.join(d, "sweep.csv")).strip().splitlines()) - 1
    spec["points"] = rows + 1
    spec["failed"] = [{"point": "p0099", "overrides": "cluster.planes=9", "exit_code": 3,
                       "reason": "simulation failed: no route to GPU 2 | at 10us"}]
    with open(os.path.join(d, "plots_failed.json"), "w") as f:
        json.dump(spec, f)
    rc, out = run([os.path.join(SCRIPTS, "plot_sweep.py"), d, os.path.join(d, "plots_failed.json")],
                  env)
    check(rc == 0, f"plot_sweep.py exit {rc}: {out}")
    report = read(os.path.join(d, "report.md"))
    check(f"{rows} of {rows + 1} points (1 failed" in report, "report does not count the failure")
    check("## Failed points" in report and
          "| p0099 | cluster.planes=9 | 3 | simulation failed: no route to GPU 2 \\| at 10us |"
          in report, "failed point not listed in report.md")


def case_mla_report(tmp, env, draw, mlasim):
    d = os.path.join(tmp, "mla")
    rc, out = run([os.path.join(SCRIPTS, "mla_report.py"), "--mlasim", mlasim, "--out", d,
                   "--models", "deepseek-v2-lite,qwen2.5-72b", "--batch", "8"], env)
    check(rc == 0, f"mla_report.py exit {rc}: {out}")
    check(os.path.exists(os.path.join(d, "kernels.json")), "kernels.json not written")
    report = read(os.path.join(d, "report.md")) if os.path.exists(os.path.join(d, "report.md")) \
        else ""
    # DeepSeek-V2-Lite: (kv_lora_rank 512 + rope 64) x 27 layers x 2 B = 31,104 B per token;
    # Qwen2.5-72B: 2 (K, V) x 8 KV heads x 128 x 80 layers x 2 B = 327,680 B per token.
    check("| deepseek-v2-lite | mla_absorbed | 31,104 |" in report,
          "V2-Lite MLA KV per token is not (512 + 64) x 27 x 2 B")
    check("| qwen2.5-72b | gqa | 327,680 |" in report, "Qwen2.5-72B GQA KV per token wrong")
    for p in ("kv_per_token.png", "kv_per_gpu.png", "decode_step.png"):
        if draw:
            check(png_ok(os.path.join(d, p)), f"{p}: missing, not a PNG or nearly empty")
        else:
            check(not os.path.exists(os.path.join(d, p)), f"{p} drawn without matplotlib")
    if not draw:
        check(SKIP_LINE in out, f"mla_report.py did not say the plots were skipped: {out}")


def write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f, indent=1)


def case_prefill(tmp, env, draw):
    # A prefill run reports TTFT and input tokens/s, never TPOT; its KV figure is its own.
    d = os.path.join(tmp, "prefill")
    shutil.copytree(os.path.join(FIXTURES, "prefill"), d)
    rc, out = run([os.path.join(SCRIPTS, "plot_run.py"), d], env)
    check(rc == 0, f"plot_run.py on a prefill run: exit {rc}: {out}")
    report = read(os.path.join(d, "report.md"))
    check("## Prefill: TTFT" in report or not draw, "prefill report has no prefill heading")
    check("Decode" not in report and "TPOT" not in report, "prefill report speaks of decode")
    for key in ("ttft_ms", "ttft_p50_ms", "input_tokens_per_s_per_gpu", "kv_cache_bytes_per_gpu"):
        check(f"| {key} |" in report.split("## Every figure")[0],
              f"prefill key figures lack {key}")
    for p in ("step_breakdown.png", "layer_breakdown.png", "kv_cache.png"):
        check(png_ok(os.path.join(d, p)) if draw else not os.path.exists(os.path.join(d, p)),
              f"prefill {p}: drawn {not draw} with matplotlib {draw}")


def case_flow_network(tmp, env, draw):
    # A flow-level network has no buffers: no queue plot, no credit-stall figures, a note.
    d = os.path.join(tmp, "flow")
    shutil.copytree(os.path.join(FIXTURES, "run"), d)
    with open(os.path.join(d, "summary.json")) as f:
        summary = json.load(f)
    summary.update(network_fidelity="flow", credit_stall_us=0.0, hotspot_link="-",
                   net_peak_shared_buffer_bytes=0)
    write_json(os.path.join(d, "summary.json"), summary)
    rc, out = run([os.path.join(SCRIPTS, "plot_run.py"), d], env)
    check(rc == 0, f"plot_run.py on a flow-level run: exit {rc}: {out}")
    report = read(os.path.join(d, "report.md"))
    check(not os.path.exists(os.path.join(d, "queue_occupancy.png")), "queue plot at flow level")
    check("flow-level" in report and "](queue_occupancy.png)" not in report,
          "flow-level report lacks the note in place of the queue plot")
    for key in ("credit_stall_us", "hotspot_link", "net_peak_shared_buffer_bytes"):
        check(f"| {key} |" not in report, f"flow-level report shows the unmeasured {key}")
    check("| max_link_utilization |" in report, "flow-level report lost link utilisation")
    if draw:
        check(png_ok(os.path.join(d, "link_utilization_heatmap.png")), "flow-level heatmap")
        rc, out = run([os.path.join(SCRIPTS, "plot_network.py"), d], env)
        check(rc == 0 and not os.path.exists(os.path.join(d, "queue_occupancy.png")),
              f"plot_network.py at flow level: exit {rc} or a queue plot: {out}")


def case_topology(tmp, env, draw, mlasim):
    dot = os.path.join(tmp, "cluster.dot")
    scenario = os.path.join(os.path.dirname(SCRIPTS), "configs", "scenarios", "default.yaml")
    r = subprocess.run([mlasim, "topology", scenario, "--dot", dot], capture_output=True,
                       text=True)
    check(r.returncode == 0, f"mlasim topology --dot: exit {r.returncode}: {r.stderr}")
    png = os.path.join(tmp, "cluster.png")
    rc, out = run([os.path.join(SCRIPTS, "plot_topology.py"), dot, "-o", png], env)
    check(rc == 0, f"plot_topology.py exit {rc}: {out}")
    if draw:
        check(png_ok(png), "cluster.png: missing, not a PNG or nearly empty")
    else:
        check(SKIP_LINE in out and "Traceback" not in out and not os.path.exists(png),
              f"plot_topology.py did not say the plot was skipped: {out}")


def case_command_lines(tmp, env):
    # Every plot script: --help and -h print a usage and exit 0; bad usage exits 2 with one
    # line; a missing input exits 2 with one line, never a traceback.
    scripts = sorted(f for f in os.listdir(SCRIPTS) if f.endswith(".py") and
                     f != "plot_common.py")
    check(len(scripts) >= 5, f"only {scripts} found")
    missing = os.path.join(tmp, "no_such_input")
    for script in scripts:
        path = os.path.join(SCRIPTS, script)
        for flag in ("--help", "-h"):
            rc, out = run([path, flag], env)
            check(rc == 0 and out.lower().startswith("usage:"),
                  f"{script} {flag}: exit {rc}: {out}")
        rc, out = run([path, "--no-such-option"], env)
        check(rc == 2 and len(out.strip().splitlines()) == 1,
              f"{script} --no-such-option: exit {rc}, not one line: {out}")
    for args in (["plot_run.py", missing], ["plot_network.py", missing],
                 ["plot_sweep.py", missing, os.path.join(missing, "plots.json")],
                 ["plot_topology.py", missing + ".dot"],
                 ["mla_report.py", "--plot-only", "--out", missing]):
        rc, out = run([os.path.join(SCRIPTS, args[0])] + args[1:], env)
        check(rc == 2 and len(out.strip().splitlines()) == 1 and "Traceback" not in out,
              f"{' '.join(args[:1])} on a missing input: exit {rc}: {out}")


def damaged(tmp, name, source, changes):
    """A copy of a fixture folder (source None: an empty folder) with files replaced:
    changes maps a file name to its new text."""
    d = os.path.join(tmp, "damaged", name)
    if source:
        shutil.copytree(os.path.join(FIXTURES, source), d)
    else:
        os.makedirs(d)
    for f, text in changes.items():
        with open(os.path.join(d, f), "w") as out:
            out.write(text)
    return d


def check_one_line_error(args, env, path, also=""):
    # Exit 2 and exactly one line on stderr, naming the damaged file (and `also`: the line,
    # column or key where the script can tell).
    r = subprocess.run([sys.executable] + args, capture_output=True, text=True, env=env)
    lines = r.stderr.strip().splitlines()
    check(r.returncode == 2 and len(lines) == 1 and path in lines[0] and also in lines[0] and
          "Traceback" not in r.stderr,
          f"{os.path.basename(args[0])} with a damaged {os.path.basename(path)}: exit "
          f"{r.returncode}, stderr not one line naming {path} {also!r}: {r.stderr}")
    return r


def fixture_head(source, name, size):
    """The first `size` bytes of a fixture file: the file cut short."""
    with open(os.path.join(FIXTURES, source, name)) as f:
        return f.read()[:size]


def case_damaged_files(tmp, env, draw):
    plot_run = os.path.join(SCRIPTS, "plot_run.py")
    plot_network = os.path.join(SCRIPTS, "plot_network.py")
    # summary.json: every script that reads it stops, in both modes.
    for name, text, also in (("list", "[1, 2]\n", "not an object"),
                             ("cut", fixture_head("run", "summary.json", 120), "not valid JSON"),
                             ("word", '{"tpot_ms": "fast", "sim_time_us": 1}', "tpot_ms")):
        d = damaged(tmp, f"summary_{name}", "run", {"summary.json": text})
        path = os.path.join(d, "summary.json")
        check_one_line_error([plot_run, d], env, path, also)
        check(not os.path.exists(os.path.join(d, "report.md")), f"report of a {name} summary")
        if name != "word":  # plot_network reads only its own figures from the summary
            check_one_line_error([plot_network, d], env, path, also)

    # Figures the plots draw from the summary besides their files (the FCT percentiles, the
    # HBM-left wall): a null where a number belongs stops both scripts with one line.
    with open(os.path.join(FIXTURES, "run", "summary.json")) as f:
        summary = json.load(f)
    for key in ("p50_fct_slowdown", "weight_bytes_per_gpu"):
        d = damaged(tmp, f"summary_{key}", "run", {"summary.json": json.dumps(
            dict(summary, **{key: None}))})
        path = os.path.join(d, "summary.json")
        check_one_line_error([plot_run, d], env, path, key)
        if key.startswith("p50"):
            check_one_line_error([plot_network, d], env, path, key)

    # The sweep's plots.json and sweep.csv.
    sweep = os.path.join(SCRIPTS, "plot_sweep.py")
    for name, f, text, also in (
            ("list", "plots.json", "[]", "not an object"),
            ("no_y", "plots.json", '{"plots": [{"x": "cluster.planes"}]}', "plots[0].y"),
            ("axis", "plots.json", '{"axes": [3]}', "axes[0]"),
            ("cut", "sweep.csv", fixture_head("sweep", "sweep.csv", 140), "line 3")):
        d = damaged(tmp, f"sweep_{name}", "sweep", {f: text})
        check_one_line_error([sweep, d, os.path.join(d, "plots.json")], env,
                             os.path.join(d, f), also)

    # mla_report.py --plot-only on a damaged kernels.json.
    variant = {"variant": "mha", "kv_cache_bytes_per_token": 1024, "bytes_read": 1.0,
               "bytes_written": 1.0, "time_us": 10.0, "bound": "memory"}
    kernels = {"gpu": "h800", "batch": 8, "hbm_capacity_bytes": None, "hardware_preset": "x",
               "command": "c", "runs": [{"model": "m", "context": 1024,
                                         "report": {"variants": [variant]}}]}
    d = damaged(tmp, "kernels_ok", None, {"kernels.json": json.dumps(kernels)})
    rc, out = run([os.path.join(SCRIPTS, "mla_report.py"), "--plot-only", "--out", d], env)
    check(rc == 0, f"mla_report.py on a minimal kernels.json: exit {rc}: {out}")
    del variant["bytes_read"]
    for name, text, also in (("list", "[]", "not an object"),
                             ("cut", json.dumps(kernels)[:60], "not valid JSON"),
                             ("field", json.dumps(kernels),
                              "runs[0].report.variants[0].bytes_read: missing")):
        d = damaged(tmp, f"kernels_{name}", None, {"kernels.json": text})
        check_one_line_error([os.path.join(SCRIPTS, "mla_report.py"), "--plot-only", "--out", d],
                             env, os.path.join(d, "kernels.json"), also)

    # plot_topology.py: a link to no vertex, an attribute that is no number.
    vertex = '  "g0" [kind=gpu, tier=0, node={}, plane=-1, pod=-1, failed=0];\n'
    for name, text, also in (
            ("edge", "graph c {\n" + vertex.format(0) + '  "g0" -- "x" [kind=ib];\n}\n',
             ":3: a link to 'x'"),
            ("node", "graph c {\n" + vertex.format("zero") + "}\n", ":2: node=zero")):
        d = damaged(tmp, f"dot_{name}", None, {"cluster.dot": text})
        check_one_line_error([os.path.join(SCRIPTS, "plot_topology.py"),
                              os.path.join(d, "cluster.dot"), "-o", os.path.join(d, "c.png")],
                             env, os.path.join(d, "cluster.dot"), also)
    if not draw:
        return

    # Files only the plots read (so only with matplotlib): plot_network.py stops; plot_run.py
    # still writes report.md, then says which file it could not use.
    links_header = fixture_head("run", "links.csv", 10 ** 6).splitlines()[0]
    links_row = fixture_head("run", "links.csv", 10 ** 6).splitlines()[1].split(",")
    links_row[11] = "busy"  # the utilization column
    fault = {"what": "link n0_nic0->switch0", "at_us": 50.0, "reroute_us": 60.0}
    throughput = "bin_start_us,goodput_bytes_per_s\n0.0,1e9\n8.0,lots\n"
    cases = [
        ("messages_cut", {"messages.csv": fixture_head("run", "messages.csv", 100)},
         "messages.csv", "line 2"),
        ("series_cut", {"link_timeseries.csv": fixture_head("run", "link_timeseries.csv", 150)},
         "link_timeseries.csv", "line 3"),
        ("links_columns", {"links.csv": "a,b\n1,2\n"}, "links.csv", "'link'"),
        ("links_word", {"links.csv": links_header + "\n" + ",".join(links_row) + "\n"},
         "links.csv", "'utilization' is not a finite number ('busy')"),
        ("report_cut", {"network_report.json": '{"faults": [{"what": '}, "network_report.json",
         "not valid JSON"),
        ("report_list", {"network_report.json": "[]"}, "network_report.json", "not an object"),
        ("report_fault", {"network_report.json": json.dumps({"faults": [dict(fault, at_us="x")]})},
         "network_report.json", "faults[0].at_us: not a number"),
        ("throughput", {"network_report.json": json.dumps({"faults": [fault]}),
                        "throughput.csv": throughput}, "throughput.csv", "line 3"),
    ]
    for name, changes, f, also in cases:
        d = damaged(tmp, name, "run", changes)
        path = os.path.join(d, f)
        check_one_line_error([plot_network, d], env, path, also)
        check_one_line_error([plot_run, d], env, path, also)
        check(os.path.exists(os.path.join(d, "report.md")), f"no report.md with a damaged {f}")
    for name, changes, f, also in (
            ("layers_cut", {"layers.csv": fixture_head("run", "layers.csv", 110)}, "layers.csv",
             "line 3"),
            ("timeline_cut", {"timeline.json": fixture_head("run", "timeline.json", 200)},
             "timeline.json", "not valid JSON"),
            ("timeline_span", {"timeline.json": '{"traceEvents": [{"ph": "X", "pid": 0}]}'},
             "timeline.json", "traceEvents[0].ts: missing"),
            ("config", {"config.resolved.yaml": "workload: [unclosed\n"},
             "config.resolved.yaml", "not readable YAML")):
        d = damaged(tmp, name, "run", changes)
        check_one_line_error([plot_run, d], env, os.path.join(d, f), also)
        check(os.path.exists(os.path.join(d, "report.md")), f"no report.md with a damaged {f}")


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

    # Heatmap colour scale: up to the busiest link rounded up to a readable figure, whatever
    # the load (DeepSeek decode's busiest link at 12.9% gets 0-15%, not 0-100%), numbers kept.
    fixture_links = plot_network.read_csv(os.path.join(FIXTURES, "run", "links.csv"),
                                          *plot_network.LINKS)
    for top, vmax, cell in ((0.129, 15.0, "12.9"), (0.734, 80.0, "73.4"), (0.024, 2.5, "2.4"),
                            (1.0, 100.0, "100.0")):
        rows = [dict(r, utilization=u) for r, u in zip(fixture_links, (top, top / 3, top / 10,
                                                                       0.0))]
        plot_network.plot_heatmap(plt, rows, "link_utilization_heatmap.png")
        heat = figures.saved["link_utilization_heatmap.png"]
        check(heat["clims"] and all(c == (0.0, vmax) for c in heat["clims"]),
              f"busiest link {100 * top:g}%: colour scale {heat['clims']}, not 0-{vmax:g}%")
        check(cell in heat["cells"], f"busiest link {100 * top:g}%: cells {heat['cells']}")
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


def case_run_folder_checks(tmp, env):
    # plot_run.py and plot_network.py refuse alike a folder that is not a finished run: one
    # line naming what is missing, exit 2, nothing drawn.
    scripts = [os.path.join(SCRIPTS, s) for s in ("plot_run.py", "plot_network.py")]
    d = os.path.join(tmp, "unfinished")
    shutil.copytree(os.path.join(FIXTURES, "run"), d)
    os.remove(os.path.join(d, "summary.json"))
    for script in scripts:
        check_one_line_error([script, d], env, os.path.join(d, "summary.json"), "missing")
        drawn = [f for f in os.listdir(d) if f.endswith(".png") or f == "report.md"]
        check(not drawn, f"{os.path.basename(script)} without summary.json wrote {drawn}")
    missing = os.path.join(tmp, "no_such_run")
    a_file = os.path.join(d, "links.csv")
    for script in scripts:
        r = check_one_line_error([script, missing], env, missing, "no such folder")
        check("summary" not in r.stderr,
              f"{os.path.basename(script)} on a missing folder speaks of a summary: {r.stderr}")
        check_one_line_error([script, a_file], env, a_file, "not a folder")


def case_atomic_writes_clean_up(tmp):
    # A figure or report that fails while being written leaves no temporary file behind, and
    # the error reaches the caller; the figure is closed all the same.
    sys.path.insert(0, SCRIPTS)
    import plot_common
    d = os.path.join(tmp, "atomic")
    os.makedirs(d)

    class FailingFigure:
        def tight_layout(self):
            pass

        def savefig(self, path, dpi=None):
            with open(path, "wb") as f:
                f.write(PNG_MAGIC)  # half written, then the disk fills up
            raise OSError(28, "No space left on device")

    class Plt:
        closed = []

        def close(self, fig):
            self.closed.append(fig)

    fig, plt = FailingFigure(), Plt()
    try:
        plot_common.save_figure(plt, fig, os.path.join(d, "plot.png"))
        check(False, "save_figure hid the error of savefig")
    except OSError as e:
        check(e.errno == 28, f"save_figure raised {e!r}, not savefig's error")
    check(os.listdir(d) == [], f"save_figure left {os.listdir(d)} after savefig failed")
    check(Plt.closed == [fig], "save_figure did not close the figure after savefig failed")
    try:
        plot_common.write_atomic(os.path.join(d, "report.md"), "text \ud800 unencodable")
        check(False, "write_atomic hid an encoding error")
    except UnicodeEncodeError:
        pass
    check(os.listdir(d) == [], f"write_atomic left {os.listdir(d)} after a failed write")


def case_units_agree(tmp, mlasim):
    # The reports' units (scripts/plot_common.py) are those of the terminal table (C++): every
    # figure of a run, one with network, inference and fault keys.
    sys.path.insert(0, SCRIPTS)
    from plot_common import unit_of_key
    scenario = os.path.join(os.path.dirname(SCRIPTS), "configs", "scenarios",
                            "teaching-deepseek.yaml")
    r = subprocess.run([mlasim, "run", scenario, "--full", "--no-plots", "--out",
                        os.path.join(tmp, "units"), "--set", "network.faults.nics=[n0_nic0]"],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"mlasim run for the units: exit {r.returncode}: {r.stderr}")
    rows = 0
    for line in r.stdout.splitlines()[2:]:
        m = re.match(r"^(\S+)\s+(\S+)  (.+)$", line)
        if not m:
            continue
        rows += 1
        key, unit = m.group(1), m.group(3).strip()
        check(unit_of_key(key) == unit,
              f"unit of {key}: the table says {unit!r}, plot_common.py {unit_of_key(key)!r}")
        check(unit not in ("1/s", "x"), f"{key} printed with the vague unit {unit!r}")
    check(rows > 40, f"only {rows} figures with a unit in the table:\n{r.stdout}")


def case_sweep_units():
    # An axis that mixes units of one kind is placed in one unit, and ordered by value: 1.6Tb/s
    # after 400Gb/s (not at 1.6, left of 200), 256KiB before 1MiB, 2.5us after 500ns.
    sys.path.insert(0, SCRIPTS)
    import plot_sweep
    rows = [{"bw": "200Gb/s", "m": "1MiB"}, {"bw": "1.6Tb/s", "m": "256KiB"},
            {"bw": "400Gb/s", "m": "4MiB"}]
    check(plot_sweep.column_units("bw", rows) == ("b/s", True), "mixed Gb/s and Tb/s")
    check(plot_sweep.in_base_unit("1.6Tb/s")[0] > plot_sweep.in_base_unit("400Gb/s")[0],
          "1.6Tb/s placed below 400Gb/s")
    order = sorted(["1MiB", "4MiB", "256KiB"], key=plot_sweep.sort_key)
    check(order == ["256KiB", "1MiB", "4MiB"], f"legend order {order}")
    check(sorted(["2.5us", "500ns"], key=plot_sweep.sort_key) == ["500ns", "2.5us"], "times")
    check(plot_sweep.display_scale([5e-7, 2.5e-6], "s") == (1e-6, "us"), "seconds shown in us")
    same = [{"bw": "200Gb/s"}, {"bw": "400Gb/s"}]
    check(plot_sweep.column_units("bw", same) == ("Gb/s", False), "one unit kept as written")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("draw", "skip"):
        print("usage: test_plots.py draw|skip MLASIM", file=sys.stderr)
        return 2
    mode, mlasim = sys.argv[1], sys.argv[2]
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="mlasim_plots_") as tmp:
        if mode == "draw":
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                print(f"SKIP: matplotlib is not installed for {sys.executable}")
                return 77
        else:
            # A package named matplotlib that fails to import, first on the path.
            fake = os.path.join(tmp, "no_matplotlib", "matplotlib")
            os.makedirs(fake)
            with open(os.path.join(fake, "__init__.py"), "w") as f:
                f.write("raise ImportError('matplotlib hidden by the test')\n")
            env["PYTHONPATH"] = os.path.dirname(fake) + os.pathsep + env.get("PYTHONPATH", "")
        draw = mode == "draw"
        case_run(tmp, env, draw)
        case_run_without_optional_inputs(tmp, env, draw)
        case_report_details(tmp, env)
        case_sweep(tmp, env, draw)
        case_mla_report(tmp, env, draw, mlasim)
        case_prefill(tmp, env, draw)
        case_flow_network(tmp, env, draw)
        case_topology(tmp, env, draw, mlasim)
        case_command_lines(tmp, env)
        case_damaged_files(tmp, env, draw)
        case_run_folder_checks(tmp, env)
        case_atomic_writes_clean_up(tmp)
        if draw:
            case_figures_in_process()
            case_network_figures_in_process(tmp)
            case_real_runs_in_process(tmp, mlasim)
        case_units_agree(tmp, mlasim)
        case_sweep_units()
    print(f"{mode}: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
