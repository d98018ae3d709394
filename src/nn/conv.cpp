// Conv2d and ConvTranspose2d by im2col + GEMM, and their naive references (math in
// src/nn/conv.h).
//
// Legend: N batch, C_in / C_out channels, H × W the layer's input image, H_out × W_out its
// output, K kernel side, S stride, P padding, OP output padding; KK = K·K.
//
// Both layers share one lowering. For an image (C, H_img, W_img) and a grid of h_col × w_col
// kernel positions (the Conv2d output grid), the column matrix col (C·KK, h_col·w_col) is
//   col[(c·K + p)·K + q, i·w_col + j] = img[c, i·S − P + p, j·S − P + q]   (0 outside)
// im2col builds it; col2im is its adjoint (adds each entry back onto the pixel it came from).
// Then, per image n:
//   Conv2d           y_n (C_out, H_out·W_out) = W (C_out, C_in·KK) · im2col(x_n) + b
//   ConvTranspose2d  y_n (C_out, H_out·W_out) = col2im(Wᵀ (C_out·KK, C_in) · x_n (C_in, H·W)) + b
// with ConvTranspose2d's grid being its input (H, W) and its image its output (H_out, W_out).
//
// Images go through in groups of G (group_size): the column matrices of G images sit side by
// side, col (C·KK, G·h_col·w_col), so each pass is one GEMM whose inner or outer size is
// G·h_col·w_col — large enough to run near the GEMM's peak, where one GEMM per image of a small
// layer is mostly call overhead. A GEMM over a group gives (channels, G, plane) where NCHW wants
// (G, channels, plane); a copy reorders it (gather_planes / scatter_planes), which costs one
// pass over the tensor. The scratch holds a group's column matrix, that reordered copy, and,
// when P > 0, one zero-bordered copy of a lowered image, which keeps the gather and scatter
// loops free of bounds tests.
#include "nn/conv.h"

#include <algorithm>

#include "core/blas.h"
#include "vae/error.h"

namespace vae {

namespace {

// One lowering: an image (C, H, W), zero-padded by P on each side, seen through K × K windows
// at stride S placed on a grid of h_col × w_col positions (the Conv2d output grid).
struct Lowering {
  int C, H, W, K, S, P, h_col, w_col;
  size_t ld = 0;  // row stride of the column matrix: G·h_col·w_col for a group of G images
  int Hp() const { return H + 2 * P; }  // padded height
  int Wp() const { return W + 2 * P; }  // padded width
  size_t plane() const { return static_cast<size_t>(h_col) * w_col; }
  // The padded copy of the image; without padding the image is used in place.
  size_t pad_size() const { return P > 0 ? static_cast<size_t>(C) * Hp() * Wp() : 0; }
};

// Columns per GEMM to aim for: a group holds ⌈kGroupColumns / plane⌉ images (at most N). Large
// enough for OpenBLAS to reach its peak on these shapes, small enough that the column matrix of
// the largest preset layer (512 rows) stays within a few MB.
constexpr size_t kGroupColumns = 2048;

int group_size(int N, size_t plane) {
  return static_cast<int>(std::min<size_t>(N, std::max<size_t>(1, (kGroupColumns + plane - 1) / plane)));
}

Lowering conv2d_lowering(const ConvShape& s) {
  Lowering L{s.C_in, s.H, s.W, s.K, s.S, s.P, conv2d_h_out(s), conv2d_w_out(s)};
  L.ld = static_cast<size_t>(group_size(s.N, L.plane())) * L.plane();
  return L;
}

// ConvTranspose2d lowers its output image, on the grid of its input pixels.
Lowering conv_transpose2d_lowering(const ConvShape& s) {
  Lowering L{s.C_out, conv_transpose2d_h_out(s), conv_transpose2d_w_out(s), s.K, s.S, s.P, s.H, s.W};
  L.ld = static_cast<size_t>(group_size(s.N, L.plane())) * L.plane();
  return L;
}

// Scratch layout shared by both layers: col (C·KK, ld), then the reordered copy of the group's
// (channels, G, plane) tensor, then the padded image.
struct Scratch {
  size_t col, reorder, pad;
  size_t total() const { return col + reorder + pad; }
};

Scratch scratch_layout(const Lowering& L, int channels_reordered) {
  return {static_cast<size_t>(L.C) * L.K * L.K * L.ld,
          static_cast<size_t>(channels_reordered) * L.ld, L.pad_size()};
}

// dst (C, G·plane) ← src (G, C, plane): the group's images, channel-major, as a GEMM operand.
template <class T>
void gather_planes(T* dst, const T* src, int G, int C, size_t plane) {
  for (int g = 0; g < G; ++g)
    for (int c = 0; c < C; ++c)
      std::copy_n(src + (static_cast<size_t>(g) * C + c) * plane, plane,
                  dst + (static_cast<size_t>(c) * G + g) * plane);
}

// dst (G, C, plane) (+)= src (C, G·plane), plus b[c] along each plane when b is non-null.
template <class T>
void scatter_planes(T* dst, const T* src, const T* b, int G, int C, size_t plane, bool add) {
  for (int g = 0; g < G; ++g)
    for (int c = 0; c < C; ++c) {
      const T* in = src + (static_cast<size_t>(c) * G + g) * plane;
      T* out = dst + (static_cast<size_t>(g) * C + c) * plane;
      const T bias = b ? b[c] : T(0);
      if (add)
        for (size_t k = 0; k < plane; ++k) out[k] += in[k] + bias;
      else
        for (size_t k = 0; k < plane; ++k) out[k] = in[k] + bias;
    }
}

// pad (C, Hp, Wp) ← img (C, H, W) inside a border of P zeros.
template <class T>
void pad_image(T* pad, const T* img, const Lowering& L) {
  const int Hp = L.Hp(), Wp = L.Wp();
  for (int c = 0; c < L.C; ++c)
    for (int u = 0; u < Hp; ++u) {
      T* out = pad + (static_cast<size_t>(c) * Hp + u) * Wp;  // (Wp)
      if (u < L.P || u >= L.H + L.P) {
        std::fill(out, out + Wp, T(0));
        continue;
      }
      std::fill(out, out + L.P, T(0));
      std::copy_n(img + (static_cast<size_t>(c) * L.H + u - L.P) * L.W, L.W, out + L.P);
      std::fill(out + L.P + L.W, out + Wp, T(0));
    }
}

// img (C, H, W) += the interior of pad (C, Hp, Wp); the border (gradient that fell on padding)
// is dropped. The adjoint of pad_image.
template <class T>
void add_unpadded(T* img, const T* pad, const Lowering& L) {
  const int Hp = L.Hp(), Wp = L.Wp();
  for (int c = 0; c < L.C; ++c)
    for (int u = 0; u < L.H; ++u) {
      const T* in = pad + (static_cast<size_t>(c) * Hp + u + L.P) * Wp + L.P;  // (W)
      T* out = img + (static_cast<size_t>(c) * L.H + u) * L.W;                 // (W)
      for (int v = 0; v < L.W; ++v) out[v] += in[v];
    }
}

// col (C·KK, h_col·w_col) ← the windows of the padded image src (C, Hp, Wp). Every window lies
// inside src (h_col = ⌊(Hp − K)/S⌋ + 1 or fewer), so the copy needs no bounds tests. kS is the
// stride when known at compile time (1 and 2: unit-stride or fixed-pattern loads), else 0.
template <int kS, class T>
void im2col_padded(T* col, const T* src, const Lowering& L) {
  const int S = kS ? kS : L.S;
  const int Hp = L.Hp(), Wp = L.Wp(), K = L.K, w_col = L.w_col;
  T* out = col;  // walks the rows of col in order (c, p, q), ld apart
  for (int c = 0; c < L.C; ++c)
    for (int p = 0; p < K; ++p)
      for (int q = 0; q < K; ++q) {
        const T* window = src + (static_cast<size_t>(c) * Hp + p) * Wp + q;  // pixel (p, q)
        T* row = out;
        for (int i = 0; i < L.h_col; ++i, row += w_col) {
          const T* in = window + static_cast<size_t>(i) * S * Wp;
          for (int j = 0; j < w_col; ++j) row[j] = in[j * S];
        }
        out += L.ld;
      }
}

// dst (C, Hp, Wp) += col2im(col): each entry added back onto the pixel im2col_padded read it
// from. The adjoint of im2col_padded.
template <int kS, class T>
void col2im_padded(T* dst, const T* col, const Lowering& L) {
  const int S = kS ? kS : L.S;
  const int Hp = L.Hp(), Wp = L.Wp(), K = L.K, w_col = L.w_col;
  const T* in = col;
  for (int c = 0; c < L.C; ++c)
    for (int p = 0; p < K; ++p)
      for (int q = 0; q < K; ++q) {
        T* window = dst + (static_cast<size_t>(c) * Hp + p) * Wp + q;
        const T* row = in;
        for (int i = 0; i < L.h_col; ++i, row += w_col) {
          T* out = window + static_cast<size_t>(i) * S * Wp;
          for (int j = 0; j < w_col; ++j) out[j * S] += row[j];
        }
        in += L.ld;
      }
}

// col (C·KK, h_col·w_col), rows ld apart, ← im2col(img):
//   col[(c·K + p)·K + q, i·w_col + j] = img[c, i·S − P + p, j·S − P + q]   (0 outside)
// The image is first copied into pad (pad_size() elements) with its zero border, so that the
// gather itself is branch-free.
template <class T>
void im2col(T* col, T* pad, const T* img, const Lowering& L) {
  const T* src = img;
  if (L.P > 0) {
    pad_image(pad, img, L);
    src = pad;
  }
  switch (L.S) {
    case 1:
      return im2col_padded<1>(col, src, L);
    case 2:
      return im2col_padded<2>(col, src, L);
    default:
      return im2col_padded<0>(col, src, L);
  }
}

// img (C, H, W) += col2im(col), the adjoint of im2col: entry (c, p, q, i, j) of col is added
// onto pixel (c, i·S − P + p, j·S − P + q), or dropped when that pixel is padding. With padding
// the sums go to a zeroed padded plane (pad) whose interior is then added to img.
template <class T>
void col2im(T* img, T* pad, const T* col, const Lowering& L) {
  T* dst = img;
  if (L.P > 0) {
    std::fill(pad, pad + L.pad_size(), T(0));
    dst = pad;
  }
  switch (L.S) {
    case 1:
      col2im_padded<1>(dst, col, L);
      break;
    case 2:
      col2im_padded<2>(dst, col, L);
      break;
    default:
      col2im_padded<0>(dst, col, L);
      break;
  }
  if (L.P > 0) add_unpadded(img, pad, L);
}

// y_n (C, HW) ← b broadcast along each channel's plane.
template <class T>
void fill_bias(T* y, const T* b, int C, size_t HW) {
  for (int c = 0; c < C; ++c) std::fill(y + c * HW, y + (c + 1) * HW, b[c]);
}

// db[c] += Σ over the plane of dy_n (C, HW).
template <class T>
void add_bias_grad(T* db, const T* dy, int C, size_t HW) {
  for (int c = 0; c < C; ++c) {
    const T* plane = dy + c * HW;
    T acc = 0;
#pragma omp simd reduction(+ : acc)
    for (size_t k = 0; k < HW; ++k) acc += plane[k];
    db[c] += acc;
  }
}

void check_common(const ConvShape& s) {
  VAE_ASSERT(s.N >= 1 && s.C_in >= 1 && s.C_out >= 1 && s.H >= 1 && s.W >= 1);
  VAE_ASSERT(s.K >= 1 && s.S >= 1 && s.P >= 0);
}

void check_conv2d(const ConvShape& s) {
  check_common(s);
  VAE_ASSERT(s.H + 2 * s.P >= s.K && s.W + 2 * s.P >= s.K);
  VAE_ASSERT(s.OP == 0);
}

void check_conv_transpose2d(const ConvShape& s) {
  check_common(s);
  VAE_ASSERT(s.OP >= 0 && s.OP < s.S);
  VAE_ASSERT(conv_transpose2d_h_out(s) >= 1 && conv_transpose2d_w_out(s) >= 1);
}

}  // namespace

size_t conv2d_scratch_size(const ConvShape& s) {
  check_conv2d(s);
  return scratch_layout(conv2d_lowering(s), s.C_out).total();
}

size_t conv_transpose2d_scratch_size(const ConvShape& s) {
  check_conv_transpose2d(s);
  return scratch_layout(conv_transpose2d_lowering(s), s.C_in).total();
}

// ---- Conv2d --------------------------------------------------------------------------------

template <class T>
void conv2d_forward(T* y, const T* x, const T* w, const T* b, const ConvShape& s, T* scratch) {
  check_conv2d(s);
  const Lowering L = conv2d_lowering(s);
  const Scratch sc = scratch_layout(L, s.C_out);
  const size_t plane = L.plane();                     // H_out·W_out
  const int CKK = s.C_in * s.K * s.K, G = static_cast<int>(L.ld / plane);
  const size_t x_image = static_cast<size_t>(s.C_in) * s.H * s.W;
  const size_t y_image = static_cast<size_t>(s.C_out) * plane;
  T* col = scratch;            // (C_in·KK, G·plane), rows ld apart
  T* re = col + sc.col;        // (C_out, G·plane)
  T* pad = re + sc.reorder;    // (C_in, H + 2P, W + 2P)
  for (int n0 = 0; n0 < s.N; n0 += G) {
    const int g = std::min(G, s.N - n0);
    const int cols = static_cast<int>(g * plane);
    for (int i = 0; i < g; ++i) im2col(col + i * plane, pad, x + (n0 + i) * x_image, L);
    // (C_out, g·plane) = W (C_out, C_in·KK) · col, then y_n = its n-th planes + b.
    gemm<T>(false, false, s.C_out, cols, CKK, T(1), w, CKK, col, static_cast<int>(L.ld), T(0), re,
            cols);
    scatter_planes(y + n0 * y_image, re, b, g, s.C_out, plane, false);
  }
}

template <class T>
void conv2d_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const ConvShape& s,
                     T* scratch) {
  check_conv2d(s);
  const Lowering L = conv2d_lowering(s);
  const Scratch sc = scratch_layout(L, s.C_out);
  const size_t plane = L.plane();
  const int CKK = s.C_in * s.K * s.K, G = static_cast<int>(L.ld / plane);
  const size_t x_image = static_cast<size_t>(s.C_in) * s.H * s.W;
  const size_t y_image = static_cast<size_t>(s.C_out) * plane;
  T* col = scratch;          // (C_in·KK, G·plane), rows ld apart
  T* re = col + sc.col;      // (C_out, G·plane): the group's dy, channel-major
  T* pad = re + sc.reorder;  // (C_in, H + 2P, W + 2P)
  const int ld = static_cast<int>(L.ld);
  for (int n0 = 0; n0 < s.N; n0 += G) {
    const int g = std::min(G, s.N - n0);
    const int cols = static_cast<int>(g * plane);
    // In forward y_n = W · col + b with col = im2col(x_n), a linear layer over the columns, so
    //   dW (C_out, C_in·KK) += dy (C_out, g·plane) · colᵀ      (all g images in one GEMM)
    //   db                  += Σ over each output plane of dy
    //   dcol (C_in·KK, g·plane) = Wᵀ · dy, and dx_n += col2im(dcol_n), col2im being the
    //   adjoint of the linear map im2col.
    // The column matrix is rebuilt from x rather than kept from forward, so the scratch stays
    // one group large; then the same buffer receives dcol.
    for (int i = 0; i < g; ++i) im2col(col + i * plane, pad, x + (n0 + i) * x_image, L);
    gather_planes(re, dy + n0 * y_image, g, s.C_out, plane);
    gemm<T>(false, true, s.C_out, CKK, cols, T(1), re, cols, col, ld, T(1), dw, CKK);
    add_bias_grad(db, re, s.C_out, static_cast<size_t>(cols));
    if (!dx) continue;
    gemm<T>(true, false, CKK, cols, s.C_out, T(1), w, CKK, re, cols, T(0), col, ld);
    for (int i = 0; i < g; ++i) col2im(dx + (n0 + i) * x_image, pad, col + i * plane, L);
  }
}

template <class T>
void conv2d_reference_forward(T* y, const T* x, const T* w, const T* b, const ConvShape& s) {
  check_conv2d(s);
  const int H_out = conv2d_h_out(s), W_out = conv2d_w_out(s);
  for (int n = 0; n < s.N; ++n)
    for (int o = 0; o < s.C_out; ++o)
      for (int i = 0; i < H_out; ++i)
        for (int j = 0; j < W_out; ++j) {
          double acc = b[o];
          for (int c = 0; c < s.C_in; ++c)
            for (int p = 0; p < s.K; ++p)
              for (int q = 0; q < s.K; ++q) {
                const int u = i * s.S - s.P + p, v = j * s.S - s.P + q;
                if (u < 0 || u >= s.H || v < 0 || v >= s.W) continue;
                acc += static_cast<double>(w[((o * s.C_in + c) * s.K + p) * s.K + q]) *
                       x[((static_cast<size_t>(n) * s.C_in + c) * s.H + u) * s.W + v];
              }
          y[((static_cast<size_t>(n) * s.C_out + o) * H_out + i) * W_out + j] = static_cast<T>(acc);
        }
}

// ---- ConvTranspose2d -----------------------------------------------------------------------

template <class T>
void conv_transpose2d_forward(T* y, const T* x, const T* w, const T* b, const ConvShape& s,
                              T* scratch) {
  check_conv_transpose2d(s);
  const Lowering L = conv_transpose2d_lowering(s);
  const Scratch sc = scratch_layout(L, s.C_in);
  const size_t plane = L.plane();  // H·W, the input grid
  const int OKK = s.C_out * s.K * s.K, G = static_cast<int>(L.ld / plane);
  const size_t out_plane = static_cast<size_t>(L.H) * L.W;  // H_out·W_out
  const size_t x_image = static_cast<size_t>(s.C_in) * plane;
  const size_t y_image = static_cast<size_t>(s.C_out) * out_plane;
  T* col = scratch;          // (C_out·KK, G·plane), rows ld apart
  T* re = col + sc.col;      // (C_in, G·plane): the group's x, channel-major
  T* pad = re + sc.reorder;  // (C_out, H_out + 2P, W_out + 2P)
  for (int n0 = 0; n0 < s.N; n0 += G) {
    const int g = std::min(G, s.N - n0);
    const int cols = static_cast<int>(g * plane);
    // col[(o,p,q), (n,i,j)] = Σ_c W[c,o,p,q] x_n[c,i,j]: what pixel (i,j) of image n sends to
    // output pixel (i·S − P + p, j·S − P + q). col2im performs exactly that scatter-add.
    gather_planes(re, x + n0 * x_image, g, s.C_in, plane);
    gemm<T>(true, false, OKK, cols, s.C_in, T(1), w, OKK, re, cols, T(0), col,
            static_cast<int>(L.ld));
    for (int i = 0; i < g; ++i) {
      T* yn = y + (n0 + i) * y_image;  // (C_out, H_out, W_out)
      fill_bias(yn, b, s.C_out, out_plane);
      col2im(yn, pad, col + i * plane, L);
    }
  }
}

template <class T>
void conv_transpose2d_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w,
                               const ConvShape& s, T* scratch) {
  check_conv_transpose2d(s);
  const Lowering L = conv_transpose2d_lowering(s);
  const Scratch sc = scratch_layout(L, s.C_in);
  const size_t plane = L.plane();
  const int OKK = s.C_out * s.K * s.K, G = static_cast<int>(L.ld / plane);
  const size_t out_plane = static_cast<size_t>(L.H) * L.W;
  const size_t x_image = static_cast<size_t>(s.C_in) * plane;
  const size_t y_image = static_cast<size_t>(s.C_out) * out_plane;
  T* col = scratch;          // (C_out·KK, G·plane), rows ld apart
  T* re = col + sc.col;      // (C_in, G·plane): the group's x, then its dx
  T* pad = re + sc.reorder;  // (C_out, H_out + 2P, W_out + 2P)
  const int ld = static_cast<int>(L.ld);
  for (int n0 = 0; n0 < s.N; n0 += G) {
    const int g = std::min(G, s.N - n0);
    const int cols = static_cast<int>(g * plane);
    // In forward y_n = col2im(Wᵀ x_n) + b. The adjoint of col2im is im2col, so with
    // dcol = im2col(dy_n) (C_out·KK, plane) side by side for the group, the gradient of the
    // GEMM col = Wᵀ x gives
    //   dW (C_in, C_out·KK) += x (C_in, g·plane) · dcolᵀ
    //   dx (C_in, g·plane)  += W (C_in, C_out·KK) · dcol      (a Conv2d of dy)
    //   db                  += Σ over each output plane of dy.
    for (int i = 0; i < g; ++i) {
      const T* dyn = dy + (n0 + i) * y_image;  // (C_out, H_out, W_out)
      im2col(col + i * plane, pad, dyn, L);
      add_bias_grad(db, dyn, s.C_out, out_plane);
    }
    gather_planes(re, x + n0 * x_image, g, s.C_in, plane);
    gemm<T>(false, true, s.C_in, OKK, cols, T(1), re, cols, col, ld, T(1), dw, OKK);
    if (!dx) continue;
    gemm<T>(false, false, s.C_in, cols, OKK, T(1), w, OKK, col, ld, T(0), re, cols);
    scatter_planes(dx + n0 * x_image, re, static_cast<const T*>(nullptr), g, s.C_in, plane, true);
  }
}

template <class T>
void conv_transpose2d_reference_forward(T* y, const T* x, const T* w, const T* b,
                                        const ConvShape& s) {
  check_conv_transpose2d(s);
  const int H_out = conv_transpose2d_h_out(s), W_out = conv_transpose2d_w_out(s);
  // Gather form of the definition: output pixel u receives input row i through kernel row p
  // exactly when i·S − P + p = u, that is when u + P − p is a non-negative multiple of S.
  for (int n = 0; n < s.N; ++n)
    for (int o = 0; o < s.C_out; ++o)
      for (int u = 0; u < H_out; ++u)
        for (int v = 0; v < W_out; ++v) {
          double acc = b[o];
          for (int c = 0; c < s.C_in; ++c)
            for (int p = 0; p < s.K; ++p) {
              const int ti = u + s.P - p;
              if (ti < 0 || ti % s.S != 0 || ti / s.S >= s.H) continue;
              const int i = ti / s.S;
              for (int q = 0; q < s.K; ++q) {
                const int tj = v + s.P - q;
                if (tj < 0 || tj % s.S != 0 || tj / s.S >= s.W) continue;
                const int j = tj / s.S;
                acc += static_cast<double>(w[((c * s.C_out + o) * s.K + p) * s.K + q]) *
                       x[((static_cast<size_t>(n) * s.C_in + c) * s.H + i) * s.W + j];
              }
            }
          y[((static_cast<size_t>(n) * s.C_out + o) * H_out + u) * W_out + v] = static_cast<T>(acc);
        }
}

#define VAE_CONV_INSTANTIATE(T)                                                                  \
  template void conv2d_forward<T>(T*, const T*, const T*, const T*, const ConvShape&, T*);       \
  template void conv2d_backward<T>(T*, T*, T*, const T*, const T*, const T*, const ConvShape&,   \
                                   T*);                                                          \
  template void conv2d_reference_forward<T>(T*, const T*, const T*, const T*, const ConvShape&); \
  template void conv_transpose2d_forward<T>(T*, const T*, const T*, const T*, const ConvShape&,  \
                                            T*);                                                 \
  template void conv_transpose2d_backward<T>(T*, T*, T*, const T*, const T*, const T*,           \
                                             const ConvShape&, T*);                              \
  template void conv_transpose2d_reference_forward<T>(T*, const T*, const T*, const T*,          \
                                                      const ConvShape&);
VAE_CONV_INSTANTIATE(float)
VAE_CONV_INSTANTIATE(double)
#undef VAE_CONV_INSTANTIATE

}  // namespace vae
