// The reshape layer kind (nn/layers/reshape.h).
#include "nn/layers/reshape.h"

namespace vae {

namespace {

void reshape_read(LayerSpec& s, const nlohmann::json& j, const std::string& at) {
  if (!j.contains("shape")) layer_error(at, "shape", "missing");
  const nlohmann::json& shape = j["shape"];
  if (!shape.is_array() || shape.size() != 3)
    layer_error(at, "shape", "must be [channels, height, width]");
  for (int k = 0; k < 3; ++k)
    s.shape[k] = json_config_int(shape[k], at + ".shape[" + std::to_string(k) + "]");
}

void reshape_write(const LayerSpec& s, nlohmann::json& j) {
  j["shape"] = {s.shape[0], s.shape[1], s.shape[2]};
}

std::string reshape_token(const LayerSpec& s) {
  return "r" + geometry_text(s.shape[0], s.shape[1], s.shape[2]);
}

bool reshape_plan(PlannedLayer& l, bool, const std::string& at) {
  const LayerSpec& s = l.spec;
  for (int k = 0; k < 3; ++k) check_layer_range(at, "shape", s.shape[k], 1, 1 << 16);
  const long size = static_cast<long>(s.shape[0]) * s.shape[1] * s.shape[2];
  if (size != static_cast<long>(l.in_size()))
    layer_error(at, "shape",
                geometry_text(s.shape[0], s.shape[1], s.shape[2]) + " holds " +
                    std::to_string(size) + " values but its input has " +
                    std::to_string(l.in_size()));
  l.out_c = s.shape[0];
  l.out_h = s.shape[1];
  l.out_w = s.shape[2];
  return true;
}

}  // namespace

const LayerKind kReshapeKind = {
    "reshape",
    "reshape (shape [channels, height, width]): reads a flat input as an image; no parameters",
    R"({"type": "reshape", "shape": [64, 7, 7]})",
    {"shape", nullptr},
    /*view=*/true,
    /*takes_one_hot=*/false,
    /*output_has_data_geometry=*/false,
    /*self_activated=*/false,
    reshape_read,
    reshape_write,
    reshape_token,
    reshape_plan,
    no_layer_params,
    no_layer_scratch,
    no_layer_saved,
    {nullptr, nullptr},
    {nullptr, nullptr},
};

LayerSpec reshape_layer(int c, int h, int w) {
  LayerSpec s;
  s.kind = &kReshapeKind;
  s.shape[0] = c;
  s.shape[1] = h;
  s.shape[2] = w;
  return s;
}

}  // namespace vae
