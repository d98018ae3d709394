// Feeds vae::load_checkpoint (src/train/checkpoint.cpp) through a scratch file: the safetensors
// container (src/io/safetensors.cpp), then the checkpoint's own checks on top of it: format and
// version, the model config, training options and state as JSON in __metadata__
// (ModelConfig::from_json, TrainOptions::from_json, TrainState::from_json), data_scaling, and
// every parameter tensor's presence, dtype and shape. A checkpoint that loads must hold the
// parameter count its config implies.
#include <cmath>
#include <string>

#include "fuzz_util.h"
#include "vae/checkpoint.h"
#include "vae/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const vae_fuzz::ScratchDir dir("checkpoint");
  static const std::string path = dir.file("input.safetensors");
  vae_fuzz::write_input(path, data, size);

  vae::Checkpoint c;
  try {
    c = vae::load_checkpoint(path);
  } catch (const vae::Error&) {
    return 0;
  }
  const size_t p = vae::param_count(c.model);
  FUZZ_CHECK(c.params.size() == p);
  FUZZ_CHECK(c.adam_m.empty() || (c.adam_m.size() == p && c.adam_v.size() == p));
  FUZZ_CHECK(c.adam_step >= 0);
  for (float v : c.params) FUZZ_CHECK(std::isfinite(v));
  FUZZ_CHECK(c.scaler.offset.size() == c.scaler.factor.size());
  FUZZ_CHECK(c.scaler.identity() ||
             c.scaler.offset.size() == static_cast<size_t>(c.model.input_dim));
  return 0;
}
