// The table of priors and the words that name them (model/priors/priors.h).
#include "model/priors/priors.h"

#include <nlohmann/json.hpp>

#include "io/json_fields.h"
#include "nn/layers/layer.h"
#include "model/priors/standard.h"
#include "model/priors/vamp.h"
#include "vae/error.h"
#include "vae/model.h"
#include "vae/rng.h"

namespace vae {

using json = nlohmann::json;

const std::vector<PriorRow>& prior_table() {
  static const std::vector<PriorRow> table = [] {
    std::vector<PriorRow> t = {standard_prior(), vamp_prior()};
    for (size_t i = 0; i < t.size(); ++i) VAE_ASSERT(static_cast<size_t>(t[i].kind) == i);
    return t;
  }();
  return table;
}

const PriorRow& prior_row(Prior kind) {
  const std::vector<PriorRow>& t = prior_table();
  VAE_ASSERT(static_cast<size_t>(kind) < t.size());
  return t[static_cast<size_t>(kind)];
}

const char* prior_name(Prior kind) { return prior_row(kind).name; }

Prior parse_prior(const std::string& name) {
  std::string known;
  for (const PriorRow& r : prior_table()) {
    if (name == r.name || name == r.json_name) return r.kind;
    known += std::string(known.empty() ? "'" : " or '") + r.name + "'";
  }
  throw FieldError("prior", "must be " + known + ", got '" + name + "'");
}

std::vector<std::pair<std::string, std::vector<int64_t>>> prior_params(const ModelConfig& cfg) {
  if (!prior_row(cfg.prior).pseudo_inputs) return {};
  return {{kPseudoInputsParam, {cfg.pseudo_inputs, cfg.input_dim}}};
}

template <class T>
void prior_init_params(const ModelConfig& cfg, T* theta, Rng& rng) {
  if (!prior_row(cfg.prior).pseudo_inputs) return;
  const size_t n = static_cast<size_t>(cfg.pseudo_inputs) * cfg.input_dim;  // u (K, D)
  rng.normal_fill(theta, n);
  for (size_t i = 0; i < n; ++i) theta[i] = static_cast<T>(0.05 + 0.01 * theta[i]);
}

template void prior_init_params<float>(const ModelConfig&, float*, Rng&);
template void prior_init_params<double>(const ModelConfig&, double*, Rng&);

std::string prior_description(const ModelConfig& cfg) {
  const PriorRow& r = prior_row(cfg.prior);
  if (!r.pseudo_inputs) return r.description;
  return std::string(r.description) + " (K = " + std::to_string(cfg.pseudo_inputs) +
         " pseudo-inputs)";
}

// ---- JSON forms -----------------------------------------------------------------------------

void prior_to_json(json& j, const ModelConfig& cfg) {
  const PriorRow& r = prior_row(cfg.prior);
  j["prior"] = r.json_name;
  if (r.pseudo_inputs) j["pseudo_inputs"] = cfg.pseudo_inputs;
}

void prior_from_json(const json& j, ModelConfig& cfg) {
  cfg.prior = parse_prior(j.value("prior", std::string(prior_row(Prior::Standard).json_name)));
  cfg.pseudo_inputs = json_int_or(j, "pseudo_inputs", cfg.pseudo_inputs);
}

void prior_to_description(json& j, const ModelConfig& cfg) {
  const PriorRow& r = prior_row(cfg.prior);
  if (cfg.prior == Prior::Standard) return;
  j["prior"] = r.name;
  if (r.pseudo_inputs) j["pseudo_inputs"] = cfg.pseudo_inputs;
}

void prior_from_description(const json& j, ModelConfig& cfg) {
  if (j.contains("prior")) {
    if (!j["prior"].is_string()) throw Error("prior: must be a string");
    cfg.prior = parse_prior(j["prior"].get<std::string>());
  }
  if (j.contains("pseudo_inputs"))
    cfg.pseudo_inputs = json_config_int(j["pseudo_inputs"], "pseudo_inputs");
}

void validate_prior(const ModelConfig& cfg) {
  if (static_cast<size_t>(cfg.prior) >= prior_table().size())
    throw FieldError("prior", "not a kind of the prior table (" +
                                  std::to_string(static_cast<int>(cfg.prior)) + ")");
  if (!prior_row(cfg.prior).pseudo_inputs) return;
  if (cfg.pseudo_inputs < 1 || cfg.pseudo_inputs > kMaxPseudoInputs)
    throw FieldError("pseudo_inputs", "must be in 1.." + std::to_string(kMaxPseudoInputs) +
                                          ", got " + std::to_string(cfg.pseudo_inputs));
  if (cfg.num_classes > 0)
    throw FieldError("prior", std::string("'") + prior_name(cfg.prior) +
                                  "' needs an unconditional model (its components are the "
                                  "encoder's posteriors, which would need a label)");
}

void check_prior_training(const ModelConfig& cfg, double free_bits) {
  if (free_bits > 0 && cfg.prior != Prior::Standard)
    throw FieldError("free_bits", std::string("needs the standard prior, not '") +
                                      prior_name(cfg.prior) +
                                      "' (whose KL term is estimated at the drawn z: no per-"
                                      "dimension KL to floor)");
  if (free_bits > 0 && cfg.top_latent > 0)
    throw FieldError("free_bits", "needs one stochastic layer (top_latent 0): a two-layer "
                                  "model's KL of z1 is to p(z1|z2), not per-dimension N(0, 1)");
}

}  // namespace vae
