#!/usr/bin/env python3
"""Writes PyTorch fixtures for whole models (Sequential, the layers around recurrent ones).

    pip install torch safetensors
    python3 tools/make_model_fixtures.py    # Tests/TensorLSTMTests/Fixtures/model_*.safetensors

Each file holds the model's state dict under "state.<key>" (the keys of model.state_dict()),
the input "input" (token ids as float, or features), the eval-mode output "eval_output", and,
for the models trained here (dropout 0), the targets "targets", and the parameters after
three Adam steps (lr 1e-2) of cross-entropy "trained.<key>". Metadata: "lengths" (comma
separated, or empty), "layers" (the Swift test builds the same architecture by this name).
"""
import os

import torch
from safetensors.torch import save_file
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "TensorLSTMTests", "Fixtures")
B, T = 4, 7
LENGTHS = [7, 3, 5, 1]


def run_recurrent(rnn, x, lengths):
    """The recurrent layer's output sequence with PyTorch's packing (zeros past lengths)."""
    if lengths is None:
        return rnn(x)[0]
    packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=rnn.batch_first, enforce_sorted=False)
    out, _ = rnn(packed)
    return pad_packed_sequence(out, batch_first=rnn.batch_first, total_length=x.shape[1])[0]


def last_step(out, lengths):
    """Each sequence's output at its last valid step (the article's out[:, -1, :] done right)."""
    if lengths is None:
        return out[:, -1, :]
    return out[torch.arange(out.shape[0]), torch.tensor(lengths) - 1]


class Classifier(nn.Module):
    """Embedding → 2-layer LSTM (dropout) → last step → LayerNorm → Dropout → Linear."""

    def __init__(self, dropout):
        super().__init__()
        self.layers = nn.ModuleList([
            nn.Embedding(50, 16, padding_idx=0),
            nn.LSTM(16, 32, num_layers=2, batch_first=True, dropout=dropout),
            nn.Identity(),  # LastStep: no parameters, keeps its index
            nn.LayerNorm([32]),
            nn.Dropout(0.5 if dropout else 0.0),
            nn.Linear(32, 4),
        ])

    def forward(self, ids, lengths):
        x = self.layers[0](ids)
        x = last_step(run_recurrent(self.layers[1], x, lengths), lengths)
        return self.layers[5](self.layers[4](self.layers[3](x)))

    def state(self):
        return {k.removeprefix("layers."): v for k, v in self.state_dict().items()}


class NamedGRU(nn.Module):
    """Embedding "embed" → bidirectional GRU "rnn" → last step → Linear "head"."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.rnn = nn.GRU(16, 32, batch_first=True, bidirectional=True)
        self.head = nn.Linear(64, 4)

    def forward(self, ids, lengths):
        return self.head(last_step(run_recurrent(self.rnn, self.embed(ids), lengths), lengths))

    def state(self):
        return self.state_dict()


class ConvHead(nn.Module):
    """LSTM → permute [B, H, T] → Conv1d → ReLU → Flatten → Linear."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(6, 8, batch_first=True)
        self.conv = nn.Conv1d(8, 5, kernel_size=3, padding=1)
        self.head = nn.Linear(5 * T, 3)

    def forward(self, x, lengths):
        y = run_recurrent(self.lstm, x, lengths).permute(0, 2, 1)
        return self.head(torch.flatten(torch.relu(self.conv(y)), 1))

    def state(self):
        # Sequential indices: 0 lstm, 1 permute, 2 conv, 3 relu, 4 flatten, 5 head.
        return renamed(self.state_dict(), {"lstm": "0", "conv": "2", "head": "5"})


class Tagger(nn.Module):
    """Bidirectional GRU → LayerNorm → GELU → Linear → LogSoftmax per step."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(6, 12, batch_first=True, bidirectional=True)
        self.norm = nn.LayerNorm(24)
        self.proj = nn.Linear(24, 5)

    def forward(self, x, lengths):
        y = nn.functional.gelu(self.norm(run_recurrent(self.gru, x, lengths)))
        return torch.log_softmax(self.proj(y), dim=-1)

    def state(self):
        return renamed(self.state_dict(), {"gru": "0", "norm": "1", "proj": "3"})


class ReluStack(nn.Module):
    """3-layer ReLU RNN with dropout 0.3 (eval) → Tanh → Sigmoid → Softmax over features."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(6, 10, num_layers=3, nonlinearity="relu", batch_first=True, dropout=0.3)

    def forward(self, x, lengths):
        y = run_recurrent(self.rnn, x, lengths)
        return torch.softmax(torch.sigmoid(torch.tanh(y)), dim=-1)

    def state(self):
        return renamed(self.state_dict(), {"rnn": "0"})


class Custom(nn.Module):
    """A custom module: attributes "encoder" (LSTM with projection), "norm", "decoder"."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.LSTM(6, 16, batch_first=True, proj_size=8)
        self.norm = nn.LayerNorm(8, elementwise_affine=True)
        self.decoder = nn.Linear(8, 3)

    def forward(self, x, lengths):
        return self.decoder(self.norm(last_step(run_recurrent(self.encoder, x, lengths), lengths)))

    def state(self):
        return self.state_dict()


class Activations(nn.Module):
    """Per step: Linear → Tanh → Linear → Sigmoid → GELU → Softmax (every activation's backward
    against autograd)."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 8), nn.Sigmoid(),
                                 nn.GELU(), nn.Softmax(dim=-1))

    def forward(self, x, lengths):
        return self.net(x)

    def state(self):
        return {k.removeprefix("net."): v for k, v in self.state_dict().items()}


def renamed(state, keys):
    """A state dict with each attribute's prefix replaced by its Sequential index."""
    return {keys[k.split(".")[0]] + "." + k.split(".", 1)[1]: v for k, v in state.items()}


def randomize(model):
    """Non-trivial LayerNorm parameters and embedding rows (PyTorch starts them at 1, 0)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.LayerNorm) and m.weight is not None:
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)


def fixture(name, model, ids, lengths, train=False):
    randomize(model)
    state = {"state." + k: v.detach().clone() for k, v in model.state().items()}
    model.eval()
    with torch.no_grad():
        out = model(ids, lengths)
    tensors = {"input": ids.float(), "eval_output": out, **state}
    if train:
        model.train()
        classes = out.shape[-1]
        # Per-step outputs [B, T, C] are trained per step; padded steps are ignored (-100).
        rows = out.shape[0] * (out.shape[1] if out.dim() == 3 else 1)
        targets = torch.randint(0, classes, (rows,))
        if out.dim() == 3 and lengths:
            for b, length in enumerate(lengths):
                targets[b * out.shape[1] + length:(b + 1) * out.shape[1]] = -100
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(3):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(ids, lengths).reshape(rows, classes), targets)
            loss.backward()
            opt.step()
        tensors["targets"] = targets.float()
        tensors.update({"trained." + k: v.detach().clone() for k, v in model.state().items()})
    meta = {"lengths": ",".join(map(str, lengths)) if lengths else "", "layers": name}
    save_file({k: v.detach().contiguous() for k, v in tensors.items()},
              os.path.join(OUT, f"model_{name}.safetensors"), metadata=meta)


def main():
    torch.manual_seed(17)
    ids = torch.randint(1, 50, (B, T))
    for b, length in enumerate(LENGTHS):
        ids[b, length:] = 0  # padding
    x = torch.randn(B, T, 6)
    fixture("classifier", Classifier(dropout=0.25), ids, LENGTHS)
    fixture("classifier_train", Classifier(dropout=0.0), ids, LENGTHS, train=True)
    fixture("named_gru", NamedGRU(), ids, LENGTHS, train=True)
    fixture("conv_head", ConvHead(), x, None, train=True)
    fixture("tagger", Tagger(), x, LENGTHS, train=True)
    fixture("activations", Activations(), x, None, train=True)
    fixture("relu_stack", ReluStack(), x, None)
    fixture("custom", Custom(), x, LENGTHS, train=True)


if __name__ == "__main__":
    main()
