#!/usr/bin/env python3
"""Batch norm's backward pass by hand, written by `tapegrad exercise bn`.

The forward pass is done. Fill in each TODO below, in order, following the derivation: every
quantity you fill in is saved as <name>.npy in this folder when you run the script, and
    tapegrad check --mine <this folder>
grades each one against the engine and explains the first wrong one. Leave a TODO as None to
skip it (it shows as "not given"). Shapes: X and dy are (N, D); gamma, beta, mu, sigma2 and std
are (D,), one value per feature.
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def load(name):
    return np.load(os.path.join(HERE, name + ".npy"))


X = load("x")          # the input, (N, D)
dy = load("dy")        # dL/dy, the upstream gradient, (N, D)
gamma = load("gamma")  # scale, (D,)
beta = load("beta")    # shift, (D,)
eps = 1e-5
N = X.shape[0]

# ---- forward (done) -------------------------------------------------------------------------
mu = X.mean(axis=0)              # 1/N sum_i x_i
xc = X - mu                      # x - mu
sigma2 = (xc ** 2).mean(axis=0)  # 1/N sum_i (x_i - mu)^2: divided by N, not N - 1
std = np.sqrt(sigma2 + eps)      # sqrt(sigma2 + eps)
xhat = xc / std                  # (x - mu) / std
y = gamma * xhat + beta          # gamma * xhat + beta

# ---- backward: your turn, in the derivation's order ------------------------------------------
dbeta = None       # TODO dL/dbeta, (D,)
dgamma = None      # TODO dL/dgamma, (D,)
dxhat = None       # TODO dL/dxhat, (N, D)
dsigma2 = None     # TODO dL/dsigma2, (D,)
dmu_xhat = None    # TODO dL/dmu from xhat, (D,)
dmu_sigma2 = None  # TODO dL/dmu from sigma2, (D,)
dmu = None         # TODO dL/dmu, (D,): the sum of both
dx_xhat = None     # TODO dL/dX from xhat, (N, D)
dx_sigma2 = None   # TODO dL/dX from sigma2, (N, D)
dx_mu = None       # TODO dL/dX from mu, (N, D)
dx = None          # TODO dL/dX, (N, D): the sum of the three

# ---- save what you computed --------------------------------------------------------------------
saved = []
for name in ["mu", "xc", "sigma2", "std", "xhat", "y", "dbeta", "dgamma", "dxhat", "dsigma2", "dmu_xhat",
             "dmu_sigma2", "dmu", "dx_xhat", "dx_sigma2", "dx_mu", "dx"]:
    value = globals()[name]
    if value is not None:
        np.save(os.path.join(HERE, name + ".npy"), np.asarray(value, dtype=np.float64))
        saved.append(name)
print("saved " + ", ".join(saved) + "; now run: tapegrad check --mine " + HERE)
