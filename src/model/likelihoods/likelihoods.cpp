// The table of likelihoods and the words that name them (model/likelihoods/likelihoods.h).
#include "model/likelihoods/likelihoods.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

#include "io/json_fields.h"
#include "model/likelihoods/bernoulli.h"
#include "model/likelihoods/gaussian.h"
#include "model/likelihoods/gaussian_learned_sigma.h"
#include "vae/error.h"
#include "vae/model.h"

namespace vae {

using json = nlohmann::json;

const std::vector<LikelihoodRow>& likelihood_table() {
  static const std::vector<LikelihoodRow> table = [] {
    std::vector<LikelihoodRow> t = {
        bernoulli_likelihood(),
        gaussian_likelihood(),
        gaussian_learned_sigma_likelihood(),
    };
    for (size_t i = 0; i < t.size(); ++i) VAE_ASSERT(static_cast<size_t>(t[i].kind) == i);
    return t;
  }();
  return table;
}

const LikelihoodRow& likelihood_row(Likelihood kind) {
  const std::vector<LikelihoodRow>& t = likelihood_table();
  VAE_ASSERT(static_cast<size_t>(kind) < t.size());
  return t[static_cast<size_t>(kind)];
}

const char* likelihood_kind_name(Likelihood kind) { return likelihood_row(kind).name; }
const char* likelihood_description(Likelihood kind) { return likelihood_row(kind).description; }
SigmaRole sigma_role(Likelihood kind) { return likelihood_row(kind).sigma_role; }

std::string likelihood_name(const ModelConfig& cfg) { return likelihood_description(cfg.likelihood); }

namespace {

// "'bernoulli' or 'gaussian'": the distinct names of the rows that `keep` accepts, in table order.
template <class Keep>
std::string quoted_names(Keep keep) {
  std::vector<std::string> names;
  for (const LikelihoodRow& r : likelihood_table())
    if (keep(r) && std::find(names.begin(), names.end(), r.name) == names.end())
      names.push_back(r.name);
  std::string s;
  for (size_t i = 0; i < names.size(); ++i)
    s += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + ("'" + names[i] + "'");
  return s;
}

// The sigma word of a description or the command line: "learned", or a fixed value.
struct SigmaWord {
  bool learned = false;
  double value = 0;
};

// cfg's likelihood from a name and a sigma word; an absent one keeps cfg's. cfg is unchanged
// when the words name no row.
void set_likelihood_words(ModelConfig& cfg, const std::optional<std::string>& name,
                          const std::optional<SigmaWord>& sigma) {
  const LikelihoodRow& now = likelihood_row(cfg.likelihood);
  const SigmaWord s = sigma.value_or(SigmaWord{now.sigma_role == SigmaRole::Learned, cfg.sigma});
  cfg.likelihood = find_likelihood(name.value_or(now.name), s.learned).kind;
  if (!s.learned) cfg.sigma = s.value;  // "learned" keeps the number, as checkpoints always have
}

std::string printed(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

const LikelihoodRow& find_likelihood(const std::string& name, bool learned) {
  const LikelihoodRow* named = nullptr;
  for (const LikelihoodRow& r : likelihood_table()) {
    if (r.name != name) continue;
    if ((r.sigma_role == SigmaRole::Learned) == learned) return r;
    named = &r;
  }
  if (!named)
    throw FieldError("likelihood", "must be " + quoted_names([](const LikelihoodRow&) { return true; }) +
                                       ", got '" + name + "'");
  if (learned)
    throw FieldError("sigma", "'learned' needs likelihood " + quoted_names([](const LikelihoodRow& r) {
                                return r.sigma_role == SigmaRole::Learned;
                              }));
  throw FieldError("sigma", "likelihood '" + name + "' learns its sigma: give 'learned'");
}

void set_likelihood(ModelConfig& cfg, const std::optional<std::string>& name,
                    const std::optional<std::string>& sigma) {
  std::optional<SigmaWord> word;
  if (sigma) {
    word = SigmaWord{*sigma == "learned", cfg.sigma};
    if (!word->learned) {
      size_t used = 0;
      try {
        word->value = std::stod(*sigma, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != sigma->size() || !(word->value > 0) || !std::isfinite(word->value))
        throw FieldError("sigma", "must be a positive number or 'learned', got '" + *sigma + "'");
    }
  }
  set_likelihood_words(cfg, name, word);
}

void validate_likelihood(Likelihood kind, double sigma) {
  if (static_cast<size_t>(kind) >= likelihood_table().size())
    throw FieldError("likelihood", "not a kind of the likelihood table (" +
                                       std::to_string(static_cast<int>(kind)) + ")");
  if (!(sigma > 0) || !std::isfinite(sigma))
    throw FieldError("sigma", "must be a positive number or 'learned', got " + printed(sigma));
}

// ---- JSON forms -----------------------------------------------------------------------------

void likelihood_to_json(json& j, Likelihood kind, double sigma) {
  const LikelihoodRow& r = likelihood_row(kind);
  j["likelihood"] = r.name;
  j["sigma"] = sigma;
  j["learn_sigma"] = r.sigma_role == SigmaRole::Learned;
}

void likelihood_from_json(const json& j, ModelConfig& cfg) {
  const std::string name = j.at("likelihood").get<std::string>();
  const double sigma = json_double_or(j, "sigma", cfg.sigma);
  // "learn_sigma" came after format version 1 first shipped: models before it had a fixed σ.
  cfg.likelihood = find_likelihood(name, j.value("learn_sigma", false)).kind;
  cfg.sigma = sigma;
}

void likelihood_to_description(json& j, Likelihood kind, double sigma) {
  j["likelihood"] = likelihood_row(kind).name;
  if (sigma_role(kind) == SigmaRole::Learned)
    j["sigma"] = "learned";
  else
    j["sigma"] = sigma;
}

void likelihood_from_description(const json& j, ModelConfig& cfg) {
  std::optional<std::string> name;
  std::optional<SigmaWord> sigma;
  if (j.contains("likelihood")) {
    if (!j["likelihood"].is_string()) throw Error("likelihood: must be a string");
    name = j["likelihood"].get<std::string>();
  }
  if (j.contains("sigma")) {
    const json& s = j["sigma"];
    if (s.is_string() && s.get<std::string>() == "learned")
      sigma = SigmaWord{true, cfg.sigma};
    else if (s.is_number())
      sigma = SigmaWord{false, s.get<double>()};
    else
      throw Error("sigma: must be a number or \"learned\"");
  }
  set_likelihood_words(cfg, name, sigma);
}

}  // namespace vae
