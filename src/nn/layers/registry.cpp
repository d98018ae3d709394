// The layer table and the JSON form of layers (nn/layers/registry.h).
#include "nn/layers/registry.h"

#include "nn/layers/conv.h"
#include "nn/layers/conv_transpose.h"
#include "nn/layers/dense.h"
#include "nn/layers/gated_dense.h"
#include "nn/layers/reshape.h"
#include "vae/error.h"

namespace vae {

const std::vector<const LayerKind*>& layer_kinds() {
  static const std::vector<const LayerKind*> kinds = {
      &kDenseKind,
      &kGatedDenseKind,
      &kConvKind,
      &kConvTransposeKind,
      &kReshapeKind,
  };
  return kinds;
}

const LayerKind* find_layer_kind(const std::string& type) {
  for (const LayerKind* kind : layer_kinds())
    if (type == kind->type) return kind;
  return nullptr;
}

const char* layer_kind_name(const LayerKind* kind) { return kind ? kind->type : "(none)"; }

namespace {

// "dense, conv, conv_transpose, reshape", or with last = " or ": "dense, conv, conv_transpose
// or reshape".
std::string kind_list(const char* last) {
  const auto& kinds = layer_kinds();
  std::string s;
  for (size_t k = 0; k < kinds.size(); ++k) {
    if (k > 0) s += k + 1 == kinds.size() ? last : ", ";
    s += kinds[k]->type;
  }
  return s;
}

}  // namespace

nlohmann::json layer_to_json(const LayerSpec& s) {
  VAE_ASSERT(s.kind);
  nlohmann::json j = {{"type", s.kind->type}};
  s.kind->write(s, j);
  return j;
}

LayerSpec layer_from_json(const nlohmann::json& j, const std::string& at) {
  if (!j.is_object())
    throw FieldError(at, "must be an object such as {\"type\": \"dense\", \"units\": 256}");
  if (!j.contains("type") || !j["type"].is_string())
    throw FieldError(at + ".type", "missing (" + kind_list(" or ") + ")");
  const std::string type = j["type"].get<std::string>();
  LayerSpec s;
  s.kind = find_layer_kind(type);
  if (!s.kind) throw FieldError(at + ".type", "'" + type + "' is not one of " + kind_list(", "));
  for (const auto& [key, value] : j.items())
    if (key != "type" && !s.kind->has_key(key))
      throw FieldError(at + "." + key, "not a field of a " + type + " layer");
  s.kind->read(s, j, at);
  return s;
}

nlohmann::json layers_to_json(const std::vector<LayerSpec>& layers) {
  nlohmann::json j = nlohmann::json::array();
  for (const LayerSpec& s : layers) j.push_back(layer_to_json(s));
  return j;
}

std::vector<LayerSpec> layers_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_array()) throw FieldError(where, "must be a list of layers");
  std::vector<LayerSpec> out;
  for (size_t i = 0; i < j.size(); ++i)
    out.push_back(layer_from_json(j[i], where + "[" + std::to_string(i) + "]"));
  return out;
}

std::string layers_token(const std::vector<LayerSpec>& layers) {
  std::string s;
  for (const LayerSpec& l : layers) {
    VAE_ASSERT(l.kind);
    s += " " + l.kind->token(l);
  }
  return s;
}

}  // namespace vae
