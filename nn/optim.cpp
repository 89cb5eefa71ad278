#include "nn/optim.hpp"

#include <fmt/format.h>

#include <cmath>

namespace tg::nn {

namespace {

void check_lr(const char* who, double lr) {
    if (!(lr >= 0)) {
        throw ValueError(fmt::format("{}: the learning rate must be 0 or more, got {}", who, lr));
    }
}

}  // namespace

template <class T>
SGD<T>::SGD(std::vector<Tensor<T>> params, SGDOptions options)
    : Optimizer<T>(std::move(params)), o_(options), buf_(this->params_.size()), has_buf_(this->params_.size(), false) {
    check_lr("SGD", o_.lr);
    if (o_.nesterov && (o_.momentum <= 0 || o_.dampening != 0)) {
        throw ValueError("SGD: Nesterov momentum needs a momentum above 0 and no dampening");
    }
}

template <class T>
void SGD<T>::step() {
    const T lr = static_cast<T>(o_.lr), wd = static_cast<T>(o_.weight_decay), mu = static_cast<T>(o_.momentum),
            damp = static_cast<T>(1 - o_.dampening);
    for (std::size_t k = 0; k < this->params_.size(); ++k) {
        Tensor<T>& p = this->params_[k];
        if (!p.has_grad()) {
            continue;
        }
        const Array<T>& g = p.grad();
        Array<T>& w = p.mutable_value();
        const std::size_t n = w.size();
        Array<T> d = g;
        if (wd != 0) {
            for (std::size_t i = 0; i < n; ++i) d.data()[i] = d.data()[i] + wd * w.data()[i];
        }
        if (mu != 0) {
            if (!has_buf_[k]) {
                buf_[k] = d;
                has_buf_[k] = true;
            } else {
                T* b = buf_[k].data();
                for (std::size_t i = 0; i < n; ++i) b[i] = b[i] * mu + damp * d.data()[i];
            }
            const T* b = buf_[k].data();
            if (o_.nesterov) {
                for (std::size_t i = 0; i < n; ++i) d.data()[i] = d.data()[i] + mu * b[i];
            } else {
                for (std::size_t i = 0; i < n; ++i) d.data()[i] = b[i];
            }
        }
        for (std::size_t i = 0; i < n; ++i) w.data()[i] = w.data()[i] + (-lr) * d.data()[i];
    }
}

template <class T>
Adam<T>::Adam(std::vector<Tensor<T>> params, AdamOptions options)
    : Optimizer<T>(std::move(params)), o_(options), m_(this->params_.size()), v_(this->params_.size()) {
    check_lr("Adam", o_.lr);
    if (!(o_.beta1 >= 0 && o_.beta1 < 1 && o_.beta2 >= 0 && o_.beta2 < 1)) {
        throw ValueError(fmt::format("Adam: betas must lie in [0, 1), got {} and {}", o_.beta1, o_.beta2));
    }
    for (std::size_t k = 0; k < this->params_.size(); ++k) {
        m_[k] = xt::zeros<T>(this->params_[k].shape());
        v_[k] = xt::zeros<T>(this->params_[k].shape());
    }
}

template <class T>
void Adam<T>::step() {
    ++t_;
    const double bc1 = 1 - std::pow(o_.beta1, static_cast<double>(t_));
    const double bc2 = 1 - std::pow(o_.beta2, static_cast<double>(t_));
    const T b1 = static_cast<T>(o_.beta1), b2 = static_cast<T>(o_.beta2);
    const T a1 = static_cast<T>(1 - o_.beta1), a2 = static_cast<T>(1 - o_.beta2);
    const T wd = static_cast<T>(o_.weight_decay), eps = static_cast<T>(o_.eps);
    const T step_size = static_cast<T>(o_.lr / bc1);
    const T bc2_sqrt = static_cast<T>(std::sqrt(bc2));
    for (std::size_t k = 0; k < this->params_.size(); ++k) {
        Tensor<T>& p = this->params_[k];
        if (!p.has_grad()) {
            continue;
        }
        const T* __restrict g = p.grad().data();
        T* __restrict w = p.mutable_value().data();
        T* __restrict m = m_[k].data();
        T* __restrict v = v_[k].data();
        const std::size_t n = m_[k].size();
#pragma omp simd
        for (std::size_t i = 0; i < n; ++i) {
            const T gi = g[i] + wd * w[i];  // wd is 0 unless weight decay is asked for
            m[i] = m[i] * b1 + a1 * gi;
            v[i] = v[i] * b2 + a2 * (gi * gi);
            const T denom = std::sqrt(v[i]) / bc2_sqrt + eps;
            w[i] = w[i] + (-step_size) * (m[i] / denom);
        }
    }
}

template class SGD<float>;
template class SGD<double>;
template class Adam<float>;
template class Adam<double>;

}  // namespace tg::nn
