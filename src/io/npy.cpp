// NumPy's .npy format (numpy/lib/format.py):
//   [0, 6)    magic "\x93NUMPY"
//   [6, 8)    version major, minor: 1.0, 2.0 or 3.0
//   then      HLEN, the header length, little-endian: uint16 in 1.0, uint32 in 2.0 and 3.0
//   HLEN      a Python dict literal, {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
//             (ASCII in 1.0 and 2.0, UTF-8 in 3.0), padded with spaces and ended by '\n' so
//             that the data starts at a multiple of 64 bytes
//   rest      product(shape) * itemsize bytes: the array, C order when fortran_order is False
// A scalar has shape () and one element. The writer emits '<f4' in version 1.0 (2.0 only when
// the header outgrows 65535 bytes, as NumPy does); the reader parses the dict literal itself
// rather than evaluating it, accepting exactly the subset NumPy writes.
#include "vae/npy.h"

#include <cstdio>
#include <cstring>
#include <limits>
#include <set>

#include "io/fileio.h"
#include "vae/error.h"

namespace vae {
namespace {

const char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
constexpr size_t kAlign = 64;

[[noreturn]] void fail(const std::string& origin, const std::string& what) {
  throw Error(origin + ": " + what);
}

// Header text in a one-line message: control and non-ASCII bytes escaped, length capped.
std::string in_quotes(const std::string& s) {
  constexpr size_t kMax = 40;
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    unsigned char ch = static_cast<unsigned char>(s[i]);
    if (ch >= 0x20 && ch < 0x7f) {
      out += static_cast<char>(ch);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", ch);
      out += buf;
    }
  }
  if (s.size() > kMax) out += "...";
  return out + "'";
}

std::string shape_tuple(const std::vector<int64_t>& shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(shape[i]);
  }
  // A one-element tuple needs its trailing comma in Python: (3) is the integer 3.
  if (shape.size() == 1) out += ",";
  return out + ")";
}

template <typename U>
U load_le(const unsigned char* p) {
  U v = 0;
  for (size_t i = 0; i < sizeof(U); ++i) v = static_cast<U>(v | (static_cast<U>(p[i]) << (8 * i)));
  return v;
}

enum class Kind { F32, F64, U8, I8, I32, I64 };

struct Descr {
  Kind kind;
  size_t itemsize;
};

bool parse_descr(const std::string& s, Descr* out) {
  struct Known {
    const char* name;
    Descr descr;
  };
  static const Known known[] = {
      {"<f4", {Kind::F32, 4}}, {"<f8", {Kind::F64, 8}}, {"<i4", {Kind::I32, 4}},
      {"<i8", {Kind::I64, 8}}, {"|u1", {Kind::U8, 1}},  {"|i1", {Kind::I8, 1}},
  };
  // Byte order means nothing for one-byte types: '<u1' and '>u1' are '|u1' in other words.
  std::string name = s;
  if (name.size() == 3 && (name[0] == '<' || name[0] == '>' || name[0] == '=') && name[2] == '1')
    name[0] = '|';
  for (const Known& k : known) {
    if (name == k.name) {
      *out = k.descr;
      return true;
    }
  }
  return false;
}

struct Header {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
};

// A hand-written reader for the dict literal NumPy writes: string keys, values that are a
// string, True/False or a tuple of non-negative integers; any key order, any whitespace, an
// optional trailing comma. Every step checks the end of the text first.
class DictParser {
 public:
  DictParser(const char* begin, const char* end, const std::string& origin)
      : p_(begin), end_(end), origin_(origin) {}

  Header parse() {
    Header h;
    std::set<std::string> seen;
    skip_space();
    expect('{');
    skip_space();
    while (peek() != '}') {
      const std::string key = parse_string("a quoted key");
      if (!seen.insert(key).second) error("duplicate key " + in_quotes(key));
      skip_space();
      expect(':');
      skip_space();
      if (key == "descr") {
        h.descr = parse_string("a quoted dtype for 'descr'");
      } else if (key == "fortran_order") {
        h.fortran_order = parse_bool();
      } else if (key == "shape") {
        h.shape = parse_tuple();
      } else {
        error("unexpected key " + in_quotes(key));
      }
      skip_space();
      if (peek() != ',') break;
      ++p_;
      skip_space();
    }
    expect('}');
    skip_space();
    if (p_ != end_) error("unexpected text after the closing '}'");
    for (const char* key : {"descr", "fortran_order", "shape"}) {
      if (!seen.count(key)) error(std::string("missing key '") + key + "'");
    }
    return h;
  }

 private:
  [[noreturn]] void error(const std::string& what) { fail(origin_, "malformed header: " + what); }

  // '\0' stands for the end of the text; a NUL inside the header is refused where it stands.
  char peek() const { return p_ < end_ ? *p_ : '\0'; }

  void skip_space() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  void expect(char c) {
    if (p_ >= end_) error(std::string("expected '") + c + "', found the end of the header");
    if (*p_ != c)
      error(std::string("expected '") + c + "', found " + in_quotes(std::string(1, *p_)));
    ++p_;
  }

  std::string parse_string(const char* what) {
    const char q = peek();
    if (q != '\'' && q != '"') error(std::string("expected ") + what);
    const char* start = ++p_;
    while (p_ < end_ && *p_ != q) {
      // NumPy's keys and dtypes never need escapes; refusing them keeps the reader exact.
      if (*p_ == '\\' || *p_ == '\n') error("unsupported character in a string");
      ++p_;
    }
    if (p_ >= end_) error("unterminated string");
    std::string s(start, p_);
    ++p_;
    return s;
  }

  bool parse_bool() {
    if (match_word("True")) return true;
    if (match_word("False")) return false;
    error("'fortran_order' must be True or False");
  }

  bool match_word(const char* w) {
    const size_t n = std::strlen(w);
    if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, w, n) != 0) return false;
    p_ += n;
    return true;
  }

  std::vector<int64_t> parse_tuple() {
    if (peek() != '(') error("'shape' must be a tuple such as (2, 3), (3,) or ()");
    ++p_;
    std::vector<int64_t> dims;
    bool comma_after_last = false;
    skip_space();
    while (peek() != ')') {
      dims.push_back(parse_dim());
      skip_space();
      comma_after_last = peek() == ',';
      if (!comma_after_last) break;
      ++p_;
      skip_space();
    }
    expect(')');
    if (dims.size() == 1 && !comma_after_last)
      error("'shape' (n) is an integer in Python; a one-element tuple is written (n,)");
    return dims;
  }

  int64_t parse_dim() {
    if (peek() < '0' || peek() > '9') error("'shape' must hold non-negative integers");
    int64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      const int digit = *p_ - '0';
      if (v > (std::numeric_limits<int64_t>::max() - digit) / 10)
        error("a dimension in 'shape' is too large");
      v = v * 10 + digit;
      ++p_;
    }
    // Python 2 wrote long integers as "3L", and files from that era still circulate.
    if (peek() == 'L') ++p_;
    return v;
  }

  const char* p_;
  const char* end_;
  const std::string& origin_;
};

// numel values of `descr` at p (little-endian) into floats. One loop per kind, so that each
// compiles to a plain copy or conversion loop; '<f4' on a little-endian machine is one memcpy.
void convert_values(const unsigned char* p, const Descr& descr, size_t numel, float* out) {
  const size_t step = descr.itemsize;
  switch (descr.kind) {
    case Kind::F32:
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
      if (numel) std::memcpy(out, p, numel * 4);
#else
      for (size_t i = 0; i < numel; ++i) {
        const uint32_t bits = load_le<uint32_t>(p + i * step);
        std::memcpy(&out[i], &bits, 4);
      }
#endif
      return;
    case Kind::F64:
      for (size_t i = 0; i < numel; ++i) {
        const uint64_t bits = load_le<uint64_t>(p + i * step);
        double v;
        std::memcpy(&v, &bits, 8);
        out[i] = static_cast<float>(v);
      }
      return;
    case Kind::U8:
      for (size_t i = 0; i < numel; ++i) out[i] = static_cast<float>(p[i]);
      return;
    case Kind::I8:
      for (size_t i = 0; i < numel; ++i) out[i] = static_cast<float>(static_cast<int8_t>(p[i]));
      return;
    case Kind::I32:
      for (size_t i = 0; i < numel; ++i)
        out[i] = static_cast<float>(static_cast<int32_t>(load_le<uint32_t>(p + i * step)));
      return;
    case Kind::I64:
      for (size_t i = 0; i < numel; ++i)
        out[i] = static_cast<float>(static_cast<int64_t>(load_le<uint64_t>(p + i * step)));
      return;
  }
}

// The header of an .npy image checked and its values located (numel of `descr` at data_offset).
NpyLayout layout_of(const unsigned char* bytes, size_t size, const std::string& origin, Descr* descr_out) {
  if (size < kMagicSize + 2 || std::memcmp(bytes, kMagic, kMagicSize) != 0)
    fail(origin, "not a .npy file (bad magic)");
  const int major = bytes[6], minor = bytes[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0)
    fail(origin, "unsupported .npy version " + std::to_string(major) + "." + std::to_string(minor) +
                     " (supported: 1.0, 2.0, 3.0)");
  const size_t len_size = major == 1 ? 2 : 4;
  const size_t prefix = kMagicSize + 2 + len_size;
  if (size < prefix) fail(origin, "file ends inside the header length");
  const size_t header_len =
      major == 1 ? load_le<uint16_t>(bytes + 8) : load_le<uint32_t>(bytes + 8);
  if (header_len > size - prefix)
    fail(origin, "header length " + std::to_string(header_len) + " runs past the end of the " +
                     std::to_string(size) + "-byte file");
  const char* text = reinterpret_cast<const char*>(bytes + prefix);
  const Header h = DictParser(text, text + header_len, origin).parse();

  Descr descr;
  if (!parse_descr(h.descr, &descr))
    fail(origin, "unsupported dtype " + in_quotes(h.descr) +
                     " (supported: '<f4', '<f8', '|u1', '|i1', '<i4', '<i8')");
  if (h.fortran_order) fail(origin, "Fortran-order arrays are not supported (save in C order)");

  // numel * itemsize must fit size_t; a zero dimension makes the product 0 whatever the rest.
  size_t numel = 1;
  for (int64_t d : h.shape) numel = d == 0 ? 0 : numel;
  for (int64_t d : h.shape) {
    if (numel == 0) break;
    if (static_cast<uint64_t>(d) > std::numeric_limits<size_t>::max() / descr.itemsize / numel)
      fail(origin, "shape " + shape_tuple(h.shape) + " is too large");
    numel *= static_cast<size_t>(d);
  }
  const size_t need = numel * descr.itemsize;
  const size_t have = size - prefix - header_len;
  if (have != need)
    fail(origin, "data is " + std::to_string(have) + " bytes but shape " + shape_tuple(h.shape) +
                     " of " + h.descr + " needs " + std::to_string(need) +
                     (have < need ? " (file truncated?)" : ""));

  NpyLayout out;
  out.shape = h.shape;
  out.numel = numel;
  out.data_offset = prefix + header_len;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  out.native_f32 = descr.kind == Kind::F32;
#endif
  *descr_out = descr;
  return out;
}

NpyArray parse_npy_bytes(const unsigned char* bytes, size_t size, const std::string& origin) {
  Descr descr;
  NpyLayout layout = layout_of(bytes, size, origin, &descr);
  NpyArray out;
  out.shape = std::move(layout.shape);
  out.data.resize(layout.numel);
  convert_values(bytes + layout.data_offset, descr, layout.numel, out.data.data());
  return out;
}

}  // namespace

namespace {

// The header of a '<f4' C-order array of `shape`: magic, version, length, the dict padded so the
// data start on a 64-byte boundary, ending with '\n' like NumPy's. Returns the value count too.
std::string npy_header(const std::vector<int64_t>& shape, size_t* numel_out) {
  size_t numel = 1;
  for (int64_t d : shape) {
    VAE_ASSERT(d >= 0);
    numel *= static_cast<size_t>(d);
  }
  *numel_out = numel;
  const std::string dict =
      "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape_tuple(shape) + ", }";
  size_t prefix = kMagicSize + 2 + 2;
  size_t total = (prefix + dict.size() + 1 + kAlign - 1) / kAlign * kAlign;
  int major = 1;
  if (total - prefix > 0xffff) {
    major = 2;
    prefix += 2;
    total = (prefix + dict.size() + 1 + kAlign - 1) / kAlign * kAlign;
  }
  const size_t header_len = total - prefix;
  std::string header(kMagic, kMagicSize);
  header += static_cast<char>(major);
  header += '\0';
  for (size_t i = 0; i < prefix - kMagicSize - 2; ++i)
    header += static_cast<char>((header_len >> (8 * i)) & 0xff);
  header += dict;
  header.append(header_len - dict.size() - 1, ' ');
  header += '\n';
  return header;
}

// Little-endian bytes of float i, whatever the host.
void store_le_f32(unsigned char* out, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  for (int b = 0; b < 4; ++b) out[b] = static_cast<unsigned char>(bits >> (8 * b));
}

}  // namespace

void write_npy(const std::string& path, const float* data, const std::vector<int64_t>& shape) {
  size_t numel = 0;
  const std::string header = npy_header(shape, &numel);
  VAE_ASSERT(data != nullptr || numel == 0);
  AtomicFile f(path);
  f.write(header.data(), header.size());
  // Converted in chunks so a large array is not copied whole.
  unsigned char chunk[1 << 14];
  size_t used = 0;
  for (size_t i = 0; i < numel; ++i) {
    store_le_f32(chunk + used, data[i]);
    used += 4;
    if (used == sizeof chunk) {
      f.write(chunk, used);
      used = 0;
    }
  }
  f.write(chunk, used);
  f.commit();
}

std::string npy_bytes(const float* data, const std::vector<int64_t>& shape) {
  size_t numel = 0;
  std::string out = npy_header(shape, &numel);
  VAE_ASSERT(data != nullptr || numel == 0);
  const size_t start = out.size();
  out.resize(start + 4 * numel);
  auto* p = reinterpret_cast<unsigned char*>(&out[start]);
  for (size_t i = 0; i < numel; ++i) store_le_f32(p + 4 * i, data[i]);
  return out;
}

NpyArray parse_npy(const void* bytes, size_t size, const std::string& origin) {
  return parse_npy_bytes(static_cast<const unsigned char*>(bytes), size, origin);
}

NpyLayout npy_layout(const void* bytes, size_t size, const std::string& origin) {
  Descr descr;
  return layout_of(static_cast<const unsigned char*>(bytes), size, origin, &descr);
}

NpyArray read_npy(const std::string& path) {
  const MappedFile bytes(path);  // parse_npy checks the header before it reads the data
  return parse_npy_bytes(bytes.data(), bytes.size(), path);
}

}  // namespace vae
