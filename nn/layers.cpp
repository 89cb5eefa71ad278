#include "nn/layers.hpp"

#include <fmt/format.h>

#include <cmath>

#include "ops/activations.hpp"
#include "ops/elementwise.hpp"
#include "ops/matmul.hpp"
#include "ops/shape.hpp"

namespace tg::nn {

namespace {

template <class T>
Tensor<T> uniform(const Shape& shape, double bound, Generator& gen) {
    std::uniform_real_distribution<double> dist(-bound, bound);
    Array<T> a = tg::empty<T>(shape);
    for (auto& v : a) {
        v = static_cast<T>(dist(gen));
    }
    return Tensor<T>(std::move(a), true);
}

}  // namespace

template <class T>
Linear<T>::Linear(std::size_t in_features, std::size_t out_features, Generator& gen, bool with_bias) {
    if (in_features == 0 || out_features == 0) {
        throw ValueError(fmt::format("Linear: in_features and out_features must be at least 1, got {} and {}",
                                     in_features, out_features));
    }
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
    weight = uniform<T>({out_features, in_features}, bound, gen).named("weight");
    if (with_bias) {
        bias = uniform<T>({out_features}, bound, gen).named("bias");
    }
}

template <class T>
Tensor<T> Linear<T>::forward(const Tensor<T>& x) {
    return linear(x, weight, bias);
}

template <class T>
std::string Linear<T>::describe() const {
    return fmt::format("Linear(in_features={}, out_features={}, bias={})", weight.shape()[1], weight.shape()[0],
                       bias.has_value());
}

template <class T>
Named<T> Linear<T>::own_parameters() const {
    Named<T> out{{"weight", weight}};
    if (bias) {
        out.emplace_back("bias", *bias);
    }
    return out;
}

template <class T>
Tensor<T> ReLU<T>::forward(const Tensor<T>& x) {
    return relu(x);
}

template <class T>
Tensor<T> Tanh<T>::forward(const Tensor<T>& x) {
    return tg::tanh(x);
}

template <class T>
Tensor<T> Sigmoid<T>::forward(const Tensor<T>& x) {
    return sigmoid(x);
}

template <class T>
Dropout<T>::Dropout(double p, std::uint64_t seed) : p_(p), gen_(seed) {
    if (!(p >= 0 && p < 1)) {
        throw ValueError(fmt::format("Dropout: p must lie in [0, 1), got {}", p));
    }
}

template <class T>
Tensor<T> Dropout<T>::forward(const Tensor<T>& x) {
    if (!this->is_training() || p_ == 0) {
        return x;
    }
    std::bernoulli_distribution keep(1.0 - p_);
    const T scale = static_cast<T>(1.0 / (1.0 - p_));
    Array<T> mask = tg::empty<T>(x.shape());
    for (auto& m : mask) {
        m = keep(gen_) ? scale : T(0);
    }
    return x * Tensor<T>(std::move(mask)).named("dropout_mask");
}

template <class T>
std::string Dropout<T>::describe() const {
    return fmt::format("Dropout(p={:g})", p_);
}

template <class T>
Tensor<T> Sequential<T>::forward(const Tensor<T>& x) {
    Tensor<T> h = x;
    for (auto& layer : layers_) {
        h = layer->forward(h);
    }
    return h;
}

template <class T>
std::string Sequential<T>::describe() const {
    std::string out = "Sequential(\n";
    for (std::size_t i = 0; i < layers_.size(); ++i) {
        out += fmt::format("  ({}): {}\n", i, layers_[i]->describe());
    }
    return out + ")";
}

template <class T>
std::vector<std::pair<std::string, Module<T>*>> Sequential<T>::children() const {
    std::vector<std::pair<std::string, Module<T>*>> out;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
        out.emplace_back(std::to_string(i), layers_[i].get());
    }
    return out;
}

#define TG_INSTANTIATE(T)        \
    template class Linear<T>;    \
    template class ReLU<T>;      \
    template class Tanh<T>;      \
    template class Sigmoid<T>;   \
    template class Dropout<T>;   \
    template class Sequential<T>;
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg::nn
