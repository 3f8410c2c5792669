"""Helpers shared by the plot scripts: matplotlib loading (Agg), units, scaling, atomic writes.

Every script reads only result files and writes PNGs plus a Markdown report beside them. Where
matplotlib is missing the scripts still write the report's tables, print one line saying the
plots were skipped, and exit 0 (`MISSING_MATPLOTLIB` is that line's start, tests look for it).
A damaged result file (cut short, not JSON, a missing column, a key of the wrong type) raises
BadInput from the readers below: one line naming the file, which the scripts print before
exiting 2.
"""
import argparse
import csv
import json
import math
import os
import signal
import sys
import tempfile

MISSING_MATPLOTLIB = "matplotlib is not available; plots skipped"

# Ctrl-C reaches the whole process group, so a script drawing a run's plots is interrupted with
# the run: it ends at once, without a traceback (mlasim prints the one line saying what is left
# unfinished; a plot being written is in a temporary file, never under its own name).
signal.signal(signal.SIGINT, signal.SIG_DFL)

# Summary keys carry their unit as a suffix (DESIGN.md §6). The rules below are those of
# sim/results.cpp unit_of_key (keep the two in step): counts and rates say what they count.
_KEYS = {"seed": "-", "breakdown_rank": "GPU rank", "node_limit_overflow_count": "tokens"}
_WORDS = {"bytes": "B", "gpu": "GPUs", "node": "nodes", "prompt": "prompts", "pass": "passes",
          "fault": "faults"}
_PER = [("_per_wall_s", "/s"), ("_per_cpu_s", "/s"), ("_per_s_per_gpu", "/s"),
        ("_per_s_per_node", "/s"), ("_per_s", "/s"), ("_per_step", "/step"),
        ("_per_token", "/token")]
_SUFFIXES = [
    ("_slowdown", "ratio"), ("_ratio", "ratio"), ("_bytes_per_gpu", "B"),
    ("_tokens_per_gpu", "tokens"), ("_ps", "ps"), ("_ns", "ns"), ("_us", "us"), ("_ms", "ms"),
    ("_s", "s"), ("_bytes", "B"), ("_flops", "FLOP"), ("_fraction", "fraction"),
    ("_utilization", "fraction"), ("_hops", "hops"), ("_usd", "USD"), ("_events", "events"),
    ("_tokens", "tokens"), ("_packets", "packets"),
]


def _counted(stem):
    """The last word of a key's stem that says what it counts ("" when none does)."""
    for word in reversed(stem.split("_")):
        if word in _WORDS:
            return _WORDS[word]
        if len(word) > 2 and word.endswith("s"):
            return word
    return ""


def unit_of_key(key):
    if key in _KEYS:
        return _KEYS[key]
    for suffix, per in _PER:
        if key.endswith(suffix):
            return (_counted(key[: -len(suffix)]) or "1") + per
    if key.endswith("_count"):
        return _counted(key[: -len("_count")]) or "count"
    for suffix, unit in _SUFFIXES:
        if key.endswith(suffix):
            return unit
    if "fraction" in key:
        return "fraction"
    if "imbalance" in key:
        return "ratio"
    return "-"


def label_of_key(key):
    """A readable axis label stem: the last part of a dotted config key, or a summary key
    without its unit suffix ("hbm_read_mean_bytes" -> "hbm read mean")."""
    name = key.rsplit(".", 1)[-1]
    per_what = {"_per_s_per_gpu": " per GPU", "_per_s_per_node": " per node"}
    for suffix, unit in _PER + _SUFFIXES:
        if name.endswith(suffix) and unit not in ("ratio", "fraction"):
            name = name[: -len(suffix)]
            if suffix in dict(_PER) and name.endswith("_bytes"):
                name = name[: -len("_bytes")]  # the unit says B: "net goodput (GB/s)"
            # The unit says tokens/s; what it is per stays in the label ("... per GPU").
            name += per_what.get(suffix, "").replace(" ", "_")
            break
    return name.replace("_", " ")


# Decimal prefixes for the units worth scaling (bytes, bytes/s, FLOP, USD, tokens/s).
_SCALABLE = {"B", "B/s", "b/s", "Hz", "FLOP/s", "B/token", "FLOP", "USD", "tokens/s", "tokens", "1/s", "events/s",
             "hops/s"}
_PREFIXES = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]


def scale_for(values, unit):
    """(factor, unit label) so that values / factor read in a convenient unit: bytes become
    kB, MB, GB (powers of ten), microseconds above 10 ms become ms."""
    finite = [abs(v) for v in values if v == v]
    top = max(finite) if finite else 0.0
    if unit in _SCALABLE:
        for factor, prefix in _PREFIXES:
            if top >= factor:
                if unit == "USD":
                    return factor, f"{prefix} USD"
                return factor, prefix + unit
        return 1.0, unit
    if unit == "us" and top >= 1e4:
        return 1e3, "ms"
    if unit == "ps" and top >= 1e6:
        return 1e6, "us"
    return 1.0, unit


def axis_text(stem, unit):
    return f"{stem} ({unit})" if unit and unit != "-" else stem


class _OneLineErrors(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def argument_parser(doc):
    """The scripts' command line: -h/--help prints the usage and the script's docstring, exit 0;
    bad usage prints one line and exits 2 (DESIGN.md §6)."""
    return _OneLineErrors(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


class BadInput(ValueError):
    """A result file that is damaged or not what the scripts expect. Its text is one line that
    names the file and, where known, the key, column or line; the scripts print it and exit 2."""


# JSON kinds for expect(): a trailing "?" lets the value be null as well.
_JSON_KINDS = {"object": dict, "list": list, "string": str, "number": (int, float),
               "integer": int}


def _json_name(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value), "a number")


def expect(value, kind, path, where=""):
    """value when it is of the JSON kind ("object", "list", "string", "number", "integer",
    "number?" for a number or null); else BadInput naming the file and where (a key path)."""
    base = kind.rstrip("?")
    if (value is None and kind.endswith("?")) or (
            isinstance(value, _JSON_KINDS[base]) and not isinstance(value, bool)):
        return value
    at = f"{where}: " if where else ""
    raise BadInput(f"{path}: {at}not {'an' if base[0] in 'aeiou' else 'a'} {base} "
                   f"({_json_name(value)})")


_REQUIRED = object()


def field(obj, key, kind, path, where="", default=_REQUIRED):
    """obj[key] checked by expect() (where: the key path of obj); default when the key is
    absent, BadInput when it is absent and required."""
    name = f"{where}.{key}" if where else key
    if key not in obj:
        if default is _REQUIRED:
            raise BadInput(f"{path}: {name}: missing")
        return default
    return expect(obj[key], kind, path, name)


def read_json(path, kind="object"):
    """A result JSON file, checked to be of the JSON kind (see expect); {} when the run did not
    write it. A damaged file raises BadInput naming it."""
    if not os.path.exists(path):
        return {}
    try:
        with open(path) as f:
            data = json.load(f)
    except ValueError as e:  # UnicodeDecodeError is a ValueError too
        raise BadInput(f"{path}: not valid JSON ({e})") from None
    except OSError as e:
        raise BadInput(f"{path}: cannot read ({e.strerror})") from None
    return expect(data, kind, path)


def required_json(prog, path, missing, kind="object"):
    """A JSON file a script cannot do without: its contents, or None once one line naming it has
    gone to stderr (`missing`: what to say when there is no such file)."""
    if not os.path.exists(path):
        print(f"{prog}: {path}: {missing}", file=sys.stderr)
        return None
    try:
        return read_json(path, kind)
    except BadInput as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return None


def run_summary(prog, run_dir):
    """(summary.json's path, its contents) of a run folder the plot scripts draw from, or
    (path, None) once one line has gone to stderr saying what is wrong: the folder does not
    exist, it has no summary.json (the run did not finish: mlasim writes that file last), or
    the file is damaged."""
    path = os.path.join(run_dir, "summary.json")
    if not os.path.exists(run_dir):
        print(f"{prog}: {run_dir}: no such folder", file=sys.stderr)
        return path, None
    if not os.path.isdir(run_dir):
        print(f"{prog}: {run_dir}: not a folder (give a run's results folder)", file=sys.stderr)
        return path, None
    return path, required_json(prog, path, "missing (the run did not finish?)")


def load_pyplot():
    """Returns matplotlib.pyplot with the Agg backend, or None when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        return None


def _umask_mode():
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def save_figure(plt, fig, path, tight=True):
    """Writes a figure atomically (temporary file then rename), so a reader never sees half.
    tight=False keeps a layout the caller arranged itself (a shared colour bar, for one)."""
    if tight:
        fig.tight_layout()
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp.", suffix=".png", dir=d)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110)
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        # Whatever went wrong (a full disk, a figure matplotlib cannot draw), no half-written
        # temporary stays in the run folder; the error itself still reaches the caller.
        _remove_quietly(tmp)
        raise
    finally:
        plt.close(fig)


def _remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass


def read_csv(path, columns=(), numbers=(), optional_numbers=()):
    """Rows of a result CSV as dicts; [] when the run did not write it. The header must have
    every column of `columns` and `numbers`; the cells of `numbers` become floats, and so do
    those of `optional_numbers` where the header has the column (older files may lack it). A
    damaged file (a column missing, a row cut short or too long, a cell that is no number)
    raises BadInput naming the file, and the line and column where there is one."""
    if not os.path.exists(path):
        return []
    try:
        with open(path, newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                if columns or numbers:
                    raise BadInput(f"{path}: empty (no header line)")
                return []
            lacking = [c for c in list(columns) + list(numbers) if c not in header]
            if lacking:
                raise BadInput(f"{path}: no column {', '.join(repr(c) for c in lacking)} "
                               f"(the header has {', '.join(header)})")
            rows = []
            for cells in reader:
                if not cells:
                    continue  # a blank line, as csv.DictReader skips it
                if len(cells) != len(header):
                    raise BadInput(f"{path}: line {reader.line_num}: {len(cells)} fields, the "
                                   f"header has {len(header)} (a row cut short?)")
                row = dict(zip(header, cells))
                for c in list(numbers) + [c for c in optional_numbers if c in header]:
                    try:
                        row[c] = float(row[c])
                    except ValueError:
                        row[c] = math.nan  # not a number: refused below like nan and inf
                    if not math.isfinite(row[c]):
                        raise BadInput(f"{path}: line {reader.line_num}: {c!r} is not a finite "
                                       f"number ({cells[header.index(c)]!r})")
                rows.append(row)
            return rows
    except (csv.Error, UnicodeDecodeError) as e:
        raise BadInput(f"{path}: not a readable CSV file ({e})") from None
    except OSError as e:
        raise BadInput(f"{path}: cannot read ({e.strerror})") from None


def write_atomic(path, text):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp.", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        _remove_quietly(tmp)  # as in save_figure: no temporary left behind
        raise


def format_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)
