// `tapegrad train` and `tapegrad experiment bn` as a user runs them, on synthetic data (fast).
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
    check_refused(tapegrad(dir, "train --data moons --load " + (dir / "nothing")), "missing");
    check_refused(tapegrad(dir, "train --optim rmsprop"), "--optim", 2);
    check_refused(tapegrad(dir, "train --batch-size 0"), "--batch-size", 2);
    check_refused(tapegrad(dir, "experiment"), "subcommand", 2);
}
