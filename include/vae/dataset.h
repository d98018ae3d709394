// Data sets in memory and the readers that fill them.
//
// Legend: N examples, D values per example (D = H*W*C for images).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vae {

/// N examples of D floats, row-major, plus optional integer labels.
struct Dataset {
  size_t n = 0;                 ///< number of examples (N)
  size_t d = 0;                 ///< values per example (D)
  int height = 0, width = 0;    ///< image geometry when the data are images, else 0
  int channels = 0;             ///< 1 for grey images, 0 when not images
  std::vector<float> x;         ///< (N, D) values: IDX images in [0, 1], other readers as stored
                                ///< (load_splits applies --scale)
  std::vector<int32_t> labels;  ///< (N) class labels, or empty
  /// The name of each class (label y names class_names[y]) where the source names them: an
  /// image folder's subfolders, a CSV column of names, Fashion-MNIST's ten classes; else empty.
  std::vector<std::string> class_names;
  const float* row(size_t i) const { return x.data() + i * d; }
  /// The labels from row i on, or nullptr when the data have none (what Vae's calls take).
  const int32_t* label_ptr(size_t i) const { return labels.empty() ? nullptr : labels.data() + i; }
};

struct DataSplits {
  Dataset train, test;
  Dataset val;         ///< validation rows carved from train (--val-split), or empty
  std::string source;  ///< folder or file the data came from, for messages
};

/// One array from an IDX file (the MNIST format), values converted to float.
struct IdxArray {
  uint8_t type = 0;             ///< IDX type code: 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64
  std::vector<uint32_t> dims;   ///< dimension sizes, outermost first
  std::vector<float> values;    ///< product(dims) values, row-major
};

/// Reads an IDX file, plain or gzip-compressed (detected by its magic bytes, whatever the name).
/// Throws vae::Error "<path>: <what is wrong>" for a missing file, a bad magic, an unknown type,
/// zero dimensions, a truncated or corrupt gzip stream, a payload shorter or longer than the
/// dimensions say, or a non-finite float value.
IdxArray read_idx(const std::string& path);

/// Fashion-MNIST's ten class names, labels 0..9: "T-shirt/top", "Trouser", "Pullover", "Dress",
/// "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot".
const std::vector<std::string>& fashion_mnist_class_names();

/// Loads train and test splits (with Fashion-MNIST's class names for "fashion-mnist").
///  * "fashion-mnist": the IDX files of Debian's dataset-fashion-mnist package, in
///    $FASHION_MNIST_DIR when set, else /usr/share/datasets/fashion-mnist;
///  * any folder holding train-images-idx3-ubyte, train-labels-idx1-ubyte,
///    t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each plain or with a .gz suffix.
/// Images become (N, H*W) floats in [0, 1] (u8 divided by 255; float IDX data must already lie
/// in [0, 1]). Throws vae::Error naming the file when one is missing or malformed, or when the
/// image and label counts disagree, or train and test image sizes differ.
DataSplits load_data(const std::string& spec);

}  // namespace vae
