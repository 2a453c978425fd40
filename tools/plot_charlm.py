#!/usr/bin/env python3
"""Draws the tensorlstm-charlm loss curve from its --log CSV.

    pip install matplotlib
    swift run -c release tensorlstm-charlm --steps 2000 --log charlm.csv
    python3 tools/plot_charlm.py charlm.csv docs/charlm-loss.png
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    source, target = (sys.argv[1:] + ["charlm.csv", "docs/charlm-loss.png"][len(sys.argv) - 1:])[:2]
    steps, train, val_steps, val = [], [], [], []
    with open(source) as f:
        for row in csv.DictReader(f):
            steps.append(int(row["step"]))
            train.append(float(row["train_loss"]))
            if row["validation_loss"]:
                val_steps.append(int(row["step"]))
                val.append(float(row["validation_loss"]))
    smooth, s = [], None
    for value in train:
        s = value if s is None else 0.95 * s + 0.05 * value
        smooth.append(s)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, train, color="#bbbbbb", linewidth=0.6, label="training batch loss")
    ax.plot(steps, smooth, color="#1f77b4", label="training loss (smoothed)")
    ax.plot(val_steps, val, "o-", color="#d62728", markersize=3, label="validation loss")
    ax.set_xlabel("step (batch 32 × 64 characters)")
    ax.set_ylabel("cross-entropy (nats per character)")
    ax.set_title("tensorlstm-charlm on the Python standard library's sources")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(target, dpi=120)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
