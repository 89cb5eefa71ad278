// Fuzz target: saved models and checkpoints. A real checkpoint of a small MLP (with batch norm,
// dropout and Adam's state) is written once; each input replaces one of its files (the first
// byte picks which: the manifest, a weight, a running statistic, a counter, a moment) with the
// remaining bytes. Loading must succeed or fail with a tg::Error that leaves the model as it was.
#include <algorithm>
#include <cstdlib>
#include <map>

#include "fuzz/input.hpp"
#include "tapegrad.hpp"

namespace {

namespace fs = std::filesystem;
using namespace tg::nn;

std::shared_ptr<Sequential<double>> make_model() {
    MlpConfig c;
    c.hidden = {4};
    c.norm = HiddenNorm{};
    c.dropout = 0.5;
    return make_mlp<double>(3, 2, c);
}

struct Fixture {
    fs::path dir = tgfuzz::scratch() / "checkpoint";
    std::vector<std::string> files;              // relative paths, sorted
    std::map<std::string, std::string> original;  // their bytes
    std::string changed;                          // the file the last input replaced

    Fixture() {
        auto model = make_model();
        auto opt = make_optimizer(*model, OptimConfig{});
        const Dataset<double> data = [] {
            Dataset<double> d;
            d.x = tg::Array<double>({4, 3}, 0.5);
            d.y = {0, 1, 0, 1};
            d.classes = 2;
            return d;
        }();
        TrainingState state;
        state.history.push_back(train_epoch(*model, *opt, data, 4, 0, 0));
        state.cursor.epoch = 1;
        fs::remove_all(dir);
        save_checkpoint(dir.string(), *model, *opt, state);
        for (const auto& e : fs::recursive_directory_iterator(dir)) {
            if (e.is_regular_file()) {
                const std::string rel = fs::relative(e.path(), dir).string();
                files.push_back(rel);
                std::ifstream in(e.path(), std::ios::binary);
                original[rel] = std::string(std::istreambuf_iterator<char>(in), {});
            }
        }
        std::sort(files.begin(), files.end());
    }
};

std::vector<tg::Array<double>> values(Module<double>& m) {
    std::vector<tg::Array<double>> out;
    for (auto& [name, t] : m.named_parameters()) out.push_back(t.value());
    for (auto& [name, t] : m.named_buffers()) out.push_back(t.value());
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Fixture f;
    if (size == 0) {
        return 0;
    }
    if (!f.changed.empty()) {  // put back what the previous input replaced
        const std::string& bytes = f.original[f.changed];
        tgfuzz::write_bytes(f.dir / f.changed, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    }
    f.changed = f.files[data[0] % f.files.size()];
    tgfuzz::write_bytes(f.dir / f.changed, data + 1, size - 1);

    auto model = make_model();
    auto opt = make_optimizer(*model, OptimConfig{});
    const auto before = values(*model);
    try {
        read_training_state(f.dir.string());
        load_checkpoint(f.dir.string(), *model, *opt);
    } catch (const tg::Error&) {
        if (values(*model) != before) {
            std::abort();  // a failed load changed the model
        }
    }
    auto plain = make_model();
    try {
        load_model(*plain, f.dir.string());
    } catch (const tg::Error&) {
    }
    return 0;
}
