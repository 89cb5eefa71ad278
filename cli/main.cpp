// The tapegrad command line: exit codes and the one-line failure rule are in cli/app.hpp.
#include "cli/app.hpp"
#include "core/runtime.hpp"

int main(int argc, char** argv) {
    tg::ensure_fast_blas(argv);
    tg::reuse_freed_memory();
    return tgcli::run_cli(argc, argv);
}
