#!/usr/bin/env python3
"""Times the LSTM (or GRU, RNN) forward of onnxruntime and PyTorch beside tensorlstm-bench, same
shapes and thread counts, and prints one side-by-side table (medians, ms).

    pip install torch onnx onnxruntime
    python3 tools/peers.py                 # 1 and 2 threads, the three default shapes
    python3 tools/peers.py --threads 1 --repeats 30 --rounds 5 --shapes article
    python3 tools/peers.py --grid          # issue 9's grid, 1 and 2 threads, JSONL to docs/
    python3 tools/peers.py --grid --quick  # four grid shapes, one round (what CI runs, when
                                           # torch and onnxruntime are installed)
    python3 tools/peers.py --grid --cell gru --threads 1   # the GRU: ONNX GRU node
                                           # (linear_before_reset 1, PyTorch's form), nn.GRU
    python3 tools/peers.py --train         # LSTM forward + backward vs PyTorch's
                                           # loss.backward() (issue 12's shapes; --cell gru
                                           # or rnn: nn.GRU, nn.RNN)
    python3 tools/peers.py --precision int8   # int8 weights at B 1 and 16, T 1000, I 64,
                                           # H 256/512/1024: our Float and int8 vs
                                           # onnxruntime's DynamicQuantizeLSTM and PyTorch's
                                           # dynamic qint8 LSTM (--cell gru: PyTorch's only)
    python3 tools/peers.py --onnx          # whole ONNX files: Silero VAD per streamed chunk and
                                           # per 60 s of audio, the torch.onnx exports per
                                           # forward; ONNXModel vs onnxruntime at 1 and 2 threads
"""
import argparse
import logging
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


GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def one_node_model(op, w, r, b, x_shape, **attributes):
    """An opset-14 model of one LSTM, GRU or RNN node: input X, output Y, W/R/B initializers."""
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node(op, ["X", "W", "R", "B"], ["Y"], hidden_size=r.shape[2], **attributes)
    graph = helper.make_graph(
        [node], op.lower(),
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(x_shape))],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        [onnx.numpy_helper.from_array(w, "W"), onnx.numpy_helper.from_array(r, "R"),
         onnx.numpy_helper.from_array(b, "B")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


def onnxruntime_forward(batch, steps, inp, hidden, threads, cell="lstm"):
    """A callable that runs one onnxruntime LSTM, GRU or RNN forward (session built once)."""
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    gates = GATES[cell]
    w = rng.standard_normal((1, gates * hidden, inp), dtype=np.float32) * 0.1
    r = rng.standard_normal((1, gates * hidden, hidden), dtype=np.float32) * 0.1
    b = rng.standard_normal((1, 2 * gates * hidden), dtype=np.float32) * 0.1
    extra = {"linear_before_reset": 1} if cell == "gru" else {}
    model = one_node_model(cell.upper(), w, r, b, (steps, batch, inp), **extra)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    x = rng.standard_normal((steps, batch, inp), dtype=np.float32)
    return lambda: session.run(None, {"X": x})


def torch_forward(batch, steps, inp, hidden, threads, cell="lstm"):
    """A callable that runs one PyTorch nn.LSTM, nn.GRU or nn.RNN forward under inference_mode."""
    import torch

    torch.set_num_threads(threads)
    layer = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]
    lstm = layer(inp, hidden, batch_first=True).eval()
    x = torch.randn(batch, steps, inp)

    def run():
        with torch.inference_mode():
            lstm(x)
    return run


TRAIN_SHAPES = {  # name: (batch, steps, input, hidden, layers, bidirectional)
    "article": (32, 10, 128, 64, 1, False),
    "stacked-bi": (16, 50, 128, 128, 2, True),
    "large": (64, 100, 512, 512, 1, False),
    "long-B1": (1, 1000, 64, 256, 1, False),
}


def torch_train(batch, steps, inp, hidden, layers, bidirectional, threads, cell="lstm"):
    """A callable that runs one PyTorch forward and loss.backward() (input gradient included,
    as TensorLSTM's backward computes it), L = sum(output * R)."""
    import torch

    torch.set_num_threads(threads)
    layer = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]
    lstm = layer(inp, hidden, num_layers=layers, bidirectional=bidirectional, batch_first=True)
    x = torch.randn(batch, steps, inp, requires_grad=True)
    r = torch.randn(batch, steps, (2 if bidirectional else 1) * hidden)

    def run():
        lstm.zero_grad(set_to_none=True)
        x.grad = None
        out, _ = lstm(x)
        (out * r).sum().backward()
    return run


PRECISION_SHAPES = {f"B{b} H{h}": (b, 1000, 64, h) for h in (256, 512, 1024) for b in (1, 16)}


def onnxruntime_dynamic_int8(batch, steps, inp, hidden, threads):
    """onnxruntime's com.microsoft.DynamicQuantizeLSTM (what quantize_dynamic makes of an LSTM
    node: int8 weights with a scale per output channel, activations quantized per call)."""
    import tempfile

    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)  # quantize_dynamic's pre-processing advice

    rng = np.random.default_rng(0)
    bound = 1 / np.sqrt(hidden)
    w = rng.uniform(-bound, bound, (1, 4 * hidden, inp)).astype(np.float32)
    r = rng.uniform(-bound, bound, (1, 4 * hidden, hidden)).astype(np.float32)
    b = rng.uniform(-bound, bound, (1, 8 * hidden)).astype(np.float32)
    model = one_node_model("LSTM", w, r, b, (steps, batch, inp))
    with tempfile.TemporaryDirectory() as folder:
        source, target = os.path.join(folder, "f.onnx"), os.path.join(folder, "q.onnx")
        onnx.save(model, source)
        quantize_dynamic(source, target, op_types_to_quantize=["LSTM"],
                         weight_type=QuantType.QInt8, per_channel=True)
        quantized = onnx.load(target)
    assert [n.op_type for n in quantized.graph.node] == ["DynamicQuantizeLSTM"]
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(quantized.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    x = rng.standard_normal((steps, batch, inp), dtype=np.float32)
    return lambda: session.run(None, {"X": x})


def torch_dynamic(batch, steps, inp, hidden, threads, cell, dtype):
    """PyTorch's torch.ao dynamic quantization of nn.LSTM / nn.GRU (qint8 or float16 weights)."""
    import warnings

    import torch

    torch.set_num_threads(threads)
    layer = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](inp, hidden).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = torch.ao.quantization.quantize_dynamic(
            torch.nn.Sequential(layer), {type(layer)}, dtype=dtype)
    x = torch.randn(steps, batch, inp)

    def run():
        with torch.inference_mode():
            model(x)
    return run


def precision(args):
    """Reduced-precision weights: per shape and round, tensorlstm-bench --precision (our Float
    and reduced forward, interleaved), then the peers' quantized LSTMs, back to back."""
    import torch
    bench = bench_path()
    print_machine(bench)
    int8 = args.precision == "int8"
    print(f"{args.cell.upper()} forward, {args.precision} weights, 1 thread; torch "
          f"{torch.__version__}" + (f", onnxruntime {__import__('onnxruntime').__version__}"
                                    if int8 and args.cell == "lstm" else "")
          + f"; medians in ms, {args.rounds} rounds")
    ort_name = "ort DQLSTM" if int8 and args.cell == "lstm" else "-"
    torch_name = "torch qint8" if int8 else "torch fp16"
    print(f"{'case':10} {'float':>9} {args.precision:>9} {'speedup':>8} {ort_name:>11} "
          f"{torch_name:>11} {'vs ort':>7} {'vs torch':>9}")
    names = args.shapes if args.shapes != list(SHAPES) else list(PRECISION_SHAPES)
    for name in names:
        batch, steps, inp, hidden = PRECISION_SHAPES[name]
        repeats = max(3, args.repeats // 3) if hidden == 1024 else args.repeats
        with_ort = int8 and args.cell == "lstm"
        ort_run = onnxruntime_dynamic_int8(batch, steps, inp, hidden, 1) if with_ort else None
        torch_run = torch_dynamic(batch, steps, inp, hidden, 1, args.cell,
                                  torch.qint8 if int8 else torch.float16)
        rows = []
        for _ in range(args.rounds):
            time.sleep(0.05)
            out = subprocess.run(
                [bench, "--precision", args.precision, "--json", "--cell", args.cell,
                 "--threads", "1", "--repeats", str(repeats), "--batch", str(batch), "--steps",
                 str(steps), "--input", str(inp), "--hidden", str(hidden)],
                cwd=ROOT, capture_output=True, text=True, check=True).stdout
            ours = [json.loads(line) for line in out.splitlines() if line.startswith("{")][0]
            time.sleep(0.05)
            ort_ms = median_ms(ort_run, repeats) if ort_run else float("nan")
            time.sleep(0.05)
            torch.set_num_threads(1)
            rows.append((ours["float_ms"], ours["reduced_ms"], ort_ms,
                         median_ms(torch_run, repeats)))
        fl, red, ort_ms, torch_ms = (statistics.median(c) for c in zip(*rows))
        ratio = lambda i: statistics.median(r[1] / r[i] for r in rows)
        print(f"{name:10} {fl:>9.3f} {red:>9.3f} {statistics.median(r[0] / r[1] for r in rows):>7.2f}x "
              + (f"{ort_ms:>11.3f}" if with_ort else f"{'-':>11}") + f" {torch_ms:>11.3f} "
              + (f"{ratio(2):>6.2f}x" if with_ort else f"{'-':>7}") + f" {ratio(3):>8.2f}x",
              flush=True)


def print_machine(bench):
    """The CPU line (model, vector extensions, OpenBLAS's core) and the engine's GEMM
    calibration, from tensorlstm-bench --calibrate: every table starts with them."""
    print(subprocess.run([bench, "--calibrate"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.rstrip())


def train(args):
    """Each training shape: TensorLSTM's forwardWithTrace + backward (tensorlstm-bench --train)
    and PyTorch's forward + loss.backward(), back to back per round."""
    import torch
    bench = bench_path()
    print_machine(bench)
    print(f"{args.cell.upper()} forward + backward; torch {torch.__version__}; medians in ms, "
          f"{args.rounds} rounds; trace/fwd = the traced forward over the plain one")
    print(f"{'case':11} {'thr':>3} {'fwd':>9} {'fwd+bwd':>9} {'trace/fwd':>9} {'bwd/fwd':>8} "
          f"{'PyTorch':>9} {'vs torch':>9}")
    for threads in args.threads:
        for name, (batch, steps, inp, hidden, layers, bi) in TRAIN_SHAPES.items():
            repeats = max(3, args.repeats // 3) if name == "large" else args.repeats
            torch_run = torch_train(batch, steps, inp, hidden, layers, bi, threads, args.cell)
            rows = []
            for _ in range(args.rounds):
                time.sleep(0.05)
                command = [bench, "--train", "--json", "--cell", args.cell, "--threads",
                           str(threads), "--repeats",
                           str(repeats), "--batch", str(batch), "--steps", str(steps), "--input",
                           str(inp), "--hidden", str(hidden), "--layers", str(layers)]
                if bi:
                    command.append("--bidirectional")
                out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                                     check=True).stdout
                ours = [json.loads(line) for line in out.splitlines() if line.startswith("{")][0]
                time.sleep(0.05)
                torch.set_num_threads(threads)
                rows.append((ours["forward_ms"], ours["trace_ms"], ours["train_ms"],
                             median_ms(torch_run, repeats)))
            fwd, trace_ms, mine, torch_ms = (statistics.median(c) for c in zip(*rows))
            vs = statistics.median(r[2] / r[3] for r in rows)
            print(f"{name:11} {threads:>3} {fwd:>9.3f} {mine:>9.3f} {trace_ms / fwd:>9.2f} "
                  f"{(mine - trace_ms) / fwd:>8.2f} {torch_ms:>9.3f} {vs:>8.2f}x", flush=True)


def bench_path():
    """tensorlstm-bench, built first (a no-op when it is current) so that no table times a
    stale binary."""
    subprocess.run(
        ["swift", "build", "-c", "release", "--package-path", "Benchmarks", "--product",
         "tensorlstm-bench"], cwd=ROOT, capture_output=True, text=True, check=True)
    bin_path = subprocess.run(
        ["swift", "build", "-c", "release", "--package-path", "Benchmarks", "--show-bin-path"],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    return os.path.join(bin_path, "tensorlstm-bench")


def time_tensorlstm(bench, shape, threads, repeats, cell="lstm"):
    """Runs tensorlstm-bench --json on one shape; returns its report."""
    batch, steps, inp, hidden = shape
    out = subprocess.run(
        [bench, "--json", "--skip-naive", "--cell", cell, "--threads",
         str(threads), "--repeats", str(repeats), "--batch", str(batch), "--steps", str(steps),
         "--input", str(inp), "--hidden", str(hidden)],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")][0]


GRID_BATCHES = [1, 2, 4, 6, 12, 24, 48, 96]
GRID_SIZES = [(24, 48), (96, 96), (64, 200), (384, 384), (128, 768)]
GRID_STEPS = 40


class Server:
    """tensorlstm-bench --serve: one process that keeps models per shape and answers timings,
    so that TensorLSTM is timed in the same round as its peers without a process start."""

    def __init__(self, bench):
        self.process = subprocess.Popen([bench, "--serve"], cwd=ROOT, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, bufsize=1)
        self.cpu = json.loads(self.process.stdout.readline())["cpu"]

    def time(self, shape, threads, repeats, cell="lstm"):
        batch, steps, inp, hidden = shape
        self.process.stdin.write(f"{batch} {steps} {inp} {hidden} {threads} {repeats} {cell}\n")
        return json.loads(self.process.stdout.readline())["ms"]

    def close(self):
        self.process.stdin.close()
        self.process.wait()


def geometric_mean(values):
    return float(np.exp(np.mean(np.log(values))))


def grid(args):
    """Every grid shape at each thread count: TensorLSTM, onnxruntime and PyTorch back to back
    per round; ratios are medians of the per-round ratios. Prints a table and a summary per
    thread count, and writes one JSON line per shape and thread count."""
    import torch
    server = Server(bench_path())
    shapes = [(b, GRID_STEPS, i, h) for (i, h) in GRID_SIZES for b in GRID_BATCHES]
    if args.quick:
        shapes = [(1, GRID_STEPS, 64, 200), (6, GRID_STEPS, 96, 96), (48, GRID_STEPS, 24, 48),
                  (12, GRID_STEPS, 384, 384)]
    import onnxruntime
    print(server.cpu)
    print(f"{args.cell.upper()} forward; onnxruntime {onnxruntime.__version__}, torch "
          f"{torch.__version__}; T {GRID_STEPS}, medians in ms, {args.rounds} round(s)")
    print(f"{'B':>4} {'I':>4} {'H':>4} {'thr':>3} {'TensorLSTM':>11} {'onnxrt':>9} {'PyTorch':>9} "
          f"{'vs ort':>7} {'vs torch':>9}")
    results = []
    for threads in args.threads:
        for shape in shapes:
            batch, steps, inp, hidden = shape
            flops = 2.0 * steps * batch * GATES[args.cell] * hidden * (inp + hidden)
            repeats = int(max(5, min(41, 0.1 / (flops / 40e9))))
            ort_run = onnxruntime_forward(*shape, threads, args.cell)
            torch_run = torch_forward(*shape, threads, args.cell)
            rows = []
            for _ in range(args.rounds):
                torch.set_num_threads(threads)
                # onnxruntime's and OpenMP's (PyTorch's) and OpenBLAS's idle threads spin for a
                # while after a parallel run; a pause before each measurement keeps one
                # framework's spinning threads from taking the cores the next one times on.
                times = []
                for run in (lambda: server.time(shape, threads, repeats, args.cell),
                            lambda: median_ms(ort_run, repeats),
                            lambda: median_ms(torch_run, repeats)):
                    time.sleep(0.05)
                    times.append(run())
                rows.append(tuple(times))
            mine, ort_ms, torch_ms = (statistics.median(c) for c in zip(*rows))
            vs_ort = statistics.median(r[0] / r[1] for r in rows)
            vs_torch = statistics.median(r[0] / r[2] for r in rows)
            results.append({"batch": batch, "steps": steps, "input": inp, "hidden": hidden,
                            "threads": threads, "tensorlstm_ms": mine, "onnxruntime_ms": ort_ms,
                            "torch_ms": torch_ms, "vs_onnxruntime": vs_ort,
                            "vs_torch": vs_torch, "cell": args.cell, "cpu": server.cpu})
            print(f"{batch:>4} {inp:>4} {hidden:>4} {threads:>3} {mine:>11.3f} {ort_ms:>9.3f} "
                  f"{torch_ms:>9.3f} {vs_ort:>6.2f}x {vs_torch:>8.2f}x", flush=True)
    server.close()
    for threads in args.threads:
        rows = [r for r in results if r["threads"] == threads]
        worst = max(rows, key=lambda r: r["vs_onnxruntime"])
        print(f"{threads} thread(s): vs onnxruntime geometric mean "
              f"{geometric_mean([r['vs_onnxruntime'] for r in rows]):.2f}, worst "
              f"{worst['vs_onnxruntime']:.2f} (B {worst['batch']}, H {worst['hidden']}); "
              f"vs PyTorch geometric mean {geometric_mean([r['vs_torch'] for r in rows]):.2f}")
    if 1 in args.threads and 2 in args.threads:
        one = {(r["batch"], r["hidden"]): r for r in results if r["threads"] == 1}
        ratios = [(r["tensorlstm_ms"] / one[(r["batch"], r["hidden"])]["tensorlstm_ms"],
                   r["onnxruntime_ms"] / one[(r["batch"], r["hidden"])]["onnxruntime_ms"], r)
                  for r in results if r["threads"] == 2]
        slower = [r for mine, _, r in ratios if mine > 1.0]
        print(f"2 vs 1 thread: TensorLSTM time ratio geometric mean "
              f"{geometric_mean([m for m, _, _ in ratios]):.2f} (slower on {len(slower)} of "
              f"{len(ratios)} shapes); onnxruntime {geometric_mean([o for _, o, _ in ratios]):.2f}")
    if args.out:
        with open(args.out, "w") as f:
            for r in results:
                f.write(json.dumps(r) + "\n")
        print(f"wrote {args.out}")


ONNX_MODELS = [  # (label, path under the root, batch, steps)
    ("silero_vad", ".build/models/silero_vad/data/silero_vad.onnx", None, None),
    ("silero op15", ".build/models/silero_vad/data/silero_vad_16k_op15.onnx", None, None),
    ("silero op18", ".build/models/silero_vad/data/silero_vad_op18_ifless.onnx", None, None),
    ("tagger op17", "Tests/TensorLSTMTests/Fixtures/onnx_tagger_op17.onnx", 8, 50),
    ("convgru op17", "Tests/TensorLSTMTests/Fixtures/onnx_convgru_op17.onnx", 8, 50),
    ("rnn op17", "Tests/TensorLSTMTests/Fixtures/onnx_rnn_op17.onnx", 8, 50),
]


def onnx_peer(path, threads, batch, steps):
    """onnxruntime on the file with the inputs tensorlstm-bench --onnx builds: a Silero chunk
    loop, or one forward with symbolic axes (first → batch, others → steps)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    s = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    names = {i.name for i in s.get_inputs()}
    if names == {"input", "state", "sr"}:
        chunk = (np.random.default_rng(1).standard_normal((1, 576)) * 0.1).astype(np.float32)
        sr = np.array(16000, np.int64)
        state = [np.zeros((2, 1, 128), np.float32)]

        def call():
            state[0] = s.run(None, {"input": chunk, "state": state[0], "sr": sr})[1]

        def file():
            st = np.zeros((2, 1, 128), np.float32)
            for _ in range(1875):
                st = s.run(None, {"input": chunk, "state": st, "sr": sr})[1]
        return {"chunk_ms": call, "file60s_ms": file}
    feed = {}
    for k, i in enumerate(s.get_inputs()):
        first = [True]

        def size(d):
            if isinstance(d, int):
                return d
            value = (batch or 1) if first[0] else (steps or 10)
            first[0] = False
            return value
        shape = [size(d) for d in i.shape]
        count = int(np.prod(shape))
        if "int64" in i.type:
            feed[i.name] = (np.arange(count) % 7).astype(np.int64).reshape(shape)
        else:
            feed[i.name] = np.random.default_rng(k + 1).standard_normal(shape).astype(np.float32)
    return {"forward_ms": lambda: s.run(None, feed)}


def onnx_models(args):
    import onnxruntime
    bench = bench_path()
    cpu = None
    lines = []
    for label, relative, batch, steps in ONNX_MODELS:
        path = os.path.join(ROOT, relative)
        if not os.path.exists(path):
            print(f"{label}: {relative} missing (bash tools/ensure-silero.sh)")
            continue
        peers = {t: onnx_peer(path, t, batch, steps) for t in (1, 2)}
        rows = []
        for _ in range(args.rounds):
            command = [bench, "--onnx", path, "--json", "--repeats", str(args.repeats)]
            if batch:
                command += ["--batch", str(batch), "--steps", str(steps)]
            time.sleep(0.05)
            out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
            ours = [json.loads(line) for line in out.splitlines() if line.startswith("{")][0]
            cpu = ours.pop("cpu")
            ours.pop("threads")
            row = {}
            for key, ms in ours.items():
                fn = peers[1][key]
                repeats = args.repeats * 20 if key == "chunk_ms" else max(1, args.repeats // 5) if key == "file60s_ms" else args.repeats
                time.sleep(0.05)
                one = median_ms(fn, repeats)
                fn2 = peers[2][key]
                time.sleep(0.05)
                two = median_ms(fn2, repeats)
                row[key] = (ms, one, two)
            rows.append(row)
        for key in rows[0]:
            ms, one, two = (statistics.median(r[key][i] for r in rows) for i in range(3))
            r1 = statistics.median(r[key][0] / r[key][1] for r in rows)
            r2 = statistics.median(r[key][0] / r[key][2] for r in rows)
            lines.append(f"{label:13} {key:11} {ms:>10.4f} {one:>10.4f} {two:>10.4f} {r1:>8.2f}x {r2:>8.2f}x")
    print(cpu)
    print(f"ONNXModel (1 thread) vs onnxruntime {onnxruntime.__version__} (1 and 2 intra-op threads); "
          f"medians in ms, {args.rounds} interleaved rounds")
    print(f"{'model':13} {'what':11} {'ONNXModel':>10} {'ort 1 thr':>10} {'ort 2 thr':>10} "
          f"{'vs ort 1':>9} {'vs ort 2':>9}")
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of (TensorLSTM, onnxruntime, PyTorch) per case; each "
                             "ratio is the median of the per-round ratios")
    parser.add_argument("--shapes", nargs="*", default=list(SHAPES))
    parser.add_argument("--grid", action="store_true", help="issue 9's grid of 40 shapes")
    parser.add_argument("--quick", action="store_true", help="with --grid: four shapes")
    parser.add_argument("--train", action="store_true",
                        help="forward + backward against PyTorch's loss.backward()")
    parser.add_argument("--cell", choices=list(GATES), default="lstm",
                        help="the layer to time (GRU: PyTorch's form, ONNX linear_before_reset 1)")
    parser.add_argument("--out", default=None,
                        help="with --grid: JSONL path (default docs/grid-peers.jsonl)")
    parser.add_argument("--onnx", action="store_true",
                        help="whole ONNX files (Silero VAD, torch.onnx exports) vs onnxruntime")
    parser.add_argument("--precision", choices=["int8", "bf16"], default=None,
                        help="reduced-precision weights vs Float and the peers' quantized LSTMs")
    args = parser.parse_args()
    if args.precision:
        precision(args)
        return
    if args.onnx:
        onnx_models(args)
        return
    if args.train:
        train(args)
        return
    if args.grid:
        if args.out is None and not args.quick:
            suffix = "" if args.cell == "lstm" else "-" + args.cell
            args.out = os.path.join(ROOT, "docs", f"grid-peers{suffix}.jsonl")
        grid(args)
        return
    import onnxruntime
    import torch
    print_machine(bench_path())
    print(f"{args.cell.upper()} forward; onnxruntime {onnxruntime.__version__}, torch "
          f"{torch.__version__}; medians in ms, {args.rounds} rounds")
    print(f"{'case':10} {'thr':>3} {'TensorLSTM':>11} {'portable':>9} {'sgemm lim':>10} "
          f"{'onnxrt':>9} {'PyTorch':>9} {'vs ort':>7} {'vs torch':>9} {'vs sgemm':>9}")
    bench = bench_path()
    for threads in args.threads:
        for name in args.shapes:
            shape = SHAPES[name]
            repeats = max(3, args.repeats // 3) if name == "large" else args.repeats
            ort_run = onnxruntime_forward(*shape, threads, args.cell)
            torch_run = torch_forward(*shape, threads, args.cell)
            rows = []
            # Each round times all three back to back, so that a ratio compares runs taken
            # under the same machine load; the rounds then spread over the drift.
            for _ in range(args.rounds):
                # A pause before each framework: see grid() on spinning idle threads.
                time.sleep(0.05)
                ours = time_tensorlstm(bench, shape, threads, repeats, args.cell)
                time.sleep(0.05)
                ort_ms = median_ms(ort_run, repeats)
                time.sleep(0.05)
                rows.append((ours["blas_ms"], ours["portable_ms"], ours["sgemm_ms"], ort_ms,
                             median_ms(torch_run, repeats)))
            mine, portable, sgemm, ort_ms, torch_ms = (
                statistics.median(column) for column in zip(*rows))
            ratio = lambda i: statistics.median(r[0] / r[i] for r in rows)
            print(f"{name:10} {threads:>3} {mine:>11.3f} {portable:>9.3f} {sgemm:>10.3f} "
                  f"{ort_ms:>9.3f} {torch_ms:>9.3f} {ratio(3):>6.2f}x {ratio(4):>8.2f}x "
                  f"{ratio(2):>8.2f}x", flush=True)


if __name__ == "__main__":
    main()
