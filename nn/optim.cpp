#include "nn/optim.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace tg::nn {

namespace {

void check_lr(const char* who, double lr) {
    if (!(lr >= 0)) {
        throw ValueError(fmt::format("{}: the learning rate must be 0 or more, got {}", who, lr));
    }
}

// "<index>.<what>" of an optimiser state entry, checked against the parameters: the index and
// the array's shape must fit, the name must be one this optimiser keeps.
template <class T>
std::size_t entry_index(const char* who, const std::string& name, const std::vector<std::string>& kinds,
                        const std::vector<Tensor<T>>& params, const Array<T>& value, std::string& kind) {
    const std::size_t dot = name.find('.');
    char* end = nullptr;
    const unsigned long k = dot == std::string::npos ? 0 : std::strtoul(name.c_str(), &end, 10);
    kind = dot == std::string::npos ? "" : name.substr(dot + 1);
    if (dot == std::string::npos || dot == 0 || end != name.c_str() + dot || k >= params.size() ||
        std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
        throw ValueError(fmt::format("{}: the state entry \"{}\" does not belong to this optimiser over {} parameters; "
                                     "was it saved from another optimiser or model?",
                                     who, name, params.size()));
    }
    if (value.shape() != params[k].shape()) {
        throw ValueError(fmt::format("{}: the state entry {} has shape {} but parameter {} has shape {}", who, name,
                                     shape_str(value.shape()), k, shape_str(params[k].shape())));
    }
    return k;
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
OptimizerState<T> SGD<T>::state() const {
    OptimizerState<T> s;
    for (std::size_t k = 0; k < buf_.size(); ++k) {
        if (has_buf_[k]) {
            s.arrays.emplace_back(fmt::format("{}.momentum_buffer", k), buf_[k]);
        }
    }
    return s;
}

template <class T>
void SGD<T>::load_state(const OptimizerState<T>& s) {
    if (!s.counters.empty()) {
        throw ValueError(fmt::format("SGD: unexpected state entry \"{}\"; was it saved from Adam?", s.counters[0].first));
    }
    std::vector<Array<T>> buf(buf_.size());
    std::vector<bool> has(buf_.size(), false);
    for (const auto& [name, value] : s.arrays) {
        std::string kind;
        const std::size_t k = entry_index("SGD", name, {"momentum_buffer"}, this->params_, value, kind);
        buf[k] = value;
        has[k] = true;
    }
    buf_ = std::move(buf);
    has_buf_ = std::move(has);
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

template <class T>
OptimizerState<T> Adam<T>::state() const {
    OptimizerState<T> s;
    for (std::size_t k = 0; k < m_.size(); ++k) {
        s.arrays.emplace_back(fmt::format("{}.exp_avg", k), m_[k]);
        s.arrays.emplace_back(fmt::format("{}.exp_avg_sq", k), v_[k]);
    }
    s.counters.emplace_back("step", t_);
    return s;
}

template <class T>
void Adam<T>::load_state(const OptimizerState<T>& s) {
    std::vector<Array<T>> m(m_.size()), v(v_.size());
    std::vector<int> seen(m_.size(), 0);
    for (const auto& [name, value] : s.arrays) {
        std::string kind;
        const std::size_t k = entry_index("Adam", name, {"exp_avg", "exp_avg_sq"}, this->params_, value, kind);
        (kind == "exp_avg" ? m : v)[k] = value;
        seen[k] |= kind == "exp_avg" ? 1 : 2;
    }
    for (std::size_t k = 0; k < seen.size(); ++k) {
        if (seen[k] != 3) {
            throw ValueError(fmt::format("Adam: the state lacks {}.{} for parameter {}", k,
                                         (seen[k] & 1) ? "exp_avg_sq" : "exp_avg", k));
        }
    }
    if (s.counters.size() != 1 || s.counters[0].first != "step" || s.counters[0].second < 0) {
        throw ValueError("Adam: the state must hold one counter, step, of 0 or more");
    }
    m_ = std::move(m);
    v_ = std::move(v);
    t_ = static_cast<long>(s.counters[0].second);
}

template class SGD<float>;
template class SGD<double>;
template class Adam<float>;
template class Adam<double>;

}  // namespace tg::nn
