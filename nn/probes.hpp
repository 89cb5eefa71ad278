// What the classic batch-norm experiments measure about a network while it trains: percentiles of
// a unit's input (Ioffe and Szegedy's Figure 1), the top eigenvalue of the loss's Hessian from
// exact Hessian-vector products, and Santurkar et al.'s probes of the loss landscape along the
// gradient. Each works on any loss of any parameters: the experiments in cli/ pass an MLP's.
#pragma once

#include <functional>
#include <vector>

#include "core/tensor.hpp"
#include "nn/layers.hpp"

namespace tg::nn {

// The q-th percentiles (q in [0, 100]) of `values`, each interpolated linearly between the two
// nearest ranks: NumPy's np.percentile with its default method. Throws ValueError on no values.
std::vector<double> percentiles(std::vector<double> values, const std::vector<double>& qs);

// H v for the Hessian H of `loss` with respect to `params` (a list of tensors, v shaped alike):
// the gradient of sum_i <dloss/dparam_i, v_i>, with dloss/dparam_i recorded with create_graph.
// `first` is that recorded gradient, computed once by loss_gradient and reused for every product.
template <class T>
std::vector<Tensor<T>> loss_gradient(const Tensor<T>& loss, const std::vector<Tensor<T>>& params);
template <class T>
std::vector<Array<T>> hessian_vector_product(const std::vector<Tensor<T>>& first, const std::vector<Tensor<T>>& params,
                                             const std::vector<Array<T>>& v);

struct EigenEstimate {
    double value = 0;         // the Rayleigh quotient v.Hv of the last iterate (|v| = 1)
    std::size_t products = 0; // Hessian-vector products spent
    bool converged = false;   // the relative change fell below the tolerance
};

// The largest eigenvalue of the Hessian of `loss` (its sharpest upward curvature) by power
// iteration on exact Hessian-vector products, from a random unit vector drawn with `seed`. Power
// iteration finds the eigenvalue of largest magnitude; when that one is negative, a second run on
// H - lambda I finds the top one. Each run stops when the estimate changes by less than
// `tolerance` (relative) or after `max_products` products.
template <class T>
EigenEstimate top_hessian_eigenvalue(const Tensor<T>& loss, const std::vector<Tensor<T>>& params,
                                     std::size_t max_products = 50, double tolerance = 1e-4, std::uint64_t seed = 0);

// Santurkar et al. 2018, section 3.1: from parameters w with gradient g, the loss and the gradient
// at w - eta g for each step size eta. loss_range is the spread (max - min) of those losses,
// gradient_change (their "gradient predictiveness") the largest ||g(w - eta g) - g||, and
// beta_smoothness the largest ||g(w - eta g) - g|| / ||eta g||.
struct LandscapeProbe {
    std::vector<double> losses;  // one per step size
    double loss_range = 0;
    double gradient_change = 0;
    double beta_smoothness = 0;
};

// `evaluate` computes the loss and its gradient (one array per parameter) at the parameters'
// current values; the probe moves the parameters, evaluates, and puts them back as they were.
template <class T>
using LossAndGradient = std::function<std::pair<double, std::vector<Array<T>>>()>;

template <class T>
LandscapeProbe probe_landscape(const std::vector<Tensor<T>>& params, const LossAndGradient<T>& evaluate,
                               const std::vector<double>& step_sizes);

// The running statistics (buffers and counters) of a module as they are now, put back when this
// goes out of scope: a probe's extra forward passes in training mode would otherwise update them.
template <class T>
class KeepBuffers {
public:
    explicit KeepBuffers(Module<T>& m);
    ~KeepBuffers();
    KeepBuffers(const KeepBuffers&) = delete;
    KeepBuffers& operator=(const KeepBuffers&) = delete;

private:
    Module<T>& module_;
    std::vector<Array<T>> values_;
    std::vector<std::int64_t> counters_;
};

// makemore part 3's diagnostics. For each activation layer of `model` (ReLU, Tanh, Sigmoid), on one
// batch in training mode: its output's mean and standard deviation (unbiased, as torch.std), the
// share of saturated outputs (|tanh| > 0.97; sigmoid below 0.015 or above 0.985, the same
// saturation; ReLU: outputs that are exactly 0), and the mean and standard deviation of the loss's
// gradient with respect to the output. The pass writes the parameters' .grad (the next batch's
// zero_grad clears them) and leaves the running statistics as they were.
struct ActivationStats {
    std::size_t layer = 0;  // index in the Sequential
    std::string kind;       // "ReLU", "Tanh", "Sigmoid"
    double mean = 0, std = 0, saturated = 0, grad_mean = 0, grad_std = 0;
};

template <class T>
std::vector<ActivationStats> activation_stats(Sequential<T>& model, const Tensor<T>& x, const std::vector<std::int64_t>& y);

// log10(std(after - before) / std(after)) for each parameter with two dimensions (the weights):
// the update-to-data ratio of one optimiser step, whatever the optimiser (makemore's guide: about
// -3). `before` holds the same parameters' values, in named_parameters() order, before the step.
struct UpdateRatio {
    std::string name;
    double log10_ratio = 0;
};

template <class T>
std::vector<UpdateRatio> update_ratios(const std::vector<Array<T>>& before, const Module<T>& model);

}  // namespace tg::nn
