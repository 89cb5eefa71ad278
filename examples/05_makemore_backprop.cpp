// Lesson 5: becoming a backprop ninja, in C++. Karpathy's makemore part 4 network, written in
// tapegrad line for line: an embedding lookup, a Linear layer, batch norm built from its pieces
// (with Bessel's correction, as the notebook has it), tanh, a second Linear layer, and the
// cross-entropy written out by hand. The engine differentiates it; then every gradient is derived
// again by hand, with plain arrays, and compared with the engine's the way the notebook's cmp()
// does: exact, approximately equal, and the largest difference.
//
// The data are random contexts of 3 characters from a 27-letter vocabulary (the notebook reads
// names from a file; the network and its sizes are the notebook's).
#include <random>

#include "examples/lesson.hpp"

using tg::Array;
using tg::Tensor;

namespace {

Array<double> mm(const Array<double>& a, const Array<double>& b) { return tg::matmul(Tensor<double>(a), Tensor<double>(b)).value(); }
Array<double> T_(const Array<double>& a) { return xt::transpose(a); }
Array<double> sum0(const Array<double>& a) { return xt::sum(a, {0}, xt::evaluation_strategy::immediate); }
Array<double> sum0k(const Array<double>& a) {  // .sum(0, keepdim=True)
    Array<double> s = sum0(a);
    s.reshape({1, s.size()});
    return s;
}
Array<double> sum1k(const Array<double>& a) {  // .sum(1, keepdim=True)
    Array<double> s = xt::sum(a, {1}, xt::evaluation_strategy::immediate);
    s.reshape({s.size(), 1});
    return s;
}

// makemore's cmp(): is the hand-derived gradient exactly the engine's, approximately, and how far off
void cmp(const std::string& name, const Array<double>& mine, const Tensor<double>& t) {
    const Array<double>& g = t.grad();
    Array<double> m = mine;
    m.reshape(g.shape());
    const bool exact = m == g;
    double maxdiff = 0;
    bool approx = true;
    for (std::size_t i = 0; i < g.size(); ++i) {
        const double d = std::abs(m.data()[i] - g.data()[i]);
        maxdiff = std::max(maxdiff, d);
        approx = approx && d <= 1e-8 + 1e-5 * std::abs(g.data()[i]);  // torch.allclose's defaults
    }
    fmt::print("  {:<15s} | exact: {:<5} | approximate: {:<5} | maxdiff: {:.3g}\n", name, exact, approx, maxdiff);
    lesson::claim(approx && maxdiff < 1e-12, "d" + name + " by hand is the engine's");
}

}  // namespace

int main() {
    fmt::print("Lesson 5: makemore part 4's backward pass by hand, checked against the engine\n\n");
    const std::size_t vocab = 27, n_embd = 10, block = 3, hidden = 64, n = 32;
    std::mt19937_64 rng(42);
    std::normal_distribution<double> normal;
    auto randn = [&](tg::Shape shape, double scale) {
        Array<double> a = tg::empty<double>(shape);
        for (auto& v : a) v = normal(rng) * scale;
        return a;
    };
    std::uniform_int_distribution<std::int64_t> letter(0, vocab - 1);
    Array<std::int64_t> Xb = tg::empty<std::int64_t>({n, block});
    for (auto& v : Xb) v = letter(rng);
    std::vector<std::int64_t> Yb(n);
    for (auto& v : Yb) v = letter(rng);

    // the notebook's initialisation (small, non-zero biases so that every gradient shows)
    Tensor<double> C = Tensor<double>(randn({vocab, n_embd}, 1.0), true).named("C");
    Tensor<double> W1 = Tensor<double>(randn({n_embd * block, hidden}, (5.0 / 3) / std::sqrt(n_embd * block)), true).named("W1");
    Tensor<double> b1 = Tensor<double>(randn({hidden}, 0.1), true).named("b1");
    Tensor<double> W2 = Tensor<double>(randn({hidden, vocab}, 0.1), true).named("W2");
    Tensor<double> b2 = Tensor<double>(randn({vocab}, 0.1), true).named("b2");
    Tensor<double> bngain = Tensor<double>(randn({1, hidden}, 0.1) + 1.0, true).named("bngain");
    Tensor<double> bnbias = Tensor<double>(randn({1, hidden}, 0.1), true).named("bnbias");

    // ---- forward, as the notebook writes it, chunked into steps that can be differentiated one at a time
    const double nn = static_cast<double>(n);
    Tensor<double> emb = tg::take_rows(C, Xb).named("emb");                                   // C[Xb]
    Tensor<double> embcat = tg::reshape(emb, {static_cast<long>(n), -1}).named("embcat");    // emb.view(n, -1)
    Tensor<double> hprebn = (tg::matmul(embcat, W1) + b1).named("hprebn");
    Tensor<double> bnmeani = (1.0 / nn * tg::sum(hprebn, {0}, true)).named("bnmeani");
    Tensor<double> bndiff = (hprebn - bnmeani).named("bndiff");
    Tensor<double> bndiff2 = tg::pow(bndiff, 2).named("bndiff2");
    Tensor<double> bnvar = (1.0 / (nn - 1) * tg::sum(bndiff2, {0}, true)).named("bnvar");  // Bessel's correction
    Tensor<double> bnvar_inv = tg::pow(bnvar + 1e-5, -0.5).named("bnvar_inv");
    Tensor<double> bnraw = (bndiff * bnvar_inv).named("bnraw");
    Tensor<double> hpreact = (bngain * bnraw + bnbias).named("hpreact");
    Tensor<double> h = tg::tanh(hpreact).named("h");
    Tensor<double> logits = (tg::matmul(h, W2) + b2).named("logits");
    Tensor<double> logit_maxes = tg::amax(logits, {1}, true).named("logit_maxes");
    Tensor<double> norm_logits = (logits - logit_maxes).named("norm_logits");  // for numerical stability
    Tensor<double> counts = tg::exp(norm_logits).named("counts");
    Tensor<double> counts_sum = tg::sum(counts, {1}, true).named("counts_sum");
    Tensor<double> counts_sum_inv = tg::pow(counts_sum, -1.0).named("counts_sum_inv");
    Tensor<double> probs = (counts * counts_sum_inv).named("probs");
    Tensor<double> logprobs = tg::log(probs).named("logprobs");
    Tensor<double> loss = (-tg::mean(tg::pick(logprobs, Yb))).named("loss");  // -logprobs[range(n), Yb].mean()
    tg::see::retain_all_grads(loss);
    loss.backward();
    fmt::print("loss = {:.6f} (the same as tg::nn::cross_entropy: {:.6f})\n\n", loss.item(),
               tg::nn::cross_entropy(logits.detach(), Yb).item());
    lesson::claim(std::abs(loss.item() - tg::nn::cross_entropy(logits.detach(), Yb).item()) < 1e-12,
                  "the hand-written cross-entropy equals tg::nn::cross_entropy");

    // ---- backward by hand, with plain arrays, in the notebook's order
    fmt::print("\nEach gradient by hand against the engine's:\n");
    auto v = [](const Tensor<double>& t) { return t.value(); };
    Array<double> dlogprobs = xt::zeros<double>({n, vocab});
    for (std::size_t i = 0; i < n; ++i) dlogprobs(i, static_cast<std::size_t>(Yb[i])) = -1.0 / nn;
    const Array<double> dprobs = 1.0 / v(probs) * dlogprobs;
    const Array<double> dcounts_sum_inv = sum1k(v(counts) * dprobs);
    Array<double> dcounts = v(counts_sum_inv) * dprobs;
    const Array<double> dcounts_sum = -xt::pow(v(counts_sum), -2.0) * dcounts_sum_inv;
    dcounts += xt::ones<double>({n, vocab}) * dcounts_sum;  // counts is used twice: the two parts add
    const Array<double> dnorm_logits = v(counts) * dcounts;
    const Array<double> dlogit_maxes = -sum1k(dnorm_logits);
    Array<double> dlogits = dnorm_logits;
    const Array<double> at_max = xt::cast<double>(xt::equal(v(logits), v(logit_maxes)));  // one-hot of the arg-max
    dlogits += at_max * dlogit_maxes;
    const Array<double> dh = mm(dlogits, T_(v(W2)));
    const Array<double> dW2 = mm(T_(v(h)), dlogits);
    const Array<double> db2 = sum0(dlogits);
    const Array<double> dhpreact = (1.0 - xt::square(v(h))) * dh;
    const Array<double> dbngain = sum0k(v(bnraw) * dhpreact);
    const Array<double> dbnraw = v(bngain) * dhpreact;
    const Array<double> dbnbias = sum0k(dhpreact);
    Array<double> dbndiff = v(bnvar_inv) * dbnraw;
    const Array<double> dbnvar_inv = sum0k(v(bndiff) * dbnraw);
    const Array<double> dbnvar = -0.5 * xt::pow(v(bnvar) + 1e-5, -1.5) * dbnvar_inv;
    const Array<double> dbndiff2 = 1.0 / (nn - 1) * xt::ones<double>({n, hidden}) * dbnvar;
    dbndiff += 2.0 * v(bndiff) * dbndiff2;  // bndiff is used twice
    const Array<double> dbnmeani = -sum0k(dbndiff);
    Array<double> dhprebn = dbndiff + 1.0 / nn * xt::ones<double>({n, hidden}) * dbnmeani;
    const Array<double> dembcat = mm(dhprebn, T_(v(W1)));
    const Array<double> dW1 = mm(T_(v(embcat)), dhprebn);
    const Array<double> db1 = sum0(dhprebn);
    Array<double> demb = dembcat;
    demb.reshape({n, block, n_embd});
    Array<double> dC = xt::zeros<double>({vocab, n_embd});  // a letter used k times gets k gradients
    for (std::size_t k = 0; k < n; ++k) {
        for (std::size_t j = 0; j < block; ++j) {
            for (std::size_t e = 0; e < n_embd; ++e) {
                dC(static_cast<std::size_t>(Xb(k, j)), e) += demb(k, j, e);
            }
        }
    }
    cmp("logprobs", dlogprobs, logprobs);
    cmp("probs", dprobs, probs);
    cmp("counts_sum_inv", dcounts_sum_inv, counts_sum_inv);
    cmp("counts_sum", dcounts_sum, counts_sum);
    cmp("counts", dcounts, counts);
    cmp("norm_logits", dnorm_logits, norm_logits);
    cmp("logit_maxes", dlogit_maxes, logit_maxes);
    cmp("logits", dlogits, logits);
    cmp("h", dh, h);
    cmp("W2", dW2, W2);
    cmp("b2", db2, b2);
    cmp("hpreact", dhpreact, hpreact);
    cmp("bngain", dbngain, bngain);
    cmp("bnbias", dbnbias, bnbias);
    cmp("bnraw", dbnraw, bnraw);
    cmp("bnvar_inv", dbnvar_inv, bnvar_inv);
    cmp("bnvar", dbnvar, bnvar);
    cmp("bndiff2", dbndiff2, bndiff2);
    cmp("bndiff", dbndiff, bndiff);
    cmp("bnmeani", dbnmeani, bnmeani);
    cmp("hprebn", dhprebn, hprebn);
    cmp("embcat", dembcat, embcat);
    cmp("W1", dW1, W1);
    cmp("b1", db1, b1);
    cmp("emb", demb, emb);
    cmp("C", dC, C);
    // the notebook's exercise 2: the cross-entropy's gradient in one line, softmax(logits) - onehot, over n
    const Array<double> p = tg::softmax(logits.detach(), 1).value();
    Array<double> onehot = xt::zeros<double>({n, vocab});
    for (std::size_t i = 0; i < n; ++i) onehot(i, static_cast<std::size_t>(Yb[i])) = 1.0;
    cmp("logits (fused)", Array<double>((p - onehot) / nn), logits);
    return lesson::finish();
}
