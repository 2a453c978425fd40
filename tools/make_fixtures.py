#!/usr/bin/env python3
"""Writes the golden PyTorch fixtures that the Swift tests read (no Python in CI).

    pip install torch safetensors
    python3 tools/make_fixtures.py        # rewrites Tests/TensorLSTMTests/Fixtures/*.safetensors

Each file holds one configuration: the module's state dict under a prefix ("lstm.",
"linear.", "conv."), the input, PyTorch's outputs, and the configuration as string metadata.
"""
import os

import torch
from safetensors.torch import save_file
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "TensorLSTMTests", "Fixtures")

LSTM_CASES = [
    # name, input, hidden, layers, bias, batch_first, bidirectional, proj, batch, steps, lengths, h0, unbatched
    ("basic", 5, 7, 1, True, True, False, 0, 3, 6, None, False, False),
    ("time_major", 4, 6, 1, True, False, False, 0, 2, 5, None, False, False),
    ("stacked_bi", 3, 5, 2, True, True, True, 0, 4, 7, None, True, False),
    ("proj", 6, 8, 2, True, False, False, 3, 3, 5, None, True, False),
    ("bi_proj_nobias", 4, 6, 2, False, True, True, 2, 2, 4, None, False, False),
    ("lengths", 5, 6, 1, True, True, False, 0, 4, 8, [8, 3, 5, 1], False, False),
    ("lengths_bi_stacked", 3, 4, 3, True, True, True, 0, 3, 6, [2, 6, 4], True, False),
    ("lengths_bi_proj_time_major", 4, 7, 2, True, False, True, 3, 3, 5, [5, 1, 3], True, False),
    ("batch1", 8, 16, 2, True, True, False, 0, 1, 9, None, True, False),
    ("hidden1", 3, 1, 1, True, True, True, 0, 2, 4, None, False, False),
    ("unbatched", 4, 5, 2, True, False, True, 0, 1, 6, None, True, True),
    ("article_small", 16, 8, 1, True, True, False, 0, 4, 10, None, False, False),
]


def lstm_fixture(index, case, dtype=torch.float32):
    """float64 fixtures ("lstm_f64_<name>") use the same draws, widened: PyTorch's float64 LSTM
    is exact to rounding, the reference for Double models."""
    (name, inp, hid, layers, bias, bf, bi, proj, batch, steps, lengths, use_h0, unbatched) = case
    torch.manual_seed(1000 + index)
    lstm = torch.nn.LSTM(inp, hid, num_layers=layers, bias=bias, batch_first=bf,
                         bidirectional=bi, proj_size=proj)
    d = 2 if bi else 1
    hout = proj if proj > 0 else hid
    if unbatched:
        x = torch.randn(steps, inp)
    else:
        x = torch.randn(batch, steps, inp) if bf else torch.randn(steps, batch, inp)
    state_shape_h = (d * layers, hout) if unbatched else (d * layers, batch, hout)
    state_shape_c = (d * layers, hid) if unbatched else (d * layers, batch, hid)
    h0 = torch.randn(*state_shape_h) if use_h0 else None
    c0 = torch.randn(*state_shape_c) if use_h0 else None
    if dtype == torch.float64:
        lstm = lstm.double()
        x = x.double()
        h0, c0 = (h0.double(), c0.double()) if use_h0 else (None, None)
        name = "f64_" + name
    with torch.no_grad():
        if lengths is not None:
            packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=bf,
                                          enforce_sorted=False)
            out, (hn, cn) = lstm(packed, (h0, c0) if use_h0 else None)
            out, _ = pad_packed_sequence(out, batch_first=bf, total_length=steps)
        else:
            out, (hn, cn) = lstm(x, (h0, c0) if use_h0 else None)
    tensors = {"lstm." + k: v.detach().contiguous() for k, v in lstm.state_dict().items()}
    tensors.update({"input": x, "output": out, "h_n": hn, "c_n": cn})
    if use_h0:
        tensors.update({"h_0": h0, "c_0": c0})
    if lengths is not None:
        tensors["lengths"] = torch.tensor(lengths, dtype=torch.int64)
    metadata = {
        "input_size": inp, "hidden_size": hid, "num_layers": layers, "bias": bias,
        "batch_first": bf, "bidirectional": bi, "proj_size": proj,
    }
    save(f"lstm_{name}", tensors, metadata)


def article_fixture():
    """The article's three reshapes: last step, flatten into Linear, permute into Conv1d."""
    torch.manual_seed(7)
    B, T, I, H = 4, 10, 16, 8
    lstm = torch.nn.LSTM(I, H, batch_first=True)
    linear = torch.nn.Linear(T * H, 3)
    conv = torch.nn.Conv1d(H, 5, kernel_size=3, padding=1)
    x = torch.randn(B, T, I)
    with torch.no_grad():
        out, (hn, cn) = lstm(x)
        tensors = {
            "input": x, "output": out,
            "last_step": out[:, -1, :].contiguous(),
            "dense": linear(torch.flatten(out, start_dim=1)),
            "conv": conv(out.permute(0, 2, 1)),
        }
    for prefix, module in (("lstm.", lstm), ("linear.", linear), ("conv.", conv)):
        tensors.update({prefix + k: v.detach().contiguous() for k, v in module.state_dict().items()})
    save("article", tensors, {"batch": B, "steps": T, "input_size": I, "hidden_size": H})


def edge_fixture():
    """NaN, ±Inf, huge and tiny inputs, one kind per sequence: what PyTorch propagates."""
    torch.manual_seed(11)
    lstm = torch.nn.LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True)
    x = torch.randn(6, 5, 3)
    x[0, 2, 1] = float("nan")
    x[1, 3, 0] = float("inf")
    x[2, 1, 2] = float("-inf")
    x[3] *= 1e30
    x[4] *= 1e-40   # subnormal in float32
    with torch.no_grad():
        out, (hn, cn) = lstm(x)
    tensors = {"lstm." + k: v.detach().contiguous() for k, v in lstm.state_dict().items()}
    tensors.update({"input": x, "output": out, "h_n": hn, "c_n": cn})
    save("lstm_edge", tensors, {"input_size": 3, "hidden_size": 4, "num_layers": 2,
                                "bias": True, "batch_first": True, "bidirectional": True,
                                "proj_size": 0})


def conv_fixtures():
    cases = [
        # name, in, out, kernel, stride, padding, dilation, groups, bias, length
        ("conv_basic", 4, 6, 3, 1, 1, 1, 1, True, 9),
        ("conv_strided_dilated", 6, 4, 3, 2, 2, 2, 2, True, 13),
        ("conv_same_even", 3, 3, 4, 1, "same", 1, 3, False, 7),
    ]
    for i, (name, cin, cout, k, s, p, dil, g, bias, length) in enumerate(cases):
        torch.manual_seed(50 + i)
        conv = torch.nn.Conv1d(cin, cout, k, stride=s, padding=p, dilation=dil, groups=g, bias=bias)
        x = torch.randn(2, cin, length)
        with torch.no_grad():
            y = conv(x)
        tensors = {"conv." + k2: v.detach().contiguous() for k2, v in conv.state_dict().items()}
        tensors.update({"input": x, "output": y})
        save(name, tensors, {"in_channels": cin, "out_channels": cout, "kernel_size": k,
                             "stride": s, "padding": p, "dilation": dil, "groups": g,
                             "bias": bias})


def save(name, tensors, metadata):
    tensors = {k: v.detach().contiguous() for k, v in tensors.items()}
    meta = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in metadata.items()}
    save_file(tensors, os.path.join(OUT, name + ".safetensors"), metadata=meta)


if __name__ == "__main__":
    import sys
    os.makedirs(OUT, exist_ok=True)
    # --float64: only the float64 LSTM fixtures (the float32 ones stay as committed).
    for i, case in enumerate(LSTM_CASES):
        if "--float64" not in sys.argv:
            lstm_fixture(i, case)
        lstm_fixture(i, case, torch.float64)
    if "--float64" not in sys.argv:
        article_fixture()
        edge_fixture()
        conv_fixtures()
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} fixtures, {total} bytes, torch {torch.__version__}")
