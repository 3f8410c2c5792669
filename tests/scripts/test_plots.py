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
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from plot_figure_cases import (case_figures_in_process, case_network_figures_in_process,
                               case_real_runs_in_process)
from plot_test_common import (FIXTURES, PNG_MAGIC, SCRIPTS, SKIP_LINE, check, failures, png_ok,
                              read, run, write_json)


def case_run(tmp, env, draw):
    d = os.path.join(tmp, "run")
    shutil.copytree(os.path.join(FIXTURES, "run"), d)
    rc, out = run([os.path.join(SCRIPTS, "plot_run.py"), d], env)
    check(rc == 0, f"plot_run.py exit {rc}: {out}")
    pngs = ["step_breakdown.png", "layer_breakdown.png", "kv_cache.png", "expert_loads.png",
            "timeline.png", "gpu_busy.png", "link_utilization_heatmap.png", "queue_occupancy.png",
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


def hide_module(tmp, env, name):
    """A copy of `env` whose Python cannot import `name` (a package of that name that raises
    ImportError, first on the path), as on a system without it."""
    fake = os.path.join(tmp, f"no_{name}", name)
    os.makedirs(fake, exist_ok=True)
    with open(os.path.join(fake, "__init__.py"), "w") as f:
        f.write(f"raise ImportError('{name} hidden by the test')\n")
    hidden = dict(env)
    hidden["PYTHONPATH"] = os.path.dirname(fake) + os.pathsep + env.get("PYTHONPATH", "")
    return hidden


def case_report_details(tmp, env):
    # The scenario's description from its resolved config; a run with no compute (a
    # network-only workload) leaves its all-zero GPU busy and HBM figures out, and says so.
    # The resolved config comes from run.json (what mlasim writes, read without PyYAML), else
    # from config.resolved.yaml (older results) where PyYAML is installed.
    d = os.path.join(tmp, "details")
    shutil.copytree(os.path.join(FIXTURES, "run"), d)
    config = os.path.join(d, "config.resolved.yaml")
    with open(config) as f:
        text = f.read()
    with open(config, "w") as f:
        f.write("description: the YAML file's description\n" + text)
    # The fixture's config.resolved.yaml as run.json holds it, with a description of its own.
    write_json(os.path.join(d, "run.json"), {"resolved_config": {
        "name": "plot-fixture", "description": "a fixture that says what it is",
        "workload": {"type": "deepseek_inference", "requests_per_gpu": 32,
                     "context_length": 4096}}})
    path = os.path.join(d, "summary.json")
    with open(path) as f:
        summary = json.load(f)
    for k in summary:
        if re.fullmatch(r"gpu\d+_busy_us|gpu_busy_mean_fraction|hbm_read_mean_bytes", k):
            summary[k] = 0
    write_json(path, summary)
    rc, out = run([os.path.join(SCRIPTS, "plot_run.py"), d], hide_module(tmp, env, "yaml"))
    check(rc == 0, f"plot_run.py on a network-only run: exit {rc}: {out}")
    report = read(os.path.join(d, "report.md"))
    check("a fixture that says what it is" in report,
          "report.md lacks run.json's description (PyYAML hidden)")
    check("the YAML file's description" not in report,
          "report.md took config.resolved.yaml's description over run.json's")
    check("No compute ops ran" in report, "network-only report does not say why figures lack")
    for key in ("gpu0_busy_us", "gpu_busy_mean_fraction", "hbm_read_mean_bytes"):
        check(f"| {key} |" not in report, f"network-only report still lists {key}")
    check("| tpot_ms |" in report, "network-only filter dropped a figure it should keep")
    check(not os.path.exists(os.path.join(d, "gpu_busy.png")), "gpu_busy.png of all zeros")
    # Without run.json (results of an older build): the YAML file's description with PyYAML,
    # none without it.
    os.remove(os.path.join(d, "run.json"))
    rc, out = run([os.path.join(SCRIPTS, "plot_run.py"), d], hide_module(tmp, env, "yaml"))
    check(rc == 0, f"plot_run.py without run.json and PyYAML: exit {rc}: {out}")
    check("the YAML file's description" not in read(os.path.join(d, "report.md")),
          "config.resolved.yaml's description in report.md without PyYAML")
    if importlib.util.find_spec("yaml") is not None:
        rc, out = run([os.path.join(SCRIPTS, "plot_run.py"), d], env)
        check(rc == 0, f"plot_run.py without run.json: exit {rc}: {out}")
        check("the YAML file's description" in read(os.path.join(d, "report.md")),
              "report.md lacks config.resolved.yaml's description (PyYAML installed)")
    else:
        print("note: PyYAML is not installed: reading config.resolved.yaml not checked")
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
            ("loads_cut", {"expert_loads.csv": fixture_head("run", "expert_loads.csv", 58)},
             "expert_loads.csv", "line 5"),
            ("loads_expert", {"expert_loads.csv": "layer,routing,expert,tokens\n1,0,0,3\n1,0,2,4\n"},
             "expert_loads.csv", "layer 1, routing 0: 2 of experts 0..2"),
            ("loads_twice", {"expert_loads.csv": "layer,routing,expert,tokens\n1,0,0,3\n1,0,0,4\n"},
             "expert_loads.csv", "layer 1, routing 0: expert 0 twice"),
            ("timeline_cut", {"timeline.json": fixture_head("run", "timeline.json", 200)},
             "timeline.json", "not valid JSON"),
            ("timeline_span", {"timeline.json": '{"traceEvents": [{"ph": "X", "pid": 0}]}'},
             "timeline.json", "traceEvents[0].ts: missing"),
            ("config", {"config.resolved.yaml": "workload: [unclosed\n"},
             "config.resolved.yaml", "not readable YAML")):
        d = damaged(tmp, name, "run", changes)
        check_one_line_error([plot_run, d], env, os.path.join(d, f), also)
        check(os.path.exists(os.path.join(d, "report.md")), f"no report.md with a damaged {f}")


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
