#!/usr/bin/env python3
"""Group norm's backward pass by hand, written by `tapegrad exercise bn --kind group`.

The same graph as batch norm's, with the means taken over each row's groups of features: X
(rows, D) is viewed as Xg (rows, G, D/G) and every mean runs over the last axis, once per row and
group, so N here is D/G. The forward pass is done. Fill in each TODO below, in order: every
quantity you fill in is saved as <name>.npy in this folder when you run the script, and
    tapegrad check --mine <this folder>
grades each one against the engine and explains the first wrong one. Leave a TODO as None to
skip it (it shows as "not given"). Shapes: X, dy, xhat and dxhat are (rows, D); gamma and beta
are (D,), one value per feature (channel); mu, sigma2 and std are (rows, G, 1); xc and the parts
of dL/dX are (rows, G, D/G), like Xg. dL/dgamma and dL/dbeta sum over the rows (axis 0).
"""
import os
import json

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def load(name):
    return np.load(os.path.join(HERE, name + ".npy"))


X = load("x")          # the input, (rows, D)
dy = load("dy")        # dL/dy, the upstream gradient, (rows, D)
gamma = load("gamma")  # scale, (D,)
beta = load("beta")    # shift, (D,)
G = json.load(open(os.path.join(HERE, "exercise.json")))["groups"]
eps = 1e-5
rows, D = X.shape
N = D // G             # the values in one normalised set: a group's features

# ---- forward (done) -------------------------------------------------------------------------
Xg = X.reshape(rows, G, N)                      # one row per sample and group
mu = Xg.mean(axis=2, keepdims=True)             # 1/N sum_i x_i, per row and group
xc = Xg - mu                                    # x - mu
sigma2 = (xc ** 2).mean(axis=2, keepdims=True)  # 1/N sum_i (x_i - mu)^2: divided by N, not N - 1
std = np.sqrt(sigma2 + eps)                     # sqrt(sigma2 + eps)
xhat = (xc / std).reshape(rows, D)              # (x - mu) / std, back in X's shape
y = gamma * xhat + beta                         # gamma * xhat + beta

# ---- backward: your turn, in the derivation's order ------------------------------------------
dbeta = None       # TODO dL/dbeta, (D,)
dgamma = None      # TODO dL/dgamma, (D,)
dxhat = None       # TODO dL/dxhat, (rows, D)
dsigma2 = None     # TODO dL/dsigma2, (rows, G, 1)
dmu_xhat = None    # TODO dL/dmu from xhat, (rows, G, 1)
dmu_sigma2 = None  # TODO dL/dmu from sigma2, (rows, G, 1)
dmu = None         # TODO dL/dmu, (rows, G, 1): the sum of both
dx_xhat = None     # TODO dL/dX from xhat, (rows, G, N)
dx_sigma2 = None   # TODO dL/dX from sigma2, (rows, G, N)
dx_mu = None       # TODO dL/dX from mu, (rows, G, N)
dx = None          # TODO dL/dX, (rows, D): the sum of the three, in X's shape

# ---- save what you computed --------------------------------------------------------------------
saved = []
for name in ["mu", "xc", "sigma2", "std", "xhat", "y", "dbeta", "dgamma", "dxhat", "dsigma2", "dmu_xhat",
             "dmu_sigma2", "dmu", "dx_xhat", "dx_sigma2", "dx_mu", "dx"]:
    value = globals()[name]
    if value is not None:
        np.save(os.path.join(HERE, name + ".npy"), np.asarray(value, dtype=np.float64))
        saved.append(name)
print("saved " + ", ".join(saved) + "; now run: tapegrad check --mine " + HERE)
