#!/usr/bin/env python3
"""The plot scripts on tiny result fixtures (tests/scripts/fixtures), run as ctest tests.

  test_plots.py draw MLASIM   every script draws non-empty PNGs and a report with units
                              (exit 77 = skipped when this interpreter has no matplotlib)
  test_plots.py skip MLASIM   with matplotlib made unimportable, every script prints the
                              "plots skipped" line, exits 0 and still writes its report tables

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
        case_sweep(tmp, env, draw)
        case_mla_report(tmp, env, draw, mlasim)
        case_units_agree(tmp, mlasim)
    print(f"{mode}: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
