// Feeds the JSON configs a checkpoint carries in its __metadata__ to their parsers, the same
// text to each: vae::ModelConfig::from_json (src/model/vae.cpp), vae::TrainOptions::from_json
// and vae::TrainState::from_json (src/train/checkpoint.cpp). A config that parses must pass its
// own validate() and survive to_json -> from_json unchanged.
#include <string>

#include "fuzz_util.h"
#include "vae/checkpoint.h"
#include "vae/error.h"
#include "vae/model.h"

namespace {

// Parses `json` (what to_json just wrote) again; a vae::Error here is a bug, not bad input.
template <typename Config>
std::string written_back(const std::string& json, const char* origin) {
  try {
    return Config::from_json(json, origin).to_json();
  } catch (const vae::Error& e) {
    std::fprintf(stderr, "written back, the config no longer parses: %s\n", e.what());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);

  try {
    const vae::ModelConfig m = vae::ModelConfig::from_json(text, "model");
    m.validate();
    FUZZ_CHECK(written_back<vae::ModelConfig>(m.to_json(), "model") == m.to_json());
  } catch (const vae::Error&) {
  }

  try {
    const vae::TrainOptions o = vae::TrainOptions::from_json(text, "train_options");
    o.validate();
    FUZZ_CHECK(written_back<vae::TrainOptions>(o.to_json(), "train_options") == o.to_json());
  } catch (const vae::Error&) {
  }

  try {
    const vae::TrainState s = vae::TrainState::from_json(text, "train_state");
    FUZZ_CHECK(written_back<vae::TrainState>(s.to_json(), "train_state") == s.to_json());
  } catch (const vae::Error&) {
  }
  return 0;
}
