#!/usr/bin/env python3
"""Times the LSTM forward of onnxruntime and PyTorch beside tensorlstm-bench, same shapes and
thread counts, and prints one side-by-side table (medians, ms). CI does not run this.

    pip install torch onnx onnxruntime
    python3 tools/peers.py                 # 1 and 2 threads, the three default shapes
    python3 tools/peers.py --threads 1 --repeats 30
"""
import argparse
import json
import os
import statistics
import subprocess
import time

import numpy as np

SHAPES = {  # name: (batch, steps, input, hidden)
    "article": (32, 10, 128, 64),
    "large": (64, 100, 512, 512),
    "streaming": (1, 1000, 64, 256),
}
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def median_ms(fn, repeats):
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def time_onnxruntime(batch, steps, inp, hidden, threads, repeats):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    w = rng.standard_normal((1, 4 * hidden, inp), dtype=np.float32) * 0.1
    r = rng.standard_normal((1, 4 * hidden, hidden), dtype=np.float32) * 0.1
    b = rng.standard_normal((1, 8 * hidden), dtype=np.float32) * 0.1
    node = helper.make_node("LSTM", ["X", "W", "R", "B"], ["Y"], hidden_size=hidden)
    graph = helper.make_graph(
        [node], "lstm",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [steps, batch, inp])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        [onnx.numpy_helper.from_array(w, "W"), onnx.numpy_helper.from_array(r, "R"),
         onnx.numpy_helper.from_array(b, "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    x = rng.standard_normal((steps, batch, inp), dtype=np.float32)
    return median_ms(lambda: session.run(None, {"X": x}), repeats)


def time_torch(batch, steps, inp, hidden, threads, repeats):
    import torch

    torch.set_num_threads(threads)
    lstm = torch.nn.LSTM(inp, hidden, batch_first=True).eval()
    x = torch.randn(batch, steps, inp)
    with torch.inference_mode():
        return median_ms(lambda: lstm(x), repeats)


def time_tensorlstm(threads, repeats):
    """Runs tensorlstm-bench --json (built by tools/bench.sh) and returns {case: report}."""
    bench = subprocess.run(
        ["swift", "build", "-c", "release", "--package-path", "Benchmarks", "--show-bin-path"],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    out = subprocess.run(
        [os.path.join(bench, "tensorlstm-bench"), "--json", "--skip-naive", "--threads",
         str(threads), "--repeats", str(repeats)],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout
    reports = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return {r["case"]: r for r in reports if r["case"] in SHAPES}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    import onnxruntime
    import torch
    print(f"onnxruntime {onnxruntime.__version__}, torch {torch.__version__}; medians in ms")
    print(f"{'case':10} {'thr':>3} {'TensorLSTM':>11} {'sgemm lim':>10} {'onnxrt':>9} "
          f"{'PyTorch':>9} {'vs ort':>7} {'vs torch':>9}")
    for threads in args.threads:
        ours = time_tensorlstm(threads, args.repeats)
        for name, shape in SHAPES.items():
            repeats = max(3, args.repeats // 3) if name == "large" else args.repeats
            ort_ms = time_onnxruntime(*shape, threads, repeats)
            torch_ms = time_torch(*shape, threads, repeats)
            mine = ours[name]["blas_ms"]
            print(f"{name:10} {threads:>3} {mine:>11.3f} {ours[name]['sgemm_ms']:>10.3f} "
                  f"{ort_ms:>9.3f} {torch_ms:>9.3f} {mine / ort_ms:>6.2f}x {mine / torch_ms:>8.2f}x")


if __name__ == "__main__":
    main()
