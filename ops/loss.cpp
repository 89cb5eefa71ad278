#include "ops/loss.hpp"

#include <fmt/format.h>

#include "ops/choice.hpp"
#include "ops/elementwise.hpp"
#include "ops/shape.hpp"

namespace tg {

template <class T>
Tensor<T> nll_loss(const Tensor<T>& logp, const std::vector<std::int64_t>& labels, const NllOptions& o) {
    const Shape s = logp.shape();
    if (s.size() != 2 || s[0] != labels.size()) {
        throw ShapeError(fmt::format("nll_loss: expected log-probabilities (N, C) and N labels; got {} and {} labels",
                                     shape_str(s), labels.size()));
    }
    const std::size_t n = s[0], c = s[1];
    if (!o.weight.empty() && o.weight.size() != c) {
        throw ShapeError(fmt::format("nll_loss: expected one weight per class, {}; got {}", c, o.weight.size()));
    }
    // w[i]: the weight row i counts with (0 for an ignored row)
    std::vector<double> w(n, 0.0);
    double total = 0, weights = 0;
    Array<T> each = xt::zeros<T>({n});
    for (std::size_t i = 0; i < n; ++i) {
        if (labels[i] == o.ignore_index) {
            continue;
        }
        if (labels[i] < 0 || static_cast<std::size_t>(labels[i]) >= c) {
            throw ValueError(fmt::format("nll_loss: label {} of row {} is outside [0, {})", labels[i], i, c));
        }
        const std::size_t y = static_cast<std::size_t>(labels[i]);
        w[i] = o.weight.empty() ? 1.0 : o.weight[y];
        const double li = -w[i] * static_cast<double>(logp.value().data()[i * c + y]);
        each(i) = static_cast<T>(li);
        total += li;
        weights += w[i];
    }
    Array<T> value = o.reduction == Reduction::none ? each
                     : o.reduction == Reduction::sum ? Array<T>(static_cast<T>(total))
                                                     : Array<T>(static_cast<T>(total / weights));
    const Reduction r = o.reduction;
    // L = sum_i -w_i logp[i, y_i] (/ sum_i w_i for the mean): dlogp[i, y_i] = -w_i g (/ sum_i w_i)
    // at each counted row's pick, 0 elsewhere (constants: L is linear in logp). The picks are
    // selected, not multiplied by a mask of zeros, so an infinite g leaves 0 off the picks; a mean
    // whose counted rows all weigh 0 is 0/0, NaN at the picks as in PyTorch.
    Array<bool> picked = xt::zeros<bool>({n, c});
    Array<T> coef = xt::zeros<T>({n, c});
    for (std::size_t i = 0; i < n; ++i) {
        if (labels[i] != o.ignore_index) {
            const std::size_t at = i * c + static_cast<std::size_t>(labels[i]);
            picked.data()[at] = true;
            coef.data()[at] = static_cast<T>(r == Reduction::mean ? -w[i] / weights : -w[i]);
        }
    }
    return record<T>(Tensor<T>(std::move(value)), "nll_loss", {logp}, {}, "dlogp[i, y_i] = -w[y_i] g / (sum of w for the mean)",
                     [r, picked = std::move(picked), coef = Tensor<T>(std::move(coef))](const Node<T>&, const Tensor<T>& g) {
                         const Tensor<T> each = mul(coef, r == Reduction::none ? unsqueeze(g, 1) : g);
                         return grads<T>(tg::where(picked, each, Tensor<T>::scalar(T(0))));
                     });
}

template Tensor<float> nll_loss(const Tensor<float>&, const std::vector<std::int64_t>&, const NllOptions&);
template Tensor<double> nll_loss(const Tensor<double>&, const std::vector<std::int64_t>&, const NllOptions&);

}  // namespace tg
