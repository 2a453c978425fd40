#!/usr/bin/env python3
"""Writes fixtures from the real Keras 3 and onnxruntime for the weight converters.

    pip install keras torch onnx onnxruntime safetensors
    python3 tools/make_interop_fixtures.py   # Tests/TensorLSTMTests/Fixtures/{keras,onnx}_*.safetensors

Keras runs on its torch backend (its NumPy backend imports jax, which this project does not
need). The tests need no Python: they read the committed files.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "TensorLSTMTests", "Fixtures")


def save(name, tensors, metadata):
    tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}
    save_file(tensors, os.path.join(OUT, name + ".safetensors"),
              metadata={k: str(v) for k, v in metadata.items()})


def numpy(x):
    return np.asarray(x.detach().cpu()) if hasattr(x, "detach") else np.asarray(x)


def keras_fixture(name, units, bidirectional, use_bias, seed):
    keras.utils.set_random_seed(seed)
    batch, steps, features = 3, 6, 4
    def layer(return_sequences):
        lstm = keras.layers.LSTM(units, use_bias=use_bias, return_sequences=return_sequences)
        return keras.layers.Bidirectional(lstm, merge_mode="concat") if bidirectional else lstm
    seq = keras.Sequential([keras.Input((steps, features)), layer(True)])
    last = keras.Sequential([keras.Input((steps, features)), layer(False)])
    last.set_weights(seq.get_weights())
    x = np.random.default_rng(seed).standard_normal((batch, steps, features)).astype(np.float32)
    tensors = {"input": x, "sequences": numpy(seq(x)), "last": numpy(last(x))}
    names = ["kernel", "recurrent_kernel", "bias"] if use_bias else ["kernel", "recurrent_kernel"]
    weights = seq.get_weights()
    sides = ["forward", "backward"] if bidirectional else ["forward"]
    for i, side in enumerate(sides):
        for j, n in enumerate(names):
            tensors[f"{side}.{n}"] = weights[i * len(names) + j]
    save(name, tensors, {"bidirectional": str(bidirectional).lower(),
                         "use_bias": str(use_bias).lower(), "keras": keras.__version__})


def onnx_fixture(name, direction, hidden, lengths, with_state, seed):
    rng = np.random.default_rng(seed)
    d = 2 if direction == "bidirectional" else 1
    steps, batch, features = 5, 3, 4
    w = rng.standard_normal((d, 4 * hidden, features)).astype(np.float32) * 0.5
    r = rng.standard_normal((d, 4 * hidden, hidden)).astype(np.float32) * 0.5
    b = rng.standard_normal((d, 8 * hidden)).astype(np.float32) * 0.5
    x = rng.standard_normal((steps, batch, features)).astype(np.float32)
    h0 = rng.standard_normal((d, batch, hidden)).astype(np.float32)
    c0 = rng.standard_normal((d, batch, hidden)).astype(np.float32)
    inputs = ["X", "W", "R", "B", "sequence_lens" if lengths else "",
              "initial_h" if with_state else "", "initial_c" if with_state else ""]
    while inputs[-1] == "":
        inputs.pop()
    node = helper.make_node("LSTM", inputs, ["Y", "Y_h", "Y_c"], hidden_size=hidden,
                            direction=direction)
    graph_inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(x.shape))]
    feed = {"X": x}
    if lengths:
        graph_inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, [batch]))
        feed["sequence_lens"] = np.array(lengths, dtype=np.int32)
    if with_state:
        for key, value in (("initial_h", h0), ("initial_c", c0)):
            graph_inputs.append(helper.make_tensor_value_info(key, TensorProto.FLOAT, list(value.shape)))
            feed[key] = value
    graph = helper.make_graph(
        [node], name, graph_inputs,
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, None) for k in ("Y", "Y_h", "Y_c")],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(r, "R"),
         numpy_helper.from_array(b, "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    y, y_h, y_c = session.run(None, feed)
    tensors = {"X": x, "W": w, "R": r, "B": b, "Y": y, "Y_h": y_h, "Y_c": y_c}
    if with_state:
        tensors.update({"initial_h": h0, "initial_c": c0})
    if lengths:
        tensors["sequence_lens"] = np.array(lengths, dtype=np.float32)
    save(name, tensors, {"direction": direction, "onnxruntime": ort.__version__})


def npy_fixtures():
    """Arrays with x[i, j, k] = 100 i + 10 j + k, written by numpy in each supported flavour."""
    base = np.fromfunction(lambda i, j, k: 100 * i + 10 * j + k, (2, 3, 4))
    folder = os.path.join(OUT, "npy")
    os.makedirs(folder, exist_ok=True)
    np.save(os.path.join(folder, "c_f4.npy"), base.astype("<f4"))
    np.save(os.path.join(folder, "fortran_f8.npy"), np.asfortranarray(base.astype("<f8")))
    np.save(os.path.join(folder, "big_f4.npy"), base.astype(">f4"))
    np.save(os.path.join(folder, "big_fortran_f8.npy"), np.asfortranarray(base.astype(">f8")))
    with open(os.path.join(folder, "v2_f4.npy"), "wb") as f:
        np.lib.format.write_array(f, base.astype("<f4"), version=(2, 0))


if __name__ == "__main__":
    npy_fixtures()
    keras_fixture("keras_lstm", 5, False, True, 1)
    keras_fixture("keras_bidirectional", 4, True, True, 2)
    keras_fixture("keras_nobias", 3, False, False, 3)
    onnx_fixture("onnx_forward", "forward", 5, None, False, 4)
    onnx_fixture("onnx_forward_lengths_state", "forward", 4, [5, 2, 3], True, 5)
    onnx_fixture("onnx_bidirectional", "bidirectional", 3, [3, 5, 1], True, 6)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"fixtures now {total} bytes")
