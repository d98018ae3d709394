// Model configuration: validation, JSON, the conv preset and the parameter layout
// (include/vae/model.h). Layers are read, written and described through their kinds' rows
// (src/nn/layers/registry.h); the layer plan is src/model/plan.cpp.
#include <nlohmann/json.hpp>

#include <set>

#include "io/json_fields.h"
#include "model/hierarchy.h"
#include "model/likelihoods/likelihoods.h"
#include "model/plan.h"
#include "model/priors/priors.h"
#include "nn/layers/conv.h"
#include "nn/layers/conv_transpose.h"
#include "nn/layers/dense.h"
#include "nn/layers/registry.h"
#include "nn/layers/reshape.h"
#include "vae/error.h"
#include "vae/model.h"

namespace vae {

using json = nlohmann::json;

bool LayerSpec::operator==(const LayerSpec& o) const {
  return kind == o.kind && units == o.units && kernel == o.kernel && stride == o.stride &&
         padding == o.padding && output_padding == o.output_padding && shape[0] == o.shape[0] &&
         shape[1] == o.shape[1] && shape[2] == o.shape[2];
}

const char* arch_name(Arch arch) {
  switch (arch) {
    case Arch::Mlp: return "mlp";
    case Arch::Conv: return "conv";
    case Arch::Custom: return "custom";
  }
  return "?";
}

Arch parse_arch(const std::string& name) {
  for (Arch a : {Arch::Mlp, Arch::Conv, Arch::Custom})
    if (name == arch_name(a)) return a;
  throw FieldError("arch", "must be 'mlp', 'conv' or 'custom', got '" + name + "'");
}

// ---- Configuration --------------------------------------------------------------------------

void ModelConfig::validate() const {
  if (input_dim < 1)
    throw FieldError("input_dim", "must be >= 1, got " + std::to_string(input_dim));
  if (hidden.size() > kMaxHiddenLayers)
    throw FieldError("hidden", "at most " + std::to_string(kMaxHiddenLayers) + " layers, got " +
                     std::to_string(hidden.size()));
  if (encoder.size() > 2 * kMaxHiddenLayers || decoder.size() > 2 * kMaxHiddenLayers)
    throw Error("layers: at most " + std::to_string(2 * kMaxHiddenLayers) +
                " per network, got " + std::to_string(std::max(encoder.size(), decoder.size())));
  for (int h : hidden)
    if (h < 1 || h > (1 << 16))
      throw FieldError("hidden", "each width must be in 1..65536, got " + std::to_string(h));
  if (latent < 1 || latent > (1 << 14))
    throw FieldError("latent", "must be in 1..16384, got " + std::to_string(latent));
  validate_likelihood(likelihood, sigma);
  if (num_classes < 0 || num_classes > (1 << 16))
    throw FieldError("num_classes", "must be in 0..65536, got " + std::to_string(num_classes));
  validate_prior(*this);
  validate_hierarchy(*this);
  if (channels > 0 && static_cast<long>(height) * width * channels != input_dim)
    throw Error("image geometry " + geometry_text(channels, height, width) +
                " does not match input_dim " + std::to_string(input_dim));
  plan_model(*this);
  const size_t params = param_count(*this);
  if (params > kMaxParams)
    throw Error("the model would have " + std::to_string(params) + " parameters; at most " +
                std::to_string(kMaxParams) + " (training holds 16 bytes per parameter: the "
                "weights, their gradients and Adam's two moments)");
}

std::string ModelConfig::to_json() const {
  json j = {{"input_dim", input_dim}, {"hidden", hidden},
            {"latent", latent},       {"activation", activation_name(activation)},
            {"height", height},
            {"width", width},         {"channels", channels},
            {"num_classes", num_classes},
            {"arch", arch_name(arch)},
            {"decoder", "mirror"},    {"posterior", "diagonal_gaussian"}};
  prior_to_json(j, *this);
  if (top_latent > 0) j["top_latent"] = top_latent;
  likelihood_to_json(j, likelihood, sigma);
  if (arch != Arch::Mlp) {
    j["encoder_layers"] = layers_to_json(encoder);
    j["decoder_layers"] = layers_to_json(decoder);
    j["decoder"] = "layers";
  }
  return j.dump();
}

ModelConfig ModelConfig::from_json(const std::string& text, const std::string& origin) {
  ModelConfig c;
  try {
    const auto j = json::parse(text);
    c.input_dim = json_int(j.at("input_dim"), "input_dim");
    const json& hidden = j.at("hidden");
    if (!hidden.is_array()) throw Error("hidden: must be a list of widths");
    c.hidden.clear();
    for (size_t i = 0; i < hidden.size(); ++i)
      c.hidden.push_back(json_int(hidden[i], "hidden[" + std::to_string(i) + "]"));
    c.latent = json_int(j.at("latent"), "latent");
    c.activation = parse_activation(j.at("activation").get<std::string>());
    likelihood_from_json(j, c);
    c.height = json_int(j.at("height"), "height");
    c.width = json_int(j.at("width"), "width");
    c.channels = json_int(j.at("channels"), "channels");
    // Keys added after format version 1 first shipped default to the models before them.
    c.num_classes = json_int_or(j, "num_classes", c.num_classes);
    c.arch = parse_arch(j.value("arch", std::string("mlp")));
    prior_from_json(j, c);
    c.top_latent = json_int_or(j, "top_latent", c.top_latent);
    if (c.arch != Arch::Mlp) {
      c.encoder = layers_from_json(j.at("encoder_layers"), "encoder");
      c.decoder = layers_from_json(j.at("decoder_layers"), "decoder");
    }
  } catch (const json::exception& e) {
    throw Error(origin + ": malformed model config (" + e.what() + ")");
  } catch (const Error& e) {
    throw Error(origin + ": model config: " + e.what());
  }
  try {
    c.validate();
  } catch (const Error& e) {
    throw Error(origin + ": model config: " + e.what());
  }
  return c;
}

ModelConfig parse_model_config(const std::string& text, const std::string& origin,
                               const ModelConfig& base) {
  ModelConfig c = base;
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(origin + ": not valid JSON (" + e.what() + ")");
  }
  try {
    if (!j.is_object()) throw Error("must be a JSON object with \"encoder\" and \"decoder\" lists");
    static const std::set<std::string> keys = {
        "encoder", "decoder", "hidden",        "latent",    "activation",
        "likelihood", "sigma", "prior", "pseudo_inputs", "top_latent"};
    for (const auto& [key, value] : j.items())
      if (!keys.count(key))
        throw Error(key + ": unknown field (known: encoder, decoder, hidden, latent, activation, "
                          "likelihood, sigma, prior, pseudo_inputs, top_latent)");
    if (j.contains("hidden") && (j.contains("encoder") || j.contains("decoder")))
      throw Error("hidden: give either hidden (an MLP) or encoder and decoder lists, not both");
    if (j.contains("encoder") != j.contains("decoder"))
      throw Error(std::string(j.contains("encoder") ? "decoder" : "encoder") +
                  ": missing (give both lists)");
    if (j.contains("hidden")) {
      const json& h = j["hidden"];
      if (!h.is_array()) throw Error("hidden: must be a list of widths");
      c.hidden.clear();
      for (size_t i = 0; i < h.size(); ++i)
        c.hidden.push_back(json_config_int(h[i], "hidden[" + std::to_string(i) + "]"));
      c.arch = Arch::Mlp;
    }
    if (j.contains("encoder")) {
      c.encoder = layers_from_json(j["encoder"], "encoder");
      c.decoder = layers_from_json(j["decoder"], "decoder");
      c.arch = Arch::Custom;
      c.hidden.clear();
    }
    if (j.contains("latent")) c.latent = json_config_int(j["latent"], "latent");
    if (j.contains("top_latent")) c.top_latent = json_config_int(j["top_latent"], "top_latent");
    if (j.contains("activation")) {
      if (!j["activation"].is_string()) throw Error("activation: must be a string");
      c.activation = parse_activation(j["activation"].get<std::string>());
    }
    likelihood_from_description(j, c);
    prior_from_description(j, c);
  } catch (const Error& e) {
    throw Error(origin + ": " + e.what());
  }
  return c;
}

void set_conv_preset(ModelConfig& c) {
  if (c.channels < 1 || c.height < 1 || c.width < 1)
    throw Error("the conv preset needs image data (these data have no image geometry)");
  if (c.height < 4 || c.width < 4)
    throw Error("the conv preset needs images of at least 4x4, got " + std::to_string(c.height) +
                "x" + std::to_string(c.width));
  if (c.height % 2 != c.width % 2)
    throw Error("the conv preset needs height and width of the same parity, got " +
                std::to_string(c.height) + "x" + std::to_string(c.width) +
                "; describe the layers in a model description file instead");
  // k4 s2 p1 halves an even side exactly (28 → 14 → 7); k3 s2 p1 maps an odd side n to (n+1)/2,
  // and the transposed layers with the same kernel invert both maps exactly.
  const int k1 = c.height % 2 == 0 ? 4 : 3;
  const int h1 = (c.height + 2 - k1) / 2 + 1, w1 = (c.width + 2 - k1) / 2 + 1;
  if (h1 % 2 != w1 % 2)
    throw Error("the conv preset cannot mirror " + std::to_string(c.height) + "x" +
                std::to_string(c.width) + "; describe the layers in a model description file instead");
  const int k2 = h1 % 2 == 0 ? 4 : 3;
  const int h2 = (h1 + 2 - k2) / 2 + 1, w2 = (w1 + 2 - k2) / 2 + 1;
  c.arch = Arch::Conv;
  c.hidden.clear();
  c.encoder = {conv_layer(32, k1, 2, 1), conv_layer(64, k2, 2, 1), dense_layer(256)};
  c.decoder = {dense_layer(256), dense_layer(64 * h2 * w2), reshape_layer(64, h2, w2),
               conv_transpose_layer(32, k2, 2, 1), conv_transpose_layer(c.channels, k1, 2, 1)};
}

std::string ModelConfig::to_description() const {
  json j;
  if (arch == Arch::Mlp) {
    j["hidden"] = hidden;
  } else {
    j["encoder"] = layers_to_json(encoder);
    j["decoder"] = layers_to_json(decoder);
  }
  j["latent"] = latent;
  j["activation"] = activation_name(activation);
  likelihood_to_description(j, likelihood, sigma);
  prior_to_description(j, *this);
  if (top_latent > 0) j["top_latent"] = top_latent;
  return j.dump(2) + "\n";
}

std::string ModelConfig::describe() const {
  // A prior other than N(0, I) is named after the layers: "... mlp, vamp prior K=500", then a
  // hierarchy: ", two layers z1 40 + z2 40".
  const std::string prior_part =
      prior == Prior::Standard
          ? ""
          : std::string(", ") + prior_name(prior) + " prior" +
                (prior_row(prior).pseudo_inputs ? " K=" + std::to_string(pseudo_inputs) : "");
  const std::string tail = prior_part + hierarchy_description(*this);
  if (arch == Arch::Mlp) {
    std::string s = std::to_string(input_dim);
    for (int h : hidden) s += "-" + std::to_string(h);
    return s + "-" + std::to_string(latent) + " mlp" + tail;
  }
  const std::string in =
      channels > 0 ? geometry_text(channels, height, width) : std::to_string(input_dim);
  return in + layers_token(encoder) + " | z" + std::to_string(latent) + " |" +
         layers_token(decoder) + " " + arch_name(arch) + tail;
}

// ---- Parameter layout -----------------------------------------------------------------------

std::vector<ParamInfo> param_table(const ModelConfig& cfg) {
  const ModelPlan plan = plan_model(cfg);
  std::vector<ParamInfo> t;
  size_t offset = 0;
  auto add = [&](const std::string& name, std::vector<int64_t> shape) {
    size_t n = 1;
    for (int64_t d : shape) n *= static_cast<size_t>(d);
    t.push_back({name, std::move(shape), offset, n});
    offset += n;
  };
  auto add_layer = [&](const PlannedLayer& l) {  // "<name>.<suffix>", as its kind lists them
    for (LayerParam& p : l.spec.kind->params(l)) add(l.name + "." + p.suffix, std::move(p.shape));
  };
  for (const PlannedLayer& l : plan.encoder) add_layer(l);
  add_layer(plan.mu_head);
  add_layer(plan.logvar_head);
  for (const PlannedLayer& l : plan.decoder) add_layer(l);
  for (const PlannedLayer& l : plan.q1_x) add_layer(l);
  for (const PlannedLayer& l : plan.q1) add_layer(l);
  if (cfg.top_latent > 0)
    for (const PlannedLayer* head : {&plan.q1_mu, &plan.q1_logvar}) add_layer(*head);
  for (const PlannedLayer& l : plan.p1) add_layer(l);
  if (cfg.top_latent > 0)
    for (const PlannedLayer* head : {&plan.p1_mu, &plan.p1_logvar}) add_layer(*head);
  for (auto& [name, shape] : prior_params(cfg)) add(name, std::move(shape));
  for (const LikelihoodParam& p : likelihood_row(cfg.likelihood).params) add(p.name, {cfg.input_dim});
  return t;
}

size_t param_count(const ModelConfig& cfg) {
  const auto t = param_table(cfg);
  return t.back().offset + t.back().numel;
}

}  // namespace vae
