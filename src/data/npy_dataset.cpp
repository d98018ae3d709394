// A .npy array as a data set. The first axis counts examples; the rest say what one example is:
//   (N, D)          a table of D values per example
//   (N, H, W)       grey images, channels 1
//   (N, H, W, C)    images with C in {1, 3, 4}, channels last as NumPy and PIL store them
// read_npy has already checked the header, the dtype and that the payload matches the shape, so
// the values are in memory before any check here and their count bounds every product below.
#include <climits>
#include <cmath>
#include <string>

#include "vae/error.h"
#include "vae/npy.h"
#include "vae/readers.h"

namespace vae {
namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) out += ",";
  return out + ")";
}

}  // namespace

Dataset read_npy_dataset(const std::string& path) {
  NpyArray array = read_npy(path);
  const std::vector<int64_t>& shape = array.shape;
  const size_t ndim = shape.size();
  if (ndim < 2 || ndim > 4)
    throw Error(path + ": shape " + shape_text(shape) +
                " is not (N, D), (N, H, W) or (N, H, W, C); the first axis must count examples");
  if (ndim == 4 && shape[3] != 1 && shape[3] != 3 && shape[3] != 4)
    throw Error(path + ": shape " + shape_text(shape) + " has " + std::to_string(shape[3]) +
                " channels on its last axis; images need 1, 3 or 4");
  for (int64_t s : shape) {
    if (s == 0) throw Error(path + ": shape " + shape_text(shape) + " holds no values");
  }
  if (ndim >= 3 && (shape[1] > INT_MAX || shape[2] > INT_MAX))
    throw Error(path + ": shape " + shape_text(shape) + " is too large for an image");

  for (size_t i = 0; i < array.data.size(); ++i) {
    if (std::isfinite(array.data[i])) continue;
    const size_t per_example = array.data.size() / static_cast<size_t>(shape[0]);
    // A '<f8' value beyond float's range arrives here as inf, which is as unusable.
    throw Error(path + ": value at flat index " + std::to_string(i) + " (example " +
                std::to_string(i / per_example) + ") is " +
                (std::isnan(array.data[i]) ? "NaN" : "infinite or beyond the float range") +
                "; values must be finite");
  }

  Dataset out;
  out.n = static_cast<size_t>(shape[0]);
  out.d = array.data.size() / out.n;
  if (ndim >= 3) {
    out.height = static_cast<int>(shape[1]);
    out.width = static_cast<int>(shape[2]);
    out.channels = ndim == 4 ? static_cast<int>(shape[3]) : 1;
  }
  out.x = std::move(array.data);
  return out;
}

}  // namespace vae
