#!/usr/bin/python3
"""Fills in the TODO lines of an exercise starter with a reference solution (or with one planted
mistake) and writes the result beside it, for tests/test_exercise.cpp:
    solve.py STARTER OUT [NAME=EXPRESSION ...]
Each NAME=EXPRESSION replaces the solution of that one line (a planted bug).
"""
import re
import sys

SOLUTIONS = {
    # batch norm, in the derivation's steps
    "dbeta": "dy.sum(0)",
    "dgamma": "(dy * xhat).sum(0)",
    "dxhat": "dy * gamma",
    "dsigma2": "-0.5 * (dxhat * xc).sum(0) * (sigma2 + eps) ** -1.5",
    "dmu_xhat": "-(dxhat / std).sum(0)",
    "dmu_sigma2": "dsigma2 * -2.0 / N * xc.sum(0)",
    "dmu": "dmu_xhat + dmu_sigma2",
    "dx_xhat": "dxhat / std",
    "dx_sigma2": "dsigma2 * 2.0 * xc / N",
    "dx_mu": "np.ones_like(X) * dmu / N",
    "dx": "dx_xhat + dx_sigma2 + dx_mu",
    # makemore part 4
    "dlogprobs": "np.zeros_like(logprobs); dlogprobs[np.arange(n), Yb] = -1.0 / n",
    "dprobs": "(1.0 / probs) * dlogprobs",
    "dcounts_sum_inv": "(counts * dprobs).sum(1, keepdims=True)",
    "dcounts_sum": "-counts_sum ** -2 * dcounts_sum_inv",
    "dcounts": "counts_sum_inv * dprobs + np.ones_like(counts) * dcounts_sum",
    "dnorm_logits": "counts * dcounts",
    "dlogit_maxes": "-dnorm_logits.sum(1, keepdims=True)",
    "dlogits": "dnorm_logits + (logits == logits.max(1, keepdims=True)) * dlogit_maxes",
    "dh": "dlogits @ W2.T",
    "dW2": "h.T @ dlogits",
    "db2": "dlogits.sum(0)",
    "dhpreact": "(1.0 - h ** 2) * dh",
    "dbngain": "(bnraw * dhpreact).sum(0, keepdims=True)",
    "dbnbias": "dhpreact.sum(0, keepdims=True)",
    "dbnraw": "bngain * dhpreact",
    "dbnvar_inv": "(bndiff * dbnraw).sum(0, keepdims=True)",
    "dbnvar": "-0.5 * (bnvar + 1e-5) ** -1.5 * dbnvar_inv",
    "dbndiff2": "1.0 / (n - 1) * np.ones_like(bndiff2) * dbnvar",
    "dbndiff": "bnvar_inv * dbnraw + 2 * bndiff * dbndiff2",
    "dbnmeani": "-dbndiff.sum(0, keepdims=True)",
    "dhprebn": "dbndiff + 1.0 / n * dbnmeani",
    "dW1": "embcat.T @ dhprebn",
    "db1": "dhprebn.sum(0)",
    "dembcat": "dhprebn @ W1.T",
    "demb": "dembcat.reshape(emb.shape)",
    "dC": "np.zeros_like(C); np.add.at(dC, Xb, demb)",
}


# layer norm: the sums inside the normalisation run over each row (axis 1), the parameters' over
# the rows (axis 0)
LAYER = {
    "dsigma2": "-0.5 * (dxhat * xc).sum(1, keepdims=True) * (sigma2 + eps) ** -1.5",
    "dmu_xhat": "-(dxhat / std).sum(1, keepdims=True)",
    "dmu_sigma2": "dsigma2 * -2.0 / N * xc.sum(1, keepdims=True)",
    "dx_mu": "np.ones_like(X) * dmu / N",
}
# group norm: the sums inside run over each group (axis 2 of the (rows, G, N) view)
GROUP = {
    "dsigma2": "-0.5 * (dxhat.reshape(rows, G, N) * xc).sum(2, keepdims=True) * (sigma2 + eps) ** -1.5",
    "dmu_xhat": "-(dxhat.reshape(rows, G, N) / std).sum(2, keepdims=True)",
    "dmu_sigma2": "dsigma2 * -2.0 / N * xc.sum(2, keepdims=True)",
    "dx_xhat": "dxhat.reshape(rows, G, N) / std",
    "dx_mu": "np.ones_like(Xg) * dmu / N",
    "dx": "(dx_xhat + dx_sigma2 + dx_mu).reshape(rows, D)",
}


def main():
    starter, out = sys.argv[1], sys.argv[2]
    solutions = dict(SOLUTIONS)
    if starter.endswith("ln_backward.py"):
        solutions.update(LAYER)
    if starter.endswith("gn_backward.py"):
        solutions.update(GROUP)
    for planted in sys.argv[3:]:
        name, expression = planted.split("=", 1)
        solutions[name] = expression
    text = open(starter).read()
    filled = re.sub(r"^(\w+)\s*= None\s+# TODO.*$", lambda m: "{} = {}".format(m.group(1), solutions[m.group(1)]), text,
                    flags=re.M)
    if "# TODO" in filled:
        sys.exit("solve.py: a TODO line was not filled in")
    open(out, "w").write(filled)


if __name__ == "__main__":
    main()
