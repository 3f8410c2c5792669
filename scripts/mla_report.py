#!/usr/bin/env python3
"""MLA against MHA/GQA across models: KV cache per token and per GPU against context length
with the HBM-capacity wall, and HBM traffic and latency of a decode step.

Two phases, so that the plots read only result files:
  collect  runs `mlasim kernels --json` for every model and context length and writes
           OUT/kernels.json (with the GPU's HBM capacity from configs/hardware/<gpu>.yaml);
  plot     reads OUT/kernels.json and writes kv_per_token.png, kv_per_gpu.png,
           decode_step.png and report.md into OUT.

Usage: mla_report.py [--mlasim build/mlasim] [--out results/mla-report] [--gpu h800]
                     [--batch 32] [--models m1,m2,...] [--plot-only]
`make mla-report` runs it with the defaults.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot_common import (MISSING_MATPLOTLIB, BadInput, argument_parser, expect,  # noqa: E402
                         field, load_pyplot, read_json, save_figure, scale_for, write_atomic)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ["deepseek-v3", "deepseek-v2", "llama-3.1-405b", "qwen2.5-72b"]
CONTEXTS = [2 ** i for i in range(10, 18)]  # 1K .. 128K tokens
VARIANT_STYLE = {"mla_absorbed": ("tab:blue", "-"), "mla_naive": ("tab:cyan", "--"),
                 "mha": ("tab:red", "-"), "gqa": ("tab:orange", "-"), "mqa": ("tab:green", "-")}


def hbm_capacity_bytes(gpu):
    """Capacity of the preset's HBM: the product of its organisation (stacks x channels x
    pseudo-channels x SIDs x bank groups x banks x rows x columns x burst), as HbmParams
    computes it. None when the preset or PyYAML is missing."""
    path = os.path.join(ROOT, "configs", "hardware", f"{gpu}.yaml")
    try:
        import yaml
        with open(path) as f:
            org = yaml.safe_load(f)["memory"]["org"]
    except Exception:
        return None, path
    burst = str(org.get("burst", "32B"))
    if not burst.endswith("B") or not burst[:-1].isdigit():
        return None, path
    n = int(burst[:-1])
    for k in ("stacks", "channels", "pseudo_channels", "sids", "bank_groups", "banks", "rows",
              "columns"):
        n *= int(org.get(k, 1))
    return n, path


def collect(args):
    runs = []
    for model in args.models:
        for ctx in CONTEXTS:
            cmd = [args.mlasim, "kernels", "--json", "--model", model, "--context", str(ctx),
                   "--batch", str(args.batch), "--gpu", args.gpu]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode == 2 and "max_position_embeddings" in r.stderr:
                continue  # longer than the model was trained for
            if r.returncode != 0:
                raise subprocess.CalledProcessError(r.returncode, cmd, r.stdout, r.stderr)
            try:
                report = json.loads(r.stdout)
            except ValueError as e:
                raise BadInput(f"{' '.join(cmd)}: printed no valid JSON ({e})") from None
            runs.append({"model": model, "context": ctx, "report": report})
    capacity, preset = hbm_capacity_bytes(args.gpu)
    data = {"gpu": args.gpu, "batch": args.batch, "hbm_capacity_bytes": capacity,
            "hardware_preset": os.path.relpath(preset, ROOT),
            "command": f"{args.mlasim} kernels --json --model M --context C --batch "
                       f"{args.batch} --gpu {args.gpu}", "runs": runs}
    os.makedirs(args.out, exist_ok=True)
    write_atomic(os.path.join(args.out, "kernels.json"), json.dumps(data, indent=1) + "\n")


def check_kernels(data, path):
    """BadInput naming the key unless kernels.json has what the plots and report read: runs of
    every model with the same variants at each context, and a KV size above 0 for each."""
    field(data, "gpu", "string", path)
    field(data, "batch", "integer", path)
    field(data, "hbm_capacity_bytes", "integer?", path)
    field(data, "hardware_preset", "string", path)
    field(data, "command", "string", path)
    runs = field(data, "runs", "list", path)
    if not runs:
        raise BadInput(f"{path}: runs: empty (no model ran)")
    names = {}
    for i, r in enumerate(runs):
        where = f"runs[{i}]"
        expect(r, "object", path, where)
        field(r, "model", "string", path, where)
        field(r, "context", "integer", path, where)
        report = field(r, "report", "object", path, where)
        variants = field(report, "variants", "list", path, f"{where}.report")
        if not variants:
            raise BadInput(f"{path}: {where}.report.variants: empty")
        for j, v in enumerate(variants):
            at = f"{where}.report.variants[{j}]"
            expect(v, "object", path, at)
            field(v, "variant", "string", path, at)
            for key in ("bytes_read", "bytes_written"):
                field(v, key, "number", path, at)
            if field(v, "kv_cache_bytes_per_token", "number", path, at) <= 0:
                raise BadInput(f"{path}: {at}.kv_cache_bytes_per_token: not above 0")
            field(v, "time_us", "number?", path, at)
            field(v, "bound", "string", path, at)
            field(v, "untimed_reason", "string?", path, at, default=None)
        kinds = sorted(v["variant"] for v in variants)
        if names.setdefault(r["model"], kinds) != kinds:
            raise BadInput(f"{path}: {where}.report.variants: not the variants of "
                           f"{r['model']}'s other contexts ({', '.join(names[r['model']])})")
    return data


def variants_of(report):
    return {v["variant"]: v for v in report["variants"]}


def native_variant(variants):
    """The variant a model actually serves with: absorbed MLA, else its own GQA, else MHA."""
    for name in ("mla_absorbed", "gqa", "mha"):
        if name in variants:
            return name
    return next(iter(variants))


def by_model(data):
    out = {}
    for r in data["runs"]:
        out.setdefault(r["model"], {})[r["context"]] = variants_of(r["report"])
    return out


def plot_per_token(plt, models, out_png):
    names = list(models)
    kinds = ["mla_absorbed", "gqa", "mqa", "mha"]
    fig, ax = plt.subplots(figsize=(9, 4.8))
    width = 0.8 / len(kinds)
    for i, kind in enumerate(kinds):
        xs, ys = [], []
        for j, m in enumerate(names):
            v = next(iter(models[m].values())).get(kind)
            if v:
                xs.append(j + (i - (len(kinds) - 1) / 2) * width)
                ys.append(v["kv_cache_bytes_per_token"] / 1e3)
        ax.bar(xs, ys, width, label=kind.replace("_", " "), color=VARIANT_STYLE[kind][0])
        for x, y in zip(xs, ys):
            ax.annotate(f"{y:,.0f}", (x, y), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names)
    ax.set_yscale("log")
    ax.set_ylabel("KV cache per token, all layers (kB)")
    ax.set_xlabel("model")
    ax.set_title("KV cache per token: MLA against MHA/GQA/MQA of the same head dims (BF16)")
    ax.legend(fontsize=8, title="attention")
    save_figure(plt, fig, out_png)


def plot_per_gpu(plt, models, batch, capacity, gpu, out_png):
    fig, ax = plt.subplots(figsize=(9, 5))
    f, unit = scale_for([capacity] if capacity else [1e9], "B")
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:olive"]
    for i, (m, per_ctx) in enumerate(models.items()):
        ctxs = sorted(per_ctx)
        native = native_variant(per_ctx[ctxs[0]])
        kinds = [(native, "-", native.replace("_", " "))]
        if native == "mla_absorbed":
            kinds.append(("mha", ":", "as MHA"))
        for kind, ls, what in kinds:
            ys = [per_ctx[c][kind]["kv_cache_bytes_per_token"] * batch * c / f for c in ctxs]
            ax.plot(ctxs, ys, marker="o", ls=ls, color=colors[i % len(colors)],
                    label=f"{m} ({what})")
    if capacity:
        ax.axhline(capacity / f, color="black", ls="--", lw=1.5,
                   label=f"HBM capacity of one {gpu.upper()} ({capacity / f:.0f} {unit})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel(f"KV cache of {batch} requests ({unit})")
    ax.set_title(f"KV cache per GPU: {batch} requests on one GPU, all layers, BF16 "
                 "(no TP sharding; weights not counted)", fontsize=10)
    ax.legend(fontsize=8)
    save_figure(plt, fig, out_png)


def plot_decode_step(plt, model, per_ctx, batch, gpu, out_png):
    ctxs = sorted(per_ctx)
    kinds = [k for k in ("mla_absorbed", "mla_naive", "mha", "gqa", "mqa") if k in per_ctx[ctxs[0]]]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    traffic = {k: [per_ctx[c][k]["bytes_read"] + per_ctx[c][k]["bytes_written"] for c in ctxs]
               for k in kinds}
    f, unit = scale_for([v for vs in traffic.values() for v in vs], "B")
    for k in kinds:
        color, ls = VARIANT_STYLE[k]
        axes[0].plot(ctxs, [v / f for v in traffic[k]], marker="o", color=color, ls=ls,
                     label=k.replace("_", " "))
        # A variant over the tile GPU model's work limit has no time (null): a gap.
        times = [per_ctx[c][k]["time_us"] for c in ctxs]
        axes[1].plot(ctxs, [t / 1e3 if t is not None else float("nan") for t in times],
                     marker="o", color=color, ls=ls, label=k.replace("_", " "))
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("context length (tokens)")
        ax.legend(fontsize=8, title="attention")
    axes[0].set_ylabel(f"HBM bytes read + written per step ({unit})")
    axes[0].set_title(f"{model}: HBM traffic of one decode step (attention, all layers)",
                      fontsize=10)
    axes[1].set_ylabel("time per step (ms)")
    axes[1].set_title(f"{model}: that step on the tile GPU model of the {gpu.upper()} "
                      "(gaps: over its work limit)", fontsize=10)
    fig.suptitle(f"Decode step, batch {batch}, one new token per request")
    save_figure(plt, fig, out_png)


def report(data, models, images):
    batch, capacity, gpu = data["batch"], data["hbm_capacity_bytes"], data["gpu"]
    lines = ["# MLA against MHA/GQA: KV cache, HBM traffic, decode latency", "",
             f"From `{data['command']}` for each model and context length "
             f"(raw figures in `kernels.json`). HBM capacity of one {gpu.upper()}: "
             + (f"{capacity / 1e9:.1f} GB ({capacity / 2 ** 30:.0f} GiB, from "
                f"`{data['hardware_preset']}`)." if capacity else "unknown."), "",
             "## KV cache per token and what fits in HBM", "",
             "| model | served as | KV per token (B) | as MHA (B) | MHA / served | "
             f"longest context for {batch} requests in HBM (tokens) |",
             "|---|---|---:|---:|---:|---:|"]
    for m, per_ctx in models.items():
        v = next(iter(per_ctx.values()))
        native = native_variant(v)
        kv = v[native]["kv_cache_bytes_per_token"]
        mha = v["mha"]["kv_cache_bytes_per_token"] if "mha" in v else kv
        fit = f"{capacity // (kv * batch):,}" if capacity else "-"
        lines.append(f"| {m} | {native} | {kv:,} | {mha:,} | {mha / kv:.1f}x | {fit} |")
    first = next(iter(models))
    ctxs = sorted(models[first])
    lines += ["", f"## Decode step of {first} (batch {batch})", "",
              "| context (tokens) | variant | HBM traffic (MB) | time (us) | bound |",
              "|---:|---|---:|---:|---|"]
    untimed = {v["untimed_reason"] for per_ctx in models.values() for vs in per_ctx.values()
               for v in vs.values() if v.get("time_us") is None and v.get("untimed_reason")}
    for c in (ctxs[0], ctxs[len(ctxs) // 2], ctxs[-1]):
        for k, v in models[first][c].items():
            mb = (v["bytes_read"] + v["bytes_written"]) / 1e6
            t = f"{v['time_us']:,.1f}" if v["time_us"] is not None else "-"
            lines.append(f"| {c:,} | {k} | {mb:,.1f} | {t} | {v['bound']} |")
    lines.append("")
    if untimed:
        lines += ["Time `-`: the tile GPU model did not run the variant (`mlasim kernels` says "
                  "why, for example: " + sorted(untimed)[0] + ").", ""]
    for title, img in images:
        lines += [f"## {title}", "", f"![{title}]({img})", ""]
    return "\n".join(lines)


def plot(args):
    path = os.path.join(args.out, "kernels.json")
    data = check_kernels(read_json(path), path)
    models = by_model(data)
    images = []
    plt = load_pyplot()
    if plt is None:
        print(f"mla_report: {MISSING_MATPLOTLIB} (install python3-matplotlib); "
              "report.md has the tables only", file=sys.stderr)
    else:
        plot_per_token(plt, models, os.path.join(args.out, "kv_per_token.png"))
        plot_per_gpu(plt, models, data["batch"], data["hbm_capacity_bytes"], data["gpu"],
                     os.path.join(args.out, "kv_per_gpu.png"))
        first = next(iter(models))
        plot_decode_step(plt, first, models[first], data["batch"], data["gpu"],
                         os.path.join(args.out, "decode_step.png"))
        images = [("KV cache per token", "kv_per_token.png"),
                  ("KV cache per GPU against context length, with the HBM wall", "kv_per_gpu.png"),
                  ("HBM traffic and latency per decode step", "decode_step.png")]
    write_atomic(os.path.join(args.out, "report.md"), report(data, models, images))
    print(f"MLA report: {args.out}/report.md", file=sys.stderr)


def main():
    p = argument_parser(__doc__)
    p.add_argument("--mlasim", default=os.path.join(ROOT, "build", "mlasim"))
    p.add_argument("--out", default=os.path.join("results", "mla-report"))
    p.add_argument("--gpu", default="h800", help="h100, h800 or h200")
    p.add_argument("--batch", type=int, default=32, help="requests per GPU")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--plot-only", action="store_true", help="only redraw from OUT/kernels.json")
    args = p.parse_args()
    args.models = [m for m in args.models.split(",") if m]
    if not args.plot_only:
        try:
            collect(args)
        except (OSError, BadInput, subprocess.CalledProcessError) as e:
            print(f"mla_report: {e} {getattr(e, 'stderr', '') or ''}".strip(), file=sys.stderr)
            return 2
    if not os.path.exists(os.path.join(args.out, "kernels.json")):
        print(f"mla_report: {args.out}/kernels.json: no such file (run without --plot-only "
              "first)", file=sys.stderr)
        return 2
    try:
        plot(args)
    except (OSError, ValueError) as e:
        print(f"mla_report: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
