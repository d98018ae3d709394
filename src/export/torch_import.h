// PyTorch in: a checkpoint from a model description and a state_dict saved as safetensors
// (vae import). The weights keep vae.cpp's names and PyTorch's layouts (param_table: a
// state_dict of python/vae/torch.py's VAE, or of any module naming its tensors the same way).
//
//   description  a model description (parse_model_config: "hidden" or "encoder"/"decoder"
//                lists, "latent", "activation", "likelihood", "sigma") with the data's shape,
//                which a description otherwise takes from the data:
//                  "input_dim": D            flat rows of D values, or
//                  "image": [C, H, W]        images (D = C·H·W)
//                  "num_classes": Y          a conditional model (default 0: not conditional)
//                  "arch": "conv"            the conv preset for the image (set_conv_preset)
//   weights      every tensor of param_table(model) by name, F32 (F64 is narrowed), its shape
//                exactly; nothing else (optimiser state and data scaling are not imported)
//
// The checkpoint holds no training run (checkpoint.h: "imported_from"): no train_options,
// train_state or optimiser state, identity scaling. Every command that
// reads a model takes it; `vae train --init-from` trains from its weights.
#pragma once

#include <string>

#include "vae/checkpoint.h"

namespace vae {

/// Parses an import description (the file comment); throws vae::Error "<origin>: <field>: ..."
/// for a malformed or invalid one.
ModelConfig parse_import_description(const std::string& text, const std::string& origin);

/// The checkpoint of `model` with the weights of the safetensors file at `weights_path`.
/// Throws vae::Error "<weights_path>: tensor '<name>' ..." for a missing, extra, non-float,
/// misshapen (naming both shapes) or non-finite tensor.
Checkpoint import_checkpoint(const ModelConfig& model, const std::string& weights_path);

}  // namespace vae
