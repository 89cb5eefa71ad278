#include "grade/exercise.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <random>

#include "ops/activations.hpp"
#include "ops/indexing.hpp"
#include "ops/statistics.hpp"
#include "ops/batchnorm.hpp"
#include "ops/norm.hpp"
#include "ops/elementwise.hpp"
#include "ops/matmul.hpp"
#include "ops/shape.hpp"
#include "ops/reductions.hpp"
#include "see/tape.hpp"
#include "see/textbook.hpp"

namespace tg::grade {

namespace {

Array<double> normal(std::mt19937_64& rng, const Shape& shape, double mean, double sd) {
    std::normal_distribution<double> dist(mean, sd);
    Array<double> a = tg::empty<double>(shape);
    for (auto& v : a) {
        v = dist(rng);
    }
    return a;
}

struct BnRun {
    std::map<std::string, Array<double>> forward;   // mu, xc, sigma2, std, xhat, y
    std::map<std::string, Array<double>> backward;  // by file name: dbeta, dgamma, ...
    std::map<std::string, std::pair<std::string, std::string>> text;  // file -> (formula, source)
};

// The textbook's quantities and their files, in the derivation's order.
const std::vector<std::pair<std::string, std::string>>& bn_files() {
    static const std::vector<std::pair<std::string, std::string>> files{
        {"dL/dbeta", "dbeta"},           {"dL/dgamma", "dgamma"},       {"dL/dxhat", "dxhat"},
        {"dL/dsigma2", "dsigma2"},       {"dL/dmu from xhat", "dmu_xhat"}, {"dL/dmu from sigma2", "dmu_sigma2"},
        {"dL/dmu", "dmu"},               {"dL/dX from xhat", "dx_xhat"}, {"dL/dX from sigma2", "dx_sigma2"},
        {"dL/dX from mu", "dx_mu"},      {"dL/dX", "dx"}};
    return files;
}

// The composite graph of the exercise, its tensors named as the derivation names them.
Tensor<double> bn_graph(const BnExercise& e, double eps) {
    Tensor<double> x = Tensor<double>(e.x, true).named("X");
    Tensor<double> gamma = Tensor<double>(e.gamma, true).named("gamma");
    Tensor<double> beta = Tensor<double>(e.beta, true).named("beta");
    switch (e.kind) {
        case see::NormKind::layer: return layernorm_composite<double>(x, {e.x.shape()[1]}, gamma, beta, eps);
        case see::NormKind::group: return groupnorm_composite<double>(x, e.groups, gamma, beta, eps);
        case see::NormKind::batch: break;
    }
    return batchnorm_composite<double>(x, gamma, beta, Axes{0}, eps).y;
}

// One step of the composite graph, read as the derivation reads it.
BnRun run_bn(const BnExercise& e, double eps) {
    Tensor<double> y = bn_graph(e, eps);
    BnRun r;
    for (const auto& t : see::tape_of(y)) {
        for (const char* name : {"mu", "xc", "sigma2", "std", "xhat", "y"}) {
            if (t.tensor->name == name) {
                r.forward[name] = t.tensor->data->array;
            }
        }
    }
    const see::Trace<double> trace = see::trace_backward<double>(y, e.dy);
    for (const auto& line : see::textbook_lines(trace, e.kind)) {
        for (const auto& [symbol, file] : bn_files()) {
            if (line.quantity == symbol) {
                r.backward[file] = line.value;
                r.text[file] = {line.formula, line.source};
            }
        }
    }
    return r;
}

}  // namespace

BnExercise make_bn_exercise(unsigned seed, std::size_t n, std::size_t d, see::NormKind kind, std::size_t groups) {
    std::mt19937_64 rng(seed);
    BnExercise e;
    e.kind = kind;
    e.groups = groups;
    e.x = normal(rng, {n, d}, 1.0, 2.0);
    e.dy = normal(rng, {n, d}, 0.0, 1.0);
    e.gamma = normal(rng, {d}, 1.5, 0.5);
    e.beta = normal(rng, {d}, -0.5, 0.5);
    return e;
}

std::vector<Quantity> batchnorm_quantities(const BnExercise& e) {
    const BnRun r = run_bn(e, e.eps);
    const BnRun no_eps = run_bn(e, 0.0);
    const double n = static_cast<double>(e.set_size());

    std::vector<Quantity> qs;
    const std::map<std::string, std::string> forward_formulas{
        {"mu", "1/N sum_i x_i"},
        {"xc", "x - mu"},
        {"sigma2", "1/N sum_i (x_i - mu)^2   (divided by N, not N - 1)"},
        {"std", "sqrt(sigma2 + eps)"},
        {"xhat", "(x - mu) / std"},
        {"y", "gamma * xhat + beta"}};
    for (const char* name : {"mu", "xc", "sigma2", "std", "xhat", "y"}) {
        Quantity q;
        q.file = name;
        q.symbol = name;
        q.node = name;
        q.formula = forward_formulas.at(name);
        q.expected = r.forward.at(name);
        q.forward = true;
        if (std::string(name) == "sigma2") {
            q.mistakes.push_back({"that is the unbiased variance (divided by N - 1); the normalisation divides by N",
                                  Array<double>(q.expected * n / (n - 1))});
        }
        if (std::string(name) != "mu" && std::string(name) != "xc" && std::string(name) != "sigma2") {
            q.mistakes.push_back({"that is the value without eps: sqrt(sigma2) where sqrt(sigma2 + eps) belongs",
                                  no_eps.forward.at(name)});
        }
        qs.push_back(q);
    }
    const std::map<std::string, std::vector<std::string>> from{
        {"dbeta", {}},
        {"dgamma", {"xhat"}},
        {"dxhat", {}},
        {"dsigma2", {"dxhat", "xc", "sigma2"}},
        {"dmu_xhat", {"dxhat", "std"}},
        {"dmu_sigma2", {"dsigma2", "xc"}},
        {"dmu", {"dmu_xhat", "dmu_sigma2"}},
        {"dx_xhat", {"dxhat", "std"}},
        {"dx_sigma2", {"dsigma2", "xc"}},
        {"dx_mu", {"dmu"}},
        {"dx", {"dx_xhat", "dx_sigma2", "dx_mu"}}};
    for (const auto& [symbol, file] : bn_files()) {
        Quantity q;
        q.file = file;
        q.symbol = symbol;
        q.node = file == "dbeta" ? "beta" : file == "dgamma" ? "gamma" : file == "dxhat" ? "xhat" : file == "dsigma2" ? "sigma2"
                 : file.rfind("dmu", 0) == 0 ? "mu" : "X";
        q.formula = r.text.at(file).first;
        q.source = r.text.at(file).second;
        q.from = from.at(file);
        q.expected = r.backward.at(file);
        if (file != "dbeta" && file != "dgamma" && file != "dxhat") {
            q.mistakes.push_back({"that is the value without eps: sigma2 where sigma2 + eps belongs (in the power or "
                                  "the square root)",
                                  no_eps.backward.at(file)});
        }
        qs.push_back(q);
    }
    auto at = [&](const std::string& file) -> Quantity& {
        return *std::find_if(qs.begin(), qs.end(), [&](const Quantity& q) { return q.file == file; });
    };
    const Array<double>& xhat = r.forward.at("xhat");
    at("dbeta").mistakes.push_back({"that is dL/dgamma: dL/dbeta = sum_i dL/dy_i has no xhat",
                                    Array<double>(xt::sum(e.dy * xhat, {0}))});
    at("dgamma").mistakes.push_back({"that is dL/dbeta: dL/dgamma = sum_i dL/dy_i * xhat_i, the xhat is missing",
                                     Array<double>(xt::sum(e.dy, {0}))});
    at("dxhat").mistakes.push_back({"that is dL/dy itself: the gamma is missing", e.dy});
    const Array<double>& px = r.backward.at("dx_xhat");
    const Array<double>& ps = r.backward.at("dx_sigma2");
    const Array<double>& pm = r.backward.at("dx_mu");
    at("dx").mistakes.push_back({"yours is dL/dX from xhat + from sigma2: the part from mu is missing", Array<double>(px + ps)});
    at("dx").mistakes.push_back({"yours is dL/dX from xhat + from mu: the part from sigma2 is missing", Array<double>(px + pm)});
    at("dx").mistakes.push_back({"yours is dL/dX from sigma2 + from mu: the part from xhat is missing", Array<double>(ps + pm)});
    at("dmu").mistakes.push_back({"yours is dL/dmu from xhat alone (dL/dmu from sigma2 is 0 here, so check its sign "
                                  "and terms again)",
                                  r.backward.at("dmu_xhat")});
    return qs;
}

MlpExercise make_mlp_exercise(unsigned seed, std::size_t n, std::size_t vocab, std::size_t block, std::size_t dim,
                              std::size_t hidden, std::size_t classes) {
    std::mt19937_64 rng(seed);
    auto integers = [&](const Shape& shape, std::size_t count) {
        Array<std::int64_t> a = tg::empty<std::int64_t>(shape);
        std::uniform_int_distribution<std::int64_t> pick(0, static_cast<std::int64_t>(count) - 1);
        for (auto& v : a) {
            v = pick(rng);
        }
        return a;
    };
    MlpExercise e;
    e.C = normal(rng, {vocab, dim}, 0.0, 1.0);
    e.Xb = integers({n, block}, vocab);
    e.Yb = integers({n}, classes);
    // makemore's initialisation, and parameters away from 1 and 0 so that every step shows
    const std::size_t features = block * dim;
    e.W1 = normal(rng, {features, hidden}, 0.0, (5.0 / 3.0) / std::sqrt(static_cast<double>(features)));
    e.b1 = normal(rng, {hidden}, 0.0, 0.1);
    e.bngain = normal(rng, {1, hidden}, 1.0, 0.1);
    e.bnbias = normal(rng, {1, hidden}, 0.0, 0.1);
    e.W2 = normal(rng, {hidden, classes}, 0.0, 0.1);
    e.b2 = normal(rng, {classes}, 0.0, 0.1);
    return e;
}

const std::vector<std::string> mlp_backward_order{
    "dlogprobs", "dprobs",  "dcounts_sum_inv", "dcounts_sum", "dcounts",  "dnorm_logits", "dlogit_maxes",
    "dlogits",   "dh",      "dW2",             "db2",         "dhpreact", "dbngain",      "dbnbias",
    "dbnraw",    "dbnvar_inv", "dbnvar",       "dbndiff2",    "dbndiff",  "dbnmeani",     "dhprebn",
    "dembcat",   "dW1",     "db1",             "demb",        "dC"};

namespace {

// makemore part 4, line for line
Tensor<double> mlp_graph(const MlpExercise& e) {
    auto param = [](const Array<double>& a, const char* name) { return Tensor<double>(a, true).named(name); };
    const Tensor<double> C = param(e.C, "C"), W1 = param(e.W1, "W1"), b1 = param(e.b1, "b1"),
                         bngain = param(e.bngain, "bngain"), bnbias = param(e.bnbias, "bnbias"), W2 = param(e.W2, "W2"),
                         b2 = param(e.b2, "b2");
    const double n = static_cast<double>(e.Xb.shape()[0]);
    Tensor<double> emb = take_rows(C, e.Xb).named("emb");
    Tensor<double> embcat = flatten(emb, 1).named("embcat");  // emb.view(emb.shape[0], -1)
    Tensor<double> hprebn = (matmul(embcat, W1) + b1).named("hprebn");
    Tensor<double> bnmeani = mean(hprebn, {0}, true).named("bnmeani");
    Tensor<double> bndiff = (hprebn - bnmeani).named("bndiff");
    Tensor<double> bndiff2 = pow(bndiff, 2).named("bndiff2");
    Tensor<double> bnvar = (1.0 / (n - 1) * sum(bndiff2, {0}, true)).named("bnvar");  // Bessel's correction
    Tensor<double> bnvar_inv = pow(bnvar + 1e-5, -0.5).named("bnvar_inv");
    Tensor<double> bnraw = (bndiff * bnvar_inv).named("bnraw");
    Tensor<double> hpreact = (bngain * bnraw + bnbias).named("hpreact");
    Tensor<double> h = tanh(hpreact).named("h");
    Tensor<double> logits = (matmul(h, W2) + b2).named("logits");
    Tensor<double> logit_maxes = amax(logits, {1}, true).named("logit_maxes");
    Tensor<double> norm_logits = (logits - logit_maxes).named("norm_logits");
    Tensor<double> counts = exp(norm_logits).named("counts");
    Tensor<double> counts_sum = sum(counts, {1}, true).named("counts_sum");
    Tensor<double> counts_sum_inv = pow(counts_sum, -1).named("counts_sum_inv");
    Tensor<double> probs = (counts * counts_sum_inv).named("probs");
    Tensor<double> logprobs = log(probs).named("logprobs");
    return (-mean(pick(logprobs, std::vector<std::int64_t>(e.Yb.begin(), e.Yb.end())))).named("loss");
}

}  // namespace

see::Trace<double> bn_exercise_trace(const BnExercise& e) { return see::trace_backward<double>(bn_graph(e, e.eps), e.dy); }

see::Trace<double> mlp_exercise_trace(const MlpExercise& e) { return see::trace_backward<double>(mlp_graph(e)); }

std::vector<Quantity> mlp_quantities(const MlpExercise& e) {
    const double n = static_cast<double>(e.Xb.shape()[0]);
    const Tensor<double> loss = mlp_graph(e);
    std::vector<Quantity> qs = named_quantities(loss);
    const std::map<std::string, std::string> formulas{
        {"dlogprobs", "-1/n at [i, Yb[i]], 0 elsewhere"},
        {"dprobs", "(1 / probs) * dlogprobs"},
        {"dcounts_sum_inv", "(counts * dprobs).sum(1, keepdims=True)"},
        {"dcounts_sum", "-counts_sum**-2 * dcounts_sum_inv"},
        {"dcounts", "counts_sum_inv * dprobs + ones_like(counts) * dcounts_sum   (counts is used twice: the parts add)"},
        {"dnorm_logits", "counts * dcounts   (the derivative of exp is exp)"},
        {"dlogit_maxes", "-dnorm_logits.sum(1, keepdims=True)   (about 0: the maxes do not change the probabilities)"},
        {"dlogits", "dnorm_logits + onehot(argmax of each row) * dlogit_maxes   (= (softmax - onehot(Yb)) / n)"},
        {"db2", "dlogits.sum(0)"},
        {"dW2", "h.T @ dlogits"},
        {"dh", "dlogits @ W2.T"},
        {"dhpreact", "(1 - h**2) * dh"},
        {"dbnbias", "dhpreact.sum(0, keepdims=True)"},
        {"dbngain", "(bnraw * dhpreact).sum(0, keepdims=True)"},
        {"dbnraw", "bngain * dhpreact"},
        {"dbnvar_inv", "(bndiff * dbnraw).sum(0, keepdims=True)"},
        {"dbnvar", "-0.5 * (bnvar + 1e-5)**-1.5 * dbnvar_inv"},
        {"dbndiff2", "1/(n-1) * ones_like(bndiff2) * dbnvar"},
        {"dbndiff", "bnvar_inv * dbnraw + 2 * bndiff * dbndiff2   (bndiff is used twice: the two parts add)"},
        {"dbnmeani", "-dbndiff.sum(0, keepdims=True)"},
        {"dhprebn", "dbndiff + 1/n * dbnmeani"},
        {"dembcat", "dhprebn @ W1.T"},
        {"db1", "dhprebn.sum(0)"},
        {"dW1", "embcat.T @ dhprebn"},
        {"demb", "dembcat.reshape(emb.shape)   (the view only reshapes)"},
        {"dC", "dC[Xb[i, j]] += demb[i, j] for every (i, j)   (a row of C used twice gets both)"}};
    for (Quantity& q : qs) {
        if (const auto it = formulas.find(q.file); it != formulas.end()) {
            q.formula = it->second;
        }
        if (q.file == "dbnvar" || q.file == "dbndiff2") {
            q.mistakes.push_back({"1/n where makemore's variance has 1/(n-1) (Bessel's correction)?",
                                  Array<double>(q.expected * (n - 1) / n)});
        }
    }
    // the gradients in the notebook's order (forward values stay first, in recording order)
    auto rank = [](const Quantity& q) {
        const auto it = std::find(mlp_backward_order.begin(), mlp_backward_order.end(), q.file);
        return q.forward ? -1 : static_cast<int>(it - mlp_backward_order.begin());
    };
    std::stable_sort(qs.begin(), qs.end(), [&](const Quantity& a, const Quantity& b) { return rank(a) < rank(b); });
    return qs;
}

}  // namespace tg::grade
