// A kind of layer in an encoder or decoder stack: the row type of the layer table
// (nn/layers/registry.h) and the helpers the kinds share. Each kind's file pair — dense,
// gated_dense, conv, conv_transpose, reshape — holds everything about it (JSON form,
// description, shape plan, parameters, scratch, forward and backward) and defines its row; a
// LayerSpec points at its kind's row, and the model reaches a kind only through it.
//
// Legend: B rows (a batch, or the K·B sample rows after z), I = in_size + cond values of a row
// of the layer's input, O = out_size values of a row of its output.
//
// The contract every kind keeps (the gradient rule of include/vae/nn.h):
//   forward   ASSIGNS y (B, O) from x (B, I) and the layer's parameters;
//   backward  ACCUMULATES (+=) into dx (B, I) — nullptr when no input gradient is needed — and
//             into the parameter gradients, from dy (B, O) and forward's x;
//   params    the layer's tensors lie one after another in the model's flat buffer, in the order
//             `params` lists them; forward and backward get a pointer to the first (and the
//             gradient buffer's pointer at the same offset);
//   saved     (B, saved_size(l)) values forward writes and backward reads: what a kind keeps
//             from forward for backward besides x and y (a gate, say); none for most kinds;
//   scratch   at least scratch_size(l, B) elements, holding nothing between calls;
//   inputs are const and nothing allocates.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "vae/model.h"

namespace vae {

/// One parameter tensor of a layer: suffix "weight", shape (O, I) → "encoder.0.weight" (O, I).
struct LayerParam {
  const char* suffix;
  std::vector<int64_t> shape;
};

/// A kind's forward and backward for one scalar type (the contract above).
template <class T>
struct LayerCalls {
  void (*forward)(T* y, T* saved, const T* x, const T* params, const PlannedLayer& l, int rows,
                  T* scratch);
  void (*backward)(T* dx, T* dparams, const T* dy, const T* saved, const T* x, const T* params,
                   const PlannedLayer& l, int rows, T* scratch);
};

/// One row of the layer table: everything the configuration and the model need of a kind.
struct LayerKind {
  const char* type;     ///< the JSON "type" and the kind's name in messages: "conv"
  const char* summary;  ///< one line for documentation and help, starting with `type`
  const char* example;  ///< a layer of this kind as JSON, for documentation and the table's test
  const char* keys[7];  ///< its JSON keys besides "type"; nullptr ends the list
  /// The output is the input read with another shape: no parameters, buffers or calls.
  bool view;
  /// The first such layer of a conditional stack reads [input, one-hot] (cond > 0).
  bool takes_one_hot;
  /// As the decoder's output layer it must give the data's C×H×W, not just their number.
  bool output_has_data_geometry;
  /// Its output is already nonlinear (a gate): the model's activation does not follow it.
  bool self_activated;

  /// Reads the kind's keys of the JSON object j (unknown keys are already refused) into s;
  /// throws vae::FieldError "<at>.<key>: ..." ("encoder[0].kernel: missing").
  void (*read)(LayerSpec& s, const nlohmann::json& j, const std::string& at);
  /// Writes the kind's keys of s into j (the caller writes "type").
  void (*write)(const LayerSpec& s, nlohmann::json& j);
  /// The layer in ModelConfig::describe(): "d256", "conv32k4s2", "convT1k4s2", "r64x7x7".
  std::string (*token)(const LayerSpec& s);
  /// Checks l.spec against the input the layer is given — l.in_c, l.in_h, l.in_w, an image when
  /// `image` — and sets l.out_c, l.out_h, l.out_w (a dense layer also flattens l's input to
  /// in_c values). Returns whether the output is an image. Throws vae::FieldError naming
  /// "<at>.<field>" or "<at>" ("decoder[3].kernel: must be in 1..64, got 0").
  bool (*plan)(PlannedLayer& l, bool image, const std::string& at);
  /// The layer's parameter tensors, in buffer order, with PyTorch's layouts.
  std::vector<LayerParam> (*params)(const PlannedLayer& l);
  /// Elements of scratch a call on `rows` rows needs (the same for both scalar types).
  size_t (*scratch_size)(const PlannedLayer& l, int rows);
  /// Values per row that forward saves for backward.
  size_t (*saved_size)(const PlannedLayer& l);
  LayerCalls<float> f32;   ///< not called for a view
  LayerCalls<double> f64;  ///< not called for a view

  template <class T>
  const LayerCalls<T>& calls() const {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>);
    if constexpr (std::is_same_v<T, float>)
      return f32;
    else
      return f64;
  }
  /// Whether key is one of `keys`.
  bool has_key(const std::string& key) const;
};

// ---- Helpers shared by the kinds -------------------------------------------------------------

/// "CxHxW", as messages and describe() write a geometry.
std::string geometry_text(int c, int h, int w);

/// Throws FieldError("<at>.<field>", problem), or FieldError(at, problem) when field is empty.
[[noreturn]] void layer_error(const std::string& at, const std::string& field,
                              const std::string& problem);
/// Throws "<at>.<field>: must be in lo..hi, got v" unless lo ≤ v ≤ hi.
void check_layer_range(const std::string& at, const char* field, int v, int lo, int hi);
/// Throws "<at>: <type> needs an image input, but its input is flat (n values); put a reshape
/// before it" unless image.
void require_image_input(const PlannedLayer& l, bool image, const std::string& at);

/// A JSON integer of a configuration (|v| ≤ 2³⁰); throws FieldError(field, "must be an integer").
int json_config_int(const nlohmann::json& v, const std::string& field);
/// j[key] as json_config_int; throws "<at>.<key>: missing" when j has no key.
int read_layer_int(const nlohmann::json& j, const char* key, const std::string& at);
/// j[key] as json_config_int, or `absent` when j has no key.
int read_layer_int_or(const nlohmann::json& j, const char* key, const std::string& at, int absent);

/// For the rows of kinds without parameters, scratch or saved values.
std::vector<LayerParam> no_layer_params(const PlannedLayer& l);
size_t no_layer_scratch(const PlannedLayer& l, int rows);
size_t no_layer_saved(const PlannedLayer& l);

}  // namespace vae
