#!/usr/bin/env python3
"""makemore part 4's backward pass by hand ("becoming a backprop ninja"), written by
`tapegrad exercise mlp`.

The network: hprebn = embcat @ W1 + b1, batch norm built from its pieces (Bessel's correction in
the variance, as makemore has it), h = tanh(hpreact), logits = h @ W2 + b2, and the cross-entropy
of logits against the labels Yb. The forward pass is done. Fill in each TODO, in order: every
gradient you fill in is saved as d<name>.npy in this folder when you run the script, and
    tapegrad check --mine <this folder>
grades each one against the engine and explains the first wrong one. Leave a TODO as None to
skip it. Each d<name> has the shape of <name>.
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def load(name):
    return np.load(os.path.join(HERE, name + ".npy"))


embcat = load("embcat")  # the input, (n, F) (in makemore: the concatenated character embeddings)
Yb = load("Yb")          # the labels, (n,), integers
W1, b1 = load("W1"), load("b1")
bngain, bnbias = load("bngain"), load("bnbias")
W2, b2 = load("W2"), load("b2")
n = embcat.shape[0]

# ---- forward (done) -------------------------------------------------------------------------
hprebn = embcat @ W1 + b1
bnmeani = 1 / n * hprebn.sum(0, keepdims=True)
bndiff = hprebn - bnmeani
bndiff2 = bndiff ** 2
bnvar = 1 / (n - 1) * bndiff2.sum(0, keepdims=True)
bnvar_inv = (bnvar + 1e-5) ** -0.5
bnraw = bndiff * bnvar_inv
hpreact = bngain * bnraw + bnbias
h = np.tanh(hpreact)
logits = h @ W2 + b2
shifted = logits - logits.max(1, keepdims=True)
logprobs = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
loss = -logprobs[np.arange(n), Yb].mean()

# ---- backward: your turn ------------------------------------------------------------------------
dlogprobs = None   # TODO
dlogits = None     # TODO
dh = None          # TODO
dW2 = None         # TODO
db2 = None         # TODO
dhpreact = None    # TODO
dbngain = None     # TODO
dbnbias = None     # TODO
dbnraw = None      # TODO
dbnvar_inv = None  # TODO
dbnvar = None      # TODO
dbndiff2 = None    # TODO
dbndiff = None     # TODO
dbnmeani = None    # TODO
dhprebn = None     # TODO
dW1 = None         # TODO
db1 = None         # TODO

# ---- save what you computed --------------------------------------------------------------------
saved = []
for name in ["hprebn", "bnmeani", "bndiff", "bndiff2", "bnvar", "bnvar_inv", "bnraw", "hpreact", "h", "logits",
             "logprobs", "loss", "dlogprobs", "dlogits", "dh", "dW2", "db2", "dhpreact", "dbngain", "dbnbias", "dbnraw",
             "dbnvar_inv", "dbnvar", "dbndiff2", "dbndiff", "dbnmeani", "dhprebn", "dW1", "db1"]:
    value = globals()[name]
    if value is not None:
        np.save(os.path.join(HERE, name + ".npy"), np.asarray(value, dtype=np.float64))
        saved.append(name)
print("saved " + ", ".join(saved) + "; now run: tapegrad check --mine " + HERE)
