// CSV reader: a table of numbers, one example per line.
//
// Accepted text (RFC 4180 as spreadsheets and pandas write it, restricted to numbers):
//   file    [UTF-8 byte-order mark] line ('\n' line)*
//   line    field (SEP field)* ['\r']      blank lines (only spaces or tabs) are skipped
//   field   [spaces] number [spaces]   or   [spaces] '"' text '"' [spaces]   ("" inside quotes
//           is one '"'); a quoted field ends on its own line: quotes never join two lines
//   number  what strtod accepts in the C locale, minus hexadecimal: [+-] digits [. digits]
//           [e [+-] digits]; "nan" and "inf" are read but refused as not finite
// SEP is the delimiter (',' unless asked or sniffed otherwise: ';', tab, or a run of spaces
// and tabs); "spaces" around a field are spaces and tabs that are not the delimiter.
// Under CsvHeader::Auto the first non-blank line is a header when any of its fields but a label
// column given by index is not a number, or that column is not and another field spells its name ("nan" and "inf" count as numbers there, so
// that a first row holding a NaN is reported as one rather than silently becoming the header).
// Line numbers in messages count from 1 and include blank lines; column numbers count from 1
// as in a spreadsheet.
//
// The whole file is read once into memory and parsed in place: one memchr per line and one
// std::from_chars per value, with no per-field allocation, so 50 MB take about half a second.
// x is reserved from the file's size (a value needs at least two bytes), never from what its
// first row claims.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>

#include <map>

#include "core/enum_names.h"
#include "io/fileio.h"
#include "vae/error.h"
#include "vae/readers.h"

namespace vae {
namespace {

constexpr EnumName<CsvHeader> kHeaderNames[] = {
    {CsvHeader::Auto, "auto"}, {CsvHeader::Yes, "yes"}, {CsvHeader::No, "no"}};

bool is_space(char c) { return c == ' ' || c == '\t'; }

// Fields of the line [p, end) split by `delimiter` (' ': runs of whitespace), separators inside
// double quotes not counted.
size_t rough_field_count(const char* p, const char* end, char delimiter) {
  if (delimiter == ' ') {
    size_t n = 0;
    for (bool in_field = false; p < end; ++p) {
      if (!is_space(*p) && !in_field) ++n;
      in_field = !is_space(*p);
    }
    return n;
  }
  size_t n = 1;
  bool quoted = false;
  for (; p < end; ++p) {
    if (*p == '"') quoted = !quoted;
    else if (*p == delimiter && !quoted) ++n;
  }
  return n;
}

// File text in a one-line message: control and non-ASCII bytes escaped, length capped, so that
// a binary file or one enormous field still gives a short, printable message.
std::string quote(const char* begin, const char* end) {
  constexpr size_t kMax = 40;
  std::string out = "'";
  const size_t n = static_cast<size_t>(end - begin);
  for (size_t i = 0; i < n && i < kMax; ++i) {
    const unsigned char ch = static_cast<unsigned char>(begin[i]);
    if (ch >= 0x20 && ch < 0x7f) {
      out += static_cast<char>(ch);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", ch);
      out += buf;
    }
  }
  if (n > kMax) out += "...";
  return out + "'";
}

std::string quote(const std::string& s) { return quote(s.data(), s.data() + s.size()); }

std::string count_text(size_t fields) {
  return std::to_string(fields) + (fields == 1 ? " field" : " fields");
}

// One field of a line: its text without surrounding spaces or quotes. `escaped` marks a quoted
// field holding "" pairs, whose text must be unescaped before use as a name; such a field
// holds a '"' and so is never a number.
struct Field {
  const char* begin = nullptr;
  const char* end = nullptr;
  bool escaped = false;
};

enum class Number { kFinite, kNotFinite, kTooLarge, kNotNumber };

// Parses a whole field as a number: optional spaces, one optional sign, then std::from_chars
// (locale-independent, unlike strtod), which must consume everything up to trailing spaces.
Number parse_number(const char* begin, const char* end, double* value) {
  while (begin < end && is_space(*begin)) ++begin;
  while (end > begin && is_space(end[-1])) --end;
  // from_chars takes '-' but not '+'; strtod takes both, once.
  if (begin < end && *begin == '+') {
    ++begin;
    if (begin < end && (*begin == '+' || *begin == '-')) return Number::kNotNumber;
  }
  if (begin == end) return Number::kNotNumber;
  auto r = std::from_chars(begin, end, *value);
  if (r.ec == std::errc::result_out_of_range && r.ptr == end) {
    // Beyond double's range ("1e400", "1e-400"): long double reads it so that overflow and
    // underflow can be told apart; underflow is a valid (zero) value, as for strtod. Beyond
    // long double's range too (|exponent| > 4932) counts as too large either way.
    long double wide = 0;
    const auto rw = std::from_chars(begin, end, wide);
    if (rw.ec != std::errc() || std::fabs(wide) > std::numeric_limits<double>::max())
      return Number::kTooLarge;
    *value = static_cast<double>(wide);
    return Number::kFinite;
  }
  if (r.ec != std::errc() || r.ptr != end) return Number::kNotNumber;
  return std::isfinite(*value) ? Number::kFinite : Number::kNotFinite;
}

class CsvReader {
 public:
  CsvReader(const std::string& path, const CsvOptions& options) : path_(path), options_(options) {}

  // long: one pass over the lines, each step a call; the header line's steps inline.
  Dataset read() {
    bytes_.emplace(path_);
    const char* p = reinterpret_cast<const char*>(bytes_->data());
    const char* const end = p + bytes_->size();
    check_text(p, end);
    if (end - p >= 3 && std::memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;
    delimiter_ = options_.delimiter ? options_.delimiter : sniff_csv_delimiter(p, end);

    Dataset out;
    bool seen_first_line = false;
    size_t first_line = 0;
    size_t rows = 0;
    for (size_t line_no = 1; p < end; ++line_no) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
      const char* line_end = nl ? nl : end;
      const char* next = nl ? nl + 1 : end;
      if (line_end > p && line_end[-1] == '\r') --line_end;
      line_ = line_no;
      if (delimiter_ == ' ') trim_line(&p, &line_end);
      if (std::all_of(p, line_end, is_space)) {
        p = next;
        continue;
      }
      if (!seen_first_line) {
        seen_first_line = true;
        first_line = line_no;
        columns_ = count_fields(p, line_end);
        const bool header = first_line_is_header(p, line_end);
        if (header) read_header(p, line_end);
        resolve_label_column();
        check_values_remain();
        if (header) {
          p = next;
          continue;
        }
      }
      if (rows == 0) reserve(&out, p, end);
      read_row(p, line_end, first_line, &out);
      ++rows;
      p = next;
    }

    if (!seen_first_line) throw Error(path_ + ": no rows (the file is empty)");
    if (rows == 0) throw Error(path_ + ": no rows (only a header line)");
    out.n = rows;
    out.d = columns_ - (label_ < columns_ ? 1 : 0);
    if (names_mode_) number_classes_in_name_order(&out);
    return out;
  }

 private:
  static constexpr size_t kNoLabel = std::numeric_limits<size_t>::max();

  [[noreturn]] void fail_line(const std::string& what) const {
    throw Error(path_ + ":" + std::to_string(line_) + ": " + what);
  }

  // Spaces and tabs that pad a field: both, but the delimiter when it is one of them.
  bool is_pad(char c) const { return is_space(c) && (c != delimiter_ || delimiter_ == ' '); }
  bool is_separator(char c) const { return delimiter_ == ' ' ? is_space(c) : c == delimiter_; }

  static void trim_line(const char** p, const char** end) {
    while (*p < *end && is_space(**p)) ++*p;
    while (*end > *p && is_space((*end)[-1])) --*end;
  }

  // A hint for a field that is not a number but holds another delimiter.
  std::string delimiter_hint(const char* begin, const char* end) const {
    for (char other : {';', '\t', ',', ' '}) {
      if (other == delimiter_ || std::find(begin, end, other) == end) continue;
      return " (fields are separated by " + quote(csv_delimiter_name(delimiter_)) +
             "; if this file uses " + quote(csv_delimiter_name(other)) + ", set delimiter to " +
             csv_delimiter_name(other) + ")";
    }
    return "";
  }

  // "column 3 ('height')" with a header, "column 3" without; `c` is 0-based.
  std::string column_label(size_t c) const {
    std::string s = "column " + std::to_string(c + 1);
    if (c < names_.size()) s += " (" + quote(names_[c]) + ")";
    return s;
  }

  // Reads the field starting at *p (at the line start or just past a ','), leaves *p at the ','
  // after it or at `end`. Refuses a quote left open or text after a closing quote.
  Field next_field(const char** p, const char* end, size_t column) const {
    const char* q = *p;
    while (q < end && is_pad(*q)) ++q;
    Field f;
    if (q < end && *q == '"') {
      f.begin = ++q;
      for (;;) {
        q = static_cast<const char*>(std::memchr(q, '"', static_cast<size_t>(end - q)));
        if (!q) fail_line(column_label(column) + ": quoted field has no closing '\"' on this line");
        if (q + 1 < end && q[1] == '"') {
          f.escaped = true;
          q += 2;
          continue;
        }
        break;
      }
      f.end = q++;
      while (q < end && is_pad(*q) && delimiter_ != ' ') ++q;
      if (q < end && !is_separator(*q))
        fail_line(column_label(column) + ": text after the closing '\"' of a quoted field");
    } else {
      f.begin = q;
      q = delimiter_ == ' ' ? std::find_if(q, end, is_space)
                            : static_cast<const char*>(std::memchr(q, delimiter_, static_cast<size_t>(end - q)));
      if (!q) q = end;
      f.end = q;
      while (f.end > f.begin && is_pad(f.end[-1])) --f.end;
    }
    *p = q;
    return f;
  }

  // Calls visit(field, column) for each field of the line [p, end); returns the field count.
  template <typename Visit>
  size_t for_each_field(const char* p, const char* end, Visit visit) const {
    size_t column = 0;
    for (;;) {
      const Field f = next_field(&p, end, column);
      if (!visit(f, column)) return column + 1;
      ++column;
      if (p >= end) return column;
      ++p;  // past the delimiter (the whitespace delimiter: the next field skips the rest)
    }
  }

  size_t count_fields(const char* p, const char* end) const {
    return for_each_field(p, end, [](const Field&, size_t) { return true; });
  }

  bool first_line_is_header(const char* p, const char* end) const {
    if (options_.header != CsvHeader::Auto) return options_.header == CsvHeader::Yes;
    // A label column given by index may hold a class name on a first row of data.
    const std::string& want = options_.label_column;
    const bool by_index = !want.empty() && want.size() <= 18 &&
                          std::all_of(want.begin(), want.end(), [](char c) { return c >= '0' && c <= '9'; });
    const size_t skipped = by_index ? std::stoull(want) : kNoLabel;
    // Text outside the label column makes a header; text in it does too when another field
    // spells the label column's name (a column may be called "3").
    bool text_outside = false, text_in_label = false, names_label = false;
    for_each_field(p, end, [&](const Field& f, size_t column) {
      double v;
      const bool text = parse_number(f.begin, f.end, &v) == Number::kNotNumber;
      (column == skipped ? text_in_label : text_outside) |= text;
      names_label |= !want.empty() && std::string(f.begin, f.end) == want;
      return true;
    });
    return text_outside || (text_in_label && names_label);
  }

  void read_header(const char* p, const char* end) {
    names_.reserve(columns_);
    for_each_field(p, end, [&](const Field& f, size_t) {
      std::string name(f.begin, f.end);
      if (f.escaped) {
        std::string plain;
        for (size_t i = 0; i < name.size(); ++i) {
          plain += name[i];
          if (name[i] == '"') ++i;  // the second quote of a "" pair
        }
        name = plain;
      }
      names_.push_back(std::move(name));
      return true;
    });
  }

  // Picks the label column: a header name first (a column may be called "3"), else a 0-based
  // index written in decimal digits.
  void resolve_label_column() {
    const std::string& want = options_.label_column;
    if (want.empty()) return;
    size_t matches = 0;
    for (size_t c = 0; c < names_.size(); ++c) {
      if (names_[c] != want) continue;
      if (matches++ == 0) label_ = c;
    }
    if (matches > 1)
      throw Error(path_ + ": label column " + quote(want) +
                  " is ambiguous: " + std::to_string(matches) + " header fields have that name");
    if (matches == 1) return;

    const bool digits =
        std::all_of(want.begin(), want.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits) {
      if (names_.empty())
        throw Error(path_ + ": no column named " + quote(want) +
                    ": the file has no header line (give a 0-based column index instead)");
      std::string list;
      for (size_t c = 0; c < names_.size() && c < 8; ++c)
        list += (c ? ", " : "") + quote(names_[c]);
      if (names_.size() > 8) list += ", ...";
      throw Error(path_ + ": no column named " + quote(want) + " (header: " + list + ")");
    }
    // More than 18 digits cannot be a column of a file that fits in memory, nor fit stoull.
    const size_t index = want.size() > 18 ? kNoLabel : std::stoull(want);
    if (index >= columns_)
      throw Error(path_ + ": label column index " + want + " is out of range: rows have " +
                  std::to_string(columns_) + " fields (indexes 0 to " +
                  std::to_string(columns_ - 1) + ")");
    label_ = index;
  }

  // A CSV file is text: a NUL byte in its first line (within 64 KiB) means a binary file (or a
  // sparse one, all zeros), refused before the rest is scanned. Later NULs are named by line.
  void check_text(const char* begin, const char* end) const {
    constexpr size_t kLook = 64 << 10;
    if (begin == end) return;  // an empty file (its mapping may be a null pointer)
    size_t n = std::min(static_cast<size_t>(end - begin), kLook);
    if (const void* nl = std::memchr(begin, '\n', n)) n = static_cast<const char*>(nl) - begin;
    if (const void* nul = std::memchr(begin, '\0', n))
      throw Error(path_ + ": not a text file (a NUL byte at offset " +
                  std::to_string(static_cast<const char*>(nul) - begin) + "; a CSV file is text)");
  }

  void check_values_remain() const {
    if (label_ != kNoLabel && columns_ == 1)
      throw Error(path_ + ": the label column is the only column; no values are left for x");
  }

  // Room for every value the rest of the file can hold: lines times columns, but never more
  // than half its bytes (each value takes a character and a separator), whatever a hostile
  // first row claims.
  void reserve(Dataset* out, const char* begin, const char* end) const {
    const size_t bytes = static_cast<size_t>(end - begin);
    const size_t lines = static_cast<size_t>(std::count(begin, end, '\n')) + 1;
    const size_t cap = bytes / 2 + 1;
    out->x.reserve(lines > cap / columns_ ? cap : lines * columns_);
    if (label_ != kNoLabel) out->labels.reserve(std::min(lines, cap));
  }

  void read_row(const char* p, const char* end, size_t first_line, Dataset* out) {
    const size_t fields = for_each_field(p, end, [&](const Field& f, size_t column) {
      // Fields past the expected count are only counted, for the message below.
      if (column >= columns_) return true;
      double v = 0;
      const Number kind = parse_number(f.begin, f.end, &v);
      if (column == label_) {
        read_label(f, kind, v, column, out);
        return true;
      }
      if (kind == Number::kNotFinite || kind == Number::kNotNumber)
        fail_line(column_label(column) + ": " + quote(f.begin, f.end) + " is not a number" +
                  (kind == Number::kNotNumber ? delimiter_hint(f.begin, f.end) : ""));
      const float x = static_cast<float>(v);
      if (kind == Number::kTooLarge || !std::isfinite(x))
        fail_line(column_label(column) + ": " + quote(f.begin, f.end) +
                  " is out of the float range");
      out->x.push_back(x);
      return true;
    });
    if (fields != columns_)
      fail_line(count_text(fields) + ", but line " + std::to_string(first_line) + " has " +
                std::to_string(columns_) + "; every row must have the same number of fields");
  }

  // The label of one row: a number (a non-negative integer) when the column's first value is
  // one, else a class name, numbered in order of first appearance until the end of the file.
  void read_label(const Field& f, Number kind, double v, size_t column, Dataset* out) {
    if (out->labels.empty()) names_mode_ = kind == Number::kNotNumber;
    if (names_mode_) {
      const auto it = name_ids_.emplace(std::string(f.begin, f.end), static_cast<int32_t>(name_ids_.size()));
      out->labels.push_back(it.first->second);
      return;
    }
    if (kind != Number::kFinite || v < 0 || v > std::numeric_limits<int32_t>::max() ||
        v != std::floor(v))
      fail_line(column_label(column) + ": label " + quote(f.begin, f.end) +
                " is not a non-negative integer");
    out->labels.push_back(static_cast<int32_t>(v));
  }

  // Class names: the ids of first appearance become ranks in sorted name order.
  void number_classes_in_name_order(Dataset* out) const {
    std::vector<int32_t> rank(name_ids_.size());
    int32_t r = 0;
    for (const auto& [name, id] : name_ids_) {
      rank[static_cast<size_t>(id)] = r++;
      out->class_names.push_back(name);
    }
    for (int32_t& y : out->labels) y = rank[static_cast<size_t>(y)];
  }

  const std::string& path_;
  const CsvOptions& options_;
  std::optional<MappedFile> bytes_;
  std::vector<std::string> names_;  // header fields, empty without a header
  size_t columns_ = 0;              // fields per line, from the first non-blank line
  size_t label_ = kNoLabel;         // 0-based label column
  size_t line_ = 0;                 // 1-based line being read, for messages
  char delimiter_ = ',';            // asked for or sniffed; ' ' = runs of whitespace
  bool names_mode_ = false;         // the label column holds class names
  std::map<std::string, int32_t> name_ids_;  // class name → id of first appearance
};

}  // namespace

Dataset read_csv(const std::string& path, const CsvOptions& options) {
  return CsvReader(path, options).read();
}

const char* csv_header_name(CsvHeader header) { return enum_name(kHeaderNames, header); }
CsvHeader parse_csv_header(const std::string& text) {
  return enum_parse(kHeaderNames, text, "header");
}

std::string csv_delimiter_name(char delimiter) {
  switch (delimiter) {
    case 0: return "auto";
    case '\t': return "tab";
    case ' ': return "space";
    default: return std::string(1, delimiter);
  }
}

char parse_csv_delimiter(const std::string& text) {
  if (text == "auto") return 0;
  if (text == "tab" || text == "\t") return '\t';
  if (text == "space" || text == " ") return ' ';
  if (text == "," || text == ";") return text[0];
  throw FieldError("delimiter", "must be 'auto', ',', ';', 'tab' or 'space', got '" + text + "'");
}

char sniff_csv_delimiter(const char* begin, const char* end) {
  for (char candidate : {',', '\t', ';', ' '}) {
    size_t fields = 0, lines = 0;
    bool same = true;
    for (const char* p = begin; p < end && lines < 10 && same;) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
      const char* line_end = nl ? nl : end;
      const char* next = nl ? nl + 1 : end;
      if (line_end > p && line_end[-1] == '\r') --line_end;
      if (!std::all_of(p, line_end, is_space)) {
        const size_t n = rough_field_count(p, line_end, candidate);
        same = lines++ == 0 ? (fields = n) > 1 : n == fields;
      }
      p = next;
    }
    if (same && lines > 0) return candidate;
  }
  return ',';
}

}  // namespace vae
