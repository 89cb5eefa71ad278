// Exercises a learner solves by hand and tapegrad grades (grade/check.hpp):
// - bn: batch norm's backward pass in the derivation's steps (dL/dbeta, dL/dgamma, dL/dxhat,
//   dL/dsigma2, dL/dmu from xhat and from sigma2, dL/dX from xhat, sigma2 and mu, dL/dX); the same
//   steps for layer norm (over each row) and group norm (over each row's groups);
// - mlp: makemore part 4's network (embedding, Linear, batch norm from primitives, tanh, Linear,
//   cross-entropy spelled out from max, exp, sum, pow -1 and log), every intermediate named as
//   that notebook names it.
// The expected values are the engine's own, from the composite graph.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "grade/check.hpp"
#include "see/norm_case.hpp"
#include "see/trace.hpp"

namespace tg::grade {

struct BnExercise {
    Array<double> x, dy, gamma, beta;  // (N, D), (N, D), (D), (D)
    double eps = 1e-5;
    see::NormKind kind = see::NormKind::batch;  // layer: over each row's D features; group: over each row's groups
    std::size_t groups = 0;            // group norm: D / groups features per group

    // N: the values in one normalised set (rows for batch norm, features for layer norm, a
    // group's features for group norm)
    std::size_t set_size() const {
        const std::size_t d = x.shape()[1];
        return kind == see::NormKind::batch ? x.shape()[0] : kind == see::NormKind::layer ? d : d / groups;
    }
};

// A seeded case: x with mean 1 and standard deviation 2, a non-uniform dy, gamma and beta away
// from 1 and 0 so that every step of the graph shows.
BnExercise make_bn_exercise(unsigned seed, std::size_t n = 4, std::size_t d = 3, see::NormKind kind = see::NormKind::batch,
                            std::size_t groups = 0);

// The derivation's quantities, forward (mu, xc, sigma2, std, xhat, y) and backward, with their
// formulas, the engine steps they come from and the usual mistakes.
std::vector<Quantity> batchnorm_quantities(const BnExercise& e);

struct MlpExercise {
    Array<double> C;                  // (vocab, dim): the embedding table
    Array<std::int64_t> Xb;           // (N, block): each example's context, rows of C
    Array<std::int64_t> Yb;           // (N): class labels
    Array<double> W1, b1, bngain, bnbias, W2, b2;
};

MlpExercise make_mlp_exercise(unsigned seed, std::size_t n = 8, std::size_t vocab = 7, std::size_t block = 3,
                              std::size_t dim = 2, std::size_t hidden = 6, std::size_t classes = 4);

// makemore part 4's exercise 1, in its order: the gradients as the notebook's cmp() lines list them.
extern const std::vector<std::string> mlp_backward_order;

// Every named intermediate of the network and its gradient, makemore's names, forward values in
// recording order and then the gradients in mlp_backward_order (dlogprobs, dprobs, ..., demb, dC).
std::vector<Quantity> mlp_quantities(const MlpExercise& e);

// The exercises' graphs, traced (for a page that shows a graded result on the graph).
see::Trace<double> bn_exercise_trace(const BnExercise& e);
see::Trace<double> mlp_exercise_trace(const MlpExercise& e);

}  // namespace tg::grade
