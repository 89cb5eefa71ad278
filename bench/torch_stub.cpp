#include "bench/torch_side.hpp"

namespace bench {

bool TorchSide::available() { return false; }
std::string TorchSide::version() { return "not built (configure with -DTAPEGRAD_BENCH_TORCH=ON)"; }
void TorchSide::set_threads(int) {}
Run TorchSide::batchnorm(long, long, bool, bool) { return {}; }
Run TorchSide::sample_norm(long, long, long, bool) { return {}; }
Run TorchSide::chain(int) { return {}; }
Run TorchSide::matmul(long, long, long) { return {}; }
Run TorchSide::mlp_step(long) { return {}; }
Run TorchSide::micrograd(const MicrogradCase&, bool) { return {}; }

}  // namespace bench
