// ONNX out (vae export --onnx): a checkpoint as two ONNX graphs, written with the protobuf
// classes of Debian's libonnx-dev (onnx-ml.pb.h, opset 13, IR version 8).
//
// Legend: N batch (the graphs' dynamic first dimension, "N"), D data size, Z latent size,
// Y classes of a conditional model.
//
//   encoder.onnx  inputs  x (N, D) float, in data units;  y (N, Y) float one-hot (conditional)
//                 outputs mu (N, Z), logvar (N, Z)
//   decoder.onnx  inputs  z (N, Z) float;                  y (N, Y) float one-hot (conditional)
//                 outputs mean (N, D) in data units: the decoder mean (Bernoulli: the sigmoid
//                 of the logits), or with logits = true, logits (N, D): the decoder's raw
//                 output in model units (no sigmoid, no unscaling)
//
// The checkpoint's data scaling is in the graphs: x_model = (x − offset) · factor (then
// clamped to [0, 1] when the scaling clamps: Clip) at the encoder's input, and
// x = mean / factor + offset at the decoder's output. Layers map one to one: dense → Gemm
// (weights (O, I) as stored, transB = 1; Reshape (0, −1) before it when its input is an image),
// conv → Conv, conv_transpose → ConvTranspose (output_padding kept), reshape → Reshape
// (−1, C, H, W), the one-hot → Concat on axis 1, activations → Relu, Tanh, LeakyRelu (alpha
// 0.01), Elu (alpha 1). Weights are float initializers named as the checkpoint's tensors.
// Not in the graphs: sampling (z = μ + σ ε), the likelihood's loss, a learned σ.
#pragma once

#include <string>

#include "vae/checkpoint.h"

namespace vae {

/// Whether this build has ONNX export (libonnx-dev and libprotobuf-dev were found).
bool onnx_export_available();

struct OnnxFiles {
  std::string encoder, decoder;  ///< the paths written
};

/// Writes `dir`/encoder.onnx and `dir`/decoder.onnx (atomically; `dir` must exist). Throws
/// vae::Error when this build has no ONNX export, or when a file cannot be written.
OnnxFiles export_onnx(const Checkpoint& ckpt, const std::string& dir, bool logits);

}  // namespace vae
