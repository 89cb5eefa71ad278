#!/usr/bin/python3
"""Times one epoch of the 784-256-128-10 MLP with fused batch norm in PyTorch, the same network,
optimiser and batch size as `tapegrad train --bn fused`, on Fashion-MNIST from Debian's
dataset-fashion-mnist package. Run by hand (needs python3-torch); not part of CI:
    /usr/bin/python3 bench/mlp_pytorch.py [--epochs 10] [--threads 1] [--batch-size 128] [--bn fused|none]
bench/mlp_compare.sh runs this and tapegrad one after the other and prints the ratio.
"""
import argparse
import gzip
import time

import numpy as np
import torch

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--bn", default="fused", choices=["fused", "none"])
parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
args = parser.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)


def idx(name, offset):
    with gzip.open(f"{args.data_dir}/{name}", "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


xtr = torch.tensor(idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784), dtype=torch.float32) / 255
ytr = torch.tensor(idx("train-labels-idx1-ubyte.gz", 8), dtype=torch.int64)
xte = torch.tensor(idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784), dtype=torch.float32) / 255
yte = torch.tensor(idx("t10k-labels-idx1-ubyte.gz", 8), dtype=torch.int64)

layers = []
width = 784
for h in (256, 128):
    layers.append(torch.nn.Linear(width, h))
    if args.bn == "fused":
        layers.append(torch.nn.BatchNorm1d(h))
    layers.append(torch.nn.ReLU())
    width = h
layers.append(torch.nn.Linear(width, 10))
model = torch.nn.Sequential(*layers)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = torch.nn.CrossEntropyLoss()

for epoch in range(args.epochs):
    model.train()
    order = torch.randperm(len(ytr))
    t0 = time.perf_counter()
    total = 0.0
    for i in range(0, len(ytr), args.batch_size):
        idx_ = order[i:i + args.batch_size]
        x, y = xtr[idx_], ytr[idx_]
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        total += loss.item()
    seconds = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()
    print(f"epoch {epoch + 1:>3}  train loss {total / ((len(ytr) + args.batch_size - 1) // args.batch_size):.4f}  "
          f"test acc {acc:.4f}  {seconds:.2f} s", flush=True)
