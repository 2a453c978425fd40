#!/usr/bin/env python3
"""Writes PyTorch autograd fixtures for the backward passes, losses and optimizers.

    pip install torch safetensors
    python3 tools/make_training_fixtures.py    # Tests/TensorLSTMTests/Fixtures/grad_*.safetensors, optim_*.safetensors

Each LSTM/GRU/RNN file holds the input, the state dict, the loss weights R (on output), S (on
h_n) and U (on c_n) of L = sum(output*R) + sum(h_n*S) + sum(c_n*U), and autograd's gradients
("grad.<name>", "grad.input", "grad.h0", "grad.c0"). The Swift tests run backward with
outputGradient R, hiddenGradient S, cellGradient U and compare.
"""
import os

import torch
from safetensors.torch import save_file
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "TensorLSTMTests", "Fixtures")


def save(name, tensors, metadata):
    tensors = {k: v.detach().contiguous() for k, v in tensors.items()}
    meta = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in metadata.items()}
    save_file(tensors, os.path.join(OUT, name + ".safetensors"), metadata=meta)


def recurrent_fixture(name, cell, seed, layers=1, bidirectional=False, batch_first=False,
                      bias=True, proj=0, lengths=None, h0=False, unbatched=False,
                      nonlinearity="tanh", dtype=torch.float32):
    torch.manual_seed(seed)
    inputs, hidden, steps, batch = 4, 5, 6, 3
    kwargs = dict(num_layers=layers, bidirectional=bidirectional, batch_first=batch_first, bias=bias)
    if cell == "lstm":
        model = torch.nn.LSTM(inputs, hidden, proj_size=proj, **kwargs)
    elif cell == "gru":
        model = torch.nn.GRU(inputs, hidden, **kwargs)
    else:
        model = torch.nn.RNN(inputs, hidden, nonlinearity=nonlinearity, **kwargs)
    model = model.to(dtype)
    d = 2 if bidirectional else 1
    hout = proj if proj else hidden
    shape = (steps, inputs) if unbatched else ((batch, steps, inputs) if batch_first else (steps, batch, inputs))
    x = torch.randn(*shape, dtype=dtype, requires_grad=True)
    state_batch = () if unbatched else (batch,)
    state = None
    if h0:
        hx = torch.randn(layers * d, *state_batch, hout, dtype=dtype, requires_grad=True)
        cx = torch.randn(layers * d, *state_batch, hidden, dtype=dtype, requires_grad=True)
        state = (hx, cx) if cell == "lstm" else hx
    if lengths:
        packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
        out, final = model(packed, state)
        out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=steps)
    else:
        out, final = model(x, state)
    hn, cn = final if cell == "lstm" else (final, None)
    R = torch.randn_like(out)
    S = torch.randn_like(hn)
    loss = (out * R).sum() + (hn * S).sum()
    tensors = {"input": x, "R": R, "S": S, "output": out}
    if cn is not None:
        U = torch.randn_like(cn)
        loss = loss + (cn * U).sum()
        tensors["U"] = U
    loss.backward()
    for k, v in model.state_dict().items():
        tensors[k] = v
        tensors["grad." + k] = dict(model.named_parameters())[k].grad
    tensors["grad.input"] = x.grad
    if h0:
        tensors["h0"] = hx
        tensors["grad.h0"] = hx.grad
        if cell == "lstm":
            tensors["c0"] = cx
            tensors["grad.c0"] = cx.grad
    if lengths:
        tensors["lengths"] = torch.tensor(lengths, dtype=dtype)
    save(name, tensors, dict(cell=cell, num_layers=layers, bidirectional=bidirectional,
                             batch_first=batch_first, bias=bias, proj_size=proj,
                             unbatched=unbatched, nonlinearity=nonlinearity, input_size=inputs,
                             hidden_size=hidden, torch=torch.__version__))


def layers_fixture():
    """Linear on a [B, T, in] input, Conv1d (stride, padding, dilation, groups) on the permuted
    LSTM-like output, cross-entropy (with an ignored row) and MSE."""
    torch.manual_seed(21)
    linear = torch.nn.Linear(6, 4)
    x = torch.randn(3, 5, 6, requires_grad=True)
    y = linear(x)
    R = torch.randn_like(y)
    (y * R).sum().backward()
    conv = torch.nn.Conv1d(6, 4, kernel_size=3, stride=2, padding=1, dilation=2, groups=2)
    seq = torch.randn(3, 9, 6)          # [B, T, H], read as [B, H, T]
    xc = seq.permute(0, 2, 1).requires_grad_(True)
    yc = conv(xc)
    Rc = torch.randn_like(yc)
    (yc * Rc).sum().backward()
    logits = torch.randn(5, 7, requires_grad=True)
    targets = torch.tensor([3, -100, 0, 6, 2])
    ce = torch.nn.functional.cross_entropy(logits, targets)
    ce.backward()
    prediction = torch.randn(4, 3, requires_grad=True)
    target = torch.randn(4, 3)
    mse = torch.nn.functional.mse_loss(prediction, target)
    mse.backward()
    save("grad_layers", {
        "linear.weight": linear.weight, "linear.bias": linear.bias, "linear.input": x,
        "linear.R": R, "linear.grad.weight": linear.weight.grad, "linear.grad.bias": linear.bias.grad,
        "linear.grad.input": x.grad,
        "conv.weight": conv.weight, "conv.bias": conv.bias, "conv.sequence": seq, "conv.R": Rc,
        "conv.grad.weight": conv.weight.grad, "conv.grad.bias": conv.bias.grad,
        "conv.grad.input": xc.grad,
        "ce.logits": logits, "ce.targets": targets.float(), "ce.value": ce.reshape(1),
        "ce.grad": logits.grad,
        "mse.prediction": prediction, "mse.target": target, "mse.value": mse.reshape(1),
        "mse.grad": prediction.grad,
    }, dict(torch=torch.__version__))


def optimizer_fixture():
    """Five steps of SGD (momentum, dampening, Nesterov, weight decay), Adam and AdamW from the
    same parameters and gradients, and clip_grad_norm_."""
    torch.manual_seed(22)
    start = {"a": torch.randn(4, 3), "b": torch.randn(5)}
    grads = [{k: torch.randn_like(v) for k, v in start.items()} for _ in range(5)]
    tensors = {f"start.{k}": v for k, v in start.items()}
    for step, g in enumerate(grads):
        for k, v in g.items():
            tensors[f"grad{step}.{k}"] = v
    configs = {
        "sgd": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01),
        "nesterov": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.02),
        "adam": lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01),
        "adamw": lambda p: torch.optim.AdamW(p, lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1),
    }
    for name, make in configs.items():
        params = {k: v.clone().requires_grad_(True) for k, v in start.items()}
        opt = make(list(params.values()))
        for step, g in enumerate(grads):
            for k, p in params.items():
                p.grad = g[k].clone()
            opt.step()
            for k, p in params.items():
                tensors[f"{name}{step}.{k}"] = p.detach().clone()
    clipped = {k: v.clone().requires_grad_(True) for k, v in start.items()}
    for k, p in clipped.items():
        p.grad = grads[0][k].clone() * 3
    norm = torch.nn.utils.clip_grad_norm_(list(clipped.values()), max_norm=1.5)
    tensors["clip.norm"] = norm.reshape(1)
    for k, p in clipped.items():
        tensors[f"clip.{k}"] = p.grad
    save("optim_trajectories", tensors, dict(torch=torch.__version__))


FIXTURES = {
    "grad_lstm_stacked_bi_lengths": lambda: recurrent_fixture(
        "grad_lstm_stacked_bi_lengths", "lstm", 1, layers=2, bidirectional=True, batch_first=True,
        lengths=[6, 2, 4], h0=True),
    "grad_lstm_proj_nobias": lambda: recurrent_fixture(
        "grad_lstm_proj_nobias", "lstm", 2, layers=2, bias=False, proj=3, h0=True),
    "grad_lstm_unbatched_bi_proj": lambda: recurrent_fixture(
        "grad_lstm_unbatched_bi_proj", "lstm", 3, bidirectional=True, proj=2, unbatched=True),
    "grad_lstm_f64_lengths_proj": lambda: recurrent_fixture(
        "grad_lstm_f64_lengths_proj", "lstm", 4, layers=2, bidirectional=True, proj=4,
        lengths=[3, 6, 1], h0=True, dtype=torch.float64),
    "grad_gru_stacked_bi_lengths": lambda: recurrent_fixture(
        "grad_gru_stacked_bi_lengths", "gru", 5, layers=2, bidirectional=True, batch_first=True,
        lengths=[6, 2, 4], h0=True),
    "grad_gru_unbatched_nobias": lambda: recurrent_fixture(
        "grad_gru_unbatched_nobias", "gru", 6, bias=False, unbatched=True, h0=True),
    "grad_rnn_relu_bi_lengths": lambda: recurrent_fixture(
        "grad_rnn_relu_bi_lengths", "rnn", 7, bidirectional=True, lengths=[5, 6, 2],
        nonlinearity="relu", h0=True),
    "grad_rnn_tanh_stacked": lambda: recurrent_fixture(
        "grad_rnn_tanh_stacked", "rnn", 8, layers=2, batch_first=True),
    "grad_layers": layers_fixture,
    "optim_trajectories": optimizer_fixture,
}

if __name__ == "__main__":
    import sys
    for name in sys.argv[1:] or FIXTURES:
        FIXTURES[name]()
    print("wrote", len(sys.argv[1:] or FIXTURES), "fixtures")
