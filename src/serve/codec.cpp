// Request decoding (JSON and NPY bodies into a Tensor) and the JSON pieces of answers.
#include "serve/codec.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>

#include <nlohmann/json.hpp>

#include "vae/error.h"
#include "vae/npy.h"

namespace vae::serve {
namespace {

using nlohmann::json;

// Requests are arrays of rows: nothing deeper than a few levels is meaningful, and a limit keeps
// a body of a million '[' from costing a deep parse.
constexpr int kMaxJsonDepth = 8;

void check_json_depth(const std::string& body) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) throw BadRequest("body: JSON nested deeper than 8 levels");
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

// One JSON number into a float; the row and column name the place for messages.
float json_value(const json& v, const std::string& key, size_t i, size_t j) {
  if (!v.is_number())
    throw BadRequest(key + "[" + std::to_string(i) + "][" + std::to_string(j) + "]: expected a number");
  const double d = v.get<double>();
  const float f = static_cast<float>(d);
  if (!std::isfinite(f))
    throw Unprocessable(key + "[" + std::to_string(i) + "][" + std::to_string(j) +
                        "]: not a finite float32 value");
  return f;
}

// A JSON array of rows (or one flat row) into a (B, cols) tensor.
Tensor json_tensor(const json& a, const std::string& key, size_t cols) {
  if (!a.is_array()) throw BadRequest(key + ": expected an array of rows");
  const bool flat = !a.empty() && !a[0].is_array();
  Tensor t;
  t.cols = cols;
  t.rows = flat ? 1 : a.size();
  t.values.reserve(t.rows * cols);
  for (size_t i = 0; i < t.rows; ++i) {
    const json& row = flat ? a : a[i];
    if (!row.is_array()) throw BadRequest(key + "[" + std::to_string(i) + "]: expected an array");
    if (row.size() != cols)
      throw Unprocessable(key + "[" + std::to_string(i) + "]: has " + std::to_string(row.size()) +
                          " values, the model takes " + std::to_string(cols));
    for (size_t j = 0; j < cols; ++j) t.values.push_back(json_value(row[j], key, i, j));
  }
  return t;
}

std::vector<int32_t> json_labels(const json& a) {
  if (!a.is_array()) throw BadRequest("labels: expected an array of integers");
  std::vector<int32_t> out;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_number_integer()) throw BadRequest("labels[" + std::to_string(i) + "]: expected an integer");
    const int64_t v = a[i].get<int64_t>();
    if (v < 0 || v > std::numeric_limits<int32_t>::max())
      throw Unprocessable("labels[" + std::to_string(i) + "]: " + std::to_string(v) + " is out of range");
    out.push_back(static_cast<int32_t>(v));
  }
  return out;
}

RequestBody decode_json(const std::string& body, const std::string& input_key, size_t cols,
                        const std::vector<std::string>& int_keys) {
  check_json_depth(body);
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) throw BadRequest("body: not valid JSON");
  if (!doc.is_object()) throw BadRequest("body: expected a JSON object");
  RequestBody out;
  if (!input_key.empty()) {
    if (!doc.contains(input_key)) throw BadRequest(input_key + ": missing");
    out.input = json_tensor(doc.at(input_key), input_key, cols);
  }
  if (doc.contains("labels")) out.labels = json_labels(doc.at("labels"));
  for (const std::string& k : int_keys) {
    if (!doc.contains(k)) continue;
    const json& v = doc.at(k);
    if (!v.is_number_integer()) throw BadRequest(k + ": expected an integer");
    out.ints[k] = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max())
                      ? std::numeric_limits<int64_t>::max()
                      : v.get<int64_t>();
  }
  return out;
}

// "12" → 12; BadRequest naming the parameter otherwise.
int64_t query_int(const std::string& key, const std::string& text) {
  if (text.empty() || text.size() > 19) throw BadRequest(key + ": expected an integer, got '" + text + "'");
  size_t i = text[0] == '-' ? 1 : 0;
  if (i == text.size()) throw BadRequest(key + ": expected an integer, got '" + text + "'");
  int64_t v = 0;
  for (; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') throw BadRequest(key + ": expected an integer, got '" + text + "'");
    v = v * 10 + (text[i] - '0');
  }
  return text[0] == '-' ? -v : v;
}

RequestBody decode_npy(const std::string& body, const std::string& input_key, size_t cols,
                       const std::vector<std::string>& int_keys,
                       const std::map<std::string, std::string>& query) {
  RequestBody out;
  for (const std::string& k : int_keys)
    if (auto it = query.find(k); it != query.end()) out.ints[k] = query_int(k, it->second);
  if (input_key.empty()) return out;
  NpyArray a;
  try {
    a = parse_npy(body.data(), body.size(), "body");
  } catch (const vae::Error& e) {
    throw BadRequest(e.what());
  }
  if (a.shape.size() != 1 && a.shape.size() != 2)
    throw Unprocessable("body: a " + std::to_string(a.shape.size()) + "-d array; expected (B, " +
                        std::to_string(cols) + ") or (" + std::to_string(cols) + ")");
  const size_t got = static_cast<size_t>(a.shape.back());
  if (got != cols)
    throw Unprocessable("body: rows of " + std::to_string(got) + " values, the model takes " +
                        std::to_string(cols));
  for (size_t i = 0; i < a.data.size(); ++i)
    if (!std::isfinite(a.data[i]))
      throw Unprocessable("body: value " + std::to_string(i) + " is not finite");
  Tensor t;
  t.cols = cols;
  t.rows = a.shape.size() == 2 ? static_cast<size_t>(a.shape[0]) : 1;
  t.values = std::move(a.data);
  out.input = std::move(t);
  return out;
}

}  // namespace

std::optional<BodyFormat> body_format(const std::string& content_type) {
  const std::string media = content_type.substr(0, content_type.find(';'));
  std::string m;
  for (char c : media)
    if (c != ' ' && c != '\t') m += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (m == "application/json") return BodyFormat::Json;
  if (m == "application/x-npy") return BodyFormat::Npy;
  return std::nullopt;
}

RequestBody decode_body(BodyFormat format, const std::string& body, const std::string& input_key,
                        size_t cols, size_t max_rows, const std::vector<std::string>& int_keys,
                        const std::map<std::string, std::string>& query) {
  RequestBody out = format == BodyFormat::Json ? decode_json(body, input_key, cols, int_keys)
                                               : decode_npy(body, input_key, cols, int_keys, query);
  if (format == BodyFormat::Npy)
    if (auto it = query.find("label"); it != query.end() && out.input) {
      const int64_t label = query_int("label", it->second);
      if (label < 0 || label > std::numeric_limits<int32_t>::max())
        throw Unprocessable("label: " + it->second + " is out of range");
      out.labels.assign(out.input->rows, static_cast<int32_t>(label));
    }
  if (out.input) {
    if (out.input->rows == 0) throw Unprocessable(input_key + ": no rows");
    if (out.input->rows > max_rows)
      throw Unprocessable(input_key + ": " + std::to_string(out.input->rows) +
                          " rows, more than the limit of " + std::to_string(max_rows));
    if (!out.labels.empty() && out.labels.size() != out.input->rows)
      throw Unprocessable("labels: " + std::to_string(out.labels.size()) + " labels for " +
                          std::to_string(out.input->rows) + " rows");
  }
  return out;
}

std::map<std::string, std::string> parse_query(const std::string& query) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start < query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string::npos) end = query.size();
    const std::string pair = query.substr(start, end - start);
    const size_t eq = pair.find('=');
    std::string value;
    const std::string raw = eq == std::string::npos ? "" : pair.substr(eq + 1);
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '+') {
        value += ' ';
      } else if (raw[i] == '%') {
        if (i + 2 >= raw.size() || !std::isxdigit(static_cast<unsigned char>(raw[i + 1])) ||
            !std::isxdigit(static_cast<unsigned char>(raw[i + 2])))
          throw BadRequest("query: bad percent escape");
        value += static_cast<char>(std::stoi(raw.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        value += raw[i];
      }
    }
    if (!pair.empty()) out[pair.substr(0, eq)] = value;
    start = end + 1;
  }
  return out;
}

std::string json_matrix(const float* values, size_t rows, size_t cols) {
  std::string out = "[";
  char buf[32];
  for (size_t i = 0; i < rows; ++i) {
    out += i ? ",[" : "[";
    for (size_t j = 0; j < cols; ++j) {
      std::snprintf(buf, sizeof buf, j ? ",%.9g" : "%.9g", static_cast<double>(values[i * cols + j]));
      out += buf;
    }
    out += "]";
  }
  return out + "]";
}

std::string json_string(const std::string& s) { return json(s).dump(-1, ' ', false, json::error_handler_t::replace); }

std::string json_error(const std::string& message) { return "{\"error\": " + json_string(message) + "}"; }

}  // namespace vae::serve
