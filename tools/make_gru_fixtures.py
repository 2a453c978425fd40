#!/usr/bin/env python3
"""Writes GRU and RNN fixtures from PyTorch, Keras 3 and onnxruntime, plus ONNX LSTM "reverse".

    pip install torch keras onnx onnxruntime safetensors
    python3 tools/make_gru_fixtures.py          # Tests/TensorLSTMTests/Fixtures/{torch,keras,onnx}_{gru,rnn,lstm}_*.safetensors

Each file holds the framework's own weights as it stores them, the input, its outputs, and
the configuration as string metadata; the Swift tests convert the weights and compare. The
five GRU variants: PyTorch (reset after), ONNX linear_before_reset 0 and 1, Keras reset_after
True and False.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "TensorLSTMTests", "Fixtures")


def save(name, tensors, metadata, dtype=np.float32):
    tensors = {k: np.ascontiguousarray(np.asarray(v), dtype=dtype) for k, v in tensors.items()}
    meta = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in metadata.items()}
    save_file(tensors, os.path.join(OUT, name + ".safetensors"), metadata=meta)


def torch_fixture(name, cell, layers, bidirectional, batch_first, bias, lengths, h0, seed,
                  nonlinearity="tanh", unbatched=False, dtype=torch.float32):
    torch.manual_seed(seed)
    inputs, hidden, steps, batch = 4, 5, 6, 3
    kwargs = dict(num_layers=layers, bidirectional=bidirectional, batch_first=batch_first, bias=bias)
    if cell == "gru":
        model = torch.nn.GRU(inputs, hidden, **kwargs)
    else:
        model = torch.nn.RNN(inputs, hidden, nonlinearity=nonlinearity, **kwargs)
    model = model.to(dtype)
    d = 2 if bidirectional else 1
    if unbatched:
        x = torch.randn(steps, inputs, dtype=dtype)
        state = torch.randn(layers * d, hidden, dtype=dtype) if h0 else None
    else:
        x = torch.randn(*((batch, steps) if batch_first else (steps, batch)), inputs, dtype=dtype)
        state = torch.randn(layers * d, batch, hidden, dtype=dtype) if h0 else None
    with torch.no_grad():
        if lengths:
            packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first,
                                          enforce_sorted=False)
            out, h_n = model(packed, state)
            out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=steps)
        else:
            out, h_n = model(x, state)
    tensors = {k: v for k, v in model.state_dict().items()}
    tensors.update({"input": x, "output": out, "hidden": h_n})
    if state is not None:
        tensors["h0"] = state
    if lengths:
        tensors["lengths"] = torch.tensor(lengths, dtype=dtype)
    metadata = dict(cell=cell, nonlinearity=nonlinearity, num_layers=layers,
                    bidirectional=bidirectional, batch_first=batch_first, bias=bias,
                    input_size=inputs, hidden_size=hidden, torch=torch.__version__)
    save(name, {k: v.numpy() for k, v in tensors.items()}, metadata,
         np.float64 if dtype == torch.float64 else np.float32)


def keras_fixture(name, units, bidirectional, use_bias, reset_after, seed):
    keras.utils.set_random_seed(seed)
    batch, steps, features = 3, 6, 4

    def layer(return_sequences):
        gru = keras.layers.GRU(units, use_bias=use_bias, reset_after=reset_after,
                               return_sequences=return_sequences)
        return keras.layers.Bidirectional(gru, merge_mode="concat") if bidirectional else gru
    seq = keras.Sequential([keras.Input((steps, features)), layer(True)])
    last = keras.Sequential([keras.Input((steps, features)), layer(False)])
    weights = seq.get_weights()
    # Keras starts biases at zero; random ones make the fixture see every bias term.
    rng = np.random.default_rng(seed)
    weights = [w + rng.standard_normal(w.shape).astype(np.float32) * 0.3 if w.ndim <= 2 and
               w.shape[-1] == 3 * units and (w.ndim == 1 or w.shape[0] == 2) else w for w in weights]
    seq.set_weights(weights)
    last.set_weights(weights)
    x = rng.standard_normal((batch, steps, features)).astype(np.float32)
    tensors = {"input": x, "sequences": np.asarray(seq(x).detach()),
               "last": np.asarray(last(x).detach())}
    names = ["kernel", "recurrent_kernel", "bias"] if use_bias else ["kernel", "recurrent_kernel"]
    for i, side in enumerate(["forward", "backward"] if bidirectional else ["forward"]):
        for j, n in enumerate(names):
            tensors[f"{side}.{n}"] = weights[i * len(names) + j]
    save(name, tensors, dict(bidirectional=bidirectional, use_bias=use_bias,
                             reset_after=reset_after, keras=keras.__version__))


def onnx_fixture(name, op, direction, hidden, lengths, with_state, seed, linear_before_reset=0):
    rng = np.random.default_rng(seed)
    d = 2 if direction == "bidirectional" else 1
    gates = 3 if op == "GRU" else 4
    steps, batch, features = 5, 3, 4
    w = rng.standard_normal((d, gates * hidden, features)).astype(np.float32) * 0.5
    r = rng.standard_normal((d, gates * hidden, hidden)).astype(np.float32) * 0.5
    b = rng.standard_normal((d, 2 * gates * hidden)).astype(np.float32) * 0.5
    x = rng.standard_normal((steps, batch, features)).astype(np.float32)
    h0 = rng.standard_normal((d, batch, hidden)).astype(np.float32)
    c0 = rng.standard_normal((d, batch, hidden)).astype(np.float32)
    state_names = ["initial_h"] + (["initial_c"] if op == "LSTM" else [])
    inputs = ["X", "W", "R", "B", "sequence_lens" if lengths else ""]
    inputs += [n if with_state else "" for n in state_names]
    while inputs[-1] == "":
        inputs.pop()
    outputs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    attributes = dict(hidden_size=hidden, direction=direction)
    if op == "GRU":
        attributes["linear_before_reset"] = linear_before_reset
    node = helper.make_node(op, inputs, outputs, **attributes)
    graph_inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(x.shape))]
    feed = {"X": x}
    if lengths:
        graph_inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, [batch]))
        feed["sequence_lens"] = np.array(lengths, dtype=np.int32)
    if with_state:
        for key, value in zip(state_names, (h0, c0)):
            graph_inputs.append(helper.make_tensor_value_info(key, TensorProto.FLOAT, list(value.shape)))
            feed[key] = value
    graph = helper.make_graph(
        [node], name, graph_inputs,
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, None) for k in outputs],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(r, "R"),
         numpy_helper.from_array(b, "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    results = dict(zip(outputs, session.run(None, feed)))
    tensors = {"X": x, "W": w, "R": r, "B": b, **results}
    if with_state:
        tensors.update({"initial_h": h0, "initial_c": c0} if op == "LSTM" else {"initial_h": h0})
    if lengths:
        tensors["sequence_lens"] = np.array(lengths, dtype=np.float32)
    save(name, tensors, dict(op=op, direction=direction, linear_before_reset=linear_before_reset,
                             evaluator="onnxruntime " + ort.__version__))


FIXTURES = {
    "torch_gru_stacked_bi": lambda: torch_fixture(
        "torch_gru_stacked_bi", "gru", 2, True, True, True, None, True, 1),
    "torch_gru_lengths_bi": lambda: torch_fixture(
        "torch_gru_lengths_bi", "gru", 1, True, False, True, [6, 2, 4], True, 2),
    "torch_gru_nobias_unbatched": lambda: torch_fixture(
        "torch_gru_nobias_unbatched", "gru", 2, False, False, False, None, True, 3, unbatched=True),
    "torch_gru_f64_lengths": lambda: torch_fixture(
        "torch_gru_f64_lengths", "gru", 2, True, True, True, [3, 6, 1], False, 4,
        dtype=torch.float64),
    # Double without lengths: the fused Double steps (tlstm_recurrent_step_*_f64).
    "torch_gru_f64_stacked_bi": lambda: torch_fixture(
        "torch_gru_f64_stacked_bi", "gru", 2, True, False, True, None, True, 15,
        dtype=torch.float64),
    "torch_rnn_tanh_f64": lambda: torch_fixture(
        "torch_rnn_tanh_f64", "rnn", 2, False, True, True, None, True, 16, dtype=torch.float64),
    "torch_rnn_relu_f64_bi": lambda: torch_fixture(
        "torch_rnn_relu_f64_bi", "rnn", 1, True, True, True, None, False, 17,
        nonlinearity="relu", dtype=torch.float64),
    "torch_rnn_tanh_stacked": lambda: torch_fixture(
        "torch_rnn_tanh_stacked", "rnn", 2, False, True, True, None, True, 5),
    "torch_rnn_relu_bi_lengths": lambda: torch_fixture(
        "torch_rnn_relu_bi_lengths", "rnn", 2, True, False, False, [5, 6, 2], False, 6,
        nonlinearity="relu"),
    "keras_gru_reset_after": lambda: keras_fixture("keras_gru_reset_after", 5, False, True, True, 7),
    "keras_gru_reset_before": lambda: keras_fixture("keras_gru_reset_before", 5, False, True, False, 8),
    "keras_gru_bidirectional": lambda: keras_fixture("keras_gru_bidirectional", 4, True, True, True, 9),
    "keras_gru_nobias": lambda: keras_fixture("keras_gru_nobias", 3, False, False, False, 10),
    "onnx_gru_lbr0_bidirectional": lambda: onnx_fixture(
        "onnx_gru_lbr0_bidirectional", "GRU", "bidirectional", 4, [3, 5, 1], True, 11, 0),
    "onnx_gru_lbr1_forward": lambda: onnx_fixture(
        "onnx_gru_lbr1_forward", "GRU", "forward", 5, None, True, 12, 1),
    "onnx_gru_lbr0_reverse": lambda: onnx_fixture(
        "onnx_gru_lbr0_reverse", "GRU", "reverse", 3, [5, 2, 4], True, 13, 0),
    "onnx_lstm_reverse": lambda: onnx_fixture(
        "onnx_lstm_reverse", "LSTM", "reverse", 4, [2, 5, 3], True, 14),
}

if __name__ == "__main__":
    import sys
    for name in sys.argv[1:] or FIXTURES:
        FIXTURES[name]()
    print("wrote", len(sys.argv[1:] or FIXTURES), "fixtures")
