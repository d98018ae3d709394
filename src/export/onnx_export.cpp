// ONNX out (export/onnx_export.h): each network walked layer by layer from the model's plan,
// each layer a few nodes over the checkpoint's weights as initializers.
#include "export/onnx_export.h"

#include <onnx/onnx_pb.h>  // ONNX_API, then onnx-ml.pb.h (ONNX_ML=1 from the onnx_proto target)

#include <functional>
#include <map>

#include "io/fileio.h"
#include "model/plan.h"
#include "nn/layers/layer.h"
#include "vae/error.h"

namespace vae {

namespace {

constexpr int64_t kOpset = 13;
constexpr int64_t kIrVersion = 8;

// One graph being built: its nodes, initializers and a counter for fresh tensor names.
struct Graph {
  onnx::GraphProto* g;
  const Checkpoint& ckpt;
  std::map<std::string, const ParamInfo*> params;
  int next = 0;

  std::string fresh(const std::string& stem) { return stem + "_" + std::to_string(next++); }

  // A node of `op` from inputs to one new output (named after `stem`), returned.
  std::string node(const std::string& op, const std::vector<std::string>& in,
                   const std::string& stem, const std::string& out_name = "") {
    onnx::NodeProto* n = g->add_node();
    n->set_op_type(op);
    for (const std::string& i : in) n->add_input(i);
    const std::string out = out_name.empty() ? fresh(stem) : out_name;
    n->add_output(out);
    n->set_name(out + "_" + op);
    return out;
  }
  onnx::NodeProto* last() { return g->mutable_node(g->node_size() - 1); }

  // A float initializer holding `values` with `dims`.
  std::string constant(const std::string& name, const std::vector<int64_t>& dims,
                       const float* values, size_t count) {
    onnx::TensorProto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    t->set_raw_data(std::string(reinterpret_cast<const char*>(values), count * sizeof(float)));
    return name;
  }
  std::string shape_constant(const std::vector<int64_t>& dims) {
    onnx::TensorProto* t = g->add_initializer();
    const std::string name = fresh("shape");
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(dims.size()));
    for (int64_t d : dims) t->add_int64_data(d);
    return name;
  }
  // The checkpoint's tensor `name` as an initializer of that name.
  std::string weight(const std::string& name) {
    const ParamInfo& p = *params.at(name);
    return constant(name, p.shape, ckpt.params.data() + p.offset, p.numel);
  }
};

void set_int(onnx::NodeProto* n, const char* name, int64_t v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
void set_float(onnx::NodeProto* n, const char* name, float v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}
void set_ints(onnx::NodeProto* n, const char* name, const std::vector<int64_t>& v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

void add_io(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list,
            const std::string& name, int64_t width) {
  onnx::ValueInfoProto* v = list->Add();
  v->set_name(name);
  onnx::TypeProto_Tensor* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  t->mutable_shape()->add_dim()->set_dim_param("N");
  t->mutable_shape()->add_dim()->set_dim_value(width);
}

// The tensor a layer reads, and whether it is (N, C, H, W) rather than (N, F).
struct Flow {
  std::string name;
  bool image = false;
};

std::string activation(Graph& G, const std::string& in, Activation act) {
  switch (act) {
    case Activation::Relu:
      return G.node("Relu", {in}, "relu");
    case Activation::Tanh:
      return G.node("Tanh", {in}, "tanh");
    case Activation::LeakyRelu: {
      const std::string out = G.node("LeakyRelu", {in}, "leaky_relu");
      set_float(G.last(), "alpha", static_cast<float>(kLeakyReluSlope));
      return out;
    }
    case Activation::Elu: {
      const std::string out = G.node("Elu", {in}, "elu");
      set_float(G.last(), "alpha", 1.0f);
      return out;
    }
  }
  throw Error("activation has no ONNX form");
}

// (N, F) from an image tensor; a flat one as it is. Reshape (0, −1) rather than Flatten:
// OpenCV's dnn importer cannot concatenate a Flatten's output with the one-hot.
std::string flat(Graph& G, const Flow& f) {
  if (!f.image) return f.name;
  return G.node("Reshape", {f.name, G.shape_constant({0, -1})}, "flat");
}

// x flattened, with the one-hot of a conditional layer appended: what a dense-like layer reads.
std::string dense_input(Graph& G, const PlannedLayer& l, const Flow& in, const std::string& onehot) {
  const std::string x = flat(G, in);
  if (!l.cond) return x;
  const std::string out = G.node("Concat", {x, onehot}, "concat");
  set_int(G.last(), "axis", 1);
  return out;
}

// x Wᵀ + b as Gemm(x, W, b) with W (O, I) as stored, transB = 1.
std::string gemm(Graph& G, const std::string& x, const std::string& weight,
                 const std::string& bias, const std::string& out_name = "") {
  const std::string out =
      G.node("Gemm", {x, G.weight(weight), G.weight(bias)}, "dense", out_name);
  set_int(G.last(), "transB", 1);
  return out;
}

// dense (nn/layers/dense.h): y = x Wᵀ + b.
Flow dense_nodes(Graph& G, const PlannedLayer& l, const Flow& in, const std::string& onehot) {
  return {gemm(G, dense_input(G, l, in, onehot), l.name + ".weight", l.name + ".bias"), false};
}

// gated_dense (nn/layers/gated_dense.h): y = (x Wᵀ + b) ⊙ σ(x Gᵀ + c).
Flow gated_dense_nodes(Graph& G, const PlannedLayer& l, const Flow& in, const std::string& onehot) {
  const std::string x = dense_input(G, l, in, onehot);
  const std::string a = gemm(G, x, l.name + ".weight", l.name + ".bias");
  const std::string g = gemm(G, x, l.name + ".gate_weight", l.name + ".gate_bias");
  return {G.node("Mul", {a, G.node("Sigmoid", {g}, "gate")}, "gated"), false};
}

// conv and conv_transpose (nn/layers/conv.h, conv_transpose.h): Conv / ConvTranspose with square
// kernels, strides and pads.
Flow conv_like_nodes(Graph& G, const PlannedLayer& l, const Flow& in, bool transpose) {
  const LayerSpec& s = l.spec;
  const std::string out =
      G.node(transpose ? "ConvTranspose" : "Conv",
             {in.name, G.weight(l.name + ".weight"), G.weight(l.name + ".bias")}, "conv");
  onnx::NodeProto* n = G.last();
  set_ints(n, "kernel_shape", {s.kernel, s.kernel});
  set_ints(n, "strides", {s.stride, s.stride});
  set_ints(n, "pads", {s.padding, s.padding, s.padding, s.padding});
  if (transpose && s.output_padding)
    set_ints(n, "output_padding", {s.output_padding, s.output_padding});
  return {out, true};
}
Flow conv_nodes(Graph& G, const PlannedLayer& l, const Flow& in, const std::string&) {
  return conv_like_nodes(G, l, in, false);
}
Flow conv_transpose_nodes(Graph& G, const PlannedLayer& l, const Flow& in, const std::string&) {
  return conv_like_nodes(G, l, in, true);
}

// reshape (nn/layers/reshape.h): the flat values as (N, C, H, W).
Flow reshape_nodes(Graph& G, const PlannedLayer& l, const Flow& in, const std::string&) {
  const std::string shape = G.shape_constant({-1, l.out_c, l.out_h, l.out_w});
  return {G.node("Reshape", {flat(G, in), shape}, "reshape"), true};
}

// The ONNX form of each layer kind (the kind's name in the layer table, nn/layers/registry.cpp):
// a layer kind without a row here cannot be exported, and says so.
using LayerNodes = Flow (*)(Graph&, const PlannedLayer&, const Flow&, const std::string& onehot);
const std::map<std::string, LayerNodes>& onnx_forms() {
  static const std::map<std::string, LayerNodes> forms = {
      {"dense", dense_nodes},
      {"gated_dense", gated_dense_nodes},
      {"conv", conv_nodes},
      {"conv_transpose", conv_transpose_nodes},
      {"reshape", reshape_nodes},
  };
  return forms;
}

// One planned layer on `in`, and the model's activation after it where the model applies one
// (not after a view, which is its input read with another shape: src/model/vae.cpp).
Flow layer_nodes(Graph& G, const PlannedLayer& l, const Flow& in, const std::string& onehot,
                 Activation act) {
  const std::string type = layer_kind_name(l.spec.kind);
  const auto form = onnx_forms().find(type);
  if (form == onnx_forms().end()) throw Error("layer type '" + type + "' has no ONNX form");
  Flow out = form->second(G, l, in, onehot);
  if (l.act && !l.spec.kind->view) out.name = activation(G, out.name, act);
  return out;
}

// x → (x − offset) · factor [→ Clip(0, 1)]: the checkpoint's scaling at the encoder's input.
std::string scale_input(Graph& G, const std::string& x) {
  const Scaler& sc = G.ckpt.scaler;
  if (sc.identity()) return x;
  const int64_t D = static_cast<int64_t>(sc.offset.size());
  std::string y = G.node("Sub", {x, G.constant("data.offset", {D}, sc.offset.data(), D)}, "sub");
  y = G.node("Mul", {y, G.constant("data.factor", {D}, sc.factor.data(), D)}, "scaled");
  if (!sc.clamp01) return y;
  const float lo = 0, hi = 1;
  return G.node("Clip", {y, G.constant("zero", {}, &lo, 1), G.constant("one", {}, &hi, 1)}, "clip");
}

// m → m / factor + offset: decoder means back in data units.
std::string unscale_output(Graph& G, const std::string& m, const std::string& out_name) {
  const Scaler& sc = G.ckpt.scaler;
  if (sc.identity()) return G.node("Identity", {m}, "out", out_name);
  const int64_t D = static_cast<int64_t>(sc.offset.size());
  const std::string y = G.node("Div", {m, G.constant("data.factor", {D}, sc.factor.data(), D)}, "div");
  return G.node("Add", {y, G.constant("data.offset", {D}, sc.offset.data(), D)}, "add", out_name);
}

void build_encoder(Graph& G, const ModelPlan& plan) {
  const ModelConfig& cfg = G.ckpt.model;
  add_io(G.g->mutable_input(), "x", cfg.input_dim);
  const std::string onehot = cfg.num_classes > 0 ? "y" : "";
  if (!onehot.empty()) add_io(G.g->mutable_input(), "y", cfg.num_classes);
  Flow f{scale_input(G, "x"), false};
  if (cfg.channels > 0) {
    const std::string shape = G.shape_constant({-1, cfg.channels, cfg.height, cfg.width});
    f = {G.node("Reshape", {f.name, shape}, "image"), true};
  }
  for (const PlannedLayer& l : plan.encoder) f = layer_nodes(G, l, f, onehot, cfg.activation);
  for (const auto& [head, name] : {std::pair(&plan.mu_head, "mu"), {&plan.logvar_head, "logvar"}})
    gemm(G, dense_input(G, *head, f, onehot), head->name + ".weight", head->name + ".bias", name);
  add_io(G.g->mutable_output(), "mu", cfg.latent);
  add_io(G.g->mutable_output(), "logvar", cfg.latent);
}

void build_decoder(Graph& G, const ModelPlan& plan, bool logits) {
  const ModelConfig& cfg = G.ckpt.model;
  add_io(G.g->mutable_input(), "z", cfg.latent);
  const std::string onehot = cfg.num_classes > 0 ? "y" : "";
  if (!onehot.empty()) add_io(G.g->mutable_input(), "y", cfg.num_classes);
  Flow f{"z", false};
  for (const PlannedLayer& l : plan.decoder) f = layer_nodes(G, l, f, onehot, cfg.activation);
  const std::string out = flat(G, f);
  if (logits) {
    G.node("Identity", {out}, "out", "logits");
  } else {
    const bool sigmoid = cfg.likelihood == Likelihood::Bernoulli;
    unscale_output(G, sigmoid ? G.node("Sigmoid", {out}, "sigmoid") : out, "mean");
  }
  add_io(G.g->mutable_output(), logits ? "logits" : "mean", cfg.input_dim);
}

void write_model(const Checkpoint& ckpt, const std::vector<ParamInfo>& table,
                 const std::string& path, const std::string& name,
                 const std::function<void(Graph&)>& build) {
  onnx::ModelProto m;
  m.set_ir_version(kIrVersion);
  m.set_producer_name("vae.cpp");
  m.set_model_version(1);
  onnx::OperatorSetIdProto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(kOpset);
  Graph G{m.mutable_graph(), ckpt, {}, 0};
  G.g->set_name(name);
  for (const ParamInfo& p : table) G.params[p.name] = &p;
  build(G);
  std::string bytes;
  if (!m.SerializeToString(&bytes)) throw Error(path + ": cannot serialise the ONNX model");
  write_file_atomic(path, bytes);
}

}  // namespace

bool onnx_export_available() { return true; }

OnnxFiles export_onnx(const Checkpoint& ckpt, const std::string& dir, bool logits) {
  if (ckpt.model.top_latent > 0)
    throw FieldError("top_latent", "a two-layer model has no ONNX form here (the encoder graph "
                                   "gives one Gaussian, x -> mu, logvar; q(z1|x, z2) needs z2)");
  const ModelPlan plan = plan_model(ckpt.model);
  const std::vector<ParamInfo> table = param_table(ckpt.model);
  OnnxFiles files{dir + "/encoder.onnx", dir + "/decoder.onnx"};
  write_model(ckpt, table, files.encoder, "encoder",
              [&](Graph& G) { build_encoder(G, plan); });
  write_model(ckpt, table, files.decoder, "decoder",
              [&](Graph& G) { build_decoder(G, plan, logits); });
  return files;
}

}  // namespace vae
