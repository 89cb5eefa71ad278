#include "nn/data/trainer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <numeric>

#include "nn/loss.hpp"

namespace tg::nn {

const char* to_string(Activation act) {
    switch (act) {
        case Activation::relu: return "relu";
        case Activation::tanh: return "tanh";
        case Activation::sigmoid: return "sigmoid";
    }
    return "?";
}

const char* to_string(OptimizerKind kind) { return kind == OptimizerKind::adam ? "adam" : "sgd"; }

Activation activation_named(const std::string& name) {
    for (Activation a : {Activation::relu, Activation::tanh, Activation::sigmoid}) {
        if (name == to_string(a)) {
            return a;
        }
    }
    throw ValueError(fmt::format("mlp: the activation must be relu, tanh or sigmoid, got \"{}\"", name));
}

OptimizerKind optimizer_named(const std::string& name) {
    for (OptimizerKind k : {OptimizerKind::adam, OptimizerKind::sgd}) {
        if (name == to_string(k)) {
            return k;
        }
    }
    throw ValueError(fmt::format("optimizer: expected sgd or adam, got \"{}\"", name));
}

std::optional<BatchNormImpl> batchnorm_named(const std::string& name) {
    if (name == "none") {
        return std::nullopt;
    }
    for (BatchNormImpl i : {BatchNormImpl::composite, BatchNormImpl::fused}) {
        if (name == to_string(i)) {
            return i;
        }
    }
    throw ValueError(fmt::format("mlp: batch norm must be none, composite or fused, got \"{}\"", name));
}

template <class T>
std::shared_ptr<Sequential<T>> make_mlp(std::size_t inputs, std::size_t classes, const MlpConfig& c) {
    Generator gen(c.seed);
    auto model = std::make_shared<Sequential<T>>();
    std::size_t width = inputs;
    std::uint64_t dropout_seed = c.seed + 1;
    for (std::size_t h : c.hidden) {
        model->add(std::make_shared<Linear<T>>(width, h, gen));
        if (c.norm && c.norm->kind == NormKind::batch) {
            BatchNormOptions o;
            o.impl = c.norm->impl;
            model->add(std::make_shared<BatchNorm1d<T>>(h, o));
        } else if (c.norm && c.norm->kind == NormKind::layer) {
            LayerNormOptions o;
            o.impl = c.norm->impl;
            model->add(std::make_shared<LayerNorm<T>>(Shape{h}, o));
        } else if (c.norm) {
            throw ValueError(fmt::format("make_mlp: {} norm normalises channels; an MLP's hidden layers take batch or "
                                         "layer norm",
                                         to_string(c.norm->kind)));
        }
        switch (c.act) {
            case Activation::relu: model->add(std::make_shared<ReLU<T>>()); break;
            case Activation::tanh: model->add(std::make_shared<Tanh<T>>()); break;
            case Activation::sigmoid: model->add(std::make_shared<Sigmoid<T>>()); break;
        }
        if (c.dropout > 0) {
            model->add(std::make_shared<Dropout<T>>(c.dropout, dropout_seed++));
        }
        width = h;
    }
    model->add(std::make_shared<Linear<T>>(width, classes, gen));
    return model;
}

template <class T>
std::unique_ptr<Optimizer<T>> make_optimizer(Module<T>& model, const OptimConfig& c) {
    if (c.kind == OptimizerKind::adam) {
        AdamOptions o;
        o.lr = c.lr;
        o.weight_decay = c.weight_decay;
        return std::make_unique<Adam<T>>(model.parameters(), o);
    }
    SGDOptions o;
    o.lr = c.lr;
    o.momentum = c.momentum;
    o.nesterov = c.nesterov;
    o.weight_decay = c.weight_decay;
    return std::make_unique<SGD<T>>(model.parameters(), o);
}

namespace {

template <class T>
std::size_t correct(const Array<T>& logits, const std::vector<std::int64_t>& y) {
    const std::size_t c = logits.shape()[1];
    std::size_t hits = 0;
    for (std::size_t i = 0; i < y.size(); ++i) {
        const T* row = logits.data() + i * c;
        const std::size_t best = static_cast<std::size_t>(std::max_element(row, row + c) - row);
        hits += static_cast<std::int64_t>(best) == y[i] ? 1 : 0;
    }
    return hits;
}

}  // namespace

template <class T>
EpochStats train_epoch(Module<T>& model, Optimizer<T>& opt, const Dataset<T>& train, std::size_t batch_size,
                       std::uint64_t seed, std::size_t epoch, const Progress& progress) {
    EpochCursor cursor;
    cursor.epoch = epoch;
    return *train_batches(model, opt, train, batch_size, seed, cursor, progress);
}

template <class T>
std::optional<EpochStats> train_batches(Module<T>& model, Optimizer<T>& opt, const Dataset<T>& train,
                                        std::size_t batch_size, std::uint64_t seed, EpochCursor& cursor,
                                        const Progress& progress, const std::function<bool()>& stop) {
    if (batch_size == 0) {
        throw ValueError("train: the batch size must be at least 1");
    }
    if (train.size() == 0) {
        throw ValueError("train: the training set is empty");
    }
    const std::size_t batches = (train.size() + batch_size - 1) / batch_size;
    if (cursor.batches_done > batches) {
        throw ValueError(fmt::format("train: the epoch has {} batches, but {} are marked done; was the checkpoint "
                                     "made with another batch size or data set?",
                                     batches, cursor.batches_done));
    }
    model.train();
    const auto t0 = std::chrono::steady_clock::now();
    const double seconds_before = cursor.seconds;
    const std::vector<std::size_t> order = epoch_order(train.size(), seed, cursor.epoch);
    while (cursor.batches_done < batches) {
        const std::size_t begin = cursor.batches_done * batch_size;
        const std::size_t end = std::min(train.size(), begin + batch_size);
        auto [x, y] = gather(train, order, begin, end);
        opt.zero_grad();
        Tensor<T> logits = model(x);
        Tensor<T> loss = cross_entropy(logits, y);
        loss.backward();
        opt.step();
        cursor.loss_sum += static_cast<double>(loss.item());
        cursor.hits += correct(logits.value(), y);
        ++cursor.batches_done;
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        cursor.seconds = seconds_before + secs;
        if (progress) {
            progress(cursor.batches_done, batches, cursor.loss_sum / static_cast<double>(cursor.batches_done),
                     static_cast<double>(end) / std::max(cursor.seconds, 1e-9));
        }
        if (cursor.batches_done < batches && stop && stop()) {
            return std::nullopt;
        }
    }
    EpochStats s;
    s.epoch = cursor.epoch + 1;
    s.seconds = cursor.seconds;
    s.train_loss = cursor.loss_sum / static_cast<double>(batches);
    s.train_acc = static_cast<double>(cursor.hits) / static_cast<double>(train.size());
    return s;
}

template <class T>
double accuracy(Module<T>& model, const Dataset<T>& data, std::size_t batch_size) {
    const bool was_training = model.is_training();
    model.eval();
    NoGradGuard no_grad;
    std::vector<std::size_t> order(data.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::size_t hits = 0;
    for (std::size_t begin = 0; begin < data.size(); begin += batch_size) {
        const std::size_t end = std::min(data.size(), begin + batch_size);
        auto [x, y] = gather(data, order, begin, end);
        hits += correct(model(x).value(), y);
    }
    model.train(was_training);
    return data.size() ? static_cast<double>(hits) / static_cast<double>(data.size()) : 0.0;
}

#define TG_INSTANTIATE(T)                                                                                      \
    template std::shared_ptr<Sequential<T>> make_mlp(std::size_t, std::size_t, const MlpConfig&);              \
    template std::unique_ptr<Optimizer<T>> make_optimizer(Module<T>&, const OptimConfig&);                     \
    template EpochStats train_epoch(Module<T>&, Optimizer<T>&, const Dataset<T>&, std::size_t, std::uint64_t,  \
                                    std::size_t, const Progress&);                                             \
    template std::optional<EpochStats> train_batches(Module<T>&, Optimizer<T>&, const Dataset<T>&, std::size_t, \
                                                     std::uint64_t, EpochCursor&, const Progress&,              \
                                                     const std::function<bool()>&);                             \
    template double accuracy(Module<T>&, const Dataset<T>&, std::size_t);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg::nn
