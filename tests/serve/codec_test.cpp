// Request decoding: JSON and NPY bodies into tensors, and what is refused with which error.
#include "serve/codec.h"

#include <gtest/gtest.h>

#include <cmath>

#include "vae/npy.h"

namespace {

using vae::serve::BadRequest;
using vae::serve::BodyFormat;
using vae::serve::decode_body;
using vae::serve::Unprocessable;

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
  EXPECT_EQ(b.input->values, v);
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
}

}  // namespace
