// Feeds vae::serve::decode_body (src/serve/codec.cpp: a request body, JSON or NPY, into a tensor
// with labels and integer options) the way the service does, with no socket. The first byte
// picks the format (bit 0: NPY, else JSON), the number of values per row (bits 1-3: 1..8) and
// the input's name (bit 4: "z", else "x"); the rest is the body. A body is either decoded or
// refused with BadRequest / Unprocessable; a decoded one holds rows × cols finite values, rows
// in 1..max_rows, and one label per row or none. A JSON body the fast path (decode_json_fast)
// reads, the full parser (decode_json_full) reads too, to the same bits.
#include <cmath>
#include <cstring>
#include <string>

#include "fuzz_util.h"
#include "serve/codec.h"

namespace {

void fast_equals_full(const std::string& body, const std::string& key, size_t cols) {
  const std::vector<std::string> ints = {"n", "seed", "k", "label", "samples"};
  const std::optional<vae::serve::RequestBody> fast = vae::serve::decode_json_fast(body, key, cols, ints);
  if (!fast) return;
  const vae::serve::RequestBody full = vae::serve::decode_json_full(body, key, cols, ints);  // must not throw
  FUZZ_CHECK(fast->input.has_value() == full.input.has_value());
  if (fast->input) {
    FUZZ_CHECK(fast->input->rows == full.input->rows && fast->input->size() == full.input->size());
    FUZZ_CHECK(std::memcmp(fast->input->data(), full.input->data(),
                           full.input->size() * sizeof(float)) == 0);
  }
  FUZZ_CHECK(fast->labels == full.labels);
  FUZZ_CHECK(fast->ints == full.ints);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool npy = data[0] & 1;
  const size_t cols = 1 + ((data[0] >> 1) & 7);
  const std::string key = (data[0] & 16) ? "z" : "x";
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t max_rows = 16;
  if (!npy) fast_equals_full(body, key, cols);
  try {
    const vae::serve::RequestBody b = vae::serve::decode_body(
        npy ? vae::serve::BodyFormat::Npy : vae::serve::BodyFormat::Json, body, key, cols, max_rows,
        {"n", "seed", "k", "label", "samples"}, {{"k", "3"}, {"label", "1"}});
    FUZZ_CHECK(b.input.has_value());
    FUZZ_CHECK(b.input->cols == cols);
    FUZZ_CHECK(b.input->rows >= 1 && b.input->rows <= max_rows);
    const float* v = b.input->data();  // owned, or inside the body (a '<f4' NPY)
    if (b.input->in_body)
      FUZZ_CHECK(b.input->values.empty() && reinterpret_cast<const char*>(v) >= body.data() &&
                 reinterpret_cast<const char*>(v + b.input->size()) <= body.data() + body.size());
    else
      FUZZ_CHECK(b.input->values.size() == b.input->rows * cols);
    for (size_t i = 0; i < b.input->size(); ++i) FUZZ_CHECK(std::isfinite(v[i]));
    FUZZ_CHECK(b.labels.empty() || b.labels.size() == b.input->rows);
    for (int32_t y : b.labels) FUZZ_CHECK(y >= 0);
  } catch (const vae::serve::BadRequest&) {
  } catch (const vae::serve::Unprocessable&) {
  }
  return 0;
}
