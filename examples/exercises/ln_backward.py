#!/usr/bin/env python3
"""Layer norm's backward pass by hand, written by `tapegrad exercise bn --kind layer`.

The same graph as batch norm's, with the means taken the other way: over each row's D features
(axis 1), once per sample, so N here is D. The forward pass is done. Fill in each TODO below, in
order: every quantity you fill in is saved as <name>.npy in this folder when you run the script,
and
    tapegrad check --mine <this folder>
grades each one against the engine and explains the first wrong one. Leave a TODO as None to
skip it (it shows as "not given"). Shapes: X and dy are (rows, D); gamma and beta are (D,), one
value per feature; mu, sigma2 and std are (rows, 1), one value per row. dL/dgamma and dL/dbeta
sum over the rows (axis 0): the other way from the sums inside the normalisation.
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def load(name):
    return np.load(os.path.join(HERE, name + ".npy"))


X = load("x")          # the input, (rows, D)
dy = load("dy")        # dL/dy, the upstream gradient, (rows, D)
gamma = load("gamma")  # scale, (D,)
beta = load("beta")    # shift, (D,)
eps = 1e-5
N = X.shape[1]         # the values in one normalised set: a row's features

# ---- forward (done) -------------------------------------------------------------------------
mu = X.mean(axis=1, keepdims=True)              # 1/N sum_i x_i, per row
xc = X - mu                                     # x - mu
sigma2 = (xc ** 2).mean(axis=1, keepdims=True)  # 1/N sum_i (x_i - mu)^2: divided by N, not N - 1
std = np.sqrt(sigma2 + eps)                     # sqrt(sigma2 + eps)
xhat = xc / std                                 # (x - mu) / std
y = gamma * xhat + beta                         # gamma * xhat + beta

# ---- backward: your turn, in the derivation's order ------------------------------------------
dbeta = None       # TODO dL/dbeta, (D,)
dgamma = None      # TODO dL/dgamma, (D,)
dxhat = None       # TODO dL/dxhat, (rows, D)
dsigma2 = None     # TODO dL/dsigma2, (rows, 1)
dmu_xhat = None    # TODO dL/dmu from xhat, (rows, 1)
dmu_sigma2 = None  # TODO dL/dmu from sigma2, (rows, 1)
dmu = None         # TODO dL/dmu, (rows, 1): the sum of both
dx_xhat = None     # TODO dL/dX from xhat, (rows, D)
dx_sigma2 = None   # TODO dL/dX from sigma2, (rows, D)
dx_mu = None       # TODO dL/dX from mu, (rows, D)
dx = None          # TODO dL/dX, (rows, D): the sum of the three

# ---- save what you computed --------------------------------------------------------------------
saved = []
for name in ["mu", "xc", "sigma2", "std", "xhat", "y", "dbeta", "dgamma", "dxhat", "dsigma2", "dmu_xhat",
             "dmu_sigma2", "dmu", "dx_xhat", "dx_sigma2", "dx_mu", "dx"]:
    value = globals()[name]
    if value is not None:
        np.save(os.path.join(HERE, name + ".npy"), np.asarray(value, dtype=np.float64))
        saved.append(name)
print("saved " + ", ".join(saved) + "; now run: tapegrad check --mine " + HERE)
