// The layer table: every layer kind, reached by its JSON type name; and the JSON form of a layer
// list built on it. Adding a kind is a file pair beside this one (its header says what it holds,
// nn/layers/layer.h the contract), one row in layer_kinds() and its test in tests/nn/layers/.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "nn/layers/layer.h"

namespace vae {

/// Every kind, in the order messages list them: dense, gated_dense, conv, conv_transpose, reshape.
const std::vector<const LayerKind*>& layer_kinds();

/// {"type": <kind>, <the kind's keys>}.
nlohmann::json layer_to_json(const LayerSpec& s);
/// Reads one layer object; throws vae::FieldError "<at>.<field>: ..." ("encoder[0].type:
/// 'pool' is not one of dense, gated_dense, conv, conv_transpose, reshape",
/// "encoder[0].chanels: not a field of a conv layer").
LayerSpec layer_from_json(const nlohmann::json& j, const std::string& at);

/// A list of layers, and back; `where` names the list in messages ("encoder").
nlohmann::json layers_to_json(const std::vector<LayerSpec>& layers);
std::vector<LayerSpec> layers_from_json(const nlohmann::json& j, const std::string& where);

/// " d256 conv32k4s2 ...": each layer's token after a space, as describe() prints a stack.
std::string layers_token(const std::vector<LayerSpec>& layers);

}  // namespace vae
