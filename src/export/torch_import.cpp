// vae import (export/torch_import.h): a description and a state_dict into a checkpoint.
#include "export/torch_import.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>

#include "io/safetensors.h"
#include "vae/error.h"

namespace vae {

namespace {

using json = nlohmann::json;

int positive_int(const json& j, const std::string& field) {
  if (!j.is_number_integer() || j.get<long long>() < 1 || j.get<long long>() > (1 << 30))
    throw FieldError(field, "must be a positive integer, got " + j.dump());
  return j.get<int>();
}

// The data's shape from "input_dim" or "image", and "num_classes", into `cfg`.
void read_data_shape(const json& j, ModelConfig& cfg) {
  if (j.contains("image") == j.contains("input_dim"))
    throw Error("give the data's shape as \"input_dim\": D or \"image\": [C, H, W] (one of them)");
  if (j.contains("image")) {
    const json& image = j["image"];
    if (!image.is_array() || image.size() != 3)
      throw FieldError("image", "must be [C, H, W], got " + image.dump());
    cfg.channels = positive_int(image[0], "image[0]");
    cfg.height = positive_int(image[1], "image[1]");
    cfg.width = positive_int(image[2], "image[2]");
    cfg.input_dim = cfg.channels * cfg.height * cfg.width;
  } else {
    cfg.input_dim = positive_int(j["input_dim"], "input_dim");
    cfg.channels = cfg.height = cfg.width = 0;
  }
  cfg.num_classes = j.contains("num_classes") && j["num_classes"] != 0
                        ? positive_int(j["num_classes"], "num_classes")
                        : 0;
}

// The description's own keys, which parse_model_config reads.
json model_part(json j) {
  for (const char* key : {"input_dim", "image", "num_classes", "arch"}) j.erase(key);
  return j;
}

}  // namespace

ModelConfig parse_import_description(const std::string& text, const std::string& origin) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(origin + ": not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object()) throw Error(origin + ": must be a JSON object (a model description)");
  ModelConfig cfg;
  try {
    read_data_shape(j, cfg);
  } catch (const Error& e) {
    throw Error(origin + ": " + e.what());
  }
  cfg = parse_model_config(model_part(j).dump(), origin, cfg);
  try {
    if (j.contains("arch")) {
      if (j["arch"] != "conv" || j.contains("hidden") || j.contains("encoder"))
        throw FieldError("arch", "may only be \"conv\" (the preset), without hidden or layer lists");
      set_conv_preset(cfg);
    }
    cfg.validate();
  } catch (const Error& e) {
    throw Error(origin + ": " + e.what());
  }
  return cfg;
}

Checkpoint import_checkpoint(const ModelConfig& model, const std::string& weights_path) {
  model.validate();
  if (model.top_latent > 0)
    throw FieldError("top_latent", "vae import reads the one-layer models of python/vae/torch.py, "
                                   "not a two-layer model");
  const SafeTensors st = read_safetensors(weights_path);
  const std::vector<ParamInfo> table = param_table(model);
  std::set<std::string> expected;
  Checkpoint c;
  c.model = model;
  c.params.resize(param_count(model));
  for (const ParamInfo& p : table) {
    expected.insert(p.name);
    const TensorEntry* t = st.find(p.name);
    const std::string what = weights_path + ": tensor '" + p.name + "'";
    if (!t) throw Error(what + " is missing (the model needs shape " + shape_string(p.shape) + ")");
    if (t->shape != p.shape)
      throw Error(what + " has shape " + shape_string(t->shape) + " but the model needs " +
                  shape_string(p.shape));
    if (t->dtype != DType::F32 && t->dtype != DType::F64)
      throw Error(what + " has dtype " + dtype_name(t->dtype) + "; weights must be F32 or F64");
    float* dst = c.params.data() + p.offset;
    for (size_t i = 0; i < p.numel; ++i) {
      if (t->dtype == DType::F32) {
        std::memcpy(&dst[i], t->data.data() + 4 * i, 4);
      } else {
        double v;
        std::memcpy(&v, t->data.data() + 8 * i, 8);
        dst[i] = static_cast<float>(v);
      }
      if (!std::isfinite(dst[i])) throw Error(what + " holds NaN or Inf");
    }
  }
  for (const TensorEntry& t : st.tensors)
    if (!expected.count(t.name))
      throw Error(weights_path + ": tensor '" + t.name + "' " + shape_string(t.shape) +
                  " is not a parameter of the model (" + model.describe() + ")");
  c.train.data.data.clear();  // no training run: no data
  c.imported_from = std::filesystem::path(weights_path).filename().string();
  return c;
}

}  // namespace vae
