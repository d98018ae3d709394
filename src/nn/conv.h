// Convolution layers for image models: Conv2d and ConvTranspose2d, each a forward/backward pair
// of plain functions over caller-owned buffers, like the layers in nn.h.
//
// Legend: N batch, C_in input channels, C_out output channels, H × W the layer's input image,
// H_out × W_out its output image, K the side of the square kernel, S stride, P zero padding on
// each of the four sides, OP output padding (ConvTranspose2d only).
//
// Layout: every image tensor is NCHW, row-major: element (n, c, i, j) of a (N, C, H, W) tensor is
// at ((n·C + c)·H + i)·W + j. Weights use PyTorch's layouts, so a PyTorch state dict imports as is:
//   Conv2d           W (C_out, C_in, K, K)    b (C_out)      (torch.nn.Conv2d)
//   ConvTranspose2d  W (C_in, C_out, K, K)    b (C_out)      (torch.nn.ConvTranspose2d)
//
// Flatten and Reshape need no code: an NCHW tensor (N, C, H, W) is, byte for byte, the row-major
// matrix (N, C·H·W) that linear_forward takes, in the order torch.flatten(x, 1) produces, and the
// output (N, C·H·W) of a linear layer is the NCHW tensor that a view(N, C, H, W) would give. Pass
// the same pointer on.
//
// The gradient rule is nn.h's: backward ACCUMULATES (+=) into every gradient buffer it is given
// (dx, dW, db). Inputs are const.
//
// The fast path lowers each image to a matrix (im2col) and multiplies with vae::gemm<T>, one GEMM
// per pass for a group of images whose column matrices sit side by side (about 2048 columns per
// group). The column matrix, a reordered copy of the group's tensor and a zero-bordered copy of
// one image live in a caller-provided scratch buffer of conv2d_scratch_size(s) or
// conv_transpose2d_scratch_size(s) elements (which depends on s.N up to the group size), so
// nothing allocates in a training step. The scratch holds nothing between calls; one buffer as
// large as the largest layer's, for the largest N, can serve them all. The *_reference_forward functions
// are the definitions written as loops, for the tests to hold the fast path to.
#pragma once

#include <cstddef>

namespace vae {

/// One convolution layer applied to one batch. H and W are the layer's input image, whichever
/// direction it runs; the output image is given by conv2d_h_out / conv_transpose2d_h_out below.
struct ConvShape {
  int N = 1;      ///< batch
  int C_in = 1;   ///< input channels
  int H = 1;      ///< input height
  int W = 1;      ///< input width
  int C_out = 1;  ///< output channels
  int K = 1;      ///< kernel side (square kernels)
  int S = 1;      ///< stride, ≥ 1
  int P = 0;      ///< zero padding on each side, ≥ 0
  /// ConvTranspose2d only: extra rows and columns at the bottom and right of the output, in
  /// [0, S), to reach an output size the formula cannot (PyTorch's output_padding). Conv2d
  /// requires 0.
  int OP = 0;
};

// ---- Output sizes ----------------------------------------------------------------------------
//   Conv2d:           H_out = ⌊(H + 2P − K) / S⌋ + 1          (requires H + 2P ≥ K)
//   ConvTranspose2d:  H_out = (H − 1)·S − 2P + K + OP         (requires H_out ≥ 1)
// and W_out likewise. The two are inverse shapes: a Conv2d with input H_out (OP < S) has output H.
inline int conv2d_h_out(const ConvShape& s) { return (s.H + 2 * s.P - s.K) / s.S + 1; }
inline int conv2d_w_out(const ConvShape& s) { return (s.W + 2 * s.P - s.K) / s.S + 1; }
inline int conv_transpose2d_h_out(const ConvShape& s) {
  return (s.H - 1) * s.S - 2 * s.P + s.K + s.OP;
}
inline int conv_transpose2d_w_out(const ConvShape& s) {
  return (s.W - 1) * s.S - 2 * s.P + s.K + s.OP;
}

/// Elements of scratch that conv2d_forward and conv2d_backward need, with G images per group:
///   C_in·K·K · G·H_out·W_out (the column matrix) + C_out · G·H_out·W_out (the group's output,
///   channel-major) + C_in·(H + 2P)·(W + 2P) if P > 0 (one image with its zero border).
size_t conv2d_scratch_size(const ConvShape& s);
/// Elements of scratch that conv_transpose2d_forward and conv_transpose2d_backward need:
///   C_out·K·K · G·H·W  +  C_in · G·H·W  +  C_out·(H_out + 2P)·(W_out + 2P) if P > 0.
size_t conv_transpose2d_scratch_size(const ConvShape& s);

// ---- Conv2d (torch.nn.Conv2d, dilation 1, groups 1) ---------------------------------------
//   x (N, C_in, H, W), W (C_out, C_in, K, K), b (C_out), y (N, C_out, H_out, W_out)
//
//   y[n,o,i,j] = b[o] + Σ_{c,p,q} W[o,c,p,q] · x[n,c, i·S − P + p, j·S − P + q]
//
// with x read as 0 outside the image (zero padding). Precisely a cross-correlation, as in every
// deep-learning library. Shapes are checked with VAE_ASSERT (K, S ≥ 1, P ≥ 0, H + 2P ≥ K,
// W + 2P ≥ K, OP = 0).
//
// forward assigns y. scratch: conv2d_scratch_size(s) elements.
template <class T>
void conv2d_forward(T* y, const T* x, const T* w, const T* b, const ConvShape& s, T* scratch);

// Since y is linear in W, b and x:
//   dW[o,c,p,q] += Σ_{n,i,j} dy[n,o,i,j] · x[n,c, i·S − P + p, j·S − P + q]
//   db[o]       += Σ_{n,i,j} dy[n,o,i,j]
//   dx[n,c,u,v] += Σ_{o,p,q,i,j : i·S − P + p = u, j·S − P + q = v} dy[n,o,i,j] · W[o,c,p,q]
// The last is conv_transpose2d_forward of dy with the same W (and no bias). dx may be nullptr
// (the first layer needs no input gradient). scratch: conv2d_scratch_size(s) elements.
template <class T>
void conv2d_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const ConvShape& s,
                     T* scratch);

/// The definition above as seven nested loops, summed in double; assigns y. For tests.
template <class T>
void conv2d_reference_forward(T* y, const T* x, const T* w, const T* b, const ConvShape& s);

// ---- ConvTranspose2d (torch.nn.ConvTranspose2d, dilation 1, groups 1) ---------------------
//   x (N, C_in, H, W), W (C_in, C_out, K, K), b (C_out), y (N, C_out, H_out, W_out)
//
//   y[n,o,u,v] = b[o] + Σ_{c,p,q,i,j : i·S − P + p = u, j·S − P + q = v} x[n,c,i,j] · W[c,o,p,q]
//
// Each input pixel scatters its K × K patch, weighted by the kernel, onto the output at stride S;
// P crops the border. It is the adjoint of Conv2d: for a Conv2d from (C_out, H_out, W_out) to
// (C_in, H, W) with the same weight tensor and no bias, ⟨conv2d(u), v⟩ = ⟨u, conv_transpose2d(v)⟩.
// Shapes are checked with VAE_ASSERT (K, S ≥ 1, P ≥ 0, 0 ≤ OP < S, H_out ≥ 1, W_out ≥ 1).
//
// forward assigns y. scratch: conv_transpose2d_scratch_size(s) elements.
template <class T>
void conv_transpose2d_forward(T* y, const T* x, const T* w, const T* b, const ConvShape& s,
                              T* scratch);

// Since y is linear in W, b and x:
//   dW[c,o,p,q] += Σ_{n,i,j} x[n,c,i,j] · dy[n,o, i·S − P + p, j·S − P + q]
//   db[o]       += Σ_{n,u,v} dy[n,o,u,v]
//   dx[n,c,i,j] += Σ_{o,p,q} W[c,o,p,q] · dy[n,o, i·S − P + p, j·S − P + q]
// with dy read as 0 outside the output image. The last is conv2d_forward of dy with the same W
// (and no bias). dx may be nullptr. scratch: conv_transpose2d_scratch_size(s) elements.
template <class T>
void conv_transpose2d_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w,
                               const ConvShape& s, T* scratch);

/// The definition above as loops gathering each output element, summed in double; assigns y.
/// For tests.
template <class T>
void conv_transpose2d_reference_forward(T* y, const T* x, const T* w, const T* b,
                                        const ConvShape& s);

}  // namespace vae
