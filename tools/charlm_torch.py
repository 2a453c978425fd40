#!/usr/bin/env python3
"""PyTorch's side of the tensorlstm-charlm example (Sources/tensorlstm-charlm).

    pip install torch safetensors
    # Does PyTorch load a TensorLSTM checkpoint and compute the same validation loss?
    python3 tools/charlm_torch.py check charlm.safetensors
    # The same model, data, initial weights, optimizer and steps, trained by PyTorch:
    swift run -c release tensorlstm-charlm --steps 600 --save-initial init.safetensors ...
    python3 tools/charlm_torch.py train init.safetensors --steps 600
    # PyTorch's dynamic int8 and float16 LSTMs on a checkpoint: the peers of
    # `tensorlstm-charlm --resume charlm.safetensors --compare-precisions`
    python3 tools/charlm_torch.py precisions charlm.safetensors

Both rebuild the corpus exactly as the Swift example does (the first max_bytes bytes of the
.py files of the corpus folder in name order; tab → space; bytes outside printable ASCII and
newline → '?'; 90 % / 10 % split) and draw the same batches (SplitMix64 of the seed).
"""
import argparse
import math
import os
import time

import torch
from safetensors import safe_open
from safetensors.torch import load_file

MASK = (1 << 64) - 1


class CharLM(torch.nn.Module):
    """Embedding → LSTM (dropout between layers) → Linear: the Swift example's Sequential,
    whose children are named like these attributes."""

    def __init__(self, vocabulary, embed, hidden, layers, dropout):
        super().__init__()
        self.embed = torch.nn.Embedding(vocabulary, embed)
        self.lstm = torch.nn.LSTM(embed, hidden, num_layers=layers, batch_first=True,
                                  dropout=dropout if layers > 1 else 0.0)
        self.head = torch.nn.Linear(hidden, vocabulary)

    def forward(self, ids):
        return self.head(self.lstm(self.embed(ids))[0])


def corpus(directory, max_bytes):
    data = bytearray()
    for name in sorted(f for f in os.listdir(directory) if f.endswith(".py")):
        if len(data) >= max_bytes:
            break
        with open(os.path.join(directory, name), "rb") as f:
            data += f.read()[: max_bytes - len(data)]
    text = bytes(32 if b == 9 else (b if b == 10 or 32 <= b <= 126 else 63) for b in data)
    vocabulary = sorted(set(text))
    index = {c: i for i, c in enumerate(vocabulary)}
    codes = [index[c] for c in text]
    split = len(codes) * 9 // 10
    return bytes(vocabulary).decode(), codes[:split], codes[split:]


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)


def batch(codes, starts, length):
    index = torch.tensor([[codes[s + t] for t in range(length + 1)] for s in starts])
    return index[:, :length], index[:, 1:].reshape(-1)


def validation_loss(model, validation, meta, vocabulary):
    length, batch_size = int(meta["seq_length"]), int(meta["batch"])
    windows = min(int(meta["val_windows"]), (len(validation) - 1) // length)
    total = 0.0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, windows, batch_size):
            n = min(batch_size, windows - start)
            x, y = batch(validation, [(start + i) * length for i in range(n)], length)
            logits = model(x).reshape(-1, vocabulary)
            total += torch.nn.functional.cross_entropy(logits, y).item() * n
    model.train(was_training)
    return total / windows


def load(path):
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    vocab, train, validation = corpus(meta["corpus"], int(meta["max_bytes"]))
    assert vocab == meta["vocabulary"], "the corpus differs from the one the checkpoint was trained on"
    model = CharLM(len(vocab), int(meta["embed"]), int(meta["hidden"]), int(meta["layers"]),
                   float(meta["dropout"]))
    model.load_state_dict(load_file(path))  # strict: every key PyTorch's, no extra
    return model, meta, train, validation, len(vocab)


def check(args):
    model, meta, _, validation, v = load(args.checkpoint)
    ours = float(meta["validation_loss"])
    theirs = validation_loss(model, validation, meta, v)
    print(f"step {meta['step']}: TensorLSTM validation loss {ours:.5f}, PyTorch on the same "
          f"checkpoint {theirs:.5f} (difference {abs(ours - theirs):.2e})")
    if not math.isnan(ours) and abs(ours - theirs) > 1e-3:
        raise SystemExit("validation losses differ by more than 1e-3")


def train(args):
    torch.set_num_threads(args.threads)
    model, meta, train_codes, validation, v = load(args.initial)
    length, batch_size = int(meta["seq_length"]), int(meta["batch"])
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    random = SplitMix64(int(meta["seed"]))
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        starts = [random.next() % (len(train_codes) - length - 1) for _ in range(batch_size)]
        x, y = batch(train_codes, starts, length)
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, v), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()
        if step % 100 == 0 or step == args.steps:
            print(f"step {step}: loss {loss.item():.4f}, {time.perf_counter() - start:.1f} s",
                  flush=True)
    elapsed = time.perf_counter() - start
    print(f"PyTorch {torch.__version__}, {args.threads} thread(s): {args.steps} steps in "
          f"{elapsed:.1f} s, validation loss {validation_loss(model, validation, meta, v):.4f}")


def precisions(args):
    """The LSTM's output over the first 1000 validation characters (batch 1) and the validation
    loss with PyTorch's dynamic quantized LSTM (torch.ao quantize_dynamic: qint8 weights, or
    float16), against the float model: what tensorlstm-charlm --compare-precisions prints for
    TensorLSTM's bfloat16 and int8 weights."""
    torch.set_num_threads(1)
    model, meta, _, validation, v = load(args.checkpoint)
    model.eval()
    float_loss = validation_loss(model, validation, meta, v)
    ids = torch.tensor([validation[:1000]], dtype=torch.long)
    with torch.no_grad():
        reference = model.lstm(model.embed(ids))[0]
    for dtype in (torch.float16, torch.qint8):
        quantized = torch.ao.quantization.quantize_dynamic(model, {torch.nn.LSTM}, dtype=dtype)
        with torch.no_grad():
            output = quantized.lstm(quantized.embed(ids))[0]
        d = (output - reference).abs().flatten().sort().values
        loss = validation_loss(quantized, validation, meta, v)
        print(f"PyTorch dynamic {str(dtype).replace('torch.', '')} LSTM over {ids.shape[1]} steps: "
              f"|Δ| from float max {d[-1].item():.6f}, 99.9th percentile "
              f"{d[len(d) * 999 // 1000].item():.6f}, mean {d.mean().item():.6f}; validation loss "
              f"{loss:.4f} (float {float_loss:.4f}, {100 * (loss - float_loss) / float_loss:+.2f} %)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="recompute a checkpoint's validation loss in PyTorch")
    c.add_argument("checkpoint")
    t = sub.add_parser("train", help="train the same model from a --save-initial checkpoint")
    t.add_argument("initial")
    t.add_argument("--steps", type=int, default=600)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--clip", type=float, default=1.0)
    t.add_argument("--threads", type=int, default=1)
    q = sub.add_parser("precisions", help="PyTorch's dynamic int8/float16 LSTM on a checkpoint")
    q.add_argument("checkpoint")
    args = parser.parse_args()
    {"check": check, "train": train, "precisions": precisions}[args.command](args)


if __name__ == "__main__":
    main()
