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


def onnx_fixture(name, direction, hidden, lengths, with_state, seed, layout=0):
    """layout 1: X [B, T, I], initial_h/c and Y_h/c [B, D, H], Y [B, T, D, H] (the ONNX spec)."""
    rng = np.random.default_rng(seed)
    d = 2 if direction == "bidirectional" else 1
    steps, batch, features = 5, 3, 4
    w = rng.standard_normal((d, 4 * hidden, features)).astype(np.float32) * 0.5
    r = rng.standard_normal((d, 4 * hidden, hidden)).astype(np.float32) * 0.5
    b = rng.standard_normal((d, 8 * hidden)).astype(np.float32) * 0.5
    x = rng.standard_normal((steps, batch, features)).astype(np.float32)
    h0 = rng.standard_normal((d, batch, hidden)).astype(np.float32)
    c0 = rng.standard_normal((d, batch, hidden)).astype(np.float32)
    if layout == 1:
        x, h0, c0 = x.transpose(1, 0, 2).copy(), h0.transpose(1, 0, 2).copy(), c0.transpose(1, 0, 2).copy()
    inputs = ["X", "W", "R", "B", "sequence_lens" if lengths else "",
              "initial_h" if with_state else "", "initial_c" if with_state else ""]
    while inputs[-1] == "":
        inputs.pop()
    node = helper.make_node("LSTM", inputs, ["Y", "Y_h", "Y_c"], hidden_size=hidden,
                            direction=direction, layout=layout)
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
    if layout == 0:
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        y, y_h, y_c = session.run(None, feed)
        evaluator = "onnxruntime " + ort.__version__
    else:
        # onnxruntime refuses layout 1 ("Batchwise recurrent operations are not supported"), so
        # the ONNX package's reference evaluator, the spec's executable form, computes it.
        # It ignores sequence_lens, so layout-1 fixtures have none; and it must agree with
        # onnxruntime on the same data in layout 0 (the spec defines layout 1 by transposes).
        assert not lengths, "onnx.reference ignores sequence_lens"
        from onnx.reference import ReferenceEvaluator
        y, y_h, y_c = ReferenceEvaluator(model).run(None, feed)
        evaluator = "onnx.reference " + onnx.__version__
        node0 = helper.make_node("LSTM", inputs, ["Y", "Y_h", "Y_c"], hidden_size=hidden,
                                 direction=direction)
        feed0 = {k: (v.transpose(1, 0, 2).copy() if v.ndim == 3 else v) for k, v in feed.items()}
        inputs0 = [helper.make_tensor_value_info(k, TensorProto.FLOAT, list(v.shape))
                   for k, v in feed0.items()]
        graph0 = helper.make_graph([node0], name + "_layout0", inputs0, graph.output,
                                   graph.initializer)
        model0 = helper.make_model(graph0, opset_imports=[helper.make_opsetid("", 14)])
        y0, y_h0, _ = ort.InferenceSession(
            model0.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feed0)
        assert np.allclose(y0.transpose(2, 0, 1, 3), y, atol=1e-5), "Y differs from onnxruntime"
        assert np.allclose(y_h0.transpose(1, 0, 2), y_h, atol=1e-5), "Y_h differs from onnxruntime"
    tensors = {"X": x, "W": w, "R": r, "B": b, "Y": y, "Y_h": y_h, "Y_c": y_c}
    if with_state:
        tensors.update({"initial_h": h0, "initial_c": c0})
    if lengths:
        tensors["sequence_lens"] = np.array(lengths, dtype=np.float32)
    save(name, tensors, {"direction": direction, "layout": layout, "evaluator": evaluator})


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


FIXTURES = {
    "npy": npy_fixtures,
    "keras_lstm": lambda: keras_fixture("keras_lstm", 5, False, True, 1),
    "keras_bidirectional": lambda: keras_fixture("keras_bidirectional", 4, True, True, 2),
    "keras_nobias": lambda: keras_fixture("keras_nobias", 3, False, False, 3),
    "onnx_forward": lambda: onnx_fixture("onnx_forward", "forward", 5, None, False, 4),
    "onnx_forward_lengths_state": lambda: onnx_fixture(
        "onnx_forward_lengths_state", "forward", 4, [5, 2, 3], True, 5),
    "onnx_bidirectional": lambda: onnx_fixture("onnx_bidirectional", "bidirectional", 3, [3, 5, 1], True, 6),
    "onnx_layout1_bidirectional": lambda: onnx_fixture(
        "onnx_layout1_bidirectional", "bidirectional", 3, None, True, 7, layout=1),
}

if __name__ == "__main__":
    import sys
    # Names on the command line write only those fixtures; none writes them all.
    for name in sys.argv[1:] or FIXTURES:
        FIXTURES[name]()
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"fixtures now {total} bytes")
