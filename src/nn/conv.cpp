// Conv2d and ConvTranspose2d by im2col + GEMM, and their naive references (math in
// include/vae/conv.h).
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
// One GEMM per image and pass writes straight into the NCHW output, so no transposes are needed.
// The scratch holds one image's column matrix and, when P > 0, one zero-bordered copy of the
// lowered image, which keeps the gather and scatter loops free of bounds tests.
#include "vae/conv.h"

#include <algorithm>

#include "core/blas.h"
#include "vae/error.h"

namespace vae {

namespace {

// One lowering: an image (C, H, W), zero-padded by P on each side, seen through K × K windows
// at stride S placed on a grid of h_col × w_col positions (the Conv2d output grid).
struct Lowering {
  int C, H, W, K, S, P, h_col, w_col;
  int Hp() const { return H + 2 * P; }  // padded height
  int Wp() const { return W + 2 * P; }  // padded width
  size_t col_size() const { return static_cast<size_t>(C) * K * K * h_col * w_col; }
  // The padded copy of the image; without padding the image is used in place.
  size_t pad_size() const { return P > 0 ? static_cast<size_t>(C) * Hp() * Wp() : 0; }
};

Lowering conv2d_lowering(const ConvShape& s) {
  return {s.C_in, s.H, s.W, s.K, s.S, s.P, conv2d_h_out(s), conv2d_w_out(s)};
}

// ConvTranspose2d lowers its output image, on the grid of its input pixels.
Lowering conv_transpose2d_lowering(const ConvShape& s) {
  return {s.C_out, conv_transpose2d_h_out(s), conv_transpose2d_w_out(s), s.K, s.S, s.P, s.H, s.W};
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
  T* out = col;  // walks the rows of col in order: (c, p, q) then i
  for (int c = 0; c < L.C; ++c)
    for (int p = 0; p < K; ++p)
      for (int q = 0; q < K; ++q) {
        const T* window = src + (static_cast<size_t>(c) * Hp + p) * Wp + q;  // pixel (p, q)
        for (int i = 0; i < L.h_col; ++i, out += w_col) {
          const T* in = window + static_cast<size_t>(i) * S * Wp;
          for (int j = 0; j < w_col; ++j) out[j] = in[j * S];
        }
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
        for (int i = 0; i < L.h_col; ++i, in += w_col) {
          T* out = window + static_cast<size_t>(i) * S * Wp;
          for (int j = 0; j < w_col; ++j) out[j * S] += in[j];
        }
      }
}

// col (C·KK, h_col·w_col) ← im2col(img):
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
  const Lowering L = conv2d_lowering(s);
  return L.col_size() + L.pad_size();
}

size_t conv_transpose2d_scratch_size(const ConvShape& s) {
  check_conv_transpose2d(s);
  const Lowering L = conv_transpose2d_lowering(s);
  return L.col_size() + L.pad_size();
}

// ---- Conv2d --------------------------------------------------------------------------------

template <class T>
void conv2d_forward(T* y, const T* x, const T* w, const T* b, const ConvShape& s, T* scratch) {
  check_conv2d(s);
  const int H_out = conv2d_h_out(s), W_out = conv2d_w_out(s);
  const int CKK = s.C_in * s.K * s.K;
  const int HW_out = H_out * W_out;
  const size_t x_image = static_cast<size_t>(s.C_in) * s.H * s.W;
  const size_t y_image = static_cast<size_t>(s.C_out) * HW_out;
  const Lowering L = conv2d_lowering(s);
  T* col = scratch;             // (C_in·KK, H_out·W_out)
  T* pad = col + L.col_size();  // (C_in, H + 2P, W + 2P)
  for (int n = 0; n < s.N; ++n) {
    const T* xn = x + n * x_image;  // (C_in, H, W)
    T* yn = y + n * y_image;        // (C_out, H_out·W_out)
    im2col(col, pad, xn, L);
    // y_n ← b, then y_n += W (C_out, C_in·KK) · col: one GEMM with beta = 1, as in linear.
    fill_bias(yn, b, s.C_out, HW_out);
    gemm<T>(false, false, s.C_out, HW_out, CKK, T(1), w, CKK, col, HW_out, T(1), yn, HW_out);
  }
}

template <class T>
void conv2d_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const ConvShape& s,
                     T* scratch) {
  check_conv2d(s);
  const int H_out = conv2d_h_out(s), W_out = conv2d_w_out(s);
  const int CKK = s.C_in * s.K * s.K;
  const int HW_out = H_out * W_out;
  const size_t x_image = static_cast<size_t>(s.C_in) * s.H * s.W;
  const size_t y_image = static_cast<size_t>(s.C_out) * HW_out;
  const Lowering L = conv2d_lowering(s);
  T* col = scratch;             // (C_in·KK, H_out·W_out)
  T* pad = col + L.col_size();  // (C_in, H + 2P, W + 2P)
  for (int n = 0; n < s.N; ++n) {
    const T* xn = x + n * x_image;    // (C_in, H, W)
    const T* dyn = dy + n * y_image;  // (C_out, H_out·W_out)
    // In forward y_n = W · col + b with col = im2col(x_n), a linear layer over the columns, so
    //   dW (C_out, C_in·KK) += dy_n (C_out, H_out·W_out) · colᵀ
    //   db                  += Σ over each output plane of dy_n
    //   dcol (C_in·KK, H_out·W_out) = Wᵀ · dy_n, and dx_n += col2im(dcol), col2im being the
    //   adjoint of the linear map im2col.
    // The column matrix is rebuilt from x_n rather than kept from forward, so the scratch stays
    // one image large; then the same buffer receives dcol.
    im2col(col, pad, xn, L);
    gemm<T>(false, true, s.C_out, CKK, HW_out, T(1), dyn, HW_out, col, HW_out, T(1), dw, CKK);
    add_bias_grad(db, dyn, s.C_out, HW_out);
    if (!dx) continue;
    gemm<T>(true, false, CKK, HW_out, s.C_out, T(1), w, CKK, dyn, HW_out, T(0), col, HW_out);
    col2im(dx + n * x_image, pad, col, L);
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
  const int H_out = conv_transpose2d_h_out(s), W_out = conv_transpose2d_w_out(s);
  const int OKK = s.C_out * s.K * s.K;
  const int HW = s.H * s.W;
  const size_t x_image = static_cast<size_t>(s.C_in) * HW;
  const size_t y_image = static_cast<size_t>(s.C_out) * H_out * W_out;
  const Lowering L = conv_transpose2d_lowering(s);
  T* col = scratch;             // (C_out·KK, H·W)
  T* pad = col + L.col_size();  // (C_out, H_out + 2P, W_out + 2P)
  for (int n = 0; n < s.N; ++n) {
    const T* xn = x + n * x_image;  // (C_in, H·W)
    T* yn = y + n * y_image;        // (C_out, H_out, W_out)
    // col[(o,p,q), (i,j)] = Σ_c W[c,o,p,q] x_n[c,i,j]: what pixel (i,j) sends to output pixel
    // (i·S − P + p, j·S − P + q). col2im performs exactly that scatter-add.
    gemm<T>(true, false, OKK, HW, s.C_in, T(1), w, OKK, xn, HW, T(0), col, HW);
    fill_bias(yn, b, s.C_out, static_cast<size_t>(H_out) * W_out);
    col2im(yn, pad, col, L);
  }
}

template <class T>
void conv_transpose2d_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w,
                               const ConvShape& s, T* scratch) {
  check_conv_transpose2d(s);
  const int H_out = conv_transpose2d_h_out(s), W_out = conv_transpose2d_w_out(s);
  const int OKK = s.C_out * s.K * s.K;
  const int HW = s.H * s.W;
  const size_t x_image = static_cast<size_t>(s.C_in) * HW;
  const size_t y_image = static_cast<size_t>(s.C_out) * H_out * W_out;
  const Lowering L = conv_transpose2d_lowering(s);
  T* col = scratch;             // (C_out·KK, H·W)
  T* pad = col + L.col_size();  // (C_out, H_out + 2P, W_out + 2P)
  for (int n = 0; n < s.N; ++n) {
    const T* xn = x + n * x_image;    // (C_in, H·W)
    const T* dyn = dy + n * y_image;  // (C_out, H_out, W_out)
    // In forward y_n = col2im(Wᵀ x_n) + b. The adjoint of col2im is im2col, so with
    // dcol = im2col(dy_n) (C_out·KK, H·W), the gradient of the GEMM col = Wᵀ x_n gives
    //   dW (C_in, C_out·KK) += x_n (C_in, H·W) · dcolᵀ
    //   dx_n (C_in, H·W)    += W (C_in, C_out·KK) · dcol      (a Conv2d of dy_n)
    //   db                  += Σ over each output plane of dy_n.
    im2col(col, pad, dyn, L);
    gemm<T>(false, true, s.C_in, OKK, HW, T(1), xn, HW, col, HW, T(1), dw, OKK);
    add_bias_grad(db, dyn, s.C_out, static_cast<size_t>(H_out) * W_out);
    if (dx)
      gemm<T>(false, false, s.C_in, HW, OKK, T(1), w, OKK, col, HW, T(1), dx + n * x_image, HW);
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
