// No lost work: atomic files and folders (a write that fails part-way leaves the previous save
// whole), optimiser state, and checkpoints from which training continues to the same numbers.
#include <sys/resource.h>

#include <csignal>
#include <filesystem>

#include "cli_helpers.hpp"

using tg::Array;
using tg::Tensor;
using namespace tg::nn;
namespace fs = std::filesystem;

namespace {

// Makes every write past `bytes` in a file fail with EFBIG ("File too large"), as a full disk
// would fail it part-way, for the lifetime of the object.
class FileSizeLimit {
public:
    explicit FileSizeLimit(rlim_t bytes) {
        old_handler_ = std::signal(SIGXFSZ, SIG_IGN);  // the error, not the signal
        getrlimit(RLIMIT_FSIZE, &old_);
        rlimit limit = old_;
        limit.rlim_cur = bytes;
        setrlimit(RLIMIT_FSIZE, &limit);
    }
    ~FileSizeLimit() {
        setrlimit(RLIMIT_FSIZE, &old_);
        std::signal(SIGXFSZ, old_handler_);
    }
    FileSizeLimit(const FileSizeLimit&) = delete;
    FileSizeLimit& operator=(const FileSizeLimit&) = delete;

private:
    rlimit old_{};
    void (*old_handler_)(int) = nullptr;
};

std::shared_ptr<Sequential<double>> model_with_dropout(std::uint64_t seed, std::size_t width = 16) {
    MlpConfig c;
    c.hidden = {width};
    c.norm = HiddenNorm{NormKind::batch, BatchNormImpl::fused};
    c.dropout = 0.25;
    c.seed = seed;
    return make_mlp<double>(2, 2, c);
}

Array<double> first_weight(Module<double>& m) { return m.named_parameters()[0].second.value(); }

}  // namespace

TEST_CASE("a file write that fails part-way leaves the previous file whole and no temporary behind") {
    tgtest::TempDir dir;
    const std::string path = dir / "a.npy";
    const Array<double> old_value = xt::arange<double>(10);
    tg::io::save_npy(path, old_value);
    const Array<double> big = xt::ones<double>({4096});  // 32 KiB, past the limit below
    {
        FileSizeLimit limit(4096);
        try {
            tg::io::save_npy(path, big);
            FAIL("the write past the size limit did not fail");
        } catch (const tg::IoError& e) {
            const std::string what = e.what();
            INFO(what);
            CHECK(what.find("File too large") != std::string::npos);
            CHECK(what.find("was left as it was") != std::string::npos);
        }
    }
    CHECK(tg::io::load_npy<double>(path) == old_value);
    CHECK_FALSE(fs::exists(path + ".tmp"));
}

TEST_CASE("a model save that fails part-way leaves the previous save loadable and unchanged") {
    tgtest::TempDir dir;
    const std::string saved = dir / "model";
    auto m = model_with_dropout(1, 600);  // 0.weight is 600 x 2 doubles, 9.7 KB on disk
    save_model(*m, saved);
    const Array<double> w_before = first_weight(*m);
    CHECK(read_manifest(saved).at("format") == "tapegrad-model");

    Tensor<double> w = m->named_parameters()[0].second;
    w.mutable_value() += 1.0;  // a different model, to be saved over the first
    {
        FileSizeLimit limit(8192);  // the small files fit, 0.weight.npy does not
        CHECK_THROWS_AS(save_model(*m, saved), tg::IoError);
    }
    auto fresh = model_with_dropout(2, 600);
    load_model(*fresh, saved);
    CHECK(first_weight(*fresh) == w_before);
    std::size_t siblings = 0;
    for (const auto& e : fs::directory_iterator(dir.path)) {
        siblings += e.path().filename().string().rfind("model", 0) == 0 ? 1 : 0;
    }
    CHECK(siblings == 1);  // no staging folder left behind

    save_model(*m, saved);  // without the limit it goes through
    load_model(*fresh, saved);
    CHECK(first_weight(*fresh) == first_weight(*m));
}

TEST_CASE("a save never replaces a folder tapegrad did not write, and clears a killed save's leftovers") {
    tgtest::TempDir dir;
    fs::create_directories(dir / "photos");
    tg::io::save_npy<double>(dir / "photos/keep.npy", Array<double>(xt::ones<double>({3})));
    auto m = model_with_dropout(1);
    try {
        save_model(*m, dir / "photos");
        FAIL("a foreign folder was replaced");
    } catch (const tg::IoError& e) {
        CHECK(std::string(e.what()).find("tapegrad did not write") != std::string::npos);
    }
    CHECK(fs::exists(dir / "photos/keep.npy"));
    CHECK_FALSE(fs::exists(dir / "photos/0.weight.npy"));

    // what a save killed mid-way leaves: a staging folder named after a process that is gone
    fs::create_directories(dir / "model.saving-2147483646");
    save_model(*m, dir / "model");
    CHECK_FALSE(fs::exists(dir / "model.saving-2147483646"));
    CHECK(fs::exists(dir / "model/tapegrad.json"));
}

TEST_CASE("optimiser state round-trips: a fresh optimiser given the state takes the same steps") {
    for (OptimizerKind kind : {OptimizerKind::sgd, OptimizerKind::adam}) {
        INFO(to_string(kind));
        OptimConfig c;
        c.kind = kind;
        c.lr = 0.05;
        c.momentum = 0.9;
        auto a = model_with_dropout(3);
        auto b = model_with_dropout(3);
        a->eval();
        b->eval();
        auto opt_a = make_optimizer(*a, c);
        auto opt_b = make_optimizer(*b, c);
        const Tensor<double> x = tgtest::random_tensor({8, 2}, 4, -1, 1, false);
        const std::vector<std::int64_t> y{0, 1, 1, 0, 1, 0, 0, 1};
        auto step = [&](Module<double>& m, Optimizer<double>& o) {
            o.zero_grad();
            cross_entropy(m(x), y).backward();
            o.step();
        };
        step(*a, *opt_a);
        step(*a, *opt_a);
        tgtest::TempDir dir;
        save_model(*a, dir / "m");
        load_model(*b, dir / "m");
        opt_b->load_state(opt_a->state());
        step(*a, *opt_a);
        step(*b, *opt_b);
        CHECK(first_weight(*a) == first_weight(*b));

        // a state from another model is refused and changes nothing
        auto wide = model_with_dropout(3, 32);
        auto opt_wide = make_optimizer(*wide, c);
        step(*wide, *opt_wide);
        const OptimizerState<double> kept = opt_b->state();
        CHECK_THROWS_AS(opt_b->load_state(opt_wide->state()), tg::ValueError);
        CHECK(opt_b->state().arrays.size() == kept.arrays.size());
        CHECK(opt_b->state().arrays[0].second == kept.arrays[0].second);
    }
}

TEST_CASE("training stopped after any batch and resumed from its checkpoint ends where an unbroken run does") {
    tgtest::TempDir dir;
    const Dataset<double> data = two_spirals<double>(200, 5, 0.1);
    OptimConfig c;
    c.lr = 0.01;
    const std::size_t batch = 16, epochs = 3;  // 13 batches an epoch

    auto unbroken = model_with_dropout(7);
    auto opt_u = make_optimizer(*unbroken, c);
    std::vector<EpochStats> stats_u;
    for (std::size_t e = 0; e < epochs; ++e) {
        stats_u.push_back(train_epoch(*unbroken, *opt_u, data, batch, 11, e));
    }

    for (const std::size_t stop_after : {5u, 13u, 30u}) {  // mid-epoch, an epoch's end, mid-epoch
        INFO("stopped after batch " << stop_after);
        auto first = model_with_dropout(7);
        auto opt_1 = make_optimizer(*first, c);
        TrainingState state;
        std::size_t batches = 0;
        bool stopped = false;
        while (!stopped && state.cursor.epoch < epochs) {
            auto done = train_batches(*first, *opt_1, data, batch, 11, state.cursor, {},
                                      [&] { return ++batches >= stop_after; });
            if (done) {
                state.history.push_back(*done);
                state.cursor = EpochCursor{};
                state.cursor.epoch = state.history.size();
                stopped = batches >= stop_after;
            } else {
                stopped = true;
            }
        }
        const std::string ckpt = dir / ("ckpt" + std::to_string(stop_after));
        save_checkpoint(ckpt, *first, *opt_1, state);

        auto second = model_with_dropout(99);  // other weights and dropout draws until loaded
        auto opt_2 = make_optimizer(*second, c);
        TrainingState resumed = read_training_state(ckpt);
        load_checkpoint(ckpt, *second, *opt_2);
        CHECK(resumed.cursor.batches_done == state.cursor.batches_done);
        while (resumed.cursor.epoch < epochs) {
            resumed.history.push_back(*train_batches(*second, *opt_2, data, batch, 11, resumed.cursor));
            resumed.cursor = EpochCursor{};
            resumed.cursor.epoch = resumed.history.size();
        }
        for (std::size_t i = 0; i < unbroken->named_parameters().size(); ++i) {
            CHECK(second->named_parameters()[i].second.value() == unbroken->named_parameters()[i].second.value());
        }
        CHECK(second->named_buffers()[1].second.value() == unbroken->named_buffers()[1].second.value());
        REQUIRE(resumed.history.size() == epochs);
        for (std::size_t e = 0; e < epochs; ++e) {
            CHECK(resumed.history[e].train_loss == stats_u[e].train_loss);
            CHECK(resumed.history[e].train_acc == stats_u[e].train_acc);
        }
    }
}

TEST_CASE("a damaged checkpoint is refused with the file named and leaves model and optimiser as they were") {
    tgtest::TempDir dir;
    auto m = model_with_dropout(1);
    auto opt = make_optimizer(*m, OptimConfig{});
    TrainingState state;
    state.cursor.epoch = 0;
    save_checkpoint(dir / "ck", *m, *opt, state);

    auto other = model_with_dropout(2);
    auto opt_other = make_optimizer(*other, OptimConfig{});
    const Array<double> w = first_weight(*other);
    auto refused = [&](const std::string& part) {
        try {
            load_checkpoint(dir / "ck", *other, *opt_other);
            FAIL("a damaged checkpoint was loaded");
        } catch (const tg::IoError& e) {
            INFO(e.what());
            CHECK(std::string(e.what()).find(part) != std::string::npos);
        }
        CHECK(first_weight(*other) == w);
    };
    const std::string manifest = tgtest::slurp(dir / "ck/tapegrad.json");
    tg::io::write_file_atomically(dir / "ck/tapegrad.json", {manifest.substr(0, manifest.size() / 2)});
    refused("not a valid manifest");
    std::string no_step = manifest;
    no_step.replace(no_step.find("\"step\""), 6, "\"stop\"");
    tg::io::write_file_atomically(dir / "ck/tapegrad.json", {no_step});
    refused("counter, step");
    tg::io::write_file_atomically(dir / "ck/tapegrad.json", {manifest});
    fs::remove(dir / "ck/optimizer/0.exp_avg.npy");
    refused("0.exp_avg.npy");

    auto plain = model_with_dropout(1);
    save_model(*plain, dir / "weights");
    CHECK_THROWS_WITH_AS(read_training_state(dir / "weights"), doctest::Contains("no training state"), tg::IoError);
}
