// Data specs to scaled splits (rules in include/vae/data_pipeline.h).
#include "vae/data_pipeline.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>

#include "core/enum_names.h"
#include "io/number_text.h"
#include "model/likelihoods/likelihoods.h"
#include "vae/error.h"
#include "vae/readers.h"
#include "vae/rng.h"

namespace vae {

namespace {

namespace fs = std::filesystem;

constexpr EnumName<Scale> kScaleNames[] = {{Scale::Auto, "auto"},
                                           {Scale::ZeroOne, "01"},
                                           {Scale::Standardize, "standardize"},
                                           {Scale::None, "none"}};
constexpr EnumName<ScalerKind> kScalerKindNames[] = {{ScalerKind::None, "none"},
                                                     {ScalerKind::ZeroOne, "01"},
                                                     {ScalerKind::Standardize, "standardize"}};

constexpr uint64_t kSplitSalt = 0x5b117ull;

bool ends_with_ci(const std::string& s, const std::string& suffix) {
  if (s.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) != suffix[i])
      return false;
  return true;
}

// "a, b, c": the names, shortened after `most` of them.
std::string name_list(const std::vector<std::string>& names, size_t most = 12) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < most; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > most) out += ", … (" + std::to_string(names.size()) + " in all)";
  return out;
}

// Rows `idx` of `d`, in that order.
Dataset take_rows(const Dataset& d, const std::vector<uint32_t>& idx) {
  Dataset out;
  out.n = idx.size();
  out.d = d.d;
  out.height = d.height;
  out.width = d.width;
  out.channels = d.channels;
  out.class_names = d.class_names;
  out.x.resize(out.n * out.d);
  for (size_t r = 0; r < idx.size(); ++r)
    std::copy(d.row(idx[r]), d.row(idx[r]) + d.d, out.x.begin() + static_cast<std::ptrdiff_t>(r * d.d));
  if (!d.labels.empty()) {
    out.labels.resize(out.n);
    for (size_t r = 0; r < idx.size(); ++r) out.labels[r] = d.labels[idx[r]];
  }
  return out;
}

// Splits `d` into (rest, part) with `k` rows in part, drawn by `rng`.
void split_off(const Dataset& d, size_t k, Rng& rng, Dataset& rest, Dataset& part) {
  std::vector<uint32_t> order(d.n);
  std::iota(order.begin(), order.end(), 0u);
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  std::vector<uint32_t> part_idx(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k));
  std::vector<uint32_t> rest_idx(order.begin() + static_cast<std::ptrdiff_t>(k), order.end());
  // Keep the original order within each part: rows stay in file order, only the membership is random.
  std::sort(part_idx.begin(), part_idx.end());
  std::sort(rest_idx.begin(), rest_idx.end());
  Dataset r = take_rows(d, rest_idx), p = take_rows(d, part_idx);
  rest = std::move(r);
  part = std::move(p);
}

// round(fraction · n): the rows a fraction of n keeps.
size_t rows_of(double fraction, size_t n) {
  return static_cast<size_t>(std::llround(fraction * static_cast<double>(n)));
}

// Splits `d` into (rest, tail) with its last `k` rows in tail (file order kept).
void split_tail(const Dataset& d, size_t k, Dataset& rest, Dataset& tail) {
  std::vector<uint32_t> rest_idx(d.n - k), tail_idx(k);
  std::iota(rest_idx.begin(), rest_idx.end(), 0u);
  std::iota(tail_idx.begin(), tail_idx.end(), static_cast<uint32_t>(d.n - k));
  Dataset r = take_rows(d, rest_idx), t = take_rows(d, tail_idx);
  rest = std::move(r);
  tail = std::move(t);
}

// Moves the validation rows out of s.train (the rule in vae/data_pipeline.h): the default takes
// the last sixth of a source with its own test files, else 10% at random, at least one row of
// two or more; a fraction F takes round(F · n) rows at random.
void split_validation(DataSplits& s, const DataOptions& opts, bool own_test_files, Rng& rng) {
  if (opts.val_split == 0) return;
  const size_t n = s.train.n;
  Dataset rest;
  if (opts.val_split > 0) {
    split_off(s.train, rows_of(opts.val_split, n), rng, rest, s.val);
  } else if (own_test_files) {
    split_tail(s.train, n >= 2 ? std::max<size_t>(n / 6, 1) : 0, rest, s.val);
  } else {
    split_off(s.train, n >= 2 ? std::max<size_t>(rows_of(kDefaultValFraction, n), 1) : 0, rng,
              rest, s.val);
  }
  s.train = std::move(rest);
}

// The first `limit` rows of `d` (all of them when limit is 0 or beyond n).
void keep_first(Dataset& d, int limit) {
  if (limit <= 0 || static_cast<size_t>(limit) >= d.n) return;
  d.n = static_cast<size_t>(limit);
  d.x.resize(d.n * d.d);
  if (!d.labels.empty()) d.labels.resize(d.n);
}

bool u8_source(const std::string& spec) {
  // Image folders and NPY files hold 0..255 when their values say so; IDX images arrive in [0,1].
  return !is_mnist_source(spec);
}

// The rule `scale` asks for on these data: auto picks 01 for images and, for tables, what the
// likelihood's row says (01 for Bernoulli, standardize for the Gaussians).
ScalerKind resolve_scale(Scale scale, bool images, Likelihood likelihood) {
  switch (scale) {
    case Scale::Auto: return images ? ScalerKind::ZeroOne : likelihood_row(likelihood).auto_scale;
    case Scale::ZeroOne: return ScalerKind::ZeroOne;
    case Scale::Standardize: return ScalerKind::Standardize;
    case Scale::None: return ScalerKind::None;
  }
  return ScalerKind::None;
}

// The training rows' range per column; for images the range over all pixels, in every column
// (a pixel position that was always dark in training is no anomaly when it is not).
void fit_range(const Dataset& train, Scaler& s) {
  const size_t D = train.d;
  s.lo.assign(D, INFINITY);
  s.hi.assign(D, -INFINITY);
  for (size_t i = 0; i < train.n; ++i)
    for (size_t j = 0; j < D; ++j) {
      s.lo[j] = std::min(s.lo[j], train.row(i)[j]);
      s.hi[j] = std::max(s.hi[j], train.row(i)[j]);
    }
  if (train.channels > 0 && D > 0) {
    const float lo = *std::min_element(s.lo.begin(), s.lo.end());
    const float hi = *std::max_element(s.hi.begin(), s.hi.end());
    s.lo.assign(D, lo);
    s.hi.assign(D, hi);
  }
}

Scaler fit_scaler(const Dataset& train, Scale scale, Likelihood likelihood,
                  const std::string& spec) {
  const bool images = train.channels > 0;
  const ScalerKind kind = resolve_scale(scale, images, likelihood);
  Scaler s;
  s.kind = kind;
  fit_range(train, s);
  const size_t D = train.d;
  if (kind == ScalerKind::None) return s;
  if (kind == ScalerKind::ZeroOne && images) {
    if (is_mnist_source(spec)) {  // already in [0, 1]
      s.lo.assign(D, 0.0f);
      s.hi.assign(D, 1.0f);
      return s;
    }
    float hi = 0;
    for (float v : train.x) hi = std::max(hi, v);
    // 8-bit images (values up to 255) are divided by 255; data already in [0, 1] stay as they are.
    const float factor = (u8_source(spec) && hi > 1.0f) ? 1.0f / 255.0f : 1.0f;
    s.offset.assign(D, 0.0f);
    s.factor.assign(D, factor);
    // The range the model takes is the pixel format's: 0..255, or 0..1.
    s.lo.assign(D, 0.0f);
    s.hi.assign(D, 1.0f / factor);
    return s;
  }
  s.offset.assign(D, 0.0f);
  s.factor.assign(D, 1.0f);
  if (kind == ScalerKind::ZeroOne) {
    s.clamp01 = true;
    const std::vector<float>&lo = s.lo, &hi = s.hi;  // tables: per column (fit_range)
    for (size_t j = 0; j < D; ++j) {
      s.offset[j] = train.n ? lo[j] : 0.0f;
      s.factor[j] = (train.n && hi[j] > lo[j]) ? 1.0f / (hi[j] - lo[j]) : 1.0f;
    }
  } else {  // standardize
    std::vector<double> mean(D, 0.0), sq(D, 0.0);
    for (size_t i = 0; i < train.n; ++i)
      for (size_t j = 0; j < D; ++j) mean[j] += train.row(i)[j];
    for (size_t j = 0; j < D; ++j) mean[j] /= std::max<size_t>(train.n, 1);
    for (size_t i = 0; i < train.n; ++i)
      for (size_t j = 0; j < D; ++j) sq[j] += (train.row(i)[j] - mean[j]) * (train.row(i)[j] - mean[j]);
    for (size_t j = 0; j < D; ++j) {
      const double sd = train.n > 1 ? std::sqrt(sq[j] / (train.n - 1)) : 0.0;
      s.offset[j] = static_cast<float>(mean[j]);
      s.factor[j] = sd > 1e-12 ? static_cast<float>(1.0 / sd) : 1.0f;
    }
  }
  return s;
}

// FNV-1a, 64 bits, over n bytes from `h`.
uint64_t fnv1a(uint64_t h, const void* bytes, size_t n) {
  const auto* p = static_cast<const unsigned char*>(bytes);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

std::string hex64(uint64_t v) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

DataFingerprint fingerprint(const Dataset& data) {
  DataFingerprint f;
  f.rows = data.n;
  if (data.channels > 0)
    f.shape = {data.height, data.width, data.channels};
  else
    f.shape = {static_cast<int64_t>(data.d)};
  f.hash = fnv1a(0xcbf29ce484222325ull, data.x.data(), data.x.size() * sizeof(float));
  f.hash = fnv1a(f.hash, data.labels.data(), data.labels.size() * sizeof(int32_t));
  return f;
}

std::string DataFingerprint::describe() const {
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i) dims += (i ? "x" : "") + std::to_string(shape[i]);
  return std::to_string(rows) + " rows of " + dims + " values, hash " + hex64(hash);
}

std::string DataFingerprint::to_json() const {
  return nlohmann::json{{"rows", rows}, {"shape", shape}, {"hash", hex64(hash)}}.dump();
}

DataFingerprint DataFingerprint::from_json(const std::string& text, const std::string& origin) {
  DataFingerprint f;
  try {
    const auto j = nlohmann::json::parse(text);
    f.rows = j.at("rows").get<uint64_t>();
    f.shape = j.at("shape").get<std::vector<int64_t>>();
    const std::string h = j.at("hash").get<std::string>();
    if (h.size() != 16 || h.find_first_not_of("0123456789abcdef") != std::string::npos)
      throw Error("hash '" + h + "' is not 16 hex digits");
    f.hash = std::stoull(h, nullptr, 16);
  } catch (const nlohmann::json::exception& e) {
    throw Error(origin + ": malformed data fingerprint (" + e.what() + ")");
  } catch (const Error& e) {
    throw Error(origin + ": data fingerprint: " + e.what());
  }
  return f;
}

std::string canonical_source(const std::string& spec) {
  if (spec.empty() || spec == "fashion-mnist") return spec;
  std::error_code ec;
  const fs::path p = fs::weakly_canonical(fs::path(spec), ec);
  return ec ? spec : p.string();
}

const char* scale_name(Scale scale) { return enum_name(kScaleNames, scale); }
Scale parse_scale(const std::string& text) { return enum_parse(kScaleNames, text, "scale"); }

const char* scaler_kind_name(ScalerKind kind) { return enum_name(kScalerKindNames, kind); }
ScalerKind parse_scaler_kind(const std::string& text) {
  return enum_parse(kScalerKindNames, text, "kind");
}

void DataOptions::validate() const {
  if (data.empty()) throw FieldError("data", "needs a data set");
  if (test_split >= 1 || (test_split < 0 && test_split != -1))
    throw FieldError("test_split", "must be in [0, 1), got " + shortest(test_split));
  if (!(val_split == -1 || (val_split >= 0 && val_split < 1)))
    throw FieldError("val_split", "must be in [0, 1) (or -1 = default), got " + shortest(val_split));
  if (!test_data.empty() && test_split > 0)
    throw FieldError("test_split", "cannot be combined with a separate test source ({test_data})");
  if (limit < 0) throw FieldError("limit", "must be >= 0 (0 = every example), got " + std::to_string(limit));
}

void Scaler::apply(Dataset& data) const {
  if (identity() || data.n == 0) return;
  VAE_ASSERT(offset.size() == data.d && factor.size() == data.d);
  for (size_t i = 0; i < data.n; ++i) {
    float* r = data.x.data() + i * data.d;
    for (size_t j = 0; j < data.d; ++j) {
      float y = (r[j] - offset[j]) * factor[j];
      if (clamp01) y = std::min(1.0f, std::max(0.0f, y));
      r[j] = y;
    }
  }
}

std::vector<uint32_t> Scaler::out_of_range(const float* rows, size_t n, size_t D) const {
  if (lo.size() != D || hi.size() != D) return {};
  std::vector<uint32_t> count(n, 0);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < D; ++j) {
      const float v = rows[i * D + j];
      count[i] += !(v >= lo[j] && v <= hi[j]);
    }
  return count;
}

void Scaler::invert(float* rows, size_t n) const {
  if (identity()) return;
  const size_t D = offset.size();
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < D; ++j) rows[i * D + j] = rows[i * D + j] / factor[j] + offset[j];
}

void renumber_classes(Dataset& d, const std::vector<std::string>& classes,
                      const std::string& source) {
  if (d.class_names.empty() || classes.empty() || d.class_names == classes) return;
  // 1. Where each of d's names is among `classes`.
  std::vector<int32_t> to(d.class_names.size());
  for (size_t y = 0; y < d.class_names.size(); ++y) {
    const auto at = std::find(classes.begin(), classes.end(), d.class_names[y]);
    if (at == classes.end())
      throw Error(source + ": class '" + d.class_names[y] + "' is not one of the training data's "
                  "classes (" + name_list(classes) + ")");
    to[y] = static_cast<int32_t>(at - classes.begin());
  }
  // 2. Each label by its name's place.
  for (int32_t& y : d.labels) y = to[static_cast<size_t>(y)];
  d.class_names = classes;
}

bool is_mnist_source(const std::string& spec) {
  if (spec == "fashion-mnist") return true;
  std::error_code ec;
  if (!fs::is_directory(spec, ec)) return false;
  for (const char* name : {"train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"})
    if (fs::exists(fs::path(spec) / name, ec)) return true;
  return false;
}

Dataset read_source(const std::string& spec, const DataOptions& opts, const std::string& which) {
  if (is_mnist_source(spec)) {
    DataSplits s = load_data(spec);
    return which == "test" ? std::move(s.test) : std::move(s.train);
  }
  std::error_code ec;
  if (fs::is_directory(spec, ec)) return read_image_folder(spec);
  if (ends_with_ci(spec, ".csv")) {
    CsvOptions o;
    o.label_column = opts.label_column;
    o.delimiter = opts.delimiter;
    o.header = opts.header;
    return read_csv(spec, o);
  }
  if (ends_with_ci(spec, ".npy")) return read_npy_dataset(spec);
  if (!fs::exists(spec, ec))
    throw Error(spec + ": no such file or folder (expected 'fashion-mnist', an MNIST-format folder, "
                       "a folder of images, a .csv or a .npy file)");
  throw Error(spec + ": cannot tell the format (expected an MNIST-format folder, a folder of "
                     "images, a .csv or a .npy file)");
}

DataSplits load_splits(const DataOptions& opts, uint64_t seed, Likelihood likelihood,
                       const Scaler* fitted, Scaler* out_scaler, SourceFingerprints* prints) {
  opts.validate();
  Rng rng(seed ^ kSplitSalt);
  DataSplits s;
  s.source = opts.data;
  const bool own_test_files =
      is_mnist_source(opts.data) && opts.test_data.empty() && opts.test_split <= 0;
  if (own_test_files) {
    DataSplits m = load_data(opts.data);
    s.train = std::move(m.train);
    s.test = std::move(m.test);
    s.source = m.source;
    keep_first(s.train, opts.limit);
    keep_first(s.test, opts.limit);
    if (prints) *prints = {fingerprint(s.train), fingerprint(s.test)};
  } else {
    Dataset all = read_source(opts.data, opts, "train");
    keep_first(all, opts.limit);
    if (prints) prints->data = fingerprint(all);
    if (!opts.test_data.empty()) {
      s.train = std::move(all);
      s.test = read_source(opts.test_data, opts, "test");
      keep_first(s.test, opts.limit);
      if (prints) prints->test_data = fingerprint(s.test);
      if (s.test.d != s.train.d)
        throw Error(opts.test_data + ": has " + std::to_string(s.test.d) +
                    " values per example but " + opts.data + " has " + std::to_string(s.train.d));
      renumber_classes(s.test, s.train.class_names, opts.test_data);
    } else {
      const double f = opts.test_split < 0 ? 0.1 : opts.test_split;
      split_off(all, rows_of(f, all.n), rng, s.train, s.test);
    }
  }
  split_validation(s, opts, own_test_files, rng);
  if (s.train.n == 0) throw Error(opts.data + ": leaves no training rows after the splits");

  Scaler scaler = fitted ? *fitted : fit_scaler(s.train, opts.scale, likelihood, opts.data);
  if (!scaler.identity() && scaler.offset.size() != s.train.d)
    throw Error(opts.data + ": has " + std::to_string(s.train.d) +
                " values per example but the saved scaling has " + std::to_string(scaler.offset.size()));
  scaler.apply(s.train);
  scaler.apply(s.val);
  scaler.apply(s.test);
  if (out_scaler) *out_scaler = scaler;
  return s;
}

void check_splits_for_training(const DataSplits& s, const DataOptions& opts) {
  if (s.train.n == 0) throw Error(opts.data + ": leaves no training rows after the splits");
  if (s.test.n == 0) {
    if (!opts.test_data.empty()) throw Error(opts.test_data + ": holds no rows to test on");
    if (is_mnist_source(opts.data) && opts.test_split <= 0)
      throw Error(s.source + ": its test files hold no rows");
    const size_t n = s.train.n + s.val.n;
    throw FieldError("test_split", "keeps none of the " + std::to_string(n) + " rows of " +
                                       opts.data + " for testing; give a larger fraction or a "
                                       "separate test set");
  }
  if (opts.val_split > 0 && s.val.n == 0)
    throw FieldError("val_split", "keeps none of the " + std::to_string(s.train.n) +
                                      " training rows for validation; give a larger fraction");
  if (opts.val_split < 0 && s.val.n == 0)
    throw FieldError("val_split", "the default validation split needs at least 2 training rows "
                                  "(there are " + std::to_string(s.train.n) +
                                  "); give val_split 0 to select the model on the test set");
}

void check_labels_for(const Dataset& data, int classes, const std::string& what) {
  if (data.n == 0) return;
  if (data.labels.size() != data.n)
    throw Error(what + ": a conditional model needs a label for every example");
  for (size_t i = 0; i < data.n; ++i)
    if (data.labels[i] < 0 || data.labels[i] >= classes)
      throw Error(what + ": row " + std::to_string(i) + " has label " +
                  std::to_string(data.labels[i]) + ", outside the classes 0.." +
                  std::to_string(classes - 1) + " of the training rows");
}

void check_range_for(const Dataset& data, Likelihood likelihood, const std::string& what) {
  const LikelihoodRow& row = likelihood_row(likelihood);
  if (!row.unit_interval) return;
  for (size_t i = 0; i < data.n; ++i)
    for (size_t j = 0; j < data.d; ++j) {
      const float v = data.row(i)[j];
      if (!(v >= 0.0f && v <= 1.0f))
        throw Error(what + ": row " + std::to_string(i) + ", column " + std::to_string(j) +
                    " is " + std::to_string(v) +
                    " after scaling; the " + row.name +
                    " likelihood needs values in [0, 1] (scale them to [0, 1], or choose a gaussian likelihood)");
    }
}

}  // namespace vae
