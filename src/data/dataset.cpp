// Train/test splits from a folder of MNIST-style IDX files.
//
// Legend: N examples, H image height, W image width, D = H*W values per example.
//
// A folder holds four files, each plain or gzip-compressed:
//   train-images-idx3-ubyte  (N, H, W) u8, or f32 already in [0, 1]
//   train-labels-idx1-ubyte  (N) u8
//   t10k-images-idx3-ubyte   (M, H, W), same H and W as train
//   t10k-labels-idx1-ubyte   (M) u8
#include "vae/dataset.h"

#include <sys/stat.h>

#include <climits>
#include <cstdlib>

#include "vae/error.h"

namespace vae {
namespace {

constexpr uint8_t kU8 = 0x08, kF32 = 0x0D;

const char* kDefaultFashionMnistDir = "/usr/share/datasets/fashion-mnist";

bool is_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_dir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

/// The path of `name` in `folder`. The plain file wins when both it and `name`.gz exist: the
/// plain one is what `gunzip -k` leaves beside the archive, so it is the copy someone chose to
/// unpack, and it loads without inflating.
std::string find_idx(const std::string& folder, const std::string& name) {
  std::string plain = folder + "/" + name;
  if (is_file(plain)) return plain;
  if (is_file(plain + ".gz")) return plain + ".gz";
  throw Error(folder + ": missing " + name + "[.gz]");
}

std::string describe(const IdxArray& a) {
  static const char* names[] = {"u8", "i8", "?", "i16", "i32", "f32", "f64"};
  std::string type = a.type >= 0x08 && a.type <= 0x0E ? names[a.type - 0x08] : "?";
  std::string dims;
  for (size_t i = 0; i < a.dims.size(); ++i) dims += (i ? "x" : "") + std::to_string(a.dims[i]);
  return type + " " + dims;
}

/// Reads one split: (N, H, W) images and N labels.
Dataset load_split(const std::string& images_path, const std::string& labels_path) {
  IdxArray images = read_idx(images_path);
  if (images.dims.size() != 3 || (images.type != kU8 && images.type != kF32))
    throw Error(images_path +
                ": expected images of type u8 or f32 with dimensions (N, H, W), got " +
                describe(images));
  const uint32_t n = images.dims[0], h = images.dims[1], w = images.dims[2];
  if (n == 0 || h == 0 || w == 0)
    throw Error(images_path + ": no images (dimensions " + describe(images) + ")");
  if (h > INT_MAX || w > INT_MAX)
    throw Error(images_path + ": image size " + describe(images) + " too large");

  IdxArray labels = read_idx(labels_path);
  if (labels.dims.size() != 1 || labels.type != kU8)
    throw Error(labels_path + ": expected labels of type u8 with dimensions (N), got " +
                describe(labels));
  if (labels.dims[0] != n)
    throw Error(images_path + ": " + std::to_string(n) + " images but " +
                std::to_string(labels.dims[0]) + " labels in " + labels_path);

  Dataset ds;
  ds.n = n;
  ds.height = static_cast<int>(h);
  ds.width = static_cast<int>(w);
  ds.channels = 1;
  ds.d = size_t{h} * w;
  ds.x = std::move(images.values);  // (N, D)
  if (images.type == kU8) {
    for (float& v : ds.x) v /= 255.0f;
  } else {
    // Float images are taken as they are; rescaling them here would hide a file that was
    // written with another convention (0..255, or mean/std normalised).
    for (size_t i = 0; i < ds.x.size(); ++i)
      if (!(ds.x[i] >= 0.0f && ds.x[i] <= 1.0f))
        throw Error(images_path + ": value " + std::to_string(ds.x[i]) + " at index " +
                    std::to_string(i) + " outside [0, 1]");
  }
  ds.labels.assign(labels.values.begin(), labels.values.end());  // (N), exact: u8 values
  return ds;
}

}  // namespace

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                                 "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};
  return names;
}

DataSplits load_data(const std::string& spec) {
  std::string folder = spec;
  std::string hint = " (expected \"fashion-mnist\" or a folder with the MNIST IDX files)";
  if (spec == "fashion-mnist") {
    const char* env = std::getenv("FASHION_MNIST_DIR");
    folder = env && *env ? env : kDefaultFashionMnistDir;
    hint = env && *env ? " (from FASHION_MNIST_DIR)"
                       : " (install dataset-fashion-mnist, or set FASHION_MNIST_DIR)";
  }
  if (!is_dir(folder)) throw Error(folder + ": no such folder" + hint);

  std::string train_images = find_idx(folder, "train-images-idx3-ubyte");
  std::string train_labels = find_idx(folder, "train-labels-idx1-ubyte");
  std::string test_images = find_idx(folder, "t10k-images-idx3-ubyte");
  std::string test_labels = find_idx(folder, "t10k-labels-idx1-ubyte");

  DataSplits s;
  s.source = folder;
  s.train = load_split(train_images, train_labels);
  s.test = load_split(test_images, test_labels);
  if (s.test.height != s.train.height || s.test.width != s.train.width)
    throw Error(test_images + ": images are " + std::to_string(s.test.height) + "x" +
                std::to_string(s.test.width) + " but " + train_images + " has " +
                std::to_string(s.train.height) + "x" + std::to_string(s.train.width));
  if (spec == "fashion-mnist") s.train.class_names = s.test.class_names = fashion_mnist_class_names();
  return s;
}

}  // namespace vae
