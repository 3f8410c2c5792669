#!/usr/bin/env python3
"""Compares two mlasim builds on one scenario by interleaved runs (A, B, A, B, ...).

Shared virtual machines swing by 1.5-2x between identical runs, so two builds are compared
run against run, alternating, and by medians. Also checks that both builds simulate the same
thing: every figure of summary.json that is not a timing or memory measurement must be equal.

  scripts/ab.py OLD/mlasim build/mlasim                      # the 128-host network benchmark
  scripts/ab.py OLD/mlasim build/mlasim -n 11 --scenario configs/scenarios/default.yaml \\
      --set workload.layers=4

Prints per build the median and range of the loop's wall time, the network's CPU time and,
where the scenario measures it (network.probe_events), the hop / SystemC-event ratio on wall
and CPU time. Exits 1 when the builds' results differ (the keys that differ are named; the
engine's own counts, SystemC events and activations, are left out of that check), 2 on bad
input or a failed run (one line).
"""

import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot_common import argument_parser  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Summary keys that measure the host, not the model.
HOST_KEYS = {
    "sim_wall_s", "sim_events_per_wall_s", "packet_hops_per_wall_s", "net_cpu_s",
    "packet_hops_per_cpu_s", "systemc_timed_events_per_wall_s", "systemc_timed_events_per_cpu_s",
}
# Counts of the engine's own work: a faster engine may change them without changing a result.
ENGINE_KEYS = {"sim_events", "net_engine_activations_count"}


def fail(message):
    """Bad input or a failed run: one line, exit 2."""
    print(f"ab.py: {message}", file=sys.stderr)
    sys.exit(2)


def run(binary, scenario, sets, out):
    cmd = [binary, "run", scenario, "-q", "--no-plots", "--out", out]
    for s in sets:
        cmd += ["--set", s]
    try:
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except OSError as e:
        fail(f"cannot run {binary}: {e.strerror}")
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["(no message)"]
        fail(f"{binary} exited {done.returncode}: {lines[-1]}")
    summary = pathlib.Path(out) / "summary.json"
    try:
        return json.loads(summary.read_text())
    except (OSError, ValueError) as e:
        fail(f"{binary} left no readable {summary}: {e}")


def figures(s):
    f = {"loop wall s": s.get("sim_wall_s"), "network CPU s": s.get("net_cpu_s")}
    for clock in ("wall", "cpu"):
        hops = s.get(f"packet_hops_per_{clock}_s", 0)
        probe = s.get(f"systemc_timed_events_per_{clock}_s", 0)
        if hops and probe:
            f[f"hop/event ratio, {clock}"] = hops / probe
    return {k: v for k, v in f.items() if v is not None}


def model_results(s):
    return {k: v for k, v in s.items() if k not in HOST_KEYS and k not in ENGINE_KEYS}


def main():
    ap = argument_parser(__doc__)
    ap.add_argument("a", help="build A's mlasim binary (the baseline)")
    ap.add_argument("b", help="build B's mlasim binary")
    ap.add_argument("-n", "--runs", type=int, default=9, help="runs of each build (default 9)")
    ap.add_argument("--scenario", default=str(ROOT / "configs/scenarios/net-bench-a2a-128.yaml"))
    ap.add_argument("--set", action="append", default=[], help="a --set for both builds")
    args = ap.parse_args()
    if args.runs < 1:
        fail("--runs must be at least 1")
    if not pathlib.Path(args.scenario).is_file():
        fail(f"no scenario file {args.scenario}")
    seen = {"A": [], "B": []}
    results = {}
    with tempfile.TemporaryDirectory(prefix="mlasim_ab_") as tmp:
        for _ in range(args.runs):
            for name, binary in (("A", args.a), ("B", args.b)):
                s = run(binary, args.scenario, args.set, f"{tmp}/{name}")
                seen[name].append(figures(s))
                results.setdefault(name, model_results(s))
    for name in ("A", "B"):
        print(f"{name}: {args.a if name == 'A' else args.b}")
        for key in seen[name][0]:
            v = [f[key] for f in seen[name] if key in f]
            print(f"  {key:24} median {statistics.median(v):.4g}  range {min(v):.4g}-{max(v):.4g}")
    a, b = results["A"], results["B"]
    differ = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    if differ:
        print(f"results differ in {len(differ)} keys: {', '.join(differ[:12])}")
        return 1
    print(f"results identical ({len(a)} figures)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
