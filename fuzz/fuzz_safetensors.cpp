// Feeds vae::parse_safetensors (src/io/safetensors.cpp) with the input in memory: the 8-byte
// header length, the JSON header (duplicate keys, nesting, dtypes, shapes, data_offsets) and
// the payload tiling. A file that is accepted is then
//   * read back through get_f32 / get_i64 for every tensor of those dtypes, and
//   * written with to_safetensors_bytes and parsed again, which must give the same metadata
//     and the same tensors (names, dtypes, shapes, bytes).
#include <string>

#include "fuzz_util.h"
#include "io/safetensors.h"
#include "vae/error.h"

namespace {

bool same(const vae::SafeTensors& a, const vae::SafeTensors& b) {
  if (a.metadata != b.metadata || a.tensors.size() != b.tensors.size()) return false;
  for (const vae::TensorEntry& t : a.tensors) {
    const vae::TensorEntry* u = b.find(t.name);
    if (!u || u->dtype != t.dtype || u->shape != t.shape || u->data != t.data) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vae::SafeTensors st;
  try {
    st = vae::parse_safetensors(data, size, "fuzz.safetensors");
  } catch (const vae::Error&) {
    return 0;
  }
  for (const vae::TensorEntry& t : st.tensors) {
    FUZZ_CHECK(t.data.size() == t.numel() * vae::dtype_size(t.dtype));
    if (t.dtype == vae::DType::F32) FUZZ_CHECK(st.get_f32(t.name, t.shape).size() == t.numel());
    if (t.dtype == vae::DType::I64) FUZZ_CHECK(st.get_i64(t.name, t.shape).size() == t.numel());
  }

  const std::string bytes = vae::to_safetensors_bytes(st);
  vae::SafeTensors again;
  try {
    again = vae::parse_safetensors(reinterpret_cast<const unsigned char*>(bytes.data()),
                                   bytes.size(), "fuzz.safetensors (written back)");
  } catch (const vae::Error& e) {
    std::fprintf(stderr, "written back, the file no longer parses: %s\n", e.what());
    std::abort();
  }
  FUZZ_CHECK(same(st, again));
  return 0;
}
