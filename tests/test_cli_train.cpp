// `tapegrad train` and `tapegrad experiment bn` as a user runs them, on synthetic data (fast).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>

#include <chrono>
#include <thread>

#include "cli_helpers.hpp"

using namespace tgtest;

TEST_CASE("tapegrad train logs every epoch, plots, saves, and a reload scores the same") {
    TempDir dir;
    const std::string common = "train --data moons --samples 400 --hidden 16 --bn fused --epochs 3 --seed 2 --quiet";
    const bool gnuplot = std::system("command -v gnuplot >/dev/null 2>&1") == 0;
    const Run r = tapegrad(dir, common + " --log " + (dir / "run.csv") + " --save " + (dir / "model") +
                                    (gnuplot ? " --plot " + (dir / "run.svg") : std::string()));
    INFO(r.err);
    REQUIRE(r.code == 0);
    const std::string log = slurp(dir / "run.csv");
    CHECK(log.rfind("epoch,train_loss,train_acc,test_acc,seconds\n", 0) == 0);
    CHECK(lines(log) == 4);
    CHECK(fs::exists(dir / "model/0.weight.npy"));
    CHECK(fs::exists(dir / "model/1.running_var.npy"));
    if (gnuplot) {
        CHECK(slurp(dir / "run.svg").find("<svg") != std::string::npos);
    }
    // the last epoch's test accuracy, then the same from the saved model with no training
    const std::string last = log.substr(log.rfind('\n', log.size() - 2) + 1);
    const std::string test_acc = last.substr(0, last.rfind(',')).substr(last.substr(0, last.rfind(',')).rfind(',') + 1);
    const Run again = tapegrad(dir, "train --data moons --samples 400 --hidden 16 --bn fused --epochs 0 --seed 2 --load " + (dir / "model"));
    REQUIRE(again.code == 0);
    CHECK(again.out.find("test acc " + test_acc.substr(0, 6)) != std::string::npos);
    // the same seed, the same numbers
    const Run twice = tapegrad(dir, common + " --log " + (dir / "run2.csv"));
    REQUIRE(twice.code == 0);
    auto without_seconds = [](const std::string& csv) {
        std::string out;
        std::istringstream in(csv);
        for (std::string line; std::getline(in, line);) out += line.substr(0, line.rfind(',')) + "\n";
        return out;
    };
    CHECK(without_seconds(slurp(dir / "run2.csv")) == without_seconds(log));
}

TEST_CASE("tapegrad experiment bn trains three runs on the same batches and reports their difference") {
    TempDir dir;
    const Run r = tapegrad(dir, "experiment bn --data spirals --samples 300 --hidden 16,16 --epochs 2 --dtype f64 --log " + (dir / "exp"));
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("| none |") != std::string::npos);
    CHECK(r.out.find("| composite |") != std::string::npos);
    CHECK(r.out.find("| fused |") != std::string::npos);
    CHECK(r.out.find("largest relative weight difference") != std::string::npos);
    CHECK(r.out.find("without biases that feed batch norm") != std::string::npos);
    CHECK(fs::exists(dir / "exp.fused.csv"));
}

TEST_CASE("tapegrad train refuses bad input with one line and a non-zero exit") {
    TempDir dir;
    std::ofstream(dir / "bad.csv") << "1,2,0\n1,2\n";
    check_refused(tapegrad(dir, "train --data cifar"), "--data must be");
    check_refused(tapegrad(dir, "train --data csv:" + (dir / "nope.csv")), "cannot open");
    check_refused(tapegrad(dir, "train --data csv:" + (dir / "bad.csv")), "bad.csv:2");
    check_refused(tapegrad(dir, "train --data moons --hidden 16,x"), "--hidden");
    check_refused(tapegrad(dir, "train --data moons --epochs 1 --plot " + (dir / "p.pdf")), ".svg or .png");
    check_refused(tapegrad(dir, "train --data fashion-mnist --data-dir " + (dir / "empty")), "cannot open");
    check_refused(tapegrad(dir, "train --data moons --load " + (dir / "nothing")), "is not a folder");
    check_refused(tapegrad(dir, "train --data moons --dropout 1.5"), "--dropout must lie in [0, 1)");
    check_refused(tapegrad(dir, "train --data moons --test-fraction 0"), "--test-fraction");
    check_refused(tapegrad(dir, "train --data moons --lr nan"), "--lr must be a finite number");
    check_refused(tapegrad(dir, "train --data moons --threads -1"), "--threads");
    check_refused(tapegrad(dir, "train --data spirals --samples 1"), "--samples");
    check_refused(tapegrad(dir, "train --data moons --optim adam --nesterov"), "--nesterov");
    check_refused(tapegrad(dir, "train --optim rmsprop"), "--optim", 2);
    check_refused(tapegrad(dir, "train --batch-size 0"), "--batch-size", 2);
    check_refused(tapegrad(dir, "experiment"), "subcommand", 2);
}

namespace {

// Every .npy file under `a` has a byte-identical twin under `b`; returns how many were compared.
std::size_t same_npy_files(const fs::path& a, const fs::path& b) {
    std::size_t n = 0;
    for (const auto& e : fs::recursive_directory_iterator(a)) {
        if (e.path().extension() == ".npy") {
            const fs::path twin = b / fs::relative(e.path(), a);
            INFO(twin);
            CHECK(slurp(e.path()) == slurp(twin));
            ++n;
        }
    }
    return n;
}

std::string without_seconds(const std::string& csv) {
    std::string out;
    std::istringstream in(csv);
    for (std::string line; std::getline(in, line);) out += line.substr(0, line.rfind(',')) + "\n";
    return out;
}

}  // namespace

TEST_CASE("Ctrl-C stops tapegrad train after a batch with a checkpoint, and --resume ends where an unbroken run does") {
    TempDir dir;
    const std::string args = "train --data spirals --samples 4000 --hidden 16 --bn fused --dropout 0.2 --epochs 5 "
                             "--batch-size 4 --threads 1 --seed 3 --quiet";
    const Run full = tapegrad(dir, args + " --save " + (dir / "full") + " --log " + (dir / "full.csv"));
    REQUIRE(full.code == 0);

    // The same run, started as a user starts it and sent SIGINT once its first epoch is logged.
    std::vector<std::string> argv{TAPEGRAD_CLI};
    std::istringstream words(args + " --save " + (dir / "part") + " --log " + (dir / "part.csv"));
    for (std::string w; words >> w;) argv.push_back(w);
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t io;
    posix_spawn_file_actions_init(&io);
    posix_spawn_file_actions_addopen(&io, 1, (dir / "part.out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&io, 2, (dir / "part.err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = 0;
    REQUIRE(posix_spawn(&pid, TAPEGRAD_CLI, &io, nullptr, cargv.data(), environ) == 0);
    posix_spawn_file_actions_destroy(&io);
    for (int i = 0; i < 6000 && !fs::exists(dir / "part.csv"); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // into the second epoch, most likely
    ::kill(pid, SIGINT);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    const std::string err = slurp(dir / "part.err");
    INFO(err);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 130);
    CHECK(lines(err) == 1);
    CHECK(err.find("checkpoint saved, continue with: tapegrad train --resume " + (dir / "part")) != std::string::npos);
    CHECK(lines(slurp(dir / "part.csv")) < 6);  // stopped before the end

    const Run resumed = tapegrad(dir, "train --quiet --resume " + (dir / "part") + " --log " + (dir / "part.csv"));
    INFO(resumed.err);
    REQUIRE(resumed.code == 0);
    CHECK(resumed.out.find("resuming " + (dir / "part")) != std::string::npos);
    CHECK(same_npy_files(dir / "full", dir / "part") == 9 + 2 * 6);  // 9 model entries, Adam's two moments of 6 parameters
    CHECK(without_seconds(slurp(dir / "part.csv")) == without_seconds(slurp(dir / "full.csv")));

    // --epochs may extend a finished run; any other setting must match the checkpoint
    const Run more = tapegrad(dir, "train --quiet --resume " + (dir / "part") + " --epochs 6");
    CHECK(more.code == 0);
    CHECK(more.out.find("epoch   6") != std::string::npos);
    check_refused(tapegrad(dir, "train --resume " + (dir / "part") + " --hidden 8"), "differs from the checkpoint");
    check_refused(tapegrad(dir, "train --resume " + (dir / "part") + " --load " + (dir / "full")), "--load", 2);
    fs::create_directories(dir / "empty");
    check_refused(tapegrad(dir, "train --resume " + (dir / "empty")), "tapegrad.json: cannot open");
}
