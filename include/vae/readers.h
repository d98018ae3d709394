// Readers for a user's own data: CSV tables, NumPy arrays and folders of images. Each returns
// the values as read (no scaling: the caller applies --scale), with geometry for images and
// labels where the source has them.
//
// Legend: N examples (rows, images), D values per example.
#pragma once

#include <string>

#include "vae/dataset.h"

namespace vae {

/// Whether a CSV file's first line is a header: Auto decides from its fields (read_csv).
enum class CsvHeader { Auto, Yes, No };
const char* csv_header_name(CsvHeader header);  ///< "auto", "yes", "no"
/// Throws FieldError("header", ...) for any other text.
CsvHeader parse_csv_header(const std::string& text);

/// The field delimiters a CSV file may use; 0 stands for "sniff it from the file".
/// Names: "auto" (0), "," , ";", "tab" ('\t'), "space" (' ': runs of spaces and tabs).
std::string csv_delimiter_name(char delimiter);
/// Reads a name above (a literal tab is "tab" too); throws FieldError("delimiter", ...).
char parse_csv_delimiter(const std::string& text);
/// The delimiter of the text [begin, end) of a CSV file: of ',', tab, ';' and whitespace, in
/// that order of preference, the first that splits each of the first ten non-blank lines into
/// the same number (more than one) of fields (separators inside double quotes not counted);
/// ',' when none does (a file of one column).
char sniff_csv_delimiter(const char* begin, const char* end);

struct CsvOptions {
  /// Column holding class labels, by header name or 0-based index ("3"); empty = none.
  /// The label column is not part of x.
  std::string label_column;
  char delimiter = 0;                 ///< ',', ';', '\t', ' ' (whitespace), or 0 = sniffed
  CsvHeader header = CsvHeader::Auto;
};

/// A CSV file of numbers: one example per line, fields separated by options.delimiter (sniffed
/// by default: sniff_csv_delimiter), an optional header line, blank lines and trailing "\r"
/// ignored, fields optionally double-quoted. With the whitespace delimiter any run of spaces
/// and tabs separates two fields (and spaces at either end of a line are ignored); with the
/// others, spaces (and tabs unless tab is the delimiter) around a field are ignored.
/// Header: Yes / No as asked; Auto: the first non-blank line is a header when a field of it
/// that is not the label column given by index is not a number, or that column's field is not
/// a number and another field spells the label column's name. A header row of numbers only
/// (e.g. pixel indexes "0,1,2,...") therefore reads as data under Auto: give Yes for it.
/// Every row must have the same number of fields. Values that are not finite numbers (NaN,
/// inf, empty, text) are errors naming the file, line and column: "<path>:<line>: column <c>
/// ('<name>'): '<text>' is not a number", with a hint at the delimiter when the text holds
/// another delimiter.
/// Labels: when the label column's first value is a number, every label must be a
/// non-negative integer; otherwise the column holds class names: the distinct names, sorted
/// (byte order), are the classes 0, 1, … and fill Dataset::class_names.
/// Result: height = width = channels = 0, d = columns.
Dataset read_csv(const std::string& path, const CsvOptions& options = {});

/// A .npy array (read_npy's dtypes): (N, D) → a table; (N, H, W) → grey images (channels 1);
/// (N, H, W, C) with C in {1, 3, 4} → images. Values as stored (uint8 stays 0..255).
/// Non-finite values are errors naming the file and the flat index.
Dataset read_npy_dataset(const std::string& path);

/// A folder of .png / .jpg / .jpeg images (case-insensitive extensions; other files ignored).
/// Either the images lie directly in the folder (no labels), or in one subfolder per class
/// (labels 0, 1, … in sorted subfolder order; class_names and Dataset::class_names filled). All images must share one
/// size and channel count — they are not resized; the first that differs is an error naming it
/// and both sizes. Grey stays 1 channel, RGB 3, alpha is dropped (RGBA → RGB, grey+alpha → grey).
/// Values 0..255 as float, (H, W, C) order per image, files in sorted path order.
Dataset read_image_folder(const std::string& dir, std::vector<std::string>* class_names = nullptr);

}  // namespace vae
