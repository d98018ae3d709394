// The safetensors file format (https://github.com/huggingface/safetensors):
//   8 bytes   N, little-endian uint64: size of the header
//   N bytes   JSON object: {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...,
//             "__metadata__": {"<key>": "<string value>", ...}}; padded with spaces to 8 bytes
//   rest      the byte buffer; [b, e) are offsets into it, little-endian, C order
// Checkpoints are one such file; the Python `safetensors` package reads them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vae {

enum class DType { F32, F64, I64, I32, U8 };
const char* dtype_name(DType t);   ///< "F32", "F64", "I64", "I32", "U8"
size_t dtype_size(DType t);        ///< bytes per element

/// "[400, 784]" (at most 8 dimensions shown): how messages print a shape.
std::string shape_string(const std::vector<int64_t>& shape);

struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;       ///< empty shape = scalar (one element)
  std::vector<unsigned char> data;  ///< product(shape) * dtype_size bytes, little-endian
  size_t numel() const;
};

struct SafeTensors {
  std::map<std::string, std::string> metadata;  ///< the "__metadata__" object (strings only)
  std::vector<TensorEntry> tensors;             ///< in file order

  void add_f32(const std::string& name, const std::vector<int64_t>& shape, const float* values);
  void add_i64(const std::string& name, const std::vector<int64_t>& shape, const int64_t* values);
  const TensorEntry* find(const std::string& name) const;  ///< nullptr when absent
  /// The named F32 tensor's values. Throws vae::Error "<origin>: tensor '<name>' ..." when it is
  /// missing, not F32, or its shape differs from `shape`.
  std::vector<float> get_f32(const std::string& name, const std::vector<int64_t>& shape) const;
  /// Throws exactly as get_f32 does, without copying: lets a reader check every tensor a file
  /// claims to hold before allocating buffers sized from its metadata.
  void require_f32(const std::string& name, const std::vector<int64_t>& shape) const;
  std::vector<int64_t> get_i64(const std::string& name, const std::vector<int64_t>& shape) const;
  std::string origin = "safetensors";  ///< file name used in error messages (set by the reader)
};

/// Serialises to bytes (header sorted as given, 8-byte aligned).
std::string to_safetensors_bytes(const SafeTensors& st);
/// Writes atomically (temporary file, fsync, rename).
void write_safetensors(const std::string& path, const SafeTensors& st);
/// Reads and validates: header length within the file, JSON well formed, known dtypes, shapes
/// non-negative, data_offsets in range, consistent with shape x dtype, non-overlapping and
/// covering the whole buffer, metadata values strings. Throws vae::Error "<path>: <what>".
SafeTensors read_safetensors(const std::string& path);
SafeTensors parse_safetensors(const unsigned char* bytes, size_t size, const std::string& origin);

}  // namespace vae
