// Feeds vae::read_metrics (src/viz/report.cpp) through a scratch file: a run's metrics.jsonl,
// one JSON object per line, which `vae curves FILE` and `vae report RUN_DIR` read. Lines that
// parse must give one EpochMetrics each.
#include <string>

#include "fuzz_util.h"
#include "vae/error.h"
#include "viz/report.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const vae_fuzz::ScratchDir dir("metrics");
  static const std::string path = dir.file("metrics.jsonl");
  vae_fuzz::write_input(path, data, size);

  try {
    const std::vector<vae::EpochMetrics> m = vae::read_metrics(path);
    size_t lines = 0;
    for (size_t i = 0; i < size; ++i) lines += data[i] == '\n';
    FUZZ_CHECK(m.size() <= lines + 1);
  } catch (const vae::Error&) {
  }
  return 0;
}
