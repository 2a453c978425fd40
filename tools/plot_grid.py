#!/usr/bin/env python3
"""Draws the grid's heatmap (B × H) of TensorLSTM's time over onnxruntime's, one panel per thread
count, from the JSONL that tools/peers.py --grid writes.

    pip install matplotlib
    python3 tools/plot_grid.py                               # docs/grid-peers.jsonl -> docs/grid-heatmap.png
    python3 tools/plot_grid.py --from other.jsonl --out x.png
"""
import argparse
import json
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", default=os.path.join(ROOT, "docs", "grid-peers.jsonl"))
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "grid-heatmap.png"))
    args = parser.parse_args()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    rows = [json.loads(line) for line in open(args.source) if line.strip()]
    threads = sorted({r["threads"] for r in rows})
    batches = sorted({r["batch"] for r in rows})
    sizes = sorted({(r["input"], r["hidden"]) for r in rows}, key=lambda s: s[1])
    fig, axes = plt.subplots(1, len(threads), figsize=(5.2 * len(threads), 4.2), squeeze=False)
    norm = TwoSlopeNorm(vmin=0.5, vcenter=1.0, vmax=1.5)
    for panel, (ax, t) in enumerate(zip(axes[0], threads)):
        grid = [[next((r["vs_onnxruntime"] for r in rows if r["threads"] == t and r["batch"] == b
                       and (r["input"], r["hidden"]) == s), float("nan")) for b in batches]
                for s in sizes]
        image = ax.imshow(grid, cmap="RdYlGn_r", norm=norm, aspect="auto")
        for i, line in enumerate(grid):
            for j, value in enumerate(line):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8)
        ax.set_xticks(range(len(batches)), [str(b) for b in batches])
        ax.set_yticks(range(len(sizes)), [f"I {i}, H {h}" for i, h in sizes] if panel == 0 else [])
        ax.set_xlabel("batch B (T = 40)")
        ax.set_title(f"{t} thread{'s' if t > 1 else ''}: TensorLSTM / onnxruntime time")
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="< 1: TensorLSTM faster")
    fig.suptitle(rows[0].get("cpu", ""), fontsize=8)
    fig.savefig(args.out, dpi=110, bbox_inches="tight")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
