// Tests for src/io/npy.cpp: the writer's layout against NumPy's format description, round trips,
// hand-written headers for every supported dtype and version, and malformed or truncated files.
#include "vae/npy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "test_util.h"
#include "vae/error.h"

namespace {

// A .npy file with the given version, dict text and payload; the dict is padded with spaces and
// a '\n' to a 64-byte boundary as NumPy does.
std::string npy_file(int major, const std::string& dict, const std::string& payload) {
  const size_t prefix = major == 1 ? 10 : 12;
  const size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  const size_t header_len = total - prefix;
  std::string out = std::string("\x93NUMPY", 6) + static_cast<char>(major) + '\0';
  for (size_t i = 0; i < prefix - 8; ++i) out += static_cast<char>(header_len >> (8 * i));
  out += dict + std::string(header_len - dict.size() - 1, ' ') + "\n";
  return out + payload;
}

std::string dict_for(const std::string& descr, const std::string& shape) {
  return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
}

// One scratch folder for the many small files the error tests write.
const vae_test::TempDir& scratch() {
  static const vae_test::TempDir dir;
  return dir;
}

// The message of the vae::Error that reading `bytes` from a file raises, or "" when it reads.
std::string read_message(const std::string& bytes) {
  const std::string path = scratch().file("a.npy");
  vae_test::write_bytes(path, bytes);
  try {
    vae::read_npy(path);
  } catch (const vae::Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    return msg;
  }
  return "";
}

vae::NpyArray read_bytes_as_npy(const std::string& bytes) {
  vae_test::write_bytes(scratch().file("b.npy"), bytes);
  return vae::read_npy(scratch().file("b.npy"));
}

TEST(Npy, RoundTripKeepsShapeAndBits) {
  vae_test::TempDir dir;
  uint32_t nan_bits = 0x7fc01234u;
  float nan;
  std::memcpy(&nan, &nan_bits, 4);
  const std::vector<float> values = {1.f,
                                     -0.f,
                                     3.5f,
                                     nan,
                                     std::numeric_limits<float>::infinity(),
                                     std::numeric_limits<float>::denorm_min()};
  const std::vector<std::vector<int64_t>> shapes = {{2, 3}, {6}, {1, 1, 6}, {}, {0, 4}};
  for (const auto& shape : shapes) {
    size_t numel = 1;
    for (int64_t d : shape) numel *= static_cast<size_t>(d);
    const std::string path = dir.file("x.npy");
    vae::write_npy(path, values.data(), shape);
    const vae::NpyArray back = vae::read_npy(path);
    EXPECT_EQ(back.shape, shape);
    ASSERT_EQ(back.data.size(), numel);
    if (numel > 0) {
      EXPECT_EQ(std::memcmp(back.data.data(), values.data(), numel * 4), 0);
    }
  }
}

TEST(Npy, WriterFollowsNumpyLayout) {
  vae_test::TempDir dir;
  const float v[6] = {1.f, 2.f, 3.f, 4.f, 5.f, -2.f};
  vae::write_npy(dir.file("x.npy"), v, {2, 3});
  const std::string bytes = vae_test::read_bytes(dir.file("x.npy"));

  // 10-byte prefix + 59-byte dict + padding + '\n' = 128 bytes, then 6 floats.
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  ASSERT_EQ(bytes.size(), 128u + 24u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_EQ(static_cast<unsigned char>(bytes[8]), 118);  // header length, little-endian
  EXPECT_EQ(bytes[9], '\0');
  EXPECT_EQ(bytes.substr(10, dict.size()), dict);
  EXPECT_EQ(bytes.substr(10 + dict.size(), 118 - dict.size() - 1), std::string(58, ' '));
  EXPECT_EQ(bytes[127], '\n');
  EXPECT_EQ(bytes.substr(128, 4), std::string("\x00\x00\x80\x3f", 4));  // 1.0f
  EXPECT_EQ(bytes.substr(148, 4), std::string("\x00\x00\x00\xc0", 4));  // -2.0f
}

TEST(Npy, WriterSpellsOneDimAndScalarShapesLikePython) {
  vae_test::TempDir dir;
  const float v[3] = {1.f, 2.f, 3.f};
  vae::write_npy(dir.file("a.npy"), v, {3});
  EXPECT_NE(vae_test::read_bytes(dir.file("a.npy")).find("'shape': (3,), }"), std::string::npos);
  vae::write_npy(dir.file("b.npy"), v, {});
  const std::string scalar = vae_test::read_bytes(dir.file("b.npy"));
  EXPECT_NE(scalar.find("'shape': (), }"), std::string::npos);
  EXPECT_EQ(scalar.size(), 128u + 4u);  // 10 + 55 + 1 header bytes round up to 128
}

TEST(Npy, ReadsEverySupportedDtype) {
  struct Case {
    std::string descr, payload;
    std::vector<float> expected;
  };
  const std::vector<Case> cases = {
      {"<f4", std::string("\x00\x00\xc0\x3f\x00\x00\x00\xc0", 8), {1.5f, -2.f}},
      {"<f8",
       std::string("\x00\x00\x00\x00\x00\x00\xe0\x3f\x00\x00\x00\x00\x00\x00\x04\xc0", 16),
       {0.5f, -2.5f}},
      {"|u1", std::string("\x00\x07\xff", 3), {0.f, 7.f, 255.f}},
      {"<u1", std::string("\x00\x07\xff", 3), {0.f, 7.f, 255.f}},
      {"|i1", std::string("\xff\x05\x80", 3), {-1.f, 5.f, -128.f}},
      {"<i4", std::string("\xfb\xff\xff\xff\x40\xe2\x01\x00", 8), {-5.f, 123456.f}},
      {"<i8",
       std::string("\x00\x00\x00\x00\x00\xff\xff\xff\x03\x00\x00\x00\x00\x00\x00\x00", 16),
       {-1099511627776.f, 3.f}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.descr);
    const std::string shape = "(" + std::to_string(c.expected.size()) + ",)";
    const vae::NpyArray a = read_bytes_as_npy(npy_file(1, dict_for(c.descr, shape), c.payload));
    EXPECT_EQ(a.shape, std::vector<int64_t>{static_cast<int64_t>(c.expected.size())});
    EXPECT_EQ(a.data, c.expected);
  }
}

TEST(Npy, ReadsVersions2And3) {
  const std::string payload("\x00\x00\x80\x3f", 4);
  for (int major : {2, 3}) {
    const vae::NpyArray a = read_bytes_as_npy(npy_file(major, dict_for("<f4", "(1, 1)"), payload));
    EXPECT_EQ(a.shape, (std::vector<int64_t>{1, 1}));
    EXPECT_EQ(a.data, std::vector<float>{1.f});
  }
}

TEST(Npy, ParsesTheDictLiteralRobustly) {
  const std::string payload(24, '\0');
  const std::vector<std::string> dicts = {
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
      "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}",
      "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2,3)}",
      "{ 'descr' :'<f4' ,\t'fortran_order':False,'shape':( 2 , 3 , ) , }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }",
  };
  for (const std::string& dict : dicts) {
    SCOPED_TRACE(dict);
    const vae::NpyArray a = read_bytes_as_npy(npy_file(1, dict, payload));
    EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(a.data.size(), 6u);
  }
  const vae::NpyArray scalar =
      read_bytes_as_npy(npy_file(1, dict_for("<f4", "()"), std::string("\x00\x00\x80\x3f", 4)));
  EXPECT_TRUE(scalar.shape.empty());
  EXPECT_EQ(scalar.data, std::vector<float>{1.f});
}

TEST(Npy, MalformedFilesAreErrors) {
  const std::string f4x2(8, '\0');
  auto header_with = [&](const std::string& dict) { return npy_file(1, dict, f4x2); };
  struct Case {
    std::string bytes, fragment;
  };
  std::string long_header = npy_file(1, dict_for("<f4", "(2,)"), f4x2);
  long_header[8] = '\xff';  // header length 65535, longer than the file
  long_header[9] = '\xff';
  const std::vector<Case> cases = {
      {"", "bad magic"},
      {"\x93NUM", "bad magic"},
      {std::string("\x93NUMPX\x01\x00", 8) + std::string(120, ' '), "bad magic"},
      {"PK\x03\x04 a zip file, not an array", "bad magic"},
      {std::string("\x93NUMPY\x04\x00", 8) + std::string(120, ' '), "version 4.0"},
      {std::string("\x93NUMPY\x01\x01", 8) + std::string(120, ' '), "version 1.1"},
      {std::string("\x93NUMPY\x01\x00\x05", 9), "ends inside the header length"},
      {std::string("\x93NUMPY\x02\x00\x05\x00", 10), "ends inside the header length"},
      {long_header, "runs past the end"},
      {header_with(dict_for("<f4", "(2,)").replace(0, 1, "[")), "expected '{'"},
      {header_with("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }"), "Fortran-order"},
      {header_with(dict_for(">f4", "(2,)")), "unsupported dtype '>f4'"},
      {header_with(dict_for("<f2", "(4,)")), "unsupported dtype '<f2'"},
      {header_with(dict_for("|b1", "(8,)")), "unsupported dtype '|b1'"},
      {header_with(dict_for("<U3", "(1,)")), "unsupported dtype '<U3'"},
      {header_with("{'descr': '<f4', 'shape': (2,), }"), "missing key 'fortran_order'"},
      {header_with("{'descr': '<f4', 'fortran_order': False}"), "missing key 'shape'"},
      {header_with("{'fortran_order': False, 'shape': (2,), }"), "missing key 'descr'"},
      {header_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}"),
       "unexpected key 'x'"},
      {header_with("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}"),
       "duplicate key 'descr'"},
      {header_with("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}"), "True or False"},
      {header_with("{'descr': '<f4', 'fortran_order': Falsey, 'shape': (2,)}"), "expected '}'"},
      {header_with("{'descr': <f4, 'fortran_order': False, 'shape': (2,)}"), "quoted dtype"},
      {header_with("{descr: '<f4', 'fortran_order': False, 'shape': (2,)}"), "quoted key"},
      {header_with("{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}"), "malformed header"},
      {header_with("{'descr': '<f4', 'fortran_order': False, 'shape': [2]}"), "must be a tuple"},
      {header_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2)}"), "(n,)"},
      {header_with("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}"), "non-negative"},
      {header_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2.0,)}"), "expected ')'"},
      {header_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2,,)}"), "non-negative"},
      {header_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3"), "expected ')'"},
      {header_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)"), "expected '}'"},
      {header_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x"),
       "after the closing"},
      {header_with("{'descr': '<f4',, 'fortran_order': False, 'shape': (2,)}"), "quoted key"},
      {header_with(dict_for("<f4", "(99999999999999999999,)")), "too large"},
      {header_with(dict_for("<f4", "(4294967296, 4294967296)")), "is too large"},
      {header_with(dict_for("<f4", "(3,)")), "data is 8 bytes but shape (3,) of <f4 needs 12"},
      {header_with(dict_for("<f4", "(1,)")), "data is 8 bytes but shape (1,) of <f4 needs 4"},
      {header_with(dict_for("<f8", "(2,)")), "needs 16 (file truncated?)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.bytes.substr(0, 100));
    const std::string msg = read_message(c.bytes);
    ASSERT_FALSE(msg.empty()) << "read without error; expected '" << c.fragment << "'";
    EXPECT_NE(msg.find(c.fragment), std::string::npos) << msg;
  }
}

TEST(Npy, EveryTruncationAndAnExtraByteAreErrors) {
  vae_test::TempDir dir;
  const float v[5] = {1.f, 2.f, 3.f, 4.f, 5.f};
  vae::write_npy(dir.file("x.npy"), v, {5});
  const std::string bytes = vae_test::read_bytes(dir.file("x.npy"));
  for (size_t len = 0; len < bytes.size(); ++len)
    EXPECT_FALSE(read_message(bytes.substr(0, len)).empty()) << "truncated to " << len;
  EXPECT_NE(read_message(bytes + "x").find("data is 21 bytes"), std::string::npos);
}

// npy_layout locates the values without reading them and refuses what parse_npy refuses, with
// the same message.
TEST(Npy, LayoutLocatesTheValuesAndChecksLikeTheReader) {
  const float v[6] = {1.f, -2.f, 3.5f, 4.f, 5.f, 6.f};
  const std::string f4 = vae::npy_bytes(v, {2, 3});
  const vae::NpyLayout a = vae::npy_layout(f4.data(), f4.size(), "mem");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.numel, 6u);
  EXPECT_EQ(a.data_offset % 64, 0u);
  EXPECT_EQ(a.data_offset + sizeof v, f4.size());
  EXPECT_TRUE(a.native_f32);
  EXPECT_EQ(std::memcmp(f4.data() + a.data_offset, v, sizeof v), 0);
  const std::string u1 = npy_file(1, dict_for("|u1", "(3,)"), std::string("\x00\x07\xff", 3));
  EXPECT_FALSE(vae::npy_layout(u1.data(), u1.size(), "mem").native_f32);
  for (const std::string& bad : {f4.substr(0, f4.size() - 1), f4 + "x", f4.substr(0, 9), std::string("nope")}) {
    std::string from_layout, from_reader;
    try { vae::npy_layout(bad.data(), bad.size(), "mem"); } catch (const vae::Error& e) { from_layout = e.what(); }
    try { vae::parse_npy(bad.data(), bad.size(), "mem"); } catch (const vae::Error& e) { from_reader = e.what(); }
    EXPECT_FALSE(from_layout.empty());
    EXPECT_EQ(from_layout, from_reader);
  }
}

TEST(Npy, MissingFileIsAnError) {
  vae_test::TempDir dir;
  try {
    vae::read_npy(dir.file("absent.npy"));
    FAIL() << "no error";
  } catch (const vae::Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(dir.file("absent.npy") + ": ", 0), 0u) << e.what();
  }
}

TEST(Npy, WriteToMissingFolderIsAnErrorAndLeavesNothing) {
  vae_test::TempDir dir;
  const float v[1] = {1.f};
  EXPECT_THROW(vae::write_npy(dir.file("no/such/x.npy"), v, {1}), vae::Error);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

}  // namespace
