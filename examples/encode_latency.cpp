// Single-example encode latency through the C++ inference API (include/vae/infer.h): the median
// over many calls of Model::encode on one row, BLAS on one thread. Its Python twin is
// python/benchmarks/encode_latency.py; docs/library.md compares the two.
//
//   encode_latency CHECKPOINT [CALLS]      (default 2000 calls, after 100 unmeasured ones)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "vae/error.h"
#include "vae/infer.h"
#include "vae/runtime.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s CHECKPOINT [CALLS]\n", argv[0]);
    return 2;
  }
  try {
    vae::set_num_threads(1);
    const vae::Model m = vae::Model::load(argv[1]);
    const int calls = argc == 3 ? std::max(1, std::atoi(argv[2])) : 2000;
    const size_t D = m.input_dim(), Z = m.latent();
    std::vector<float> x(D, 0.5f), mu(Z), logvar(Z);  // (1, D), (1, Z), (1, Z)
    const std::vector<int32_t> label(m.num_classes() > 0 ? 1 : 0, 0);
    const vae::LabelView y(label.data(), label.size());
    std::vector<double> us(calls);
    for (int i = -100; i < calls; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      m.encode({x.data(), 1, D}, {mu.data(), 1, Z}, {logvar.data(), 1, Z}, y);
      const auto t1 = std::chrono::steady_clock::now();
      if (i >= 0) us[i] = std::chrono::duration<double, std::micro>(t1 - t0).count();
    }
    std::nth_element(us.begin(), us.begin() + calls / 2, us.end());
    std::printf("C++ encode, 1 example, %s: median %.1f us over %d calls\n",
                m.config().describe().c_str(), us[calls / 2], calls);
    return 0;
  } catch (const vae::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
