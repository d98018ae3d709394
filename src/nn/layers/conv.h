// The conv layer kind: a 2-d convolution, torch.nn.Conv2d (dilation 1, groups 1); and the parts
// of a convolution layer that conv_transpose shares (its JSON fields, checks and ConvShape).
//
//   JSON      {"type": "conv", "channels": O, "kernel": K, "stride": S = 1, "padding": P = 0}
//             describe()  "conv32k4s2"  (channels, kernel, stride)
//   shape     input an image (C, H, W); output (O, H_out, W_out),
//             H_out = ⌊(H + 2P − K) / S⌋ + 1, needing H + 2P ≥ K (W likewise);
//             1 ≤ O ≤ 4096, 1 ≤ K ≤ 64, 1 ≤ S ≤ 64, 0 ≤ P ≤ 64
//   params    <name>.weight (O, C, K, K), <name>.bias (O)
//   math      y[n,o,i,j] = b[o] + Σ_{c,p,q} W[o,c,p,q] · x[n,c, i·S − P + p, j·S − P + q]
//             (src/nn/conv.h: conv2d_forward, conv2d_backward; im2col + GEMM)
#pragma once

#include "nn/layers/layer.h"
#include "nn/conv.h"

namespace vae {

extern const LayerKind kConvKind;

/// A conv layer of `channels` output channels.
LayerSpec conv_layer(int channels, int kernel, int stride = 1, int padding = 0);

// ---- Shared with conv_transpose --------------------------------------------------------------

/// The layer's ConvShape for a call on `rows` images.
ConvShape conv_shape(const PlannedLayer& l, int rows);
/// Elements of the weight tensor, (C_out, C_in, K, K) or (C_in, C_out, K, K): the bias follows.
size_t conv_weight_size(const ConvShape& s);
/// Reads "channels" (into units) and "kernel" (both required), "stride", "padding" and
/// "output_padding" (optional; the key check admits the last for conv_transpose only).
void read_conv_fields(LayerSpec& s, const nlohmann::json& j, const std::string& at);
/// Writes "channels", "kernel", "stride" and "padding".
void write_conv_fields(const LayerSpec& s, nlohmann::json& j);
/// prefix + channels "k" kernel "s" stride: "conv32k4s2".
std::string conv_token(const char* prefix, const LayerSpec& s);
/// Checks that the input is an image and channels, kernel, stride and padding are in range.
void check_conv_fields(const PlannedLayer& l, bool image, const std::string& at);

}  // namespace vae
