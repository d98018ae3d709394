// The layer plan (model/plan.h): each stack walked layer by layer through the kinds' plans.
#include "model/plan.h"

#include <string>

#include "nn/layers/dense.h"
#include "nn/layers/layer.h"
#include "vae/error.h"

namespace vae {

namespace {

// Largest number of values one layer may produce per example (a guard against configs that
// would allocate gigabytes).
constexpr long kMaxLayerValues = 1L << 24;

// The layer lists an mlp config implies: dense layers of `hidden`, mirrored, then the output.
void mlp_layers(const ModelConfig& c, std::vector<LayerSpec>& enc, std::vector<LayerSpec>& dec) {
  enc.clear();
  dec.clear();
  for (int h : c.hidden) enc.push_back(dense_layer(h));
  for (size_t l = c.hidden.size(); l-- > 0;) dec.push_back(dense_layer(c.hidden[l]));
  dec.push_back(dense_layer(c.input_dim));
}

// The tensor a stack's next layer reads: its geometry per example, and whether it is an image.
struct StackTensor {
  int c = 0, h = 1, w = 1;
  bool image = false;
};

// One layer reading `in`, which becomes its output. The kind checks the layer and gives its
// shape; the stack adds the one-hot of a conditional model (`pending` until a layer that takes
// it: nothing may come before that layer in a decoder, which reads [z, one-hot]) and the size
// limit.
PlannedLayer plan_layer(const LayerSpec& s, const std::string& name, const std::string& at,
                        StackTensor& in, int& pending, bool decoder) {
  if (!s.kind) throw FieldError(at + ".type", "missing");
  PlannedLayer p;
  p.spec = s;
  p.name = name;
  p.in_c = in.c;
  p.in_h = in.h;
  p.in_w = in.w;
  in.image = s.kind->plan(p, in.image, at);
  p.act = !s.kind->self_activated;
  if (pending > 0 && s.kind->takes_one_hot) {
    p.cond = pending;
    pending = 0;
  } else if (pending > 0 && decoder) {
    throw FieldError(at,
                     "a conditional decoder must start with a dense layer (it reads [z, one-hot])");
  }
  if (static_cast<long>(p.out_size()) > kMaxLayerValues)
    throw FieldError(at, "gives " + geometry_text(p.out_c, p.out_h, p.out_w) +
                             " values per example, more than " + std::to_string(kMaxLayerValues));
  in.c = p.out_c;
  in.h = p.out_h;
  in.w = p.out_w;
  return p;
}

// Walks one stack from `in`, with a one-hot of width cond (0: none) to place; throws
// "<where>[i].<field>: ..." for the first problem.
// Layer i is named "<where>.<first + i>" (a stack that repeats part of another keeps its indices).
std::vector<PlannedLayer> plan_stack(const std::vector<LayerSpec>& specs, const std::string& where,
                                     StackTensor in, int cond, bool decoder, size_t first = 0) {
  std::vector<PlannedLayer> out;
  int pending = cond;
  for (size_t i = 0; i < specs.size(); ++i) {
    const std::string index = std::to_string(first + i);
    out.push_back(
        plan_layer(specs[i], where + "." + index, where + "[" + index + "]", in, pending, decoder));
  }
  return out;
}

// A dense μ and log σ² head pair "<prefix>.mu", "<prefix>.logvar": `features` values in (with a
// one-hot of width cond appended), `width` out, no activation.
void plan_head_pair(const std::string& prefix, int features, int cond, int width,
                    PlannedLayer& mu, PlannedLayer& logvar) {
  for (PlannedLayer* head : {&mu, &logvar}) {
    head->spec = dense_layer(width);
    head->in_c = features;
    head->out_c = width;
    head->cond = cond;
    head->act = false;
  }
  mu.name = prefix + ".mu";
  logvar.name = prefix + ".logvar";
}

// The width of a stack's output, or of its input `in` when it has no layers.
int stack_width(const std::vector<PlannedLayer>& stack, int in) {
  return stack.empty() ? in : static_cast<int>(stack.back().out_size());
}

// μ and log σ² read the encoder's features, with the one-hot when no encoder layer took it;
// they give z₂'s Z₂ values in a hierarchical model.
void plan_heads(const ModelConfig& cfg, ModelPlan& plan) {
  int cond = cfg.num_classes;
  for (const PlannedLayer& l : plan.encoder)
    if (l.cond) cond = 0;
  const int width = cfg.top_latent > 0 ? cfg.top_latent : cfg.latent;
  plan_head_pair("encoder", stack_width(plan.encoder, cfg.input_dim), cond, width, plan.mu_head,
                 plan.logvar_head);
}

// Whether the layers can be planned on `width` flat values.
bool reads_flat(const std::vector<LayerSpec>& specs, int width) {
  try {
    plan_stack(specs, "encoder", {width, 1, 1, false}, 0, false);
    return true;
  } catch (const Error&) {
    return false;
  }
}

// The hierarchy's stacks (plan.h): the encoder's layers split at s, the first index from which
// they read flat input whatever its width (tried on [f, z₂] and on z₂); 0..s−1 again on x,
// s.. on [f, z₂] and on z₂, and the heads of Z₁ values.
void plan_hierarchy(const ModelConfig& cfg, const std::vector<LayerSpec>& enc, StackTensor x,
                    ModelPlan& plan) {
  const int z1 = cfg.latent - cfg.top_latent, z2 = cfg.top_latent;
  size_t s = 0;
  while (s < enc.size() && !reads_flat({enc.begin() + s, enc.end()}, z2)) ++s;
  const std::vector<LayerSpec> head(enc.begin(), enc.begin() + s), tail(enc.begin() + s, enc.end());
  plan.q1_x = plan_stack(head, "encoder_z1", x, 0, false);
  const int features = stack_width(plan.q1_x, cfg.input_dim);
  try {
    plan.q1 = plan_stack(tail, "encoder_z1", {features + z2, 1, 1, false}, 0, false, s);
    plan.p1 = plan_stack(tail, "prior_z1", {z2, 1, 1, false}, 0, false, s);
  } catch (const Error& e) {
    throw FieldError("top_latent", std::string("the encoder's flat layers are repeated on the "
                                               "flat [features, z2] and z2, which they cannot "
                                               "read: ") +
                                       e.what());
  }
  plan_head_pair("encoder_z1", stack_width(plan.q1, features + z2), 0, z1, plan.q1_mu,
                 plan.q1_logvar);
  plan_head_pair("prior_z1", stack_width(plan.p1, z2), 0, z1, plan.p1_mu, plan.p1_logvar);
}

// The decoder's last layer gives the output: no activation, and exactly the data's size (and
// image geometry, for kinds whose output must have it).
void plan_output_layer(const ModelConfig& cfg, PlannedLayer& out) {
  out.act = false;
  out.name = "decoder.out";
  if (out.spec.kind->view)
    throw FieldError("decoder", std::string("the last layer is the output layer and cannot be a ") +
                                    out.spec.kind->type + " (it computes nothing)");
  if (out.spec.kind->output_has_data_geometry && cfg.channels > 0 &&
      (out.out_c != cfg.channels || out.out_h != cfg.height || out.out_w != cfg.width))
    throw FieldError("decoder", "gives " + geometry_text(out.out_c, out.out_h, out.out_w) +
                                    " but the data are " +
                                    geometry_text(cfg.channels, cfg.height, cfg.width));
  if (static_cast<long>(out.out_size()) != cfg.input_dim)
    throw FieldError("decoder", "gives " + std::to_string(out.out_size()) +
                                    " values per example but the data have " +
                                    std::to_string(cfg.input_dim));
}

}  // namespace

ModelPlan plan_model(const ModelConfig& cfg) {
  std::vector<LayerSpec> enc = cfg.encoder, dec = cfg.decoder;
  if (cfg.arch == Arch::Mlp) mlp_layers(cfg, enc, dec);
  StackTensor x;  // the data: an image, or D flat values
  if (cfg.channels > 0)
    x = {cfg.channels, cfg.height, cfg.width, true};
  else
    x = {cfg.input_dim, 1, 1, false};
  ModelPlan plan;
  plan.encoder = plan_stack(enc, "encoder", x, cfg.num_classes, false);
  plan_heads(cfg, plan);
  if (dec.empty()) throw FieldError("decoder", "needs at least its output layer");
  plan.decoder = plan_stack(dec, "decoder", {cfg.latent, 1, 1, false}, cfg.num_classes, true);
  plan_output_layer(cfg, plan.decoder.back());
  if (cfg.top_latent > 0) plan_hierarchy(cfg, enc, x, plan);
  return plan;
}

}  // namespace vae
