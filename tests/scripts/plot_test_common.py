"""Helpers shared by the plot scripts' tests (test_plots.py and plot_figure_cases.py)."""
import json
import os
import subprocess
import sys

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


def write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
