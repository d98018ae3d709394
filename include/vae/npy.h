// NumPy's .npy format (versions 1.0, 2.0, 3.0): magic "\x93NUMPY", version, header length, a
// Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (N, D), } padded to 64
// bytes, then the raw C-order data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vae {

struct NpyArray {
  std::vector<int64_t> shape;  ///< outermost first
  std::vector<float> data;     ///< product(shape) values, C order
};

/// Writes float32 little-endian, C order, atomically.
void write_npy(const std::string& path, const float* data, const std::vector<int64_t>& shape);
/// Reads '<f4', '<f8', '<i4', '<i8', '|u1' and '|i1' arrays (any byte-order mark on the one-byte
/// types) in C order, converting to float. Throws vae::Error "<path>: <what>" for a bad magic, an
/// unsupported dtype or Fortran order, a malformed header, or a payload size that disagrees with
/// the shape.
NpyArray read_npy(const std::string& path);
/// The same reader over `size` bytes in memory (an upload); errors name `origin`.
NpyArray parse_npy(const void* bytes, size_t size, const std::string& origin);
/// Where the values of an .npy image in memory lie, for a reader that uses them in place.
struct NpyLayout {
  std::vector<int64_t> shape;  ///< outermost first
  size_t numel = 0;            ///< product(shape)
  size_t data_offset = 0;      ///< bytes before the first value (a multiple of 64 as NumPy and write_npy write it)
  bool native_f32 = false;     ///< '<f4' on a little-endian machine: the values are floats as they lie
};
/// The header of `size` bytes checked as parse_npy checks it (the same vae::Error for the same
/// faults, payload size included), the values located but not read.
NpyLayout npy_layout(const void* bytes, size_t size, const std::string& origin);
/// The bytes write_npy would write for this array ('<f4', C order).
std::string npy_bytes(const float* data, const std::vector<int64_t>& shape);

}  // namespace vae
