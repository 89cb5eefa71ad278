#!/usr/bin/python3
"""Runs one training step of `tapegrad bn` and of torch.nn.BatchNorm1d on the same data and prints
the largest differences. Needs Debian's python3-torch (and python3-numpy: Debian's /usr/bin/python3
has both); runs from any folder, with the tapegrad that scripts/run.sh built beside this script
(build/release/tapegrad) or the one --tapegrad names:
    /usr/bin/python3 examples/compare_bn_with_pytorch.py [--impl composite|fused] [--dtype float32|float64]
"""
import argparse
import os
import subprocess
import tempfile

import numpy as np
import torch

parser = argparse.ArgumentParser()
parser.add_argument("--impl", default="fused", choices=["composite", "fused"])
parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
parser.add_argument("--shape", default="8,4", help="N,C or N,C,L or N,C,H,W")
here = os.path.dirname(os.path.abspath(__file__))
parser.add_argument("--tapegrad", default=os.path.join(here, "..", "build", "release", "tapegrad"),
                    help="the tapegrad program (default: this source tree's build/release/tapegrad)")
args = parser.parse_args()
if not os.access(args.tapegrad, os.X_OK):
    parser.error(f"{os.path.normpath(args.tapegrad)} is not built yet: run scripts/run.sh first, or give --tapegrad")

shape = tuple(int(s) for s in args.shape.split(","))
rng = np.random.default_rng(0)
work = tempfile.mkdtemp(prefix="tapegrad_bn_")
x = rng.normal(3.0, 2.0, size=shape).astype(args.dtype)
dy = rng.normal(size=shape).astype(args.dtype)
np.save(os.path.join(work, "x.npy"), x)
np.save(os.path.join(work, "dy.npy"), dy)

subprocess.run([args.tapegrad, "bn", "--impl", args.impl, "--x", f"{work}/x.npy",
                "--dy", f"{work}/dy.npy", "--out", f"{work}/out"], check=True)

xt = torch.tensor(x, requires_grad=True)
bn = (torch.nn.BatchNorm1d if len(shape) < 4 else torch.nn.BatchNorm2d)(shape[1]).to(xt.dtype)
y = bn(xt)
y.backward(torch.tensor(dy))
for name, ref in [("y", y), ("dx", xt.grad), ("dgamma", bn.weight.grad), ("dbeta", bn.bias.grad),
                  ("running_mean", bn.running_mean), ("running_var", bn.running_var)]:
    mine = np.load(os.path.join(work, "out", name + ".npy"))
    ref = ref.detach().numpy()
    rel = np.abs(mine - ref).max() / max(np.abs(ref).max(), 1e-300)
    print(f"{name:13s} max |tapegrad - torch| / max |torch| = {rel:.1e}")
