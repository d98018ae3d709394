// Conv2d and ConvTranspose2d: golden values worked out by hand, the im2col + GEMM path against the
// naive loops over many shapes, the transposed convolution as the adjoint of the convolution, and
// backward against finite differences of L = Σ r ⊙ y (double precision) with sentinel-filled
// gradient buffers for the accumulate rule.
#include "nn/conv.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gradcheck.h"

namespace {

using vae::ConvShape;
using vae_test::check_gradient;
using vae_test::dot;
using vae_test::fill_uniform;

std::string describe(const ConvShape& s) {
  return "N=" + std::to_string(s.N) + " C_in=" + std::to_string(s.C_in) +
         " H=" + std::to_string(s.H) + " W=" + std::to_string(s.W) +
         " C_out=" + std::to_string(s.C_out) + " K=" + std::to_string(s.K) +
         " S=" + std::to_string(s.S) + " P=" + std::to_string(s.P) + " OP=" + std::to_string(s.OP);
}

// Element counts of x, W and y for each layer.
size_t conv_x_size(const ConvShape& s) { return size_t(s.N) * s.C_in * s.H * s.W; }
size_t conv_w_size(const ConvShape& s) { return size_t(s.C_out) * s.C_in * s.K * s.K; }
size_t conv_y_size(const ConvShape& s) {
  return size_t(s.N) * s.C_out * vae::conv2d_h_out(s) * vae::conv2d_w_out(s);
}
size_t convt_y_size(const ConvShape& s) {
  return size_t(s.N) * s.C_out * vae::conv_transpose2d_h_out(s) * vae::conv_transpose2d_w_out(s);
}

// The Conv2d whose adjoint the ConvTranspose2d `t` is: from t's output image back to its input
// image, with the same weight tensor (C_in_t, C_out_t, K, K) read as (C_out, C_in, K, K).
ConvShape adjoint_conv(const ConvShape& t) {
  const int H = vae::conv_transpose2d_h_out(t), W = vae::conv_transpose2d_w_out(t);
  return ConvShape{t.N, t.C_out, H, W, t.C_in, t.K, t.S, t.P, 0};
}

// Conv2d shapes: N, C_in, H, W, C_out, K, S, P. Strides 1-3, padding 0-2 (also P ≥ K), kernels
// 1-4, several channels, batches, and H ≠ W, including the Fashion-MNIST encoder's first layer.
const ConvShape kConvShapes[] = {{1, 1, 3, 3, 1, 2, 1, 0},  {2, 3, 7, 5, 4, 3, 1, 1},
                                 {3, 2, 8, 6, 5, 4, 2, 1},  {2, 3, 9, 7, 2, 3, 2, 0},
                                 {1, 2, 5, 9, 3, 3, 2, 1},  {2, 1, 28, 28, 4, 4, 2, 1},
                                 {2, 4, 6, 5, 3, 1, 1, 0},  {1, 2, 4, 3, 2, 2, 1, 2},
                                 {2, 2, 10, 8, 3, 2, 3, 1}, {4, 5, 14, 14, 6, 4, 2, 1},
                                 // 40·40 output pixels: groups of 2 images, the last one short
                                 {3, 1, 40, 40, 2, 3, 1, 1}};

// ConvTranspose2d shapes: as above plus output padding OP < S.
const ConvShape kConvTransposeShapes[] = {
    {1, 1, 2, 2, 1, 2, 1, 0, 0}, {2, 3, 5, 4, 2, 3, 1, 1, 0}, {3, 2, 4, 3, 5, 4, 2, 1, 0},
    {2, 3, 4, 5, 2, 3, 2, 1, 1}, {1, 2, 7, 7, 3, 4, 2, 1, 0}, {2, 4, 3, 2, 2, 3, 3, 0, 2},
    {2, 3, 4, 6, 4, 1, 1, 0, 0}, {1, 2, 3, 4, 2, 2, 3, 1, 1}, {4, 6, 7, 7, 5, 4, 2, 1, 0},
    {3, 2, 36, 36, 1, 3, 1, 1, 0}};  // a 36·36 input grid: groups of 2 images, the last short

TEST(ConvShape, OutputSizes) {
  // The Fashion-MNIST conv VAE: 28 → 14 → 7 and back with k4 s2 p1.
  const ConvShape enc1{1, 1, 28, 28, 32, 4, 2, 1}, enc2{1, 32, 14, 14, 64, 4, 2, 1};
  EXPECT_EQ(vae::conv2d_h_out(enc1), 14);
  EXPECT_EQ(vae::conv2d_w_out(enc2), 7);
  const ConvShape dec1{1, 64, 7, 7, 32, 4, 2, 1}, dec2{1, 32, 14, 14, 1, 4, 2, 1};
  EXPECT_EQ(vae::conv_transpose2d_h_out(dec1), 14);
  EXPECT_EQ(vae::conv_transpose2d_w_out(dec2), 28);
  // k3 s2 p1 maps both 27 and 28 to 14; output padding picks 28 on the way back.
  EXPECT_EQ(vae::conv2d_h_out(ConvShape{1, 1, 27, 28, 1, 3, 2, 1}), 14);
  EXPECT_EQ(vae::conv2d_w_out(ConvShape{1, 1, 27, 28, 1, 3, 2, 1}), 14);
  EXPECT_EQ(vae::conv_transpose2d_h_out(ConvShape{1, 1, 14, 14, 1, 3, 2, 1, 0}), 27);
  EXPECT_EQ(vae::conv_transpose2d_h_out(ConvShape{1, 1, 14, 14, 1, 3, 2, 1, 1}), 28);
  // Scratch for one image: the column matrix, the channel-major copy of the GEMM's other
  // operand or result, and the zero-bordered image (C, H + 2P, W + 2P).
  EXPECT_EQ(vae::conv2d_scratch_size(enc2), 32u * 16 * 7 * 7 + 64 * 7 * 7 + 32 * 16 * 16);
  EXPECT_EQ(vae::conv_transpose2d_scratch_size(dec1), 32u * 16 * 7 * 7 + 64 * 7 * 7 + 32 * 16 * 16);
  EXPECT_EQ(vae::conv2d_scratch_size(ConvShape{1, 3, 5, 4, 2, 3, 1, 0}), 3u * 9 * 3 * 2 + 2 * 3 * 2);
  // A batch goes through in groups of about 2048 columns: 7·7 = 49 per image → 42 images.
  ConvShape batch = enc2;
  batch.N = 128;
  EXPECT_EQ(vae::conv2d_scratch_size(batch), 42u * (32 * 16 * 49 + 64 * 49) + 32 * 16 * 16);
  batch.N = 10;  // fewer images than a group
  EXPECT_EQ(vae::conv2d_scratch_size(batch), 10u * (32 * 16 * 49 + 64 * 49) + 32 * 16 * 16);
}

TEST(Conv2d, GoldenValuesByHand) {
  // x (1,1,3,3) = 1..9, W (1,1,2,2) = [[1,2],[3,4]], b = 0.5, stride 1, no padding:
  //   y[0,0] = 1·1 + 2·2 + 4·3 + 5·4 = 37,  y[0,1] = 2 + 6 + 15 + 24 = 47,
  //   y[1,0] = 4 + 10 + 21 + 32 = 67,      y[1,1] = 5 + 12 + 24 + 36 = 77,  each + 0.5.
  const ConvShape s{1, 1, 3, 3, 1, 2, 1, 0};
  const double x[] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[] = {1, 2, 3, 4}, b[] = {0.5};
  const double want[] = {37.5, 47.5, 67.5, 77.5};
  std::vector<double> scratch(vae::conv2d_scratch_size(s));
  double y[4], y_ref[4];
  vae::conv2d_forward(y, x, w, b, s, scratch.data());
  vae::conv2d_reference_forward(y_ref, x, w, b, s);
  for (int i = 0; i < 4; ++i) {
    EXPECT_DOUBLE_EQ(y[i], want[i]) << i;
    EXPECT_DOUBLE_EQ(y_ref[i], want[i]) << i;
  }
  // With dy = 1 everywhere: dW[p,q] = Σ of the 2×2 window of x at offset (p,q), db = 4 outputs,
  // dx[u,v] = Σ of the kernel entries that touch pixel (u,v).
  const double dy[] = {1, 1, 1, 1};
  double dx[9] = {}, dw[4] = {}, db[1] = {};
  vae::conv2d_backward(dx, dw, db, dy, x, w, s, scratch.data());
  const double want_dw[] = {12, 16, 24, 28}, want_dx[] = {1, 3, 2, 4, 10, 6, 3, 7, 4};
  for (int i = 0; i < 4; ++i) EXPECT_DOUBLE_EQ(dw[i], want_dw[i]) << i;
  EXPECT_DOUBLE_EQ(db[0], 4);
  for (int i = 0; i < 9; ++i) EXPECT_DOUBLE_EQ(dx[i], want_dx[i]) << i;
}

TEST(Conv2d, GoldenStrideAndPadding) {
  // Same x and W, stride 2, padding 1: H_out = (3 + 2 − 2)/2 + 1 = 2. Windows start at −1 and 1:
  //   y[0,0] = x[0,0]·W[1,1] = 4              y[0,1] = x[0,1]·W[1,0] + x[0,2]·W[1,1] = 6 + 12
  //   y[1,0] = x[1,0]·W[0,1] + x[2,0]·W[1,1] = 8 + 28
  //   y[1,1] = x[1,1]·1 + x[1,2]·2 + x[2,1]·3 + x[2,2]·4 = 5 + 12 + 24 + 36
  const ConvShape s{1, 1, 3, 3, 1, 2, 2, 1};
  const double x[] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[] = {1, 2, 3, 4}, b[] = {0};
  const double want[] = {4, 18, 36, 77};
  std::vector<double> scratch(vae::conv2d_scratch_size(s));
  double y[4], y_ref[4];
  vae::conv2d_forward(y, x, w, b, s, scratch.data());
  vae::conv2d_reference_forward(y_ref, x, w, b, s);
  for (int i = 0; i < 4; ++i) {
    EXPECT_DOUBLE_EQ(y[i], want[i]) << i;
    EXPECT_DOUBLE_EQ(y_ref[i], want[i]) << i;
  }
}

TEST(Conv2d, WeightLayoutIsOutInKK) {
  // 1×1 kernel, C_in = 2, C_out = 3: y[o] = Σ_c W[o,c] x[c] with W (3,2,1,1) = [[1,2],[3,4],[5,6]]
  // (PyTorch's Conv2d layout). x (1,2,1,2): channel 0 = [1,2], channel 1 = [10,20].
  const ConvShape s{1, 2, 1, 2, 3, 1, 1, 0};
  const double x[] = {1, 2, 10, 20}, w[] = {1, 2, 3, 4, 5, 6}, b[] = {0, 0, 0};
  const double want[] = {21, 42, 43, 86, 65, 130};
  std::vector<double> scratch(vae::conv2d_scratch_size(s));
  double y[6], y_ref[6];
  vae::conv2d_forward(y, x, w, b, s, scratch.data());
  vae::conv2d_reference_forward(y_ref, x, w, b, s);
  for (int i = 0; i < 6; ++i) {
    EXPECT_DOUBLE_EQ(y[i], want[i]) << i;
    EXPECT_DOUBLE_EQ(y_ref[i], want[i]) << i;
  }
}

TEST(ConvTranspose2d, GoldenValuesByHand) {
  // x (1,1,2,2) = [[1,2],[3,4]], W (1,1,2,2) = [[1,2],[3,4]], stride 1: each pixel adds x·W onto
  // the 3×3 output at its own offset, y[u,v] = Σ_{i,j} x[i,j] W[u−i, v−j]:
  //   y = [[1, 2+2, 4], [3+3, 4+6+6+4, 8+8], [9, 12+12, 16]].
  const double x[] = {1, 2, 3, 4}, w[] = {1, 2, 3, 4}, b[] = {0};
  const ConvShape s1{1, 1, 2, 2, 1, 2, 1, 0, 0};
  const double want1[] = {1, 4, 4, 6, 20, 16, 9, 24, 16};
  std::vector<double> scratch(vae::conv_transpose2d_scratch_size(s1));
  double y[16], y_ref[16];
  vae::conv_transpose2d_forward(y, x, w, b, s1, scratch.data());
  vae::conv_transpose2d_reference_forward(y_ref, x, w, b, s1);
  for (int i = 0; i < 9; ++i) {
    EXPECT_DOUBLE_EQ(y[i], want1[i]) << i;
    EXPECT_DOUBLE_EQ(y_ref[i], want1[i]) << i;
  }
  // Stride 2 = kernel side: the patches tile the 4×4 output without overlap, block (i,j) being
  // x[i,j]·W; bias 1 on top.
  const ConvShape s2{1, 1, 2, 2, 1, 2, 2, 0, 0};
  const double b1[] = {1};
  const double want2[] = {1, 2, 2, 4, 3, 4, 6, 8, 3, 6, 4, 8, 9, 12, 12, 16};
  scratch.assign(vae::conv_transpose2d_scratch_size(s2), 0);
  vae::conv_transpose2d_forward(y, x, w, b1, s2, scratch.data());
  vae::conv_transpose2d_reference_forward(y_ref, x, w, b1, s2);
  for (int i = 0; i < 16; ++i) {
    EXPECT_DOUBLE_EQ(y[i], want2[i] + 1) << i;
    EXPECT_DOUBLE_EQ(y_ref[i], want2[i] + 1) << i;
  }
}

TEST(ConvTranspose2d, WeightLayoutIsInOutKK) {
  // 1×1 kernel, C_in = 2, C_out = 3: y[o] = Σ_c W[c,o] x[c] with W (2,3,1,1) = [[1,2,3],[4,5,6]]
  // (PyTorch's ConvTranspose2d layout). x (1,2,1,2): channel 0 = [1,2], channel 1 = [10,20].
  const ConvShape s{1, 2, 1, 2, 3, 1, 1, 0, 0};
  const double x[] = {1, 2, 10, 20}, w[] = {1, 2, 3, 4, 5, 6}, b[] = {0, 0, 0};
  const double want[] = {41, 82, 52, 104, 63, 126};
  std::vector<double> scratch(vae::conv_transpose2d_scratch_size(s));
  double y[6], y_ref[6];
  vae::conv_transpose2d_forward(y, x, w, b, s, scratch.data());
  vae::conv_transpose2d_reference_forward(y_ref, x, w, b, s);
  for (int i = 0; i < 6; ++i) {
    EXPECT_DOUBLE_EQ(y[i], want[i]) << i;
    EXPECT_DOUBLE_EQ(y_ref[i], want[i]) << i;
  }
}

// Runs `fast` (the im2col + GEMM forward, in float) and `reference` on random data and compares
// them elementwise. The scratch is followed by NaN guards that must survive: the fast path may
// use exactly the advertised scratch size, no more.
template <class Fast, class Reference>
void expect_fast_matches_reference(const ConvShape& s, size_t x_n, size_t w_n, size_t y_n,
                                   size_t scratch_n, Fast fast, Reference reference) {
  SCOPED_TRACE(describe(s));
  vae::Rng rng(7);
  std::vector<double> xd(x_n), wd(w_n), bd(s.C_out);
  fill_uniform(xd, rng);
  fill_uniform(wd, rng);
  fill_uniform(bd, rng);
  std::vector<float> x(xd.begin(), xd.end()), w(wd.begin(), wd.end()), b(bd.begin(), bd.end());
  const size_t guard = 64;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> scratch(scratch_n + guard, nan), y(y_n, nan), y_ref(y_n, nan);
  fast(y.data(), x.data(), w.data(), b.data(), s, scratch.data());
  reference(y_ref.data(), x.data(), w.data(), b.data(), s);
  int failures = 0;
  for (size_t i = 0; i < y_n && failures < 5; ++i) {
    const bool ok = std::fabs(y[i] - y_ref[i]) <= 1e-5f * (1 + std::fabs(y_ref[i]));
    if (!ok) ADD_FAILURE() << "y[" << i << "] fast " << y[i] << " vs reference " << y_ref[i];
    failures += !ok;
  }
  for (size_t i = scratch_n; i < scratch.size(); ++i)
    ASSERT_TRUE(std::isnan(scratch[i])) << "scratch written past its size at " << i;
}

TEST(Conv2d, FastMatchesReference) {
  for (const ConvShape& s : kConvShapes)
    expect_fast_matches_reference(s, conv_x_size(s), conv_w_size(s), conv_y_size(s),
                                  vae::conv2d_scratch_size(s), vae::conv2d_forward<float>,
                                  vae::conv2d_reference_forward<float>);
}

TEST(ConvTranspose2d, FastMatchesReference) {
  for (const ConvShape& s : kConvTransposeShapes)
    expect_fast_matches_reference(
        s, conv_x_size(s), conv_w_size(s), convt_y_size(s), vae::conv_transpose2d_scratch_size(s),
        vae::conv_transpose2d_forward<float>, vae::conv_transpose2d_reference_forward<float>);
}

TEST(ConvTranspose2d, IsAdjointOfConv2d) {
  // ⟨conv2d(u), v⟩ = ⟨u, conv_transpose2d(v)⟩ for a ConvTranspose2d from (C_in, H, W) to
  // (C_out, H_out, W_out) and the Conv2d back, sharing one weight tensor, biases 0. Checked for
  // the fast kernels and, independently, for the reference loops.
  for (const ConvShape& t : kConvTransposeShapes) {
    SCOPED_TRACE(describe(t));
    const ConvShape c = adjoint_conv(t);
    ASSERT_EQ(vae::conv2d_h_out(c), t.H);
    ASSERT_EQ(vae::conv2d_w_out(c), t.W);
    vae::Rng rng(11);
    std::vector<double> u(conv_x_size(c)), v(conv_x_size(t)), w(conv_w_size(t));
    fill_uniform(u, rng);
    fill_uniform(v, rng);
    fill_uniform(w, rng);
    const std::vector<double> zero_b(std::max(t.C_in, t.C_out), 0.0);
    std::vector<double> conv_u(conv_y_size(c)), convt_v(convt_y_size(t));
    std::vector<double> scratch(
        std::max(vae::conv2d_scratch_size(c), vae::conv_transpose2d_scratch_size(t)));
    ASSERT_EQ(conv_u.size(), v.size());
    ASSERT_EQ(convt_v.size(), u.size());

    vae::conv2d_forward(conv_u.data(), u.data(), w.data(), zero_b.data(), c, scratch.data());
    vae::conv_transpose2d_forward(convt_v.data(), v.data(), w.data(), zero_b.data(), t,
                                  scratch.data());
    const double lhs = dot(v, conv_u.data()), rhs = dot(u, convt_v.data());
    EXPECT_NEAR(lhs, rhs, 1e-12 * (1 + std::fabs(lhs))) << "fast";

    vae::conv2d_reference_forward(conv_u.data(), u.data(), w.data(), zero_b.data(), c);
    vae::conv_transpose2d_reference_forward(convt_v.data(), v.data(), w.data(), zero_b.data(), t);
    const double lhs_ref = dot(v, conv_u.data()), rhs_ref = dot(u, convt_v.data());
    EXPECT_NEAR(lhs_ref, rhs_ref, 1e-12 * (1 + std::fabs(lhs_ref))) << "reference";
    EXPECT_NEAR(lhs, lhs_ref, 1e-12 * (1 + std::fabs(lhs))) << "fast vs reference";
  }
}

// Finite-difference check of dx, dW, db for one layer. `forward(y, x, w, b, scratch)` and
// `backward(dx, dw, db, dy, x, w, scratch)` are the layer at a fixed shape.
template <class Forward, class Backward>
void check_layer_gradients(size_t x_n, size_t w_n, size_t b_n, size_t y_n, size_t scratch_n,
                           Forward forward, Backward backward) {
  vae::Rng rng(3);
  std::vector<double> x(x_n), w(w_n), b(b_n), r(y_n), y(y_n), scratch(scratch_n);
  fill_uniform(x, rng);
  fill_uniform(w, rng);
  fill_uniform(b, rng);
  fill_uniform(r, rng);
  auto loss = [&] {
    forward(y.data(), x.data(), w.data(), b.data(), scratch.data());
    return dot(r, y.data());
  };
  loss();
  // Sentinel prefill: backward must add to what is there, not overwrite it.
  const double sentinel = 0.25;
  std::vector<double> dx(x_n, sentinel), dw(w_n, sentinel), db(b_n, sentinel);
  backward(dx.data(), dw.data(), db.data(), r.data(), x.data(), w.data(), scratch.data());
  for (auto* g : {&dx, &dw, &db})
    for (double& v : *g) v -= sentinel;
  check_gradient("dx", x.data(), dx.data(), x_n, loss);
  check_gradient("dW", w.data(), dw.data(), w_n, loss);
  check_gradient("db", b.data(), db.data(), b_n, loss);
}

TEST(Conv2d, BackwardMatchesFiniteDifferencesAndAccumulates) {
  const ConvShape shapes[] = {
      {2, 2, 5, 4, 3, 3, 2, 1}, {1, 2, 4, 4, 2, 2, 1, 0}, {2, 1, 6, 7, 2, 4, 2, 1}};
  for (const ConvShape& s : shapes) {
    SCOPED_TRACE(describe(s));
    check_layer_gradients(
        conv_x_size(s), conv_w_size(s), s.C_out, conv_y_size(s), vae::conv2d_scratch_size(s),
        [&](double* y, const double* x, const double* w, const double* b, double* scratch) {
          vae::conv2d_forward(y, x, w, b, s, scratch);
        },
        [&](double* dx, double* dw, double* db, const double* dy, const double* x, const double* w,
            double* scratch) { vae::conv2d_backward(dx, dw, db, dy, x, w, s, scratch); });
  }
}

TEST(ConvTranspose2d, BackwardMatchesFiniteDifferencesAndAccumulates) {
  const ConvShape shapes[] = {
      {2, 3, 3, 2, 2, 3, 2, 1, 1}, {1, 2, 3, 3, 2, 2, 1, 0, 0}, {2, 2, 4, 3, 1, 4, 2, 1, 0}};
  for (const ConvShape& s : shapes) {
    SCOPED_TRACE(describe(s));
    check_layer_gradients(
        conv_x_size(s), conv_w_size(s), s.C_out, convt_y_size(s),
        vae::conv_transpose2d_scratch_size(s),
        [&](double* y, const double* x, const double* w, const double* b, double* scratch) {
          vae::conv_transpose2d_forward(y, x, w, b, s, scratch);
        },
        [&](double* dx, double* dw, double* db, const double* dy, const double* x, const double* w,
            double* scratch) { vae::conv_transpose2d_backward(dx, dw, db, dy, x, w, s, scratch); });
  }
}

// dx = nullptr skips the input gradient and leaves dW and db exactly as with it.
template <class Backward>
void expect_null_dx_allowed(const ConvShape& s, size_t x_n, size_t y_n, size_t scratch_n,
                            Backward backward) {
  vae::Rng rng(5);
  std::vector<double> x(x_n), w(conv_w_size(s)), dy(y_n), scratch(scratch_n);
  fill_uniform(x, rng);
  fill_uniform(w, rng);
  fill_uniform(dy, rng);
  std::vector<double> dx(x_n, 0), dw(w.size(), 0), db(s.C_out, 0);
  std::vector<double> dw_null(w.size(), 0), db_null(s.C_out, 0);
  backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), s, scratch.data());
  backward(nullptr, dw_null.data(), db_null.data(), dy.data(), x.data(), w.data(), s,
           scratch.data());
  for (size_t i = 0; i < dw.size(); ++i) EXPECT_DOUBLE_EQ(dw_null[i], dw[i]) << i;
  for (int i = 0; i < s.C_out; ++i) EXPECT_DOUBLE_EQ(db_null[i], db[i]) << i;
}

TEST(Conv2d, NullInputGradientIsAllowed) {
  const ConvShape s{2, 1, 6, 5, 3, 4, 2, 1};
  expect_null_dx_allowed(s, conv_x_size(s), conv_y_size(s), vae::conv2d_scratch_size(s),
                         vae::conv2d_backward<double>);
}

TEST(ConvTranspose2d, NullInputGradientIsAllowed) {
  const ConvShape s{2, 3, 3, 4, 2, 3, 2, 1, 1};
  expect_null_dx_allowed(s, conv_x_size(s), convt_y_size(s), vae::conv_transpose2d_scratch_size(s),
                         vae::conv_transpose2d_backward<double>);
}

}  // namespace
