// The table of likelihoods: one row per Likelihood kind, each built by its own file pair in this
// folder (bernoulli, gaussian, gaussian_learned_sigma), holding everything about that kind. The
// model, the config's JSON, the data pipeline and the command reach a likelihood only through
// its row.
//
// Legend: B rows, D data size, P_l the likelihood's own parameter count (Σ over its params of D).
//
// The math contract (gradient rule of include/vae/nn.h: backward accumulates):
//   nll_forward   returns Σ_rows −log p(x | out) in nats; per-row sums to rows (B) when non-null
//   nll_backward  dout (B,D) += scale · ∂(−log p)/∂out;  dtheta (P_l) += scale · ∂(−log p)/∂θ
//   mean_forward  the decoder mean E[x | out] (n values; may not alias out)
// where out (B,D) is the decoder's output, x (B,D) the data, theta (P_l) the likelihood's own
// parameters (its slice of the model's flat buffer; unused when it has none) and sigma the
// config's fixed scale (ModelConfig::sigma; unused unless its SigmaRole is Fixed).
//
// Adding a likelihood: a new Likelihood value (include/vae/likelihood.h), a file pair here whose
// function returns its row, that function in the table (likelihoods.cpp), and its test
// (tests/model/likelihoods/).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "vae/data_pipeline.h"
#include "vae/likelihood.h"

namespace vae {

struct ModelConfig;

template <class T>
struct LikelihoodMath {
  double (*nll_forward)(T* rows, const T* out, const T* x, const T* theta, T sigma, int B, int D);
  void (*nll_backward)(T* dout, T* dtheta, const T* out, const T* x, const T* theta, T sigma,
                       T scale, int B, int D);
  void (*mean_forward)(T* mean, const T* out, size_t n);
};

/// One parameter of a likelihood's own: D values (one per data dimension), stored after the
/// decoder's parameters under `name`, each set to `init` by Vae::init_params.
struct LikelihoodParam {
  const char* name;  ///< "decoder.logsigma"
  double init;
};

struct LikelihoodRow {
  Likelihood kind = Likelihood::Bernoulli;
  const char* name = "";                   ///< the JSON "likelihood" value, the --likelihood word
  SigmaRole sigma_role = SigmaRole::None;  ///< JSON "learn_sigma" is sigma_role == Learned
  const char* description = "";            ///< likelihood_description
  bool unit_interval = false;              ///< the data must lie in [0, 1] (check_range_for)
  ScalerKind auto_scale = ScalerKind::ZeroOne;  ///< the scaling "auto" picks for tables
  std::vector<LikelihoodParam> params;  ///< its own parameters, in the order of the flat buffer
  LikelihoodMath<float> math_f32{};
  LikelihoodMath<double> math_f64{};

  template <class T>
  const LikelihoodMath<T>& math() const;
};
template <>
inline const LikelihoodMath<float>& LikelihoodRow::math<float>() const { return math_f32; }
template <>
inline const LikelihoodMath<double>& LikelihoodRow::math<double>() const { return math_f64; }

/// Fills both math members of a row from a likelihood's templated functions.
template <template <class> class F>
void set_math(LikelihoodRow& row) {
  row.math_f32 = {&F<float>::nll_forward, &F<float>::nll_backward, &F<float>::mean_forward};
  row.math_f64 = {&F<double>::nll_forward, &F<double>::nll_backward, &F<double>::mean_forward};
}

/// Sets a row's own parameters theta (P_l) to their initial values.
template <class T>
void likelihood_init_params(const LikelihoodRow& row, T* theta, int D) {
  for (const LikelihoodParam& p : row.params) {
    std::fill(theta, theta + D, static_cast<T>(p.init));
    theta += D;
  }
}

/// Every row, in Likelihood order.
const std::vector<LikelihoodRow>& likelihood_table();
const LikelihoodRow& likelihood_row(Likelihood kind);

/// The row that the words name: `name` a row's name, `learned` whether sigma is "learned".
/// Throws FieldError("likelihood", …) for an unknown name, FieldError("sigma", …) when no row of
/// that name learns (or keeps fixed) its sigma.
const LikelihoodRow& find_likelihood(const std::string& name, bool learned);

// ---- JSON forms (ModelConfig's; the keys are those checkpoints have always had) -------------
/// Checkpoint model JSON: "likelihood", "sigma" (the number, whatever the kind) and "learn_sigma".
void likelihood_to_json(nlohmann::json& j, Likelihood kind, double sigma);
/// Reads what likelihood_to_json wrote ("learn_sigma" absent = false, as before it existed;
/// "sigma" absent = the config's default) into cfg.likelihood and cfg.sigma.
void likelihood_from_json(const nlohmann::json& j, ModelConfig& cfg);
/// A model description (--config file): "likelihood" and "sigma": a number or "learned".
void likelihood_to_description(nlohmann::json& j, Likelihood kind, double sigma);
/// Reads a description's optional "likelihood" and "sigma" over cfg's (either absent keeps
/// cfg's word). Throws vae::Error "<field>: …".
void likelihood_from_description(const nlohmann::json& j, ModelConfig& cfg);

/// ModelConfig::validate's part: sigma positive and finite, the kind a row of the table.
void validate_likelihood(Likelihood kind, double sigma);

}  // namespace vae
