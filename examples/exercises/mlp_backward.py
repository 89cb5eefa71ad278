#!/usr/bin/env python3
"""makemore part 4's backward pass by hand ("becoming a backprop ninja"), written by
`tapegrad exercise mlp`.

Exercise 1 of the notebook: the network (an embedding C[Xb], hprebn = embcat @ W1 + b1, batch norm
built from its pieces with Bessel's correction in the variance, as makemore has it, h =
tanh(hpreact), logits = h @ W2 + b2, and the cross-entropy of logits against the labels Yb spelled
out in its own pieces) backpropagated through every variable of the forward pass, one by one, in
the notebook's order. The forward pass is done. Fill in each TODO, in order: every
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


Xb, Yb = load("Xb"), load("Yb")  # a batch: n contexts of block_size characters, and the next character
C = load("C")                    # the embedding table, (vocab, dim)
W1, b1 = load("W1"), load("b1")
bngain, bnbias = load("bngain"), load("bnbias")
W2, b2 = load("W2"), load("b2")
n = Xb.shape[0]

# ---- forward (done), line for line as the notebook has it ------------------------------------
emb = C[Xb]                                # (n, block_size, dim)
embcat = emb.reshape(emb.shape[0], -1)     # emb.view(emb.shape[0], -1)
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
logit_maxes = logits.max(1, keepdims=True)
norm_logits = logits - logit_maxes
counts = np.exp(norm_logits)
counts_sum = counts.sum(1, keepdims=True)
counts_sum_inv = counts_sum ** -1
probs = counts * counts_sum_inv
logprobs = np.log(probs)
loss = -logprobs[np.arange(n), Yb].mean()

# ---- backward: your turn, in the notebook's order ---------------------------------------------
dlogprobs       = None  # TODO
dprobs          = None  # TODO
dcounts_sum_inv = None  # TODO
dcounts_sum     = None  # TODO
dcounts         = None  # TODO
dnorm_logits    = None  # TODO
dlogit_maxes    = None  # TODO
dlogits         = None  # TODO
dh              = None  # TODO
dW2             = None  # TODO
db2             = None  # TODO
dhpreact        = None  # TODO
dbngain         = None  # TODO
dbnbias         = None  # TODO
dbnraw          = None  # TODO
dbnvar_inv      = None  # TODO
dbnvar          = None  # TODO
dbndiff2        = None  # TODO
dbndiff         = None  # TODO
dbnmeani        = None  # TODO
dhprebn         = None  # TODO
dembcat         = None  # TODO
dW1             = None  # TODO
db1             = None  # TODO
demb            = None  # TODO
dC              = None  # TODO

# ---- save what you computed --------------------------------------------------------------------
saved = []
for name in [
    "emb", "embcat", "hprebn", "bnmeani", "bndiff", "bndiff2", "bnvar", "bnvar_inv", "bnraw", "hpreact", "h",
    "logits", "logit_maxes", "norm_logits", "counts", "counts_sum", "counts_sum_inv", "probs", "logprobs",
    "loss", "dlogprobs", "dprobs", "dcounts_sum_inv", "dcounts_sum", "dcounts", "dnorm_logits",
    "dlogit_maxes", "dlogits", "dh", "dW2", "db2", "dhpreact", "dbngain", "dbnbias", "dbnraw", "dbnvar_inv",
    "dbnvar", "dbndiff2", "dbndiff", "dbnmeani", "dhprebn", "dembcat", "dW1", "db1", "demb", "dC"
]:
    value = globals()[name]
    if value is not None:
        np.save(os.path.join(HERE, name + ".npy"), np.asarray(value, dtype=np.float64))
        saved.append(name)
print("saved " + ", ".join(saved) + "; now run: tapegrad check --mine " + HERE)
