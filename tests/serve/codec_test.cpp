// Request decoding: JSON and NPY bodies into tensors, and what is refused with which error.
#include "serve/codec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <typeinfo>

#include "vae/npy.h"

namespace {

using vae::serve::BadRequest;
using vae::serve::BodyFormat;
using vae::serve::decode_body;
using vae::serve::Unprocessable;

// A decoded input's values, owned or read in place from the body.
std::vector<float> values_of(const vae::serve::Tensor& t) { return {t.data(), t.data() + t.size()}; }

vae::serve::RequestBody json_body(const std::string& body, size_t cols = 3, size_t max_rows = 4) {
  return decode_body(BodyFormat::Json, body, "x", cols, max_rows, {"k", "seed"}, {});
}

TEST(ServeCodec, JsonRowsLabelsAndOptions) {
  const auto b = json_body(R"({"x": [[1, 2, 3.5], [-4, 5e-1, 6]], "labels": [1, 0], "k": 7})");
  ASSERT_TRUE(b.input);
  EXPECT_EQ(b.input->rows, 2u);
  EXPECT_EQ(b.input->cols, 3u);
  EXPECT_EQ(b.input->values, (std::vector<float>{1, 2, 3.5f, -4, 0.5f, 6}));
  EXPECT_EQ(b.labels, (std::vector<int32_t>{1, 0}));
  EXPECT_EQ(b.ints.at("k"), 7);
  EXPECT_EQ(b.ints.count("seed"), 0u);
}

TEST(ServeCodec, JsonFlatRowIsOneRow) {
  const auto b = json_body(R"({"x": [1, 2, 3]})");
  EXPECT_EQ(b.input->rows, 1u);
  EXPECT_EQ(b.input->values, (std::vector<float>{1, 2, 3}));
}

TEST(ServeCodec, MalformedJsonIsBadRequest) {
  EXPECT_THROW(json_body("{\"x\": [[1,2,3]"), BadRequest);
  EXPECT_THROW(json_body("[1,2,3]"), BadRequest);
  EXPECT_THROW(json_body(R"({"y": [[1,2,3]]})"), BadRequest);
  EXPECT_THROW(json_body(R"({"x": [[1,"2",3]]})"), BadRequest);
  EXPECT_THROW(json_body(R"({"x": [[1,2,3]], "k": 1.5})"), BadRequest);
  EXPECT_THROW(json_body(R"({"x": [[1,2,3]], "labels": ["a"]})"), BadRequest);
  EXPECT_THROW(json_body(std::string(100000, '[') + std::string(100000, ']')), BadRequest);
}

TEST(ServeCodec, WrongShapesAndNonFiniteAreUnprocessable) {
  EXPECT_THROW(json_body(R"({"x": [[1,2]]})"), Unprocessable);
  EXPECT_THROW(json_body(R"({"x": [[1,2,3],[1,2]]})"), Unprocessable);
  EXPECT_THROW(json_body(R"({"x": []})"), Unprocessable);
  EXPECT_THROW(json_body(R"({"x": [[1,2,1e39]]})"), Unprocessable);  // beyond float32
  EXPECT_THROW(json_body(R"({"x": [[1,2,3]], "labels": [0, 1]})"), Unprocessable);
  EXPECT_THROW(json_body(R"({"x": [[1,2,3],[1,2,3],[1,2,3],[1,2,3],[1,2,3]]})"), Unprocessable);
}

TEST(ServeCodec, NpyBodyWithQueryOptions) {
  const std::vector<float> v = {1, 2, 3, 4, 5, 6};
  const std::string body = vae::npy_bytes(v.data(), {2, 3});
  const auto b = decode_body(BodyFormat::Npy, body, "x", 3, 4, {"k"}, {{"k", "5"}, {"label", "2"}});
  EXPECT_EQ(b.input->rows, 2u);
  EXPECT_EQ(values_of(*b.input), v);
  EXPECT_EQ(b.ints.at("k"), 5);
  EXPECT_EQ(b.labels, (std::vector<int32_t>{2, 2}));
  const std::string one = vae::npy_bytes(v.data(), {3});
  EXPECT_EQ(decode_body(BodyFormat::Npy, one, "x", 3, 4, {}, {}).input->rows, 1u);
}

TEST(ServeCodec, NpyErrors) {
  const std::vector<float> v = {1, 2, NAN, 4, 5, 6};
  EXPECT_THROW(decode_body(BodyFormat::Npy, "not npy", "x", 3, 4, {}, {}), BadRequest);
  EXPECT_THROW(decode_body(BodyFormat::Npy, vae::npy_bytes(v.data(), {2, 3}), "x", 3, 4, {}, {}), Unprocessable);
  EXPECT_THROW(decode_body(BodyFormat::Npy, vae::npy_bytes(v.data(), {3, 2}), "x", 3, 4, {}, {}), Unprocessable);
  EXPECT_THROW(decode_body(BodyFormat::Npy, vae::npy_bytes(v.data(), {1, 2, 3}), "x", 3, 4, {}, {}), Unprocessable);
  const std::vector<float> ok = {1, 2, 3};
  EXPECT_THROW(decode_body(BodyFormat::Npy, vae::npy_bytes(ok.data(), {3}), "x", 3, 4, {"k"}, {{"k", "x1"}}), BadRequest);
}

// The first value that is not finite is named, wherever it is; the extremes of float are finite.
TEST(ServeCodec, NpyNonFiniteValueIsNamed) {
  std::vector<float> v(64, 1.0f);  // (8, 8)
  v[5] = 3.4028235e38f;
  v[6] = -1e-45f;  // the smallest denormal
  EXPECT_EQ(values_of(*decode_body(BodyFormat::Npy, vae::npy_bytes(v.data(), {8, 8}), "x", 8, 8, {}, {}).input), v);
  for (const float bad : {INFINITY, -INFINITY, NAN})
    for (const size_t at : {0u, 9u, 63u}) {
      std::vector<float> w = v;
      w[at] = bad;
      if (at == 0) w[40] = NAN;  // a later one is not the one named
      try {
        decode_body(BodyFormat::Npy, vae::npy_bytes(w.data(), {8, 8}), "x", 8, 8, {}, {});
        ADD_FAILURE() << "accepted " << bad << " at " << at;
      } catch (const Unprocessable& e) {
        EXPECT_EQ(std::string(e.what()), "body: value " + std::to_string(at) + " is not finite");
      }
    }
}

// The finite check looks at values in blocks of 16 and then the rest: a bad value in either part
// of a (3, 7) body (21 values) is found and named.
TEST(ServeCodec, NpyNonFiniteValueInTheTailIsNamed) {
  for (const size_t at : {0u, 3u, 15u, 16u, 20u}) {
    std::vector<float> w(21, 0.5f);
    w[at] = NAN;
    try {
      decode_body(BodyFormat::Npy, vae::npy_bytes(w.data(), {3, 7}), "x", 7, 8, {}, {});
      ADD_FAILURE() << "accepted NaN at " << at;
    } catch (const Unprocessable& e) {
      EXPECT_EQ(std::string(e.what()), "body: value " + std::to_string(at) + " is not finite");
    }
  }
}

// A '<f4' body is read in place (no copy of its values); one whose values do not lie 4-byte
// aligned, or of another dtype, is converted into the tensor's own values, to the same numbers.
TEST(ServeCodec, NpyF4IsReadInPlaceOthersAreConverted) {
  const std::vector<float> v = {1, -2, 3.5f, 4, 5, 6};
  const std::string f4 = vae::npy_bytes(v.data(), {2, 3});
  const auto in_place = decode_body(BodyFormat::Npy, f4, "x", 3, 4, {}, {});
  EXPECT_EQ(static_cast<const void*>(in_place.input->in_body),
            static_cast<const void*>(f4.data() + vae::npy_layout(f4.data(), f4.size(), "m").data_offset));
  EXPECT_TRUE(in_place.input->values.empty());
  EXPECT_EQ(values_of(*in_place.input), v);
  // The same array with one padding byte less before its values: header length 117, values at 127.
  std::string odd = f4;
  odd.erase(126, 1);
  odd[8] = static_cast<char>(odd[8] - 1);
  const auto converted = decode_body(BodyFormat::Npy, odd, "x", 3, 4, {}, {});
  EXPECT_EQ(converted.input->in_body, nullptr);
  EXPECT_EQ(converted.input->values, v);
  const std::vector<double> d(v.begin(), v.end());
  std::string f8 = f4.substr(0, 128);
  f8.replace(f8.find("<f4"), 3, "<f8");
  f8.append(reinterpret_cast<const char*>(d.data()), d.size() * sizeof(double));
  const auto widened = decode_body(BodyFormat::Npy, f8, "x", 3, 4, {}, {});
  EXPECT_EQ(widened.input->in_body, nullptr);
  EXPECT_EQ(widened.input->values, v);
}

TEST(ServeCodec, NpyBytesRoundTripThroughTheReader) {
  const std::vector<float> v = {0.25f, -1e-7f, 3e8f, 7};
  const vae::NpyArray a = vae::parse_npy(vae::npy_bytes(v.data(), {2, 2}).data(),
                                         vae::npy_bytes(v.data(), {2, 2}).size(), "mem");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(a.data, v);
}

TEST(ServeCodec, ContentTypesAndQuery) {
  EXPECT_EQ(vae::serve::body_format("application/json; charset=utf-8"), BodyFormat::Json);
  EXPECT_EQ(vae::serve::body_format("Application/X-NPY"), BodyFormat::Npy);
  EXPECT_FALSE(vae::serve::body_format("text/plain"));
  const auto q = vae::serve::parse_query("a=1&b=x%20y&c");
  EXPECT_EQ(q.at("a"), "1");
  EXPECT_EQ(q.at("b"), "x y");
  EXPECT_EQ(q.at("c"), "");
  EXPECT_THROW(vae::serve::parse_query("a=%zz"), BadRequest);
}

TEST(ServeCodec, JsonMatrixRoundTripsFloats) {
  const std::vector<float> v = {0.1f, 1.0f / 3.0f, -2.5e-20f, 123456.78f};
  const std::string s = vae::serve::json_matrix(v.data(), 2, 2);
  const auto b = decode_body(BodyFormat::Json, "{\"x\": " + s + "}", "x", 2, 4, {}, {});
  EXPECT_EQ(b.input->values, v);
  EXPECT_EQ(vae::serve::json_error("a \"b\"\n"), "{\"error\": \"a \\\"b\\\"\\n\"}");
  EXPECT_EQ(s, "[[0.1,0.33333334],[-2.5e-20,123456.78]]");  // the shortest decimals
  const float negative_zero = -0.0f;
  EXPECT_EQ(vae::serve::json_matrix(&negative_zero, 1, 1), "[[-0]]");
}

// Every finite float written by json_matrix reads back to its own bits, through the fast path
// and through the full parser: 100,000 random bit patterns and the edge cases. Negative zero
// aside: it is written "-0", which both readers take, as JSON's integers, for 0.
TEST(ServeCodec, JsonMatrixRoundTripsEveryKindOfFloat) {
  std::mt19937_64 g(13);
  std::vector<float> v = {0.0f, std::numeric_limits<float>::denorm_min(), -std::numeric_limits<float>::denorm_min(),
                          std::numeric_limits<float>::min(), std::numeric_limits<float>::max(),
                          -std::numeric_limits<float>::max(), 1.0f, 16777217.0f, 1e-45f, 3.4028235e38f};
  while (v.size() < 100000) {
    const uint32_t bits = static_cast<uint32_t>(g());
    float f;
    std::memcpy(&f, &bits, 4);
    if (std::isfinite(f) && bits != 0x80000000u) v.push_back(f);
  }
  const size_t cols = 100;
  v.resize(v.size() / cols * cols);
  const std::string body = "{\"x\": " + vae::serve::json_matrix(v.data(), v.size() / cols, cols) + "}";
  const std::optional<vae::serve::RequestBody> fast = vae::serve::decode_json_fast(body, "x", cols, {});
  ASSERT_TRUE(fast.has_value());
  const vae::serve::RequestBody full = vae::serve::decode_json_full(body, "x", cols, {});
  ASSERT_EQ(fast->input->values.size(), v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    uint32_t want, got_fast, got_full;
    std::memcpy(&want, &v[i], 4);
    std::memcpy(&got_fast, &fast->input->values[i], 4);
    std::memcpy(&got_full, &full.input->values[i], 4);
    ASSERT_EQ(got_fast, want) << i << ": " << v[i];
    ASSERT_EQ(got_full, want) << i << ": " << v[i];
  }
}

// The bits of every value, labels and options of two decodings.
void expect_same(const vae::serve::RequestBody& a, const vae::serve::RequestBody& b, const std::string& body) {
  ASSERT_EQ(a.input.has_value(), b.input.has_value()) << body;
  if (a.input) {
    EXPECT_EQ(a.input->rows, b.input->rows) << body;
    EXPECT_EQ(a.input->cols, b.input->cols) << body;
    ASSERT_EQ(a.input->values.size(), b.input->values.size()) << body;
    EXPECT_EQ(std::memcmp(a.input->values.data(), b.input->values.data(), a.input->values.size() * sizeof(float)), 0)
        << body;
  }
  EXPECT_EQ(a.labels, b.labels) << body;
  EXPECT_EQ(a.ints, b.ints) << body;
}

// One number as a client might write it: printf formats of many precisions, integers up to and
// past int64 and uint64, negative zero, exponents in either case.
std::string random_number(std::mt19937_64& g) {
  std::uniform_real_distribution<double> u(-3.0, 3.0);
  const double v = u(g) * std::pow(10.0, static_cast<int>(g() % 13) - 6);
  char buf[64];
  switch (g() % 9) {
    case 0: std::snprintf(buf, sizeof buf, "%.9g", v); break;
    case 1: std::snprintf(buf, sizeof buf, "%.17g", v); break;
    case 2: std::snprintf(buf, sizeof buf, "%.3e", v); break;
    case 3: std::snprintf(buf, sizeof buf, "%.6f", v); break;
    case 4: std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v * 1e3)); break;
    case 5: std::snprintf(buf, sizeof buf, "%.25f", v); break;  // more digits than a double holds
    case 6: std::snprintf(buf, sizeof buf, "%.4E", v); break;
    default: {
      const char* const special[] = {"-0", "0", "0.0", "-0.0", "12345678901234567890", "-9223372036854775809",
                                     "99999999999999999999999", "9223372036854775807", "1e38", "-3.4028234e38",
                                     "1E-45", "16777217", "0.1", "1e+2", "2E-3"};
      return special[g() % (sizeof special / sizeof *special)];
    }
  }
  return buf;
}

// The fast path reads a body to exactly the values, labels and options of the full parser,
// over 2,000 bodies of random rows, spacing and key order.
TEST(ServeCodec, JsonFastPathEqualsTheFullParser) {
  std::mt19937_64 g(7);
  const std::vector<std::string> ws = {"", " ", "\n", " \t\r\n "};
  const auto sp = [&] { return ws[g() % ws.size()]; };
  const size_t cols = 5;
  for (int trial = 0; trial < 2000; ++trial) {
    const size_t rows = 1 + g() % 4;
    const bool flat = rows == 1 && g() % 2;
    std::string x = "[" + sp();
    for (size_t i = 0; i < rows; ++i) {
      if (!flat) x += (i ? "," + sp() + "[" : "[") + sp();
      for (size_t j = 0; j < cols; ++j) x += (j ? sp() + "," + sp() : "") + random_number(g) + sp();
      if (!flat) x += "]" + sp();
    }
    x += "]";
    std::vector<std::string> members = {"\"x\"" + sp() + ":" + sp() + x};
    if (g() % 2) {
      std::string labels = "[";
      for (size_t i = 0; i < rows; ++i) labels += (i ? "," : "") + std::to_string(g() % 10);
      members.push_back("\"labels\":" + sp() + labels + "]");
    }
    if (g() % 2) members.push_back("\"k\": " + std::to_string(static_cast<int64_t>(g() % 2000) - 1000));
    if (g() % 2) members.push_back("\"other\": [[1, 2], [3e1]]");
    if (g() % 3 == 0) members.push_back("\"seed\": 9223372036854775807");
    std::shuffle(members.begin(), members.end(), g);
    std::string body = sp() + "{" + sp();
    for (size_t m = 0; m < members.size(); ++m) body += (m ? "," + sp() : "") + members[m];
    body += sp() + "}" + sp();

    std::optional<vae::serve::RequestBody> fast;
    try {
      fast = vae::serve::decode_json_fast(body, "x", cols, {"k", "seed"});
    } catch (const std::exception& e) {
      FAIL() << "the fast path threw: " << e.what() << "\n" << body;
    }
    vae::serve::RequestBody full;
    bool full_ok = true;
    try {
      full = vae::serve::decode_json_full(body, "x", cols, {"k", "seed"});
    } catch (const std::exception&) {
      full_ok = false;  // a value past float's range: the fast path must decline it too
    }
    if (!full_ok) {
      EXPECT_FALSE(fast.has_value()) << body;
      continue;
    }
    ASSERT_TRUE(fast.has_value()) << body;
    expect_same(*fast, full, body);
  }
}

// A float halfway point written exactly in at most 15 digits: (2^24 + odd) / 2^s, s in 0..6,
// with s digits after the point. Read exactly it rounds to the even float; a double one ulp off
// (a product with 10^-k instead of the quotient, say) rounds the other way.
std::string float_halfway_decimal(std::mt19937_64& g) {
  const double m = 16777216.0 + 2.0 * static_cast<double>(g() % (1u << 23)) + 1.0;  // 25 bits, odd
  const int s = static_cast<int>(g() % 7);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s%.*f", g() % 2 ? "-" : "", s == 0 ? 1 : s, std::ldexp(m, -s));
  return buf;
}

// Decimals without exponent of 1 to 17 digits, the point anywhere, signed or not (those of up
// to 15 digits take the fast path's exact division, the longer ones from_chars), and float
// halfway points: every value read as the full parser reads it, 200 rows of 100.
TEST(ServeCodec, JsonFastPathShortDecimalsEqualTheFullParser) {
  std::mt19937_64 g(11);
  const size_t cols = 100;
  for (int trial = 0; trial < 200; ++trial) {
    std::string body = "{\"x\": [";
    for (size_t j = 0; j < cols; ++j) {
      if (j % 2) {
        body += "," + float_halfway_decimal(g);
        continue;
      }
      const int digits = 1 + static_cast<int>(g() % 17);
      std::string number = g() % 2 ? "-" : "";
      std::string d;
      for (int i = 0; i < digits; ++i) d += static_cast<char>('0' + g() % 10);
      const int point = 1 + static_cast<int>(g() % digits);  // digits before the point
      if (d.size() > 1) d[0] = point > 1 && d[0] == '0' ? '1' : d[0];  // no leading zero: "01.5" is not JSON
      number += d.substr(0, point);
      if (point < digits) number += "." + d.substr(point);
      else number += ".0";
      body += (j ? "," : "") + number;
    }
    body += "]}";
    const std::optional<vae::serve::RequestBody> fast = vae::serve::decode_json_fast(body, "x", cols, {});
    ASSERT_TRUE(fast.has_value()) << body;
    expect_same(*fast, vae::serve::decode_json_full(body, "x", cols, {}), body);
  }
}

// Runs of digits of every length before and after the point, each number ending at every
// distance from the end of the body (the last bytes are read a digit at a time, the others 8
// at a time) and followed by each byte that can end it: read as the full parser reads them.
TEST(ServeCodec, JsonFastPathDigitRunsOfEveryLengthEqualTheFullParser) {
  std::mt19937_64 g(5);
  const auto run = [&](int n, bool leading) {
    std::string d;
    for (int i = 0; i < n; ++i) d += static_cast<char>('0' + g() % 10);
    if (leading && n > 1 && d[0] == '0') d[0] = '7';  // "07" is not JSON
    return d;
  };
  const std::vector<std::string> enders = {"", " ", "\n", "\t", "\r", "  ", "         "};
  int read = 0;
  for (int whole = 1; whole <= 10; ++whole)
    for (int fraction = 0; fraction <= 18; ++fraction)
      for (const std::string& after : enders)
        for (int place = 0; place < 3; ++place) {  // the first, middle or last of a row of 3
          const std::string number =
              (g() % 2 ? "-" : "") + run(whole, true) + (fraction ? "." + run(fraction, false) : "");
          std::string row[3] = {"1.5", "-0.25", "3"};
          row[place] = number + after;
          const std::string body = "{\"x\": [" + row[0] + "," + row[1] + "," + row[2] + "]}";
          const std::optional<vae::serve::RequestBody> fast = vae::serve::decode_json_fast(body, "x", 3, {});
          ASSERT_TRUE(fast.has_value()) << body;
          expect_same(*fast, vae::serve::decode_json_full(body, "x", 3, {}), body);
          ++read;
        }
  EXPECT_EQ(read, 10 * 19 * 7 * 3);
  // A digit run ended by a byte that no number takes (just below '0', just above '9', not
  // ASCII), near the body's end or not: declined.
  for (const char* bad : {"0.12345\x80", "0.1234567/", "12345678:", "0.5:", "0.5\xff", "1234567890123\x01"})
    for (const char* tail : {"]}", "]            }"}) {
      const std::string body = std::string("{\"x\": [1, 2, ") + bad + tail;
      EXPECT_FALSE(vae::serve::decode_json_fast(body, "x", 3, {}).has_value()) << body;
    }
}

// What the fast path declines goes to the full parser, which decides: the same answer or the
// same error as the full parser alone.
TEST(ServeCodec, JsonFastPathDeclinesTheRest) {
  const std::vector<std::string> bodies = {
      R"({"x": [[1, 2, 3]], "name": "a"})",      R"({"x": [[1, 2, 3]], "o": {"a": 1}})",
      R"({"x": [[1, 2, 3]], "t": true})",        R"({"x": [[1, 2, 3]], "n": null})",
      R"({"x": [[1, 2, 3]], "x": [[4, 5, 6]]})", R"({"x": []})",
      R"({"x": [[]]})",                          R"({"x": [[1, 2], [1, 2, 3]]})",
      R"({"x": [[1, 2, 3], 4]})",                R"({"x": [[1, 2, 1e400]]})",
      R"({"x": [[1, 2, 1e39]]})",                R"({"x": [[1, 2, NaN]]})",
      R"({"x": [[01, 2, 3]]})",                  R"({"x": [[.5, 2, 3]]})",
      R"({"x": [[5., 2, 3]]})",                  R"({"x": [[+1, 2, 3]]})",
      R"({"x": [[1, 2, 3]]} x)",                 "\xEF\xBB\xBF{\"x\": [[1, 2, 3]]}",
      R"({"x": [[1, 2, 3]], "labels": [-1]})",   R"({"x": [[1, 2, 3]], "labels": [1.5]})",
      R"({"x": [[1, 2, 3]], "labels": []})",     R"({"x": [[1, 2, 3]], "k": 2.0})",
      R"({"x": [[1, 2, 3]], "k": 99999999999999999999})", R"({"\u0078": [[1, 2, 3]]})",
      R"({"y": [[1, 2, 3]]})",                   R"({})",
      R"({"x": [[1, 2, 3]],})",                  R"({"x": [[1, 2, 3],]})",
      R"([[1, 2, 3]])",                          "",
      R"({"x": [[1, 2, 3]], "deep": [[[[1]]]]})", R"({"x": [[1, 2, 3]], "labels": [2147483648]})"};
  for (const std::string& body : bodies) {
    EXPECT_FALSE(vae::serve::decode_json_fast(body, "x", 3, {"k"}).has_value()) << body;
    std::string full_error, error;
    vae::serve::RequestBody full, got;
    try {
      full = vae::serve::decode_json_full(body, "x", 3, {"k"});
    } catch (const std::exception& e) {
      full_error = std::string(typeid(e).name()) + ": " + e.what();
    }
    try {
      got = decode_body(BodyFormat::Json, body, "x", 3, 100, {"k"}, {});
    } catch (const std::exception& e) {
      error = std::string(typeid(e).name()) + ": " + e.what();
    }
    if (full_error.empty() && !error.empty()) {
      // decode_body's own checks after either parser (no rows, labels per row)
      EXPECT_TRUE(error.find("no rows") != std::string::npos || error.find("labels") != std::string::npos)
          << body << ": " << error;
      continue;
    }
    EXPECT_EQ(error, full_error) << body;
    if (error.empty()) expect_same(got, full, body);
  }
}

}  // namespace
