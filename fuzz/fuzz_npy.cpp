// Feeds vae::read_npy (src/io/npy.cpp: magic, version, header length, the dict literal, dtype
// and shape against the payload) and vae::read_npy_dataset (src/data/npy_dataset.cpp: the
// shapes a data set may have, non-finite values) through a scratch file. An array that is read
// must hold product(shape) values; a data set, n rows of d values with consistent geometry.
#include <cmath>
#include <string>

#include "fuzz_util.h"
#include "vae/error.h"
#include "vae/npy.h"
#include "vae/readers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const vae_fuzz::ScratchDir dir("npy");
  static const std::string path = dir.file("input.npy");
  vae_fuzz::write_input(path, data, size);

  try {
    const vae::NpyArray a = vae::read_npy(path);
    size_t count = 1;
    for (int64_t s : a.shape) {
      FUZZ_CHECK(s >= 0);
      count *= static_cast<size_t>(s);
    }
    FUZZ_CHECK(a.data.size() == count);
  } catch (const vae::Error&) {
    return 0;  // read_npy_dataset starts with read_npy: it would fail the same way
  }

  try {
    const vae::Dataset t = vae::read_npy_dataset(path);
    FUZZ_CHECK(t.n > 0 && t.d > 0);
    FUZZ_CHECK(t.x.size() == t.n * t.d);
    FUZZ_CHECK(t.labels.empty());
    if (t.channels > 0) {
      FUZZ_CHECK(t.height > 0 && t.width > 0);
      FUZZ_CHECK(static_cast<size_t>(t.height) * t.width * t.channels == t.d);
    }
    for (float v : t.x) FUZZ_CHECK(std::isfinite(v));
  } catch (const vae::Error&) {
  }
  return 0;
}
