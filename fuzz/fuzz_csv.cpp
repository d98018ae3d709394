// Feeds vae::read_csv (src/data/csv.cpp) through a scratch file, once without a label column
// and once with each kind of --label-column: a 0-based index, a large index, and a header name.
// Header detection, quoting, blank lines, "\r\n", the byte-order mark, number parsing and every
// error path see the fuzzer's bytes; a table that is read must have n rows of d values each.
#include <cmath>
#include <string>

#include "fuzz_util.h"
#include "vae/error.h"
#include "vae/readers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const vae_fuzz::ScratchDir dir("csv");
  static const std::string path = dir.file("input.csv");
  vae_fuzz::write_input(path, data, size);

  for (const char* label : {"", "0", "1", "99999999999999999999", "label"}) {
    vae::CsvOptions options;
    options.label_column = label;
    vae::Dataset t;
    try {
      t = vae::read_csv(path, options);
    } catch (const vae::Error&) {
      continue;
    }
    FUZZ_CHECK(t.n > 0 && t.d > 0);
    FUZZ_CHECK(t.x.size() == t.n * t.d);
    FUZZ_CHECK(t.labels.size() == (*label ? t.n : 0));
    FUZZ_CHECK(t.height == 0 && t.width == 0 && t.channels == 0);
    for (float v : t.x) FUZZ_CHECK(std::isfinite(v));
    for (int32_t l : t.labels) FUZZ_CHECK(l >= 0);
  }
  return 0;
}
