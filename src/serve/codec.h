// Request bodies into tensors and tensors into answers, for the HTTP service (src/serve/service.h),
// with no socket involved: what fuzz/fuzz_serve_request.cpp feeds.
//
// Legend: B rows of a request, C values per row (D data or Z latent, the route decides).
//
// Two body formats:
//   application/json     {"x": [[...], ...]} (or "z"), one inner array of C numbers per row, a
//                        single row may be given flat ([...]); "labels": [B ints] optional; other
//                        keys are the route's options ("n", "seed", "k", "label", "samples").
//   application/x-npy    one NumPy array, (B, C) or (C) for one row, any dtype vae::parse_npy
//                        reads; the options come from the query string (?k=5&seed=1&label=3).
// A body that is not what its content type says is a BadRequest (HTTP 400); well-formed
// numbers of the wrong shape or non-finite values are Unprocessable (HTTP 422).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace vae::serve {

/// The request is malformed (not JSON, not NPY, a field of the wrong JSON type): 400.
class BadRequest : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
/// The request is well-formed but its values cannot be used (shape, NaN, label range): 422.
class Unprocessable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class BodyFormat { Json, Npy };

/// A (rows, cols) row-major matrix of a request: its own values (decoded from JSON, converted
/// from another dtype), or, for a '<f4' NPY body, the body's bytes used in place (no copy).
struct Tensor {
  std::vector<float> values;        // (rows, cols) when owned; empty when in_body
  const float* in_body = nullptr;  // (rows, cols) inside the request body, which must outlive it
  size_t rows = 0, cols = 0;
  const float* data() const { return in_body ? in_body : values.data(); }
  size_t size() const { return rows * cols; }
};

/// A decoded request body: the input matrix (when the route has one), labels and options.
struct RequestBody {
  std::optional<Tensor> input;         ///< "x" or "z" (B, C)
  std::vector<int32_t> labels;         ///< (B), or empty
  std::map<std::string, int64_t> ints;  ///< integer options present in the body or query
};

/// The request body's format from its Content-Type ("application/json; charset=utf-8" is
/// Json); nullopt for any other type (HTTP 415).
std::optional<BodyFormat> body_format(const std::string& content_type);

/// Parses `body` of `format` for a route whose input is called `input_key` ("x", "z", or ""
/// for none), with `int_keys` the integer options it takes and `query` the URL's parameters.
/// The input must have `cols` values per row and between 1 and `max_rows` rows. Throws
/// BadRequest or Unprocessable naming the field. A '<f4' NPY input whose values lie 4-byte
/// aligned in `body` is a view into it (Tensor::in_body): keep `body` alive while it is used.
RequestBody decode_body(BodyFormat format, const std::string& body, const std::string& input_key,
                        size_t cols, size_t max_rows, const std::vector<std::string>& int_keys,
                        const std::map<std::string, std::string>& query);

/// The two JSON decoders decode_body chooses between (it tries the first, then the second), for
/// the tests and the fuzzer that compare them. decode_json_fast reads the common shape — one
/// object of plain keys whose values are numbers or arrays of them — in one pass (decimals of
/// up to 15 digits without exponent by one exact division, other numbers with std::from_chars),
/// to the values decode_json_full gives, and returns nullopt for anything else
/// (it never throws). decode_json_full builds an nlohmann::json document and throws BadRequest
/// or Unprocessable naming the field. Neither checks the row count nor the labels' count.
std::optional<RequestBody> decode_json_fast(const std::string& body, const std::string& input_key,
                                            size_t cols, const std::vector<std::string>& int_keys);
RequestBody decode_json_full(const std::string& body, const std::string& input_key, size_t cols,
                             const std::vector<std::string>& int_keys);

/// "a=1&b=x" → {a: "1", b: "x"} (percent-decoding the values); BadRequest for a bad escape.
std::map<std::string, std::string> parse_query(const std::string& query);

/// A matrix as a JSON array of rows, each value the shortest decimal that reads back as the
/// same float (std::to_chars: "0.1", "-0", "1e-45"; a non-finite value is not JSON).
std::string json_matrix(const float* values, size_t rows, size_t cols);
/// A JSON string literal for `s` (quotes, backslashes and control characters escaped).
std::string json_string(const std::string& s);
/// {"error": "<message>"}
std::string json_error(const std::string& message);

}  // namespace vae::serve
