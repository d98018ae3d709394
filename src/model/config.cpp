// Model configuration: validation, JSON, the conv preset, and the layer plan that fixes every
// tensor's shape (include/vae/model.h).
#include <nlohmann/json.hpp>

#include <set>

#include "io/json_fields.h"
#include "model/likelihoods/likelihoods.h"
#include "model/plan.h"
#include "vae/conv.h"
#include "vae/error.h"
#include "vae/model.h"

namespace vae {

using json = nlohmann::json;
using Kind = LayerSpec::Kind;

bool LayerSpec::operator==(const LayerSpec& o) const {
  return kind == o.kind && units == o.units && kernel == o.kernel && stride == o.stride &&
         padding == o.padding && output_padding == o.output_padding && shape[0] == o.shape[0] &&
         shape[1] == o.shape[1] && shape[2] == o.shape[2];
}

const char* layer_kind_name(Kind kind) {
  switch (kind) {
    case Kind::Dense: return "dense";
    case Kind::Conv: return "conv";
    case Kind::ConvTranspose: return "conv_transpose";
    case Kind::Reshape: return "reshape";
  }
  return "?";
}

namespace {

std::string geometry(int c, int h, int w) {
  return std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w);
}

LayerSpec dense(int units) {
  LayerSpec s;
  s.kind = Kind::Dense;
  s.units = units;
  return s;
}

LayerSpec conv(Kind kind, int channels, int kernel, int stride, int padding, int output_padding = 0) {
  LayerSpec s;
  s.kind = kind;
  s.units = channels;
  s.kernel = kernel;
  s.stride = stride;
  s.padding = padding;
  s.output_padding = output_padding;
  return s;
}

// The layer lists an mlp config implies: dense layers of `hidden`, mirrored, then the output.
void mlp_layers(const ModelConfig& c, std::vector<LayerSpec>& enc, std::vector<LayerSpec>& dec) {
  enc.clear();
  dec.clear();
  for (int h : c.hidden) enc.push_back(dense(h));
  for (size_t l = c.hidden.size(); l-- > 0;) dec.push_back(dense(c.hidden[l]));
  dec.push_back(dense(c.input_dim));
}

// Largest number of values one layer may produce per example (a guard against configs that
// would allocate gigabytes).
constexpr long kMaxLayerValues = 1L << 24;

// Walks one stack, filling geometry; throws "<where>[i].<field>: ..." for the first problem.
void plan_stack(const std::vector<LayerSpec>& specs, const std::string& where, int c, int h, int w,
                bool image, int cond, bool decoder, std::vector<PlannedLayer>& out) {
  bool cond_pending = cond > 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    const LayerSpec& s = specs[i];
    const std::string at = where + "[" + std::to_string(i) + "]";
    auto bad = [&](const std::string& field, const std::string& what) {
      throw Error(at + (field.empty() ? "" : "." + field) + ": " + what);
    };
    auto range = [&](const std::string& field, int v, int lo, int hi) {
      if (v < lo || v > hi)
        bad(field, "must be in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " +
                       std::to_string(v));
    };
    PlannedLayer p;
    p.spec = s;
    p.name = where + "." + std::to_string(i);
    p.in_c = c;
    p.in_h = h;
    p.in_w = w;
    const long in_size = static_cast<long>(c) * h * w;
    switch (s.kind) {
      case Kind::Dense:
        range("units", s.units, 1, 1 << 16);
        p.in_c = static_cast<int>(in_size);
        p.in_h = p.in_w = 1;
        if (cond_pending) {
          p.cond = cond;
          cond_pending = false;
        }
        c = s.units;
        h = w = 1;
        image = false;
        break;
      case Kind::Conv:
      case Kind::ConvTranspose: {
        const bool transpose = s.kind == Kind::ConvTranspose;
        const char* what = transpose ? "conv_transpose" : "conv";
        if (!image)
          bad("", std::string(what) + " needs an image input, but its input is flat (" +
                      std::to_string(in_size) + " values); put a reshape before it");
        if (cond_pending && decoder)
          bad("", "a conditional decoder must start with a dense layer (it reads [z, one-hot])");
        range("channels", s.units, 1, 4096);
        range("kernel", s.kernel, 1, 64);
        range("stride", s.stride, 1, 64);
        range("padding", s.padding, 0, 64);
        if (transpose)
          range("output_padding", s.output_padding, 0, s.stride - 1);
        else if (s.output_padding != 0)
          bad("output_padding", "only conv_transpose layers take output_padding");
        ConvShape cs;
        cs.C_in = c;
        cs.H = h;
        cs.W = w;
        cs.C_out = s.units;
        cs.K = s.kernel;
        cs.S = s.stride;
        cs.P = s.padding;
        cs.OP = s.output_padding;
        if (transpose) {
          h = conv_transpose2d_h_out(cs);
          w = conv_transpose2d_w_out(cs);
          if (h < 1 || w < 1) bad("", "the output of a " + geometry(c, cs.H, cs.W) + " input would be empty");
        } else {
          if (cs.H + 2 * cs.P < cs.K || cs.W + 2 * cs.P < cs.K)
            bad("kernel", "the kernel (" + std::to_string(cs.K) + ") is larger than the padded " +
                              geometry(c, cs.H, cs.W) + " input");
          h = conv2d_h_out(cs);
          w = conv2d_w_out(cs);
        }
        c = s.units;
        break;
      }
      case Kind::Reshape: {
        for (int k = 0; k < 3; ++k) range("shape", s.shape[k], 1, 1 << 16);
        const long size = static_cast<long>(s.shape[0]) * s.shape[1] * s.shape[2];
        if (size != in_size)
          bad("shape", geometry(s.shape[0], s.shape[1], s.shape[2]) + " holds " +
                           std::to_string(size) + " values but its input has " +
                           std::to_string(in_size));
        if (cond_pending && decoder)
          bad("", "a conditional decoder must start with a dense layer (it reads [z, one-hot])");
        c = s.shape[0];
        h = s.shape[1];
        w = s.shape[2];
        image = true;
        break;
      }
    }
    if (static_cast<long>(c) * h * w > kMaxLayerValues)
      bad("", "gives " + geometry(c, h, w) + " values per example, more than " +
                  std::to_string(kMaxLayerValues));
    p.out_c = c;
    p.out_h = h;
    p.out_w = w;
    out.push_back(p);
  }
}

}  // namespace

ModelPlan plan_model(const ModelConfig& cfg) {
  ModelPlan plan;
  std::vector<LayerSpec> enc = cfg.encoder, dec = cfg.decoder;
  if (cfg.arch == "mlp") mlp_layers(cfg, enc, dec);
  const bool image = cfg.channels > 0;
  const int c0 = image ? cfg.channels : cfg.input_dim;
  const int h0 = image ? cfg.height : 1, w0 = image ? cfg.width : 1;
  const int Y = cfg.num_classes;
  plan_stack(enc, "encoder", c0, h0, w0, image, Y, false, plan.encoder);
  const PlannedLayer* last = plan.encoder.empty() ? nullptr : &plan.encoder.back();
  plan.features = last ? last->out_c * last->out_h * last->out_w : cfg.input_dim;
  plan.head_cond = Y;
  for (const PlannedLayer& l : plan.encoder)
    if (l.cond) plan.head_cond = 0;
  if (dec.empty()) throw Error("decoder: needs at least its output layer");
  plan_stack(dec, "decoder", cfg.latent, 1, 1, false, Y, true, plan.decoder);
  PlannedLayer& out = plan.decoder.back();
  out.act = false;
  out.name = "decoder.out";
  if (out.spec.kind == Kind::Reshape)
    throw Error("decoder: the last layer must be dense or conv_transpose (the output layer)");
  const long out_size = static_cast<long>(out.out_c) * out.out_h * out.out_w;
  if (out.spec.kind == Kind::ConvTranspose && image &&
      (out.out_c != cfg.channels || out.out_h != cfg.height || out.out_w != cfg.width))
    throw Error("decoder: gives " + geometry(out.out_c, out.out_h, out.out_w) +
                " but the data are " + geometry(cfg.channels, cfg.height, cfg.width));
  if (out_size != cfg.input_dim)
    throw Error("decoder: gives " + std::to_string(out_size) + " values per example but the data have " +
                std::to_string(cfg.input_dim));
  return plan;
}

// ---- Configuration --------------------------------------------------------------------------

void ModelConfig::validate() const {
  if (input_dim < 1) throw Error("input_dim: must be >= 1, got " + std::to_string(input_dim));
  for (int h : hidden)
    if (h < 1 || h > (1 << 16))
      throw Error("--hidden: each width must be in 1..65536, got " + std::to_string(h));
  if (latent < 1 || latent > (1 << 14))
    throw Error("--latent: must be in 1..16384, got " + std::to_string(latent));
  validate_likelihood(likelihood, sigma);
  if (num_classes < 0 || num_classes > (1 << 16))
    throw Error("num_classes: must be in 0..65536, got " + std::to_string(num_classes));
  if (arch != "mlp" && arch != "conv" && arch != "custom")
    throw Error("--arch: must be 'mlp' or 'conv', got '" + arch + "'");
  if (channels > 0 && static_cast<long>(height) * width * channels != input_dim)
    throw Error("image geometry " + geometry(channels, height, width) +
                " does not match input_dim " + std::to_string(input_dim));
  plan_model(*this);
}

namespace {

json layer_to_json(const LayerSpec& s) {
  json j = {{"type", layer_kind_name(s.kind)}};
  switch (s.kind) {
    case Kind::Dense: j["units"] = s.units; break;
    case Kind::Conv:
    case Kind::ConvTranspose:
      j["channels"] = s.units;
      j["kernel"] = s.kernel;
      j["stride"] = s.stride;
      j["padding"] = s.padding;
      if (s.kind == Kind::ConvTranspose) j["output_padding"] = s.output_padding;
      break;
    case Kind::Reshape: j["shape"] = {s.shape[0], s.shape[1], s.shape[2]}; break;
  }
  return j;
}

int get_int(const json& j, const std::string& field) {
  if (!j.is_number_integer()) throw Error(field + ": must be an integer");
  return static_cast<int>(json_integer(j, field, -(1L << 30), 1L << 30));
}

LayerSpec layer_from_json(const json& j, const std::string& at) {
  if (!j.is_object()) throw Error(at + ": must be an object such as {\"type\": \"dense\", \"units\": 256}");
  if (!j.contains("type") || !j["type"].is_string())
    throw Error(at + ".type: missing (dense, conv, conv_transpose or reshape)");
  const std::string type = j["type"].get<std::string>();
  LayerSpec s;
  std::set<std::string> allowed;
  if (type == "dense") {
    s.kind = Kind::Dense;
    allowed = {"type", "units"};
  } else if (type == "conv" || type == "conv_transpose") {
    s.kind = type == "conv" ? Kind::Conv : Kind::ConvTranspose;
    allowed = {"type", "channels", "kernel", "stride", "padding"};
    if (type == "conv_transpose") allowed.insert("output_padding");
  } else if (type == "reshape") {
    s.kind = Kind::Reshape;
    allowed = {"type", "shape"};
  } else {
    throw Error(at + ".type: '" + type + "' is not one of dense, conv, conv_transpose, reshape");
  }
  for (const auto& [key, value] : j.items())
    if (!allowed.count(key)) throw Error(at + "." + key + ": not a field of a " + type + " layer");
  auto need = [&](const char* key) -> const json& {
    if (!j.contains(key)) throw Error(at + "." + key + ": missing");
    return j[key];
  };
  switch (s.kind) {
    case Kind::Dense: s.units = get_int(need("units"), at + ".units"); break;
    case Kind::Conv:
    case Kind::ConvTranspose:
      s.units = get_int(need("channels"), at + ".channels");
      s.kernel = get_int(need("kernel"), at + ".kernel");
      if (j.contains("stride")) s.stride = get_int(j["stride"], at + ".stride");
      if (j.contains("padding")) s.padding = get_int(j["padding"], at + ".padding");
      if (j.contains("output_padding"))
        s.output_padding = get_int(j["output_padding"], at + ".output_padding");
      break;
    case Kind::Reshape: {
      const json& sh = need("shape");
      if (!sh.is_array() || sh.size() != 3) throw Error(at + ".shape: must be [channels, height, width]");
      for (int k = 0; k < 3; ++k) s.shape[k] = get_int(sh[k], at + ".shape[" + std::to_string(k) + "]");
      break;
    }
  }
  return s;
}

std::vector<LayerSpec> layers_from_json(const json& j, const std::string& where) {
  if (!j.is_array()) throw Error(where + ": must be a list of layers");
  std::vector<LayerSpec> out;
  for (size_t i = 0; i < j.size(); ++i)
    out.push_back(layer_from_json(j[i], where + "[" + std::to_string(i) + "]"));
  return out;
}

}  // namespace

std::string ModelConfig::to_json() const {
  json j = {{"input_dim", input_dim}, {"hidden", hidden},
            {"latent", latent},       {"activation", activation_name(activation)},
            {"height", height},
            {"width", width},         {"channels", channels},
            {"num_classes", num_classes},
            {"arch", arch},
            {"decoder", "mirror"},    {"posterior", "diagonal_gaussian"},
            {"prior", "standard_normal"}};
  likelihood_to_json(j, likelihood, sigma);
  if (arch != "mlp") {
    j["encoder_layers"] = json::array();
    for (const LayerSpec& s : encoder) j["encoder_layers"].push_back(layer_to_json(s));
    j["decoder_layers"] = json::array();
    for (const LayerSpec& s : decoder) j["decoder_layers"].push_back(layer_to_json(s));
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
    c.arch = j.value("arch", std::string("mlp"));
    if (c.arch != "mlp") {
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
    static const std::set<std::string> keys = {"encoder", "decoder", "hidden", "latent",
                                               "activation", "likelihood", "sigma"};
    for (const auto& [key, value] : j.items())
      if (!keys.count(key))
        throw Error(key + ": unknown field (known: encoder, decoder, hidden, latent, activation, "
                          "likelihood, sigma)");
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
        c.hidden.push_back(get_int(h[i], "hidden[" + std::to_string(i) + "]"));
      c.arch = "mlp";
    }
    if (j.contains("encoder")) {
      c.encoder = layers_from_json(j["encoder"], "encoder");
      c.decoder = layers_from_json(j["decoder"], "decoder");
      c.arch = "custom";
      c.hidden.clear();
    }
    if (j.contains("latent")) c.latent = get_int(j["latent"], "latent");
    if (j.contains("activation")) {
      if (!j["activation"].is_string()) throw Error("activation: must be a string");
      c.activation = parse_activation(j["activation"].get<std::string>());
    }
    likelihood_from_description(j, c);
  } catch (const Error& e) {
    throw Error(origin + ": " + e.what());
  }
  return c;
}

void set_conv_preset(ModelConfig& c) {
  if (c.channels < 1 || c.height < 1 || c.width < 1)
    throw Error("--arch conv: needs image data (these data have no image geometry)");
  if (c.height < 4 || c.width < 4)
    throw Error("--arch conv: images must be at least 4x4, got " + std::to_string(c.height) +
                "x" + std::to_string(c.width));
  if (c.height % 2 != c.width % 2)
    throw Error("--arch conv: the preset needs height and width of the same parity, got " +
                std::to_string(c.height) + "x" + std::to_string(c.width) +
                "; describe the layers with --config instead");
  // k4 s2 p1 halves an even side exactly (28 → 14 → 7); k3 s2 p1 maps an odd side n to (n+1)/2,
  // and the transposed layers with the same kernel invert both maps exactly.
  const int k1 = c.height % 2 == 0 ? 4 : 3;
  const int h1 = (c.height + 2 - k1) / 2 + 1, w1 = (c.width + 2 - k1) / 2 + 1;
  if (h1 % 2 != w1 % 2)
    throw Error("--arch conv: the preset cannot mirror " + std::to_string(c.height) + "x" +
                std::to_string(c.width) + "; describe the layers with --config instead");
  const int k2 = h1 % 2 == 0 ? 4 : 3;
  const int h2 = (h1 + 2 - k2) / 2 + 1, w2 = (w1 + 2 - k2) / 2 + 1;
  c.arch = "conv";
  c.hidden.clear();
  c.encoder = {conv(Kind::Conv, 32, k1, 2, 1), conv(Kind::Conv, 64, k2, 2, 1), dense(256)};
  LayerSpec reshape;
  reshape.kind = Kind::Reshape;
  reshape.shape[0] = 64;
  reshape.shape[1] = h2;
  reshape.shape[2] = w2;
  c.decoder = {dense(256), dense(64 * h2 * w2), reshape, conv(Kind::ConvTranspose, 32, k2, 2, 1),
               conv(Kind::ConvTranspose, c.channels, k1, 2, 1)};
}

std::string ModelConfig::to_description() const {
  json j;
  if (arch == "mlp") {
    j["hidden"] = hidden;
  } else {
    j["encoder"] = json::array();
    for (const LayerSpec& s : encoder) j["encoder"].push_back(layer_to_json(s));
    j["decoder"] = json::array();
    for (const LayerSpec& s : decoder) j["decoder"].push_back(layer_to_json(s));
  }
  j["latent"] = latent;
  j["activation"] = activation_name(activation);
  likelihood_to_description(j, likelihood, sigma);
  return j.dump(2) + "\n";
}

std::string ModelConfig::describe() const {
  if (arch == "mlp") {
    std::string s = std::to_string(input_dim);
    for (int h : hidden) s += "-" + std::to_string(h);
    return s + "-" + std::to_string(latent) + " mlp";
  }
  auto list = [](const std::vector<LayerSpec>& v) {
    std::string s;
    for (const LayerSpec& l : v) {
      switch (l.kind) {
        case Kind::Dense: s += " d" + std::to_string(l.units); break;
        case Kind::Conv: s += " conv" + std::to_string(l.units) + "k" + std::to_string(l.kernel) + "s" + std::to_string(l.stride); break;
        case Kind::ConvTranspose: s += " convT" + std::to_string(l.units) + "k" + std::to_string(l.kernel) + "s" + std::to_string(l.stride); break;
        case Kind::Reshape: s += " r" + geometry(l.shape[0], l.shape[1], l.shape[2]); break;
      }
    }
    return s;
  };
  const std::string in = channels > 0 ? geometry(channels, height, width) : std::to_string(input_dim);
  return in + list(encoder) + " | z" + std::to_string(latent) + " |" + list(decoder) + " " + arch;
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
  auto add_layer = [&](const PlannedLayer& l) {
    switch (l.spec.kind) {
      case Kind::Dense: add(l.name + ".weight", {l.out_c, l.in_c + l.cond}); break;
      case Kind::Conv: add(l.name + ".weight", {l.out_c, l.in_c, l.spec.kernel, l.spec.kernel}); break;
      case Kind::ConvTranspose:
        add(l.name + ".weight", {l.in_c, l.out_c, l.spec.kernel, l.spec.kernel});
        break;
      case Kind::Reshape: return;
    }
    add(l.name + ".bias", {l.out_c});
  };
  for (const PlannedLayer& l : plan.encoder) add_layer(l);
  const int F = plan.features + plan.head_cond;
  add("encoder.mu.weight", {cfg.latent, F});
  add("encoder.mu.bias", {cfg.latent});
  add("encoder.logvar.weight", {cfg.latent, F});
  add("encoder.logvar.bias", {cfg.latent});
  for (const PlannedLayer& l : plan.decoder) add_layer(l);
  for (const LikelihoodParam& p : likelihood_row(cfg.likelihood).params) add(p.name, {cfg.input_dim});
  return t;
}

size_t param_count(const ModelConfig& cfg) {
  const auto t = param_table(cfg);
  return t.back().offset + t.back().numel;
}

}  // namespace vae
