// The conv_transpose layer kind: a transposed 2-d convolution, torch.nn.ConvTranspose2d
// (dilation 1, groups 1), the adjoint of conv — it maps conv's output shape back to its input.
//
//   JSON      {"type": "conv_transpose", "channels": O, "kernel": K, "stride": S = 1,
//              "padding": P = 0, "output_padding": OP = 0}
//             describe()  "convT32k4s2"  (channels, kernel, stride)
//   shape     input an image (C, H, W); output (O, H_out, W_out),
//             H_out = (H − 1)·S − 2P + K + OP ≥ 1 (W likewise); the ranges of conv and 0 ≤ OP < S.
//             As the decoder's output layer it must give the data's C×H×W.
//   params    <name>.weight (C, O, K, K) — input channels first, PyTorch's layout —,
//             <name>.bias (O)
//   math      y[n,o,u,v] = b[o] + Σ x[n,c,i,j] · W[c,o,p,q] over c, p, q, i, j with
//             i·S − P + p = u and j·S − P + q = v: each input pixel scatters its K × K patch
//             (src/nn/conv.h: conv_transpose2d_forward, conv_transpose2d_backward)
#pragma once

#include "nn/layers/layer.h"

namespace vae {

extern const LayerKind kConvTransposeKind;

/// A conv_transpose layer of `channels` output channels.
LayerSpec conv_transpose_layer(int channels, int kernel, int stride = 1, int padding = 0,
                               int output_padding = 0);

}  // namespace vae
