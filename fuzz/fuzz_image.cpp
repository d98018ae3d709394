// Feeds the PNG and JPEG decoding of vae::read_image_folder (src/data/image_folder.cpp, which
// calls vae::read_png in src/io/png.cpp for PNG and libjpeg for JPEG) with the input as the one
// image of a scratch folder. The single-image decoder is not exposed, so the folder is the
// entry point; the file is named input.png, but decoding goes by content (PNG signature or the
// JPEG marker FF D8 FF), so one harness covers both formats. An image that is read must be
// 1 or 3 channels of values 0..255, with d = height * width * channels.
//
// libpng refuses a critical chunk whose CRC is wrong, which would stop nearly every mutation of
// a PNG at the first chunk it touches. The custom mutator below therefore rewrites the chunk
// CRCs of a mutated PNG, except in one mutation out of eight, which keeps testing bad CRCs.
#include <zlib.h>

#include <cstring>
#include <string>

#include "fuzz_util.h"
#include "vae/error.h"
#include "vae/readers.h"

namespace {

uint32_t load_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Chunks after the 8-byte signature: length (4, big-endian), type (4), data, CRC-32 of type and
// data (4). Stops at the first chunk that does not fit.
void fix_png_crcs(uint8_t* data, size_t size) {
  static const uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size < 8 || std::memcmp(data, kSignature, 8) != 0) return;
  size_t pos = 8;
  while (size - pos >= 12) {
    const size_t length = load_be32(data + pos);
    if (length > size - pos - 12) return;
    const uint32_t crc =
        static_cast<uint32_t>(crc32(0, data + pos + 4, static_cast<uInt>(length + 4)));
    uint8_t* out = data + pos + 8 + length;
    for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(crc >> (24 - 8 * i));
    pos += 12 + length;
  }
}

}  // namespace

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  size = LLVMFuzzerMutate(data, size, max_size);
  if (seed % 8 != 0) fix_png_crcs(data, size);
  return size;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const vae_fuzz::ScratchDir dir("image");
  static const std::string path = dir.file("input.png");
  vae_fuzz::write_input(path, data, size);

  vae::Dataset t;
  try {
    t = vae::read_image_folder(dir.path());
  } catch (const vae::Error&) {
    return 0;
  }
  FUZZ_CHECK(t.n == 1);
  FUZZ_CHECK(t.channels == 1 || t.channels == 3);
  FUZZ_CHECK(t.height > 0 && t.width > 0);
  FUZZ_CHECK(t.d == static_cast<size_t>(t.height) * t.width * t.channels);
  FUZZ_CHECK(t.x.size() == t.d);
  FUZZ_CHECK(t.labels.empty());
  for (float v : t.x) FUZZ_CHECK(v >= 0 && v <= 255);
  return 0;
}
