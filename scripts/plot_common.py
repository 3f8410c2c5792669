"""Helpers shared by the plot scripts: matplotlib loading (Agg), units, atomic writes."""
import os
import tempfile

# Summary keys carry their unit as a suffix (DESIGN.md §6); longest suffix first.
_SUFFIXES = [
    ("_per_wall_s", "1/s"), ("_per_cpu_s", "1/s"), ("_slowdown", "x"), ("_count", "count"), ("_bytes_per_s", "B/s"),
    ("_bytes_per_token", "B"), ("_tokens_per_s_per_gpu", "tokens/s"),
    ("_tokens_per_s_per_node", "tokens/s"), ("_tokens_per_gpu", "tokens"),
    ("_per_step", "-"), ("_ps", "ps"), ("_ns", "ns"), ("_us", "us"), ("_ms", "ms"),
    ("_s", "s"), ("_bytes", "B"), ("_flops", "FLOP"), ("_fraction", "fraction"),
    ("_utilization", "fraction"), ("_hops", "hops"), ("_usd", "USD"), ("_events", "events"),
]


def unit_of_key(key):
    for suffix, unit in _SUFFIXES:
        if key.endswith(suffix):
            return unit
    if key == "sim_events":
        return "events"
    return "-"


def load_pyplot():
    """Returns matplotlib.pyplot with the Agg backend, or None when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        return None


def write_atomic(path, text):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp.", dir=d)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
