#!/usr/bin/env python3
"""Writes the ONNX fixtures: onnxruntime's outputs for Silero VAD's models and for small
models exported by torch.onnx.export, so the Swift tests compare ONNXModel against onnxruntime
without Python.

    pip install torch onnx onnxruntime safetensors
    bash tools/ensure-silero.sh                  # the pinned silero-vad wheel's ONNX files
    python3 tools/make_onnx_fixtures.py          # Tests/TensorLSTMTests/Fixtures/onnx_*.{onnx,safetensors}

Silero (onnx_silero.safetensors): a 1.28 s test signal — espeak-ng speech when espeak-ng is
installed, else a synthetic voiced signal — cut into 40 chunks of 512 samples at 16 kHz (and 40
of 256 at 8 kHz), each fed as silero's OnnxWrapper feeds it (64 or 32 samples of context
before the chunk, state carried). Stored: the rows fed ("rows16k" [40, 576], "rows8k"
[40, 288]) and, per model, the probabilities and final state. The sequence model
(silero_vad_16k_sequence.onnx) gets all 40 rows at once with zero h/c.

Exported models (onnx_<name>.onnx + onnx_<name>.safetensors with "input", the outputs by
name, metadata "inputs"/"outputs" listing names): Embedding → bidirectional 2-layer LSTM →
Linear → LogSoftmax; Conv1d → GRU → LayerNorm → Dropout → Linear → Softmax; stacked ReLU RNN
→ GELU → Linear; each at opset 14 and 17 with dynamic batch and sequence axes.

DynamicQuantizeLSTM (onnx_dqlstm_int8, onnx_dqlstm_uint8): quantize_dynamic's rewrite of an LSTM
node, per-channel int8 and per-tensor uint8 weights, with onnxruntime's outputs and error.
"""
import os
import shutil
import subprocess
import tempfile

import numpy as np
import onnxruntime as ort
import torch
from safetensors.numpy import save_file
from torch import nn

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "Tests", "TensorLSTMTests", "Fixtures")
SILERO = os.path.join(ROOT, ".build", "models", "silero_vad", "data")
CHUNKS = 40


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def test_signal(rate):
    """1.28 s of audio at `rate`: spoken words if espeak-ng exists, else a voiced synthetic tone."""
    samples = CHUNKS * (512 if rate == 16000 else 256)
    if shutil.which("espeak-ng"):
        with tempfile.TemporaryDirectory() as d:
            wav = os.path.join(d, "s.wav")
            subprocess.run(["espeak-ng", "-w", wav, "-s", "160", "one two three"], check=True)
            import wave
            with wave.open(wav) as w:
                source_rate = w.getframerate()
                pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768
        t = np.arange(int(len(pcm) * rate / source_rate)) * source_rate / rate
        speech = np.interp(t, np.arange(len(pcm)), pcm).astype(np.float32)
    else:
        t = np.arange(samples) / rate
        speech = (0.3 * np.sign(np.sin(2 * np.pi * 120 * t)) * np.sin(2 * np.pi * 3 * t) ** 2).astype(np.float32)
    signal = np.zeros(samples, dtype=np.float32)
    start = samples // 8
    n = min(len(speech), samples - start)
    signal[start:start + n] = speech[:n]
    rng = np.random.default_rng(5)
    return signal + rng.normal(0, 0.003, samples).astype(np.float32)


def rows(signal, rate):
    chunk, context = (512, 64) if rate == 16000 else (256, 32)
    padded = np.concatenate([np.zeros(context, np.float32), signal])
    return np.stack([padded[i * chunk:i * chunk + chunk + context] for i in range(CHUNKS)])


def silero():
    tensors = {}
    r16, r8 = rows(test_signal(16000), 16000), rows(test_signal(8000), 8000)
    tensors["rows16k"], tensors["rows8k"] = r16, r8
    for name, rate, fed in [
        ("silero_vad", 16000, r16), ("silero_vad_8k", 8000, r8),
        ("silero_vad_16k_op15", 16000, r16), ("silero_vad_op18_ifless", 16000, r16),
    ]:
        s = session(os.path.join(SILERO, name.replace("_8k", "") + ".onnx"))
        state = np.zeros((2, 1, 128), np.float32)
        probs = []
        for row in fed:
            out, state = s.run(None, {"input": row[None, :], "state": state, "sr": np.array(rate, np.int64)})
            probs.append(out[0, 0])
        tensors[f"probs.{name}"] = np.array(probs, np.float32)
        tensors[f"state.{name}"] = state
        print(name, "probabilities", np.round(probs, 3)[:: 4])
    s = session(os.path.join(SILERO, "silero_vad_16k_sequence.onnx"))
    zeros = np.zeros((1, 1, 128), np.float32)
    probs, hn, cn = s.run(None, {"input": r16, "h": zeros, "c": zeros})
    tensors["probs.silero_vad_16k_sequence"], tensors["hn.silero_vad_16k_sequence"] = probs, hn
    tensors["cn.silero_vad_16k_sequence"] = cn
    save_file(tensors, os.path.join(OUT, "onnx_silero.safetensors"))


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 8)
        self.lstm = nn.LSTM(8, 6, num_layers=2, bidirectional=True, batch_first=True)
        self.head = nn.Linear(12, 5)

    def forward(self, ids):
        return torch.log_softmax(self.head(self.lstm(self.embed(ids))[0]), dim=-1)


class ConvGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 8, 3, padding=1)
        self.gru = nn.GRU(8, 10, batch_first=True)
        self.norm = nn.LayerNorm(10)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(10, 3)

    def forward(self, x):  # [B, T, 4]
        y = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        y, h = self.gru(y)
        return torch.softmax(self.head(self.drop(self.norm(y))), dim=-1), h


class StackedRNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(5, 7, num_layers=2, nonlinearity="relu")
        self.head = nn.Linear(7, 2)

    def forward(self, x):  # [T, B, 5]
        y, _ = self.rnn(x)
        return self.head(nn.functional.gelu(y[-1]))


class UnrolledCell(nn.Module):
    """An LSTMCell unrolled over 3 steps: exporters write each step as Gemm/Split/activations,
    which the plan fuses into engine steps."""

    def __init__(self):
        super().__init__()
        self.cell = nn.LSTMCell(5, 7)
        self.head = nn.Linear(7, 2)

    def forward(self, x):  # [B, 3, 5]
        h = torch.zeros(x.shape[0], 7)
        c = torch.zeros(x.shape[0], 7)
        for t in range(x.shape[1]):
            h, c = self.cell(x[:, t], (h, c))
        return self.head(h), c


def exported():
    torch.manual_seed(3)
    cases = [
        ("tagger", Tagger(), torch.randint(0, 20, (3, 9)), {0: "batch", 1: "seq"}, ["logits"]),
        ("convgru", ConvGRU(), torch.randn(2, 11, 4), {0: "batch", 1: "seq"}, ["probs", "h"]),
        ("rnn", StackedRNN(), torch.randn(6, 3, 5), {0: "seq", 1: "batch"}, ["out"]),
        ("cell", UnrolledCell(), torch.randn(4, 3, 5), {0: "batch"}, ["out", "c"]),
    ]
    for name, model, x, axes, outputs in cases:
        model.eval()
        for opset in (14, 17):
            path = os.path.join(OUT, f"onnx_{name}_op{opset}.onnx")
            dynamic = {"input": axes}
            torch.onnx.export(
                model, (x,), path, input_names=["input"], output_names=outputs, opset_version=opset,
                dynamic_axes=dynamic, dynamo=False)
            # A second input shape checks the dynamic axes.
            x2 = x[:, :5] if name != "rnn" else x[:4, :2]
            if name == "convgru":
                x2 = x[:1, :7]
            if name == "tagger":
                x2 = x[:2, :5]
            if name == "cell":
                x2 = x[:1]
            s = session(path)
            tensors = {}
            for tag, xi in (("a", x), ("b", x2)):
                feed = xi.numpy()
                results = s.run(None, {"input": feed})
                tensors[f"input.{tag}"] = feed.astype(np.float32)
                for o, value in zip(outputs, results):
                    tensors[f"{o}.{tag}"] = value.astype(np.float32)
                    with torch.no_grad():
                        reference = model(xi)
                    reference = reference if isinstance(reference, tuple) else (reference,)
                    assert np.allclose(value, reference[outputs.index(o)].numpy(), atol=1e-5), name
            save_file(tensors, os.path.join(OUT, f"onnx_{name}_op{opset}.safetensors"),
                      metadata={"outputs": ",".join(outputs), "int_input": "1" if name == "tagger" else "0"})
            print(name, opset, os.path.getsize(path), "bytes")


def dynamic_quantized():
    """onnx_dqlstm_<name>.onnx: what onnxruntime's quantize_dynamic makes of an LSTM node — a
    com.microsoft.DynamicQuantizeLSTM with int8 weights and a scale per channel ("int8"), or
    uint8 weights with one scale and zero point per tensor ("uint8", bidirectional) — with
    onnxruntime's outputs, and its own quantization error (the largest |Y − Y_float| against
    the float model) in the metadata as "ort_error"."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = np.random.default_rng(7)
    for name, weight_type, per_channel, direction in [
            ("int8", QuantType.QInt8, True, "forward"),
            ("uint8", QuantType.QUInt8, False, "bidirectional")]:
        steps, batch, inp, hidden = 40, 3, 10, 24
        d = 2 if direction == "bidirectional" else 1
        bound = 1 / np.sqrt(hidden)
        w = rng.uniform(-bound, bound, (d, 4 * hidden, inp)).astype(np.float32)
        r = rng.uniform(-bound, bound, (d, 4 * hidden, hidden)).astype(np.float32)
        b = rng.uniform(-bound, bound, (d, 8 * hidden)).astype(np.float32)
        node = helper.make_node("LSTM", ["input", "W", "R", "B"], ["Y", "Y_h", "Y_c"],
                                hidden_size=hidden, direction=direction)
        graph = helper.make_graph(
            [node], "lstm", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [steps, batch, inp])],
            [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in ["Y", "Y_h", "Y_c"]],
            [numpy_helper.from_array(w, "W"), numpy_helper.from_array(r, "R"), numpy_helper.from_array(b, "B")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
        path = os.path.join(OUT, f"onnx_dqlstm_{name}.onnx")
        with tempfile.TemporaryDirectory() as folder:
            source = os.path.join(folder, "float.onnx")
            with open(source, "wb") as fh:
                fh.write(model.SerializeToString())
            quantize_dynamic(source, path, op_types_to_quantize=["LSTM"], weight_type=weight_type,
                             per_channel=per_channel)
            float_session = session(source)
        if weight_type == QuantType.QUInt8:
            # quantize_dynamic writes int8 LSTM weights either way: shift them to uint8 with zero
            # point 128 (the same values), the other form the operator takes.
            quantized_model = onnx.load(path)
            for init in quantized_model.graph.initializer:
                if init.name.endswith("_quantized") or init.name.endswith("_zero_point"):
                    values = numpy_helper.to_array(init).astype(np.int16) + 128
                    init.CopyFrom(numpy_helper.from_array(values.astype(np.uint8), init.name))
            onnx.save(quantized_model, path)
        quantized = session(path)
        x = rng.uniform(-1, 1, (steps, batch, inp)).astype(np.float32)
        tensors = {"input.a": x}
        error = 0.0
        for o, value, reference in zip(["Y", "Y_h", "Y_c"], quantized.run(None, {"input": x}),
                                       float_session.run(None, {"input": x})):
            tensors[f"{o}.a"] = value.astype(np.float32)
            error = max(error, float(np.abs(value - reference).max()))
        save_file(tensors, os.path.join(OUT, f"onnx_dqlstm_{name}.safetensors"),
                  metadata={"outputs": "Y,Y_h,Y_c", "ort_error": f"{error:.6f}"})
        print("dqlstm", name, os.path.getsize(path), "bytes, onnxruntime's error", round(error, 5))


def convolutions():
    """onnx_convs.onnx: Conv nodes that take each path of ONNXModel's convolution — the skinny
    kernel (≤ 8 output positions: 1, 2, 3, 5, 6, 8 and 9 of them, with row, column and inner
    tails, groups, stride, dilation)
    and BLAS (more positions) — with onnxruntime's outputs."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(11)
    cases = [  # name, input, M, K, attributes
        ("wide", "X", 5, 4, dict(pads=[1, 2])),
        ("strided", "X", 7, 3, dict(strides=[2], dilations=[2])),
        ("grouped", "X", 6, 2, dict(group=3)),
        ("single", "X", 9, 21, dict(pads=[6, 6])),
        ("framed", "A", 37, 40, dict(strides=[8])),
        ("pair", "X", 11, 8, {}),
        ("six", "X", 10, 4, {}),
    ]
    nodes, inits, outputs = [], [], []
    channels = {"X": 3, "A": 1}
    for name, x, m, k, attrs in cases:
        c = channels[x] // attrs.get("group", 1)
        w = rng.standard_normal((m, c, k)).astype(np.float32)
        b = rng.standard_normal(m).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"W_{name}"), numpy_helper.from_array(b, f"B_{name}")]
        nodes.append(helper.make_node("Conv", [x, f"W_{name}", f"B_{name}"], [name], kernel_shape=[k], **attrs))
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    graph = helper.make_graph(
        nodes, "convs",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [2, 3, 9]),
         helper.make_tensor_value_info("A", TensorProto.FLOAT, [1, 1, 72])],
        outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = os.path.join(OUT, "onnx_convs.onnx")
    onnx.save(model, path)
    feed = {"X": rng.standard_normal((2, 3, 9)).astype(np.float32),
            "A": rng.standard_normal((1, 1, 72)).astype(np.float32)}
    results = session(path).run(None, feed)
    tensors = dict(feed)
    tensors.update({name: r for (name, *_), r in zip(cases, results)})
    save_file(tensors, os.path.join(OUT, "onnx_convs.safetensors"),
              metadata={"outputs": ",".join(c[0] for c in cases)})


def speech_wav():
    """speech16k.wav (4 s, 16-bit PCM, 16 kHz: silence, a spoken sentence, silence, words) and
    onnx_vad.safetensors: silero-vad's own get_speech_timestamps on it ("segments" [n, 2] in
    samples) and its probabilities ("probs"), with the wheel's OnnxWrapper on silero_vad.onnx."""
    import sys
    import wave

    sys.path.insert(0, os.path.dirname(SILERO))
    sys.path.insert(0, os.path.dirname(os.path.dirname(SILERO)))
    from silero_vad.utils_vad import OnnxWrapper, get_speech_timestamps

    rate = 16000
    audio = np.zeros(4 * rate, np.float32)
    with tempfile.TemporaryDirectory() as d:
        for text, at in (("Voice activity detection, in Swift.", 0.4), ("One. Two.", 2.8)):
            path = os.path.join(d, "s.wav")
            subprocess.run(["espeak-ng", "-w", path, "-s", "150", text], check=True)
            with wave.open(path) as w:
                pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768
                source = w.getframerate()
            t = np.arange(int(len(pcm) * rate / source)) * source / rate
            speech = np.interp(t, np.arange(len(pcm)), pcm).astype(np.float32)
            start = int(at * rate)
            n = min(len(speech), len(audio) - start)
            audio[start:start + n] += speech[:n]
    audio += np.random.default_rng(7).normal(0, 0.002, len(audio)).astype(np.float32)
    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)
    with wave.open(os.path.join(OUT, "speech16k.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    samples = torch.from_numpy(pcm.astype(np.float32) / 32768)
    model = OnnxWrapper(os.path.join(SILERO, "silero_vad.onnx"))
    segments = get_speech_timestamps(samples, model, sampling_rate=rate)
    model.reset_states()
    probs = [model(samples[i:i + 512] if i + 512 <= len(samples) else
                   torch.nn.functional.pad(samples[i:], (0, i + 512 - len(samples))), rate).item()
             for i in range(0, len(samples), 512)]
    print("segments", segments)
    save_file({"segments": np.array([[s["start"], s["end"]] for s in segments], np.float32),
               "probs": np.array(probs, np.float32)}, os.path.join(OUT, "onnx_vad.safetensors"))


def fuzz_seeds():
    """Small seeds for the fuzz targets (Tests/Fuzz/corpus/onnx, corpus/wav): tiny ONNX graphs
    that reach the loader's and executor's paths (If, LSTM, Conv, shape arithmetic), and WAV
    files of each sample format."""
    import wave
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    out = os.path.join(ROOT, "Tests", "Fuzz", "corpus", "onnx")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(1)
    f = lambda name, shape: helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
    init = lambda a, name: numpy_helper.from_array(np.asarray(a), name)
    graphs = {
        "add_relu": helper.make_graph(
            [helper.make_node("Add", ["x", "y"], ["s"]), helper.make_node("Relu", ["s"], ["z"])],
            "g", [f("x", [2, 3]), f("y", [3])], [f("z", None)]),
        "if": helper.make_graph(
            [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Equal", ["n", "one"], ["c"]),
             helper.make_node("If", ["c"], ["z"],
                              then_branch=helper.make_graph([helper.make_node("Squeeze", ["x", "zeros"], ["t"])], "t", [], [f("t", None)]),
                              else_branch=helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "e", [], [f("e", None)]))],
            "g", [f("x", ["b", 4])], [f("z", None)],
            [init(np.array(0, np.int64), "zero"), init(np.array(1, np.int64), "one"), init(np.array([0], np.int64), "zeros")]),
        "lstm": helper.make_graph(
            [helper.make_node("LSTM", ["x", "W", "R", "B"], ["y", "h", "c"], hidden_size=2, direction="bidirectional")],
            "g", [f("x", ["t", 1, 2])], [f("y", None), f("h", None)],
            [init(rng.standard_normal((2, 8, 2)).astype(np.float32), "W"),
             init(rng.standard_normal((2, 8, 2)).astype(np.float32), "R"),
             init(rng.standard_normal((2, 16)).astype(np.float32), "B")]),
        "conv": helper.make_graph(
            [helper.make_node("Conv", ["x", "W"], ["c"], kernel_shape=[3], pads=[1, 1], strides=[2]),
             helper.make_node("ReduceMean", ["c"], ["m"], axes=[2], keepdims=0),
             helper.make_node("Softmax", ["m"], ["z"], axis=-1)],
            "g", [f("x", [1, 2, 7])], [f("z", None)],
            [init(rng.standard_normal((3, 2, 3)).astype(np.float32), "W")]),
        "shapes": helper.make_graph(
            [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("ConstantOfShape", ["s"], ["k"], value=numpy_helper.from_array(np.array([1.5], np.float32))),
             helper.make_node("Concat", ["x", "k"], ["j"], axis=1),
             helper.make_node("Slice", ["j", "st", "en", "ax", "sp"], ["sl"]),
             helper.make_node("Reshape", ["sl", "rs"], ["r"]),
             helper.make_node("Transpose", ["r"], ["z"], perm=[1, 0])],
            "g", [f("x", [2, 3])], [f("z", None)],
            [init(np.array([0], np.int64), "st"), init(np.array([-1], np.int64), "en"),
             init(np.array([1], np.int64), "ax"), init(np.array([2], np.int64), "sp"),
             init(np.array([-1, 1], np.int64), "rs")]),
    }
    for name, graph in graphs.items():
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13 if name != "conv" else 17)])
        if name == "conv":
            model.opset_import[0].version = 17
        data = model.SerializeToString()
        assert len(data) < 4096, (name, len(data))
        with open(os.path.join(out, name + ".onnx"), "wb") as fh:
            fh.write(data)
    out = os.path.join(ROOT, "Tests", "Fuzz", "corpus", "wav")
    os.makedirs(out, exist_ok=True)
    for width, rate, channels in ((1, 8000, 1), (2, 16000, 1), (3, 44100, 2), (4, 16000, 1)):
        with wave.open(os.path.join(out, f"pcm{8 * width}_{channels}ch.wav"), "wb") as w:
            w.setnchannels(channels)
            w.setsampwidth(width)
            w.setframerate(rate)
            w.writeframes(rng.integers(0, 256, 40 * width * channels, dtype=np.uint8).tobytes())


def refused():
    """Models the loader must refuse, each for one reason: onnx_unsupported.onnx (three
    operators it does not run, reported together), onnx_unsorted.onnx (a node reads a value
    defined after it), onnx_clip.onnx (an LSTM with clip, which must not be ignored)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    f = lambda name, shape: helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
    rng = np.random.default_rng(2)
    models = {
        "unsupported": helper.make_graph(
            [helper.make_node("Foo", ["x"], ["a"], name="first"),
             helper.make_node("Bar", ["a"], ["b"], domain="com.example", name="second"),
             helper.make_node("Relu", ["b"], ["c"]),
             helper.make_node("NonMaxSuppression", ["c"], ["z"], name="third")],
            "g", [f("x", [2])], [f("z", None)]),
        "unsorted": helper.make_graph(
            [helper.make_node("Relu", ["a"], ["z"], name="late"), helper.make_node("Relu", ["x"], ["a"])],
            "g", [f("x", [2])], [f("z", None)]),
        "clip": helper.make_graph(
            [helper.make_node("LSTM", ["x", "W", "R"], ["y"], hidden_size=2, clip=1.0, name="clipped")],
            "g", [f("x", [3, 1, 2])], [f("y", None)],
            [numpy_helper.from_array(rng.standard_normal((1, 8, 2)).astype(np.float32), "W"),
             numpy_helper.from_array(rng.standard_normal((1, 8, 2)).astype(np.float32), "R")]),
    }
    for name, graph in models.items():
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
        with open(os.path.join(OUT, f"onnx_{name}.onnx"), "wb") as fh:
            fh.write(model.SerializeToString())


if __name__ == "__main__":
    refused()
    fuzz_seeds()
    silero()
    exported()
    dynamic_quantized()
    convolutions()
    speech_wav()
