// The safetensors format (https://github.com/huggingface/safetensors):
//   [0, 8)      N, a little-endian uint64: the length of the JSON header
//   [8, 8+N)    a UTF-8 JSON object with one entry per tensor,
//                 "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [b, e]},
//               and optionally "__metadata__": {"<key>": "<string>", ...}; padded at the end
//               with spaces so that 8+N is a multiple of 8 (the buffer starts aligned)
//   [8+N, end)  the byte buffer. A tensor's bytes are [b, e) of the buffer, little-endian,
//               C order; e - b = product(shape) * dtype size (a scalar has shape [] and one
//               element). The tensors tile the buffer exactly: no gaps, no overlaps.
// The reader treats every file as hostile: each length and offset is checked against the bytes
// actually present before it is used, so a truncated or corrupted file is a vae::Error, never a
// crash or a huge allocation.
#include "io/safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "io/fileio.h"
#include "vae/error.h"

namespace vae {
namespace {

using Json = nlohmann::json;

// The reference implementation refuses headers above 100 MB; the same bound keeps the parsed
// JSON tree (several times the size of its text) within reason.
constexpr uint64_t kMaxHeaderBytes = 100000000;

// A safetensors header nests at most three levels: header object, entry object, shape array.
constexpr size_t kMaxDepth = 3;

[[noreturn]] void fail(const std::string& origin, const std::string& what) {
  throw Error(origin + ": " + what);
}

// Text taken from the file goes into one-line messages: control and non-ASCII bytes are escaped
// and long strings cut, so a hostile name cannot break the line or flood the terminal.
std::string printable(const std::string& s, size_t max_chars = 64) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max_chars; ++i) {
    unsigned char ch = static_cast<unsigned char>(s[i]);
    if (ch >= 0x20 && ch < 0x7f) {
      out += static_cast<char>(ch);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", ch);
      out += buf;
    }
  }
  if (s.size() > max_chars) out += "...";
  return out;
}

std::string in_quotes(const std::string& s) { return "'" + printable(s) + "'"; }

}  // namespace

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i == 8) {
      out += ", ...";
      break;
    }
    if (i) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

namespace {

template <typename U>
void store_le(U v, unsigned char* p) {
  for (size_t i = 0; i < sizeof(U); ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

template <typename U>
U load_le(const unsigned char* p) {
  U v = 0;
  for (size_t i = 0; i < sizeof(U); ++i) v = static_cast<U>(v | (static_cast<U>(p[i]) << (8 * i)));
  return v;
}

bool parse_dtype(const std::string& s, DType* out) {
  for (DType t : {DType::F32, DType::F64, DType::I64, DType::I32, DType::U8}) {
    if (s == dtype_name(t)) {
      *out = t;
      return true;
    }
  }
  return false;
}

// nlohmann's DOM parser keeps the last of duplicate keys without a word, and it would build
// arbitrarily deep trees. This first pass over the header refuses both before any tree exists,
// and turns syntax errors into a message.
class HeaderScan : public nlohmann::json_sax<Json> {
 public:
  std::string problem;

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return open(); }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    if (keys_.back().insert(k).second) return true;
    problem = "duplicate key " + in_quotes(k) + " in the header";
    return false;
  }
  bool parse_error(std::size_t, const std::string&, const Json::exception& ex) override {
    // what() reads "[json.exception.parse_error.101] parse error at line 1, column 7: ...".
    std::string msg = ex.what();
    size_t bracket = msg.find("] ");
    if (bracket != std::string::npos) msg = msg.substr(bracket + 2);
    problem = "header is not valid JSON (" + printable(msg, 200) + ")";
    return false;
  }

 private:
  bool open() {
    if (keys_.size() >= kMaxDepth) {
      problem = "header nests deeper than a safetensors header can";
      return false;
    }
    keys_.emplace_back();
    return true;
  }
  bool close() {
    keys_.pop_back();
    return true;
  }

  std::vector<std::set<std::string>> keys_;  // keys seen so far, one set per open container
};

// A JSON integer as a non-negative int64; false for negatives, fractions, other types and values
// beyond int64.
bool as_count(const Json& j, uint64_t limit, uint64_t* out) {
  if (j.is_number_unsigned()) {
    uint64_t v = j.get<uint64_t>();
    if (v > limit) return false;
    *out = v;
    return true;
  }
  if (j.is_number_integer() && j.get<int64_t>() == 0) {  // "-0"
    *out = 0;
    return true;
  }
  return false;
}

std::string json_string(const std::string& s, const std::string& label, const char* what) {
  try {
    return Json(s).dump();
  } catch (const Json::type_error&) {
    fail(label, std::string(what) + " " + in_quotes(s) + " is not valid UTF-8");
  }
}

// The 8-byte length and the padded JSON header; the tensor bytes follow in the order given.
std::string header_bytes(const SafeTensors& st, const std::string& label) {
  std::set<std::string> names;
  std::string json = "{";
  if (!st.metadata.empty()) {
    json += "\"__metadata__\":{";
    bool first = true;
    for (const auto& kv : st.metadata) {
      if (!first) json += ",";
      first = false;
      json += json_string(kv.first, label, "metadata key") + ":" +
              json_string(kv.second, label, "metadata value");
    }
    json += "}";
  }
  size_t offset = 0;
  for (const TensorEntry& t : st.tensors) {
    VAE_ASSERT(t.name != "__metadata__");
    VAE_ASSERT(names.insert(t.name).second);
    VAE_ASSERT(t.data.size() == t.numel() * dtype_size(t.dtype));
    if (json.size() > 1) json += ",";
    json += json_string(t.name, label, "tensor name");
    json += ":{\"dtype\":\"" + std::string(dtype_name(t.dtype)) + "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) json += (i ? "," : "") + std::to_string(t.shape[i]);
    json += "],\"data_offsets\":[" + std::to_string(offset) + "," +
            std::to_string(offset + t.data.size()) + "]}";
    offset += t.data.size();
  }
  json += "}";
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  store_le<uint64_t>(json.size(), reinterpret_cast<unsigned char*>(&out[0]));
  return out + json;
}

// Where one tensor's bytes lie in the buffer.
struct Span {
  size_t begin, end, index;
};

void parse_metadata(const Json& j, const std::string& origin, SafeTensors* st) {
  if (!j.is_object())
    fail(origin, std::string("__metadata__ is a JSON ") + j.type_name() + ", not an object");
  for (const auto& kv : j.items()) {
    if (!kv.value().is_string())
      fail(origin, "__metadata__ value " + in_quotes(kv.key()) + " is a JSON " +
                       kv.value().type_name() + ", not a string");
    st->metadata[kv.key()] = kv.value().get<std::string>();
  }
}

// Checks one header entry against the buffer size and returns where its bytes lie.
Span parse_entry(const std::string& name, const Json& j, size_t buffer_size,
                 const std::string& origin, TensorEntry* t) {
  const std::string what = "tensor " + in_quotes(name);
  if (!j.is_object()) fail(origin, what + ": entry is a JSON " + j.type_name() + ", not an object");
  for (const auto& kv : j.items()) {
    if (kv.key() != "dtype" && kv.key() != "shape" && kv.key() != "data_offsets")
      fail(origin, what + ": unexpected key " + in_quotes(kv.key()));
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!j.contains(key)) fail(origin, what + ": missing \"" + key + "\"");
  }

  const Json& dtype = j["dtype"];
  if (!dtype.is_string())
    fail(origin, what + ": dtype is a JSON " + dtype.type_name() + ", not a string");
  if (!parse_dtype(dtype.get<std::string>(), &t->dtype))
    fail(origin, what + ": unsupported dtype " + in_quotes(dtype.get<std::string>()) +
                     " (supported: F32, F64, I64, I32, U8)");

  const Json& shape = j["shape"];
  if (!shape.is_array())
    fail(origin, what + ": shape is a JSON " + shape.type_name() + ", not an array");
  bool empty = false;
  for (const Json& d : shape) {
    uint64_t v;
    if (!as_count(d, static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), &v))
      fail(origin, what + ": shape must hold non-negative integers below 2^63");
    t->shape.push_back(static_cast<int64_t>(v));
    empty = empty || v == 0;
  }
  // numel * dtype size must fit size_t; a zero dimension makes the product 0 whatever the rest.
  const size_t elem = dtype_size(t->dtype);
  size_t nbytes = empty ? 0 : elem;
  for (int64_t d : t->shape) {
    if (empty) break;
    if (static_cast<uint64_t>(d) > std::numeric_limits<size_t>::max() / nbytes)
      fail(origin, what + ": shape " + shape_string(t->shape) + " is too large");
    nbytes *= static_cast<size_t>(d);
  }

  const Json& offsets = j["data_offsets"];
  uint64_t begin = 0, end = 0;
  if (!offsets.is_array() || offsets.size() != 2 ||
      !as_count(offsets[0], std::numeric_limits<uint64_t>::max(), &begin) ||
      !as_count(offsets[1], std::numeric_limits<uint64_t>::max(), &end))
    fail(origin, what + ": data_offsets must be two non-negative integers [begin, end]");
  const std::string range = "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
  if (begin > end) fail(origin, what + ": data_offsets " + range + " has begin after end");
  if (end > buffer_size)
    fail(origin, what + ": data_offsets " + range + " run past the end of the " +
                     std::to_string(buffer_size) + "-byte buffer (file truncated?)");
  if (end - begin != nbytes)
    fail(origin, what + ": data_offsets " + range + " hold " + std::to_string(end - begin) +
                     " bytes but shape " + shape_string(t->shape) + " of " + dtype_name(t->dtype) +
                     " needs " + std::to_string(nbytes));
  return Span{static_cast<size_t>(begin), static_cast<size_t>(end), 0};
}

// The header's length from the file's first 8 bytes, checked against the file size and the limit.
uint64_t header_length(const unsigned char* bytes, size_t size, const std::string& origin) {
  if (size < 8)
    fail(origin, "file is " + std::to_string(size) +
                     " bytes, too short for the 8-byte header length of a safetensors file");
  const uint64_t n = load_le<uint64_t>(bytes);
  if (n > size - 8)
    fail(origin, "header length " + std::to_string(n) + " runs past the end of the " +
                     std::to_string(size) + "-byte file (truncated, or not a safetensors file)");
  if (n > kMaxHeaderBytes)
    fail(origin, "header length " + std::to_string(n) + " is above the limit of " +
                     std::to_string(kMaxHeaderBytes) + " bytes");
  return n;
}

// The header [json_begin, json_end) as a JSON object.
Json parse_header(const char* json_begin, const char* json_end, const std::string& origin) {
  // nlohmann's lexer takes a NUL byte for the end of the input and would ignore what follows;
  // JSON text never contains one (control characters in strings must be escaped).
  if (std::memchr(json_begin, '\0', static_cast<size_t>(json_end - json_begin)) != nullptr)
    fail(origin, "header is not valid JSON (it contains a NUL byte)");
  HeaderScan scan;
  if (!Json::sax_parse(json_begin, json_end, &scan))
    fail(origin, scan.problem.empty() ? "header is not valid JSON" : scan.problem);
  Json root;
  try {
    root = Json::parse(json_begin, json_end);
  } catch (const Json::exception& e) {
    fail(origin, "header is not valid JSON (" + printable(e.what(), 200) + ")");
  }
  if (!root.is_object())
    fail(origin, std::string("header is a JSON ") + root.type_name() + ", not an object");
  return root;
}

// Sorts the tensors' spans into buffer order and checks that they tile the buffer: no overlap,
// no gap, nothing left over.
void sort_and_check_tiling(std::vector<Span>* spans, const std::vector<TensorEntry>& entries,
                           size_t buffer_size, const std::string& origin) {
  // File order is buffer order. Sorting by (begin, end) puts an empty tensor before a non-empty
  // one at the same offset, so only a genuine overlap makes begin fall behind the cursor.
  std::stable_sort(spans->begin(), spans->end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  size_t cursor = 0;
  const std::string* previous = nullptr;
  for (const Span& s : *spans) {
    const std::string& name = entries[s.index].name;
    if (s.begin < cursor)
      fail(origin, "tensor " + in_quotes(name) + " overlaps tensor " + in_quotes(*previous) +
                       " in the buffer");
    if (s.begin > cursor)
      fail(origin, "buffer bytes [" + std::to_string(cursor) + ", " + std::to_string(s.begin) +
                       ") belong to no tensor (gap before tensor " + in_quotes(name) + ")");
    cursor = s.end;
    previous = &name;
  }
  if (cursor != buffer_size)
    fail(origin, "buffer bytes [" + std::to_string(cursor) + ", " + std::to_string(buffer_size) +
                     ") belong to no tensor");
}

const TensorEntry& checked_entry(const SafeTensors& st, const std::string& name, DType dtype,
                                 const std::vector<int64_t>& shape) {
  const TensorEntry* t = st.find(name);
  const std::string what = "tensor " + in_quotes(name);
  if (!t) fail(st.origin, what + " is missing");
  if (t->dtype != dtype)
    fail(st.origin,
         what + " has dtype " + dtype_name(t->dtype) + ", expected " + dtype_name(dtype));
  if (t->shape != shape)
    fail(st.origin,
         what + " has shape " + shape_string(t->shape) + ", expected " + shape_string(shape));
  return *t;
}

}  // namespace

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32:
      return "F32";
    case DType::F64:
      return "F64";
    case DType::I64:
      return "I64";
    case DType::I32:
      return "I32";
    case DType::U8:
      return "U8";
  }
  VAE_ASSERT(!"unknown DType");
  return "";
}

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32:
      return 4;
    case DType::F64:
      return 8;
    case DType::I64:
      return 8;
    case DType::I32:
      return 4;
    case DType::U8:
      return 1;
  }
  VAE_ASSERT(!"unknown DType");
  return 0;
}

size_t TensorEntry::numel() const {
  size_t n = 1;
  for (int64_t d : shape) {
    VAE_ASSERT(d >= 0);
    n *= static_cast<size_t>(d);
  }
  return n;
}

void SafeTensors::add_f32(const std::string& name, const std::vector<int64_t>& shape,
                          const float* values) {
  TensorEntry t;
  t.name = name;
  t.dtype = DType::F32;
  t.shape = shape;
  const size_t n = t.numel();
  VAE_ASSERT(values != nullptr || n == 0);
  t.data.resize(n * 4);
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &values[i], 4);
    store_le(bits, &t.data[4 * i]);
  }
  tensors.push_back(std::move(t));
}

void SafeTensors::add_i64(const std::string& name, const std::vector<int64_t>& shape,
                          const int64_t* values) {
  TensorEntry t;
  t.name = name;
  t.dtype = DType::I64;
  t.shape = shape;
  const size_t n = t.numel();
  VAE_ASSERT(values != nullptr || n == 0);
  t.data.resize(n * 8);
  for (size_t i = 0; i < n; ++i) store_le(static_cast<uint64_t>(values[i]), &t.data[8 * i]);
  tensors.push_back(std::move(t));
}

const TensorEntry* SafeTensors::find(const std::string& name) const {
  for (const TensorEntry& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::vector<float> SafeTensors::get_f32(const std::string& name,
                                        const std::vector<int64_t>& shape) const {
  const TensorEntry& t = checked_entry(*this, name, DType::F32, shape);
  std::vector<float> out(t.numel());
  for (size_t i = 0; i < out.size(); ++i) {
    uint32_t bits = load_le<uint32_t>(&t.data[4 * i]);
    std::memcpy(&out[i], &bits, 4);
  }
  return out;
}

void SafeTensors::require_f32(const std::string& name, const std::vector<int64_t>& shape) const {
  checked_entry(*this, name, DType::F32, shape);
}

std::vector<int64_t> SafeTensors::get_i64(const std::string& name,
                                          const std::vector<int64_t>& shape) const {
  const TensorEntry& t = checked_entry(*this, name, DType::I64, shape);
  std::vector<int64_t> out(t.numel());
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<int64_t>(load_le<uint64_t>(&t.data[8 * i]));
  return out;
}

std::string to_safetensors_bytes(const SafeTensors& st) {
  std::string out = header_bytes(st, st.origin);
  for (const TensorEntry& t : st.tensors) out.append(t.data.begin(), t.data.end());
  return out;
}

void write_safetensors(const std::string& path, const SafeTensors& st) {
  // Streamed tensor by tensor: a checkpoint is not copied into one more buffer to be written.
  const std::string header = header_bytes(st, path);
  AtomicFile f(path);
  f.write(header.data(), header.size());
  for (const TensorEntry& t : st.tensors) f.write(t.data.data(), t.data.size());
  f.commit();
}

SafeTensors read_safetensors(const std::string& path) {
  const MappedFile bytes(path);  // the header first; only the tensors' bytes are read
  return parse_safetensors(bytes.data(), bytes.size(), path);
}

SafeTensors parse_safetensors(const unsigned char* bytes, size_t size, const std::string& origin) {
  VAE_ASSERT(bytes != nullptr || size == 0);
  const uint64_t n = header_length(bytes, size, origin);
  const char* json_begin = reinterpret_cast<const char*>(bytes + 8);
  const Json root = parse_header(json_begin, json_begin + n, origin);

  SafeTensors st;
  st.origin = origin;
  const unsigned char* buffer = bytes + 8 + n;
  const size_t buffer_size = size - 8 - static_cast<size_t>(n);
  std::vector<TensorEntry> entries;
  std::vector<Span> spans;
  for (const auto& kv : root.items()) {
    if (kv.key() == "__metadata__") {
      parse_metadata(kv.value(), origin, &st);
      continue;
    }
    TensorEntry t;
    t.name = kv.key();
    Span span = parse_entry(t.name, kv.value(), buffer_size, origin, &t);
    span.index = entries.size();
    spans.push_back(span);
    entries.push_back(std::move(t));
  }
  sort_and_check_tiling(&spans, entries, buffer_size, origin);

  st.tensors.reserve(entries.size());
  for (const Span& s : spans) {
    TensorEntry& t = entries[s.index];
    t.data.assign(buffer + s.begin, buffer + s.end);
    st.tensors.push_back(std::move(t));
  }
  return st;
}

}  // namespace vae
