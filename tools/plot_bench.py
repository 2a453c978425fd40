#!/usr/bin/env python3
"""Plots BLAS vs naive LSTM forward time across hidden sizes from tensorlstm-bench --json
(with the portable kernels' time when the lines carry portable_ms).

    pip install matplotlib
    python3 tools/plot_bench.py                     # runs the bench, writes docs/bench-hidden.png
    python3 tools/plot_bench.py --from results.jsonl  # plots saved --json lines instead
"""
import argparse
import json
import os
import subprocess

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
HIDDEN = [16, 32, 64, 128, 256, 512]


def run_bench(threads, repeats):
    bin_path = subprocess.run(
        ["swift", "build", "-c", "release", "--package-path", "Benchmarks", "--show-bin-path"],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    lines = []
    for hidden in HIDDEN:
        out = subprocess.run(
            [os.path.join(bin_path, "tensorlstm-bench"), "--json", "--batch", "32", "--steps", "10",
             "--input", "128", "--hidden", str(hidden), "--threads", str(threads),
             "--repeats", str(repeats)],
            cwd=ROOT, capture_output=True, text=True, check=True).stdout
        lines += [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    return lines


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--from", dest="source")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "bench-hidden.png"))
    args = parser.parse_args()
    if args.source:
        with open(args.source) as f:
            rows = [json.loads(l) for l in f if l.startswith("{")]
    else:
        rows = run_bench(args.threads, args.repeats)
    rows = sorted((r for r in rows if r.get("case") == "custom"), key=lambda r: r["hidden"])

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hidden = [r["hidden"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    ax.plot(hidden, [r["naive_ms"] for r in rows], "o-", label="naive path (scalar loops)")
    ax.plot(hidden, [r["blas_ms"] for r in rows], "s-",
            label="default (sgemm input projection + fused AVX2 step)")
    if all("portable_ms" in r for r in rows):
        ax.plot(hidden, [r["portable_ms"] for r in rows], "^--",
                label="portable (sgemm per step + Swift gate pass)")
    ax.plot(hidden, [r["sgemm_ms"] for r in rows], ":", color="gray", label="its GEMMs as bare sgemm")
    for r in rows:
        ax.annotate(f"{r['naive_ms'] / r['blas_ms']:.0f}×", (r["hidden"], r["blas_ms"]),
                    textcoords="offset points", xytext=(0, -14), ha="center", fontsize=8)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(hidden, [str(h) for h in hidden])
    ax.set_xlabel("hidden size H (batch 32, 10 steps, input 128)")
    ax.set_ylabel("forward time, ms (median, log)")
    ax.set_title(f"TensorLSTM LSTM forward, Float, {rows[0]['threads']} thread(s)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out)
    with open(os.path.splitext(args.out)[0] + ".jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
