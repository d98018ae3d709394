// Feeds vae::read_idx (src/data/idx.cpp) through a scratch file, twice per input:
//   1. the input as it is: a plain IDX file, or, when it starts with the gzip magic 1f 8b, a
//      gzip stream (corrupt members, trailing bytes, concatenated members, CRC errors);
//   2. the input gzip-compressed by this harness, so that the IDX parser behind the inflater
//      sees the fuzzer's mutations through a valid stream (header split across reads, payload
//      growth, extra data after the payload).
// Both readings must agree: the same array, or a vae::Error from each.
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "fuzz_util.h"
#include "vae/dataset.h"
#include "vae/error.h"

namespace {

std::vector<uint8_t> gzip(const uint8_t* data, size_t size) {
  z_stream zs{};
  // Level 1: the fuzzer checks the reader, not the compressor, and wants many runs a second.
  FUZZ_CHECK(deflateInit2(&zs, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::vector<uint8_t> out(deflateBound(&zs, static_cast<uLong>(size)));
  zs.next_in = const_cast<Bytef*>(data);
  zs.avail_in = static_cast<uInt>(size);
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  FUZZ_CHECK(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// Reads `path`; true with *out filled, false for a vae::Error. Checks what a result promises.
bool read(const std::string& path, vae::IdxArray* out) {
  try {
    *out = vae::read_idx(path);
  } catch (const vae::Error&) {
    return false;
  }
  FUZZ_CHECK(!out->dims.empty() && out->dims.size() <= 255);
  size_t count = 1;
  for (uint32_t d : out->dims) count *= d;
  FUZZ_CHECK(out->values.size() == count);
  for (float v : out->values) FUZZ_CHECK(std::isfinite(v));
  return true;
}

bool same(const vae::IdxArray& a, const vae::IdxArray& b) {
  return a.type == b.type && a.dims == b.dims && a.values.size() == b.values.size() &&
         (a.values.empty() ||
          std::memcmp(a.values.data(), b.values.data(), a.values.size() * sizeof(float)) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const vae_fuzz::ScratchDir dir("idx");
  static const std::string path = dir.file("input-idx3-ubyte");

  vae_fuzz::write_input(path, data, size);
  vae::IdxArray as_given;
  const bool ok_as_given = read(path, &as_given);

  // An input that is itself gzip would be read through two layers of gzip; nothing to compare.
  if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) return 0;
  const std::vector<uint8_t> packed = gzip(data, size);
  vae_fuzz::write_input(path, packed.data(), packed.size());
  vae::IdxArray unpacked;
  const bool ok_unpacked = read(path, &unpacked);
  FUZZ_CHECK(ok_as_given == ok_unpacked);
  if (ok_as_given) FUZZ_CHECK(same(as_given, unpacked));
  return 0;
}
