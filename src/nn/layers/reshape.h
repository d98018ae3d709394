// The reshape layer kind: reads a flat input as an image, as a view(N, C, H, W) would.
//
//   JSON      {"type": "reshape", "shape": [C, H, W]}                describe()  "r64x7x7"
//   shape     input any (C', H', W') with C'·H'·W' = C·H·W; output the image (C, H, W);
//             1 ≤ C, H, W ≤ 65536
//   params    none
//   math      none: an NCHW tensor (N, C, H, W) is, byte for byte, the row-major (N, C·H·W)
//             matrix (src/nn/conv.h), so the output is the input buffer itself, read with
//             the next layer's shape. The model gives it no buffers and makes no call.
#pragma once

#include "nn/layers/layer.h"

namespace vae {

extern const LayerKind kReshapeKind;

/// A reshape to the image (c, h, w).
LayerSpec reshape_layer(int c, int h, int w);

}  // namespace vae
