// Helpers shared by the layer kinds (nn/layers/layer.h).
#include "nn/layers/layer.h"

#include "io/json_fields.h"
#include "vae/error.h"

namespace vae {

bool LayerKind::has_key(const std::string& key) const {
  for (const char* const* k = keys; *k; ++k)
    if (key == *k) return true;
  return false;
}

std::string geometry_text(int c, int h, int w) {
  return std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w);
}

void layer_error(const std::string& at, const std::string& field, const std::string& problem) {
  throw FieldError(field.empty() ? at : at + "." + field, problem);
}

void check_layer_range(const std::string& at, const char* field, int v, int lo, int hi) {
  if (v < lo || v > hi)
    layer_error(at, field,
                "must be in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " +
                    std::to_string(v));
}

void require_image_input(const PlannedLayer& l, bool image, const std::string& at) {
  if (!image)
    layer_error(at, "",
                std::string(l.spec.kind->type) + " needs an image input, but its input is flat (" +
                    std::to_string(l.in_size()) + " values); put a reshape before it");
}

int json_config_int(const nlohmann::json& v, const std::string& field) {
  if (!v.is_number_integer()) throw FieldError(field, "must be an integer");
  return static_cast<int>(json_integer(v, field, -(1L << 30), 1L << 30));
}

int read_layer_int(const nlohmann::json& j, const char* key, const std::string& at) {
  if (!j.contains(key)) layer_error(at, key, "missing");
  return json_config_int(j[key], at + "." + key);
}

int read_layer_int_or(const nlohmann::json& j, const char* key, const std::string& at, int absent) {
  return j.contains(key) ? json_config_int(j[key], at + "." + key) : absent;
}

std::vector<LayerParam> no_layer_params(const PlannedLayer&) { return {}; }

size_t no_layer_scratch(const PlannedLayer&, int) { return 0; }

size_t no_layer_saved(const PlannedLayer&) { return 0; }

}  // namespace vae
