// Tests for src/io/safetensors.cpp: the byte layout against the format description, bit-exact
// round trips, and a reader that answers every hostile or damaged file with a one-line
// vae::Error (hand-written bad headers, every truncation, byte flips, random mutations).
#include "io/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <random>

#include "test_util.h"
#include "vae/error.h"

namespace {

const unsigned char* data_of(const std::string& s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

std::string le64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(v >> (8 * i));
  return out;
}

// A file with the given header text (unpadded; padding is the writer's duty, not the reader's
// requirement) and a zero buffer of `buffer_size` bytes.
std::string file_with(const std::string& json, size_t buffer_size) {
  return le64(json.size()) + json + std::string(buffer_size, '\0');
}

// The message of the vae::Error that parsing `bytes` raises, or "" when it parses.
std::string parse_message(const std::string& bytes) {
  try {
    vae::parse_safetensors(data_of(bytes), bytes.size(), "bad.safetensors");
  } catch (const vae::Error& e) {
    return e.what();
  }
  return "";
}

void expect_error(const std::string& bytes, const std::string& fragment) {
  const std::string msg = parse_message(bytes);
  ASSERT_FALSE(msg.empty()) << "parsed without error; expected '" << fragment << "'";
  EXPECT_EQ(msg.rfind("bad.safetensors: ", 0), 0u) << msg;
  EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

float float_from_bits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// A valid checkpoint with metadata and tensors of two dtypes, including a scalar.
vae::SafeTensors sample_checkpoint() {
  vae::SafeTensors st;
  st.metadata["epoch"] = "3";
  st.metadata["config"] = "{\"latent\": 2}";
  const float w[6] = {1.f, -2.f, 0.5f, 3.25f, -0.f, 1e-3f};
  const float b[3] = {0.1f, 0.2f, 0.3f};
  const int64_t step[1] = {1234};
  st.add_f32("enc.w", {2, 3}, w);
  st.add_f32("enc.b", {3}, b);
  st.add_i64("step", {}, step);
  return st;
}

// What every successful parse must guarantee, whatever the input.
void expect_consistent(const vae::SafeTensors& st, size_t file_size) {
  size_t total = 0;
  for (const vae::TensorEntry& t : st.tensors) {
    for (int64_t d : t.shape) EXPECT_GE(d, 0);
    EXPECT_EQ(t.data.size(), t.numel() * vae::dtype_size(t.dtype)) << t.name;
    total += t.data.size();
  }
  EXPECT_LE(total, file_size);
}

TEST(SafeTensors, DTypeNamesAndSizes) {
  EXPECT_STREQ(vae::dtype_name(vae::DType::F32), "F32");
  EXPECT_STREQ(vae::dtype_name(vae::DType::F64), "F64");
  EXPECT_STREQ(vae::dtype_name(vae::DType::I64), "I64");
  EXPECT_STREQ(vae::dtype_name(vae::DType::I32), "I32");
  EXPECT_STREQ(vae::dtype_name(vae::DType::U8), "U8");
  EXPECT_EQ(vae::dtype_size(vae::DType::F32), 4u);
  EXPECT_EQ(vae::dtype_size(vae::DType::F64), 8u);
  EXPECT_EQ(vae::dtype_size(vae::DType::I64), 8u);
  EXPECT_EQ(vae::dtype_size(vae::DType::I32), 4u);
  EXPECT_EQ(vae::dtype_size(vae::DType::U8), 1u);
}

TEST(SafeTensors, ExampleFileMatchesTheFormatByteForByte) {
  vae::SafeTensors st;
  st.metadata["format"] = "pt";
  const float w[2] = {1.0f, -2.0f};
  const int64_t step[1] = {7};
  st.add_f32("w", {2}, w);
  st.add_i64("step", {}, step);

  // 141 bytes of JSON, three spaces of padding: 8 + 144 = 152 is a multiple of 8.
  const std::string json =
      "{\"__metadata__\":{\"format\":\"pt\"},"
      "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"step\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[8,16]}}";
  ASSERT_EQ(json.size(), 141u);
  const std::string expected = std::string("\x90\0\0\0\0\0\0\0", 8) + json + "   " +
                               std::string("\x00\x00\x80\x3f", 4) +   // 1.0f
                               std::string("\x00\x00\x00\xc0", 4) +   // -2.0f
                               std::string("\x07\0\0\0\0\0\0\0", 8);  // int64 7
  EXPECT_EQ(vae::to_safetensors_bytes(st), expected);
}

TEST(SafeTensors, RoundTripIsBitExact) {
  vae_test::TempDir dir;
  const std::string path = dir.file("model.safetensors");

  vae::SafeTensors st;
  st.metadata["epoch"] = "12";
  st.metadata["note"] =
      "Gr\xc3\xbc\xc3\x9f"
      "e \xe2\x9c\x93 \"quoted\"\n";
  st.metadata["empty"] = "";
  const std::vector<float> f = {0.f,
                                -0.f,
                                1.5f,
                                std::numeric_limits<float>::denorm_min(),
                                std::numeric_limits<float>::max(),
                                std::numeric_limits<float>::infinity(),
                                -std::numeric_limits<float>::infinity(),
                                float_from_bits(0x7fc12345u)};  // a NaN with a payload
  const std::vector<int64_t> i = {0, -1, std::numeric_limits<int64_t>::min(),
                                  std::numeric_limits<int64_t>::max()};
  const float scalar = 2.5f;
  st.add_f32("f", {2, 4}, f.data());
  st.add_i64("i", {4}, i.data());
  st.add_f32("scalar", {}, &scalar);
  st.add_f32("empty", {0, 3}, nullptr);
  vae::TensorEntry u8;
  u8.name = "bytes";
  u8.dtype = vae::DType::U8;
  u8.shape = {3};
  u8.data = {0, 128, 255};
  st.tensors.push_back(u8);
  vae::TensorEntry f64;
  f64.name = "double";
  f64.dtype = vae::DType::F64;
  f64.shape = {1};
  f64.data = {1, 2, 3, 4, 5, 6, 7, 8};
  st.tensors.push_back(f64);

  vae::write_safetensors(path, st);
  EXPECT_EQ(vae_test::read_bytes(path), vae::to_safetensors_bytes(st));
  const vae::SafeTensors back = vae::read_safetensors(path);

  EXPECT_EQ(back.origin, path);
  EXPECT_EQ(back.metadata, st.metadata);
  ASSERT_EQ(back.tensors.size(), st.tensors.size());
  for (size_t k = 0; k < st.tensors.size(); ++k) {
    EXPECT_EQ(back.tensors[k].name, st.tensors[k].name);
    EXPECT_EQ(back.tensors[k].dtype, st.tensors[k].dtype);
    EXPECT_EQ(back.tensors[k].shape, st.tensors[k].shape);
    EXPECT_EQ(back.tensors[k].data, st.tensors[k].data) << st.tensors[k].name;
  }
  const std::vector<float> f_back = back.get_f32("f", {2, 4});
  ASSERT_EQ(f_back.size(), f.size());
  EXPECT_EQ(std::memcmp(f_back.data(), f.data(), f.size() * 4), 0);
  EXPECT_EQ(back.get_i64("i", {4}), i);
  EXPECT_EQ(back.get_f32("scalar", {}), std::vector<float>{2.5f});
  EXPECT_EQ(back.find("scalar")->numel(), 1u);
  EXPECT_TRUE(back.get_f32("empty", {0, 3}).empty());
}

TEST(SafeTensors, HeaderIsPaddedWithSpacesToEightBytes) {
  for (size_t len = 1; len <= 16; ++len) {
    vae::SafeTensors st;
    const float v = 1.f;
    st.add_f32(std::string(len, 'x'), {1}, &v);
    const std::string bytes = vae::to_safetensors_bytes(st);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
    EXPECT_EQ((8 + n) % 8, 0u) << len;
    ASSERT_EQ(bytes.size(), 8 + n + 4);
    const size_t close = bytes.rfind('}', 8 + n);
    for (size_t k = close + 1; k < 8 + n; ++k) EXPECT_EQ(bytes[k], ' ');
    EXPECT_EQ(vae::parse_safetensors(data_of(bytes), bytes.size(), "x")
                  .get_f32(std::string(len, 'x'), {1}),
              std::vector<float>{1.f});
  }
}

TEST(SafeTensors, MetadataKeyOnlyWhenNonEmpty) {
  vae::SafeTensors st;
  const float v = 1.f;
  st.add_f32("a", {1}, &v);
  EXPECT_EQ(vae::to_safetensors_bytes(st).find("__metadata__"), std::string::npos);
  st.metadata["k"] = "v";
  EXPECT_NE(vae::to_safetensors_bytes(st).find("\"__metadata__\":{\"k\":\"v\"}"),
            std::string::npos);
}

TEST(SafeTensors, EmptyFileAndZeroSizeTensorsAreValid) {
  const vae::SafeTensors none = vae::parse_safetensors(data_of(file_with("{}", 0)), 10, "x");
  EXPECT_TRUE(none.tensors.empty());
  EXPECT_TRUE(none.metadata.empty());

  // Empty tensors sit anywhere in the buffer, even beside a non-empty one at the same offset;
  // a zero dimension makes an otherwise huge shape empty.
  const std::string json =
      R"({"e1":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},)"
      R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
      R"("e2":{"dtype":"I64","shape":[4611686018427387904,0],"data_offsets":[4,4]}} )";
  const std::string bytes = file_with(json, 4);
  const vae::SafeTensors st = vae::parse_safetensors(data_of(bytes), bytes.size(), "x");
  ASSERT_EQ(st.tensors.size(), 3u);
  EXPECT_EQ(st.find("e2")->numel(), 0u);
  EXPECT_EQ(st.get_f32("a", {1}), std::vector<float>{0.f});
}

TEST(SafeTensors, TensorsComeInBufferOrder) {
  const std::string json = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
                           R"("b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  const std::string bytes =
      le64(json.size()) + json + std::string("\x00\x00\x80\x3f\x00\x00\x00\x40", 8);
  const vae::SafeTensors st = vae::parse_safetensors(data_of(bytes), bytes.size(), "x");
  ASSERT_EQ(st.tensors.size(), 2u);
  EXPECT_EQ(st.tensors[0].name, "b");
  EXPECT_EQ(st.tensors[1].name, "a");
  EXPECT_EQ(st.get_f32("b", {1}), std::vector<float>{1.f});
  EXPECT_EQ(st.get_f32("a", {1}), std::vector<float>{2.f});
}

TEST(SafeTensors, GettersCheckPresenceDtypeAndShape) {
  vae::SafeTensors st = sample_checkpoint();
  st.origin = "ckpt.safetensors";
  auto message = [&](auto&& f) -> std::string {
    try {
      f();
    } catch (const vae::Error& e) {
      return e.what();
    }
    return "";
  };
  const std::string at = "ckpt.safetensors: tensor ";
  EXPECT_EQ(message([&] { st.get_f32("nope", {1}); }), at + "'nope' is missing");
  EXPECT_EQ(message([&] { st.get_f32("step", {}); }), at + "'step' has dtype I64, expected F32");
  EXPECT_EQ(message([&] { st.get_i64("enc.b", {3}); }), at + "'enc.b' has dtype F32, expected I64");
  const std::vector<int64_t> transposed = {3, 2};
  EXPECT_EQ(message([&] { st.get_f32("enc.w", transposed); }),
            at + "'enc.w' has shape [2, 3], expected [3, 2]");
  EXPECT_EQ(message([&] { st.get_i64("step", {1}); }), at + "'step' has shape [], expected [1]");
  EXPECT_EQ(st.get_i64("step", {}), std::vector<int64_t>{1234});
  EXPECT_EQ(st.find("nope"), nullptr);
}

TEST(SafeTensors, ShortOrOverlongLengthIsAnError) {
  for (size_t size = 0; size < 8; ++size) expect_error(std::string(size, '\0'), "too short");
  expect_error(le64(100) + "{}", "runs past the end");
  expect_error(le64(uint64_t{1} << 63) + "{}", "runs past the end");
  expect_error(le64(std::numeric_limits<uint64_t>::max()) + "{}", "runs past the end");
  expect_error(le64(0), "not valid JSON");
}

TEST(SafeTensors, HostileHeadersAreErrors) {
  struct Case {
    std::string json;
    size_t buffer;
    std::string fragment;
  };
  const std::string ok_dtype = R"("dtype":"F32")";
  const std::string ok_shape = R"("shape":[2])";
  const std::string ok_offsets = R"("data_offsets":[0,8])";
  auto entry = [](const std::string& body) { return "{\"a\":{" + body + "}}"; };
  const std::vector<Case> cases = {
      {R"({"a": )", 8, "not valid JSON"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} x)", 8, "not valid JSON"},
      {std::string("{}\0\0", 4), 0, "not valid JSON"},
      {"{\"\xff\":1}", 0, "not valid JSON"},
      {entry(ok_dtype + R"(,"shape":[1e999],)" + ok_offsets), 8, "not valid JSON"},
      {"[]", 0, "header is a JSON array, not an object"},
      {R"("x")", 0, "header is a JSON string, not an object"},
      {"42", 0, "header is a JSON number, not an object"},
      {R"({"a":3})", 8, "tensor 'a': entry is a JSON number, not an object"},
      {R"({"a":null})", 8, "entry is a JSON null"},
      {entry(ok_shape + "," + ok_offsets), 8, "tensor 'a': missing \"dtype\""},
      {entry(ok_dtype + "," + ok_offsets), 8, "tensor 'a': missing \"shape\""},
      {entry(ok_dtype + "," + ok_shape), 8, "tensor 'a': missing \"data_offsets\""},
      {entry(ok_dtype + "," + ok_shape + "," + ok_offsets + R"(,"extra":1)"), 8,
       "tensor 'a': unexpected key 'extra'"},
      {entry(R"("dtype":"BF16",)" + ok_shape + "," + ok_offsets), 8, "unsupported dtype 'BF16'"},
      {entry(R"("dtype":"f32",)" + ok_shape + "," + ok_offsets), 8, "unsupported dtype 'f32'"},
      {entry(R"("dtype":4,)" + ok_shape + "," + ok_offsets), 8, "dtype is a JSON number"},
      {entry(ok_dtype + R"(,"shape":[-2],)" + ok_offsets), 8, "non-negative integers"},
      {entry(ok_dtype + R"(,"shape":[2.0],)" + ok_offsets), 8, "non-negative integers"},
      {entry(ok_dtype + R"(,"shape":["2"],)" + ok_offsets), 8, "non-negative integers"},
      {entry(ok_dtype + R"(,"shape":[9223372036854775808],)" + ok_offsets), 8,
       "non-negative integers below 2^63"},
      {entry(ok_dtype + R"(,"shape":2,)" + ok_offsets), 8, "shape is a JSON number"},
      {entry(ok_dtype + R"(,"shape":[4294967296,4294967296,4294967296],)" + ok_offsets), 8,
       "is too large"},
      {entry(R"("dtype":"F64","shape":[2305843009213693952,1],)" + ok_offsets), 8, "is too large"},
      {entry(ok_dtype + "," + ok_shape + R"(,"data_offsets":8)"), 8, "two non-negative integers"},
      {entry(ok_dtype + "," + ok_shape + R"(,"data_offsets":[0])"), 8, "two non-negative"},
      {entry(ok_dtype + "," + ok_shape + R"(,"data_offsets":[0,8,8])"), 8, "two non-negative"},
      {entry(ok_dtype + "," + ok_shape + R"(,"data_offsets":[-1,7])"), 8, "two non-negative"},
      {entry(ok_dtype + "," + ok_shape + R"(,"data_offsets":[0,8.0])"), 8, "two non-negative"},
      {entry(ok_dtype + "," + ok_shape + R"(,"data_offsets":["0","8"])"), 8, "two non-negative"},
      {entry(ok_dtype + "," + ok_shape + R"(,"data_offsets":[8,0])"), 8, "begin after end"},
      {entry(ok_dtype + R"(,"shape":[4],"data_offsets":[0,16])"), 8, "run past the end"},
      {entry(ok_dtype + R"(,"shape":[2],"data_offsets":[0,18446744073709551615])"), 8,
       "run past the end"},
      {entry(ok_dtype + R"(,"shape":[3],)" + ok_offsets), 8, "hold 8 bytes but shape [3]"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
       12, "tensor 'b' overlaps tensor 'a'"},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
       R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
       12, "buffer bytes [4, 8) belong to no tensor"},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8,
       "buffer bytes [0, 4) belong to no tensor"},
      {entry(ok_dtype + "," + ok_shape + "," + ok_offsets), 12,
       "buffer bytes [8, 12) belong to no tensor"},
      {R"({"__metadata__":"x"})", 0, "__metadata__ is a JSON string, not an object"},
      {R"({"__metadata__":{"k":1}})", 0, "__metadata__ value 'k' is a JSON number"},
      {R"({"__metadata__":{"k":{}}})", 0, "__metadata__ value 'k' is a JSON object"},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
       R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
       8, "duplicate key 'a'"},
      {R"({"__metadata__":{},"__metadata__":{}})", 0, "duplicate key '__metadata__'"},
      {entry(R"("dtype":"F32","dtype":"F32",)" + ok_shape + "," + ok_offsets), 8,
       "duplicate key 'dtype'"},
      {entry(ok_dtype + R"(,"shape":[[2]],)" + ok_offsets), 8, "nests deeper"},
      {std::string(100000, '[') + std::string(100000, ']'), 0, "nests deeper"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.json.substr(0, 120));
    expect_error(file_with(c.json, c.buffer), c.fragment);
  }
}

TEST(SafeTensors, HostileNamesStayOnOneLine) {
  const std::string json = "{\"bad\\nname\\u0001" + std::string(500, 'x') +
                           "\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,4]}}";
  const std::string msg = parse_message(file_with(json, 4));
  EXPECT_NE(msg.find("tensor 'bad\\x0aname\\x01xxx"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos);
  EXPECT_LT(msg.size(), 200u);
}

TEST(SafeTensors, EveryTruncationIsAnError) {
  const std::string bytes = vae::to_safetensors_bytes(sample_checkpoint());
  ASSERT_NO_THROW(vae::parse_safetensors(data_of(bytes), bytes.size(), "x"));
  for (size_t len = 0; len < bytes.size(); ++len) {
    const std::string cut = bytes.substr(0, len);
    EXPECT_FALSE(parse_message(cut).empty()) << "truncated to " << len << " bytes";
  }
}

TEST(SafeTensors, HeaderByteFlipsGiveCleanParseOrError) {
  const std::string bytes = vae::to_safetensors_bytes(sample_checkpoint());
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  size_t errors = 0, parses = 0;
  for (size_t pos = 0; pos < 8 + n; ++pos) {
    const unsigned char orig = static_cast<unsigned char>(bytes[pos]);
    for (unsigned char v : {static_cast<unsigned char>(orig ^ 0x01),
                            static_cast<unsigned char>(orig ^ 0x80), uint8_t{0x00}, uint8_t{0xff},
                            uint8_t{'"'}, uint8_t{'['}, uint8_t{'}'}, uint8_t{'9'}, uint8_t{'-'}}) {
      std::string mutated = bytes;
      mutated[pos] = static_cast<char>(v);
      try {
        const vae::SafeTensors st = vae::parse_safetensors(data_of(mutated), mutated.size(), "x");
        expect_consistent(st, mutated.size());
        ++parses;
      } catch (const vae::Error& e) {
        EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
        ++errors;
      }
    }
  }
  // Both outcomes occur: e.g. a changed letter in a name parses, a broken brace does not.
  EXPECT_GT(parses, 0u);
  EXPECT_GT(errors, 0u);
}

TEST(SafeTensors, RandomMutationsGiveCleanParseOrError) {
  const std::string bytes = vae::to_safetensors_bytes(sample_checkpoint());
  std::mt19937 rng(12345);
  for (int iter = 0; iter < 3000; ++iter) {
    std::string mutated = bytes;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) mutated[rng() % mutated.size()] = static_cast<char>(rng());
    if (rng() % 4 == 0) mutated.resize(rng() % mutated.size());
    try {
      expect_consistent(vae::parse_safetensors(data_of(mutated), mutated.size(), "x"),
                        mutated.size());
    } catch (const vae::Error&) {
    }
  }
}

TEST(SafeTensors, ReadMissingFileNamesThePath) {
  vae_test::TempDir dir;
  const std::string path = dir.file("absent.safetensors");
  try {
    vae::read_safetensors(path);
    FAIL() << "no error";
  } catch (const vae::Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(path + ": ", 0), 0u) << e.what();
  }
}

TEST(SafeTensors, WriteToMissingFolderIsAnErrorAndLeavesNothing) {
  vae_test::TempDir dir;
  EXPECT_THROW(vae::write_safetensors(dir.file("no/such/model.safetensors"), sample_checkpoint()),
               vae::Error);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(SafeTensors, InvalidUtf8NameIsAnErrorOnWrite) {
  vae::SafeTensors st;
  const float v = 0.f;
  st.add_f32("bad\xff", {1}, &v);
  try {
    vae::to_safetensors_bytes(st);
    FAIL() << "no error";
  } catch (const vae::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not valid UTF-8"), std::string::npos) << e.what();
  }
}

TEST(SafeTensorsDeathTest, DuplicateNamesAreAContractViolation) {
  vae::SafeTensors st;
  const float v = 0.f;
  st.add_f32("a", {1}, &v);
  st.add_f32("a", {1}, &v);
  EXPECT_DEATH(vae::to_safetensors_bytes(st), "internal check failed");
}

}  // namespace
