#!/usr/bin/env python3
"""Data-parallel throughput of the char-LM: one process against ranks under mpirun, interleaved.

    python3 tools/dp_scaling.py [--rounds 3] [--steps 40] [--np 2]

Builds Distributed/'s tensorlstm-charlm, then runs round-robin, `--rounds` times each:
  - one process, 1 thread, --batch 32;
  - one process, N threads, --batch 32;
  - N ranks x 1 thread, --batch 32 (the global batch: 32/N windows per rank);
  - N ranks x 1 thread, --batch 32N (32 windows per rank, as DistributedDataParallel scales).
Prints the median characters per second of each (over the steps before the final evaluation),
its ratio to one process at 1 thread, and the ranks' allreduce and waiting time per step.
Needs only Python and MPI (tools/ensure-mpi.sh).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--np", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=256)
    args = parser.parse_args()
    subprocess.run(
        ["swift", "build", "-c", "release", "--package-path", "Distributed", "--product",
         "tensorlstm-charlm"], cwd=ROOT, check=True, stdout=sys.stderr)
    binary = subprocess.run(
        ["swift", "build", "-c", "release", "--package-path", "Distributed", "--show-bin-path"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip() + "/tensorlstm-charlm"
    n = args.np
    common = ["--steps", str(args.steps), "--eval-every", str(args.steps), "--val-windows", "8",
              "--hidden", str(args.hidden), "--quiet", "--sample", "0", "--seed", "5"]
    mpirun = ["mpirun", "--oversubscribe", "--bind-to", "core", "-np", str(n)]
    if os.geteuid() == 0:
        mpirun.insert(1, "--allow-run-as-root")
    configs = [
        ("1 process x 1 thread, batch 32", [binary, "--batch", "32", "--threads", "1"]),
        (f"1 process x {n} threads, batch 32", [binary, "--batch", "32", "--threads", str(n)]),
        (f"{n} ranks x 1 thread, batch 32 ({32 // n} per rank)",
         mpirun + [binary, "--data-parallel", "--batch", "32", "--threads", "1"]),
        (f"{n} ranks x 1 thread, batch {32 * n} (32 per rank)",
         mpirun + [binary, "--data-parallel", "--batch", str(32 * n), "--threads", "1"]),
    ]
    rates = {name: [] for name, _ in configs}
    sending = {name: [] for name, _ in configs}
    waiting = {name: [] for name, _ in configs}
    pattern = re.compile(
        r"step \d+: validation loss \S+ \(train \S+\), \S+ s, (\d+) chars/s"
        r"(?: \| allreduce (\S+) \+ waiting (\S+) ms/step)?")
    for _ in range(args.rounds):
        for name, command in configs:
            output = subprocess.run(command + common, cwd=ROOT, check=True, capture_output=True,
                                    text=True).stdout
            match = pattern.findall(output)[-1]
            rates[name].append(float(match[0]))
            if match[1]:
                sending[name].append(float(match[1]))
                waiting[name].append(float(match[2]))
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "unknown CPU")
    print(f"CPU: {cpu}, {os.cpu_count()} cores; char-LM H {args.hidden}, 2 layers, seq 64, "
          f"{args.steps} steps, median of {args.rounds} interleaved rounds; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    base = statistics.median(rates[configs[0][0]])
    print(f"| run | chars/s | vs 1 process x 1 thread | allreduce ms/step | waiting ms/step |")
    print("| --- | --- | --- | --- | --- |")
    for name, _ in configs:
        rate = statistics.median(rates[name])
        send = f"{statistics.median(sending[name]):.1f}" if sending[name] else "-"
        wait = f"{statistics.median(waiting[name]):.1f}" if waiting[name] else "-"
        print(f"| {name} | {rate:.0f} | {rate / base:.2f}x | {send} | {wait} |")


if __name__ == "__main__":
    main()
