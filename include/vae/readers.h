// Readers for a user's own data: CSV tables, NumPy arrays and folders of images. Each returns
// the values as read (no scaling: the caller applies --scale), with geometry for images and
// labels where the source has them.
//
// Legend: N examples (rows, images), D values per example.
#pragma once

#include <string>

#include "vae/dataset.h"

namespace vae {

struct CsvOptions {
  /// Column holding integer class labels, by header name or 0-based index ("3"); empty = none.
  /// The label column is not part of x.
  std::string label_column;
};

/// A CSV file of numbers: comma-separated, one example per line, an optional header line
/// (detected: a first line with any field that is not a number is a header), blank lines and
/// trailing "\r" ignored, fields optionally double-quoted. Every row must have the same number
/// of fields. Values that are not finite numbers (NaN, inf, empty, text) are errors naming the
/// file, line and column: "<path>:<line>: column <c> ('<name>'): '<text>' is not a number".
/// Labels must be non-negative integers. Result: height = width = channels = 0, d = columns.
Dataset read_csv(const std::string& path, const CsvOptions& options = {});

/// A .npy array (read_npy's dtypes): (N, D) → a table; (N, H, W) → grey images (channels 1);
/// (N, H, W, C) with C in {1, 3, 4} → images. Values as stored (uint8 stays 0..255).
/// Non-finite values are errors naming the file and the flat index.
Dataset read_npy_dataset(const std::string& path);

/// A folder of .png / .jpg / .jpeg images (case-insensitive extensions; other files ignored).
/// Either the images lie directly in the folder (no labels), or in one subfolder per class
/// (labels 0, 1, … in sorted subfolder order; class_names filled). All images must share one
/// size and channel count — they are not resized; the first that differs is an error naming it
/// and both sizes. Grey stays 1 channel, RGB 3, alpha is dropped (RGBA → RGB, grey+alpha → grey).
/// Values 0..255 as float, (H, W, C) order per image, files in sorted path order.
Dataset read_image_folder(const std::string& dir, std::vector<std::string>* class_names = nullptr);

}  // namespace vae
