// Building model layer lists in tests: one LayerSpec per call.
#pragma once

#include "vae/model.h"

namespace vae_test {

/// A dense (units), conv or conv_transpose (channels = units) layer.
inline vae::LayerSpec layer(vae::LayerSpec::Kind kind, int units, int kernel = 0, int stride = 1,
                            int padding = 0) {
  vae::LayerSpec s;
  s.kind = kind;
  s.units = units;
  s.kernel = kernel;
  s.stride = stride;
  s.padding = padding;
  return s;
}

/// A reshape to (c, h, w).
inline vae::LayerSpec reshape(int c, int h, int w) {
  vae::LayerSpec s;
  s.kind = vae::LayerSpec::Kind::Reshape;
  s.shape[0] = c;
  s.shape[1] = h;
  s.shape[2] = w;
  return s;
}

}  // namespace vae_test
