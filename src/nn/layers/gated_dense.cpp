// The gated dense layer kind (nn/layers/gated_dense.h).
#include "nn/layers/gated_dense.h"

#include "model/losses.h"
#include "nn/layers/dense.h"
#include "vae/nn.h"

namespace vae {

namespace {

std::string gated_dense_token(const LayerSpec& s) { return "g" + std::to_string(s.units); }

std::vector<LayerParam> gated_dense_params(const PlannedLayer& l) {
  const int64_t O = l.out_c, I = l.in_c + l.cond;
  return {{"weight", {O, I}}, {"bias", {O}}, {"gate_weight", {O, I}}, {"gate_bias", {O}}};
}

size_t gated_dense_scratch(const PlannedLayer& l, int rows) {
  return 2 * static_cast<size_t>(rows) * l.out_size();
}

size_t gated_dense_saved(const PlannedLayer& l) { return 2 * l.out_size(); }

// The four tensors of the flat parameter buffer, in gated_dense_params' order.
template <class T>
struct GatedParams {
  const T *w, *b, *gw, *gb;
};

template <class T>
GatedParams<T> gated_params(const T* p, int I, int O) {
  const size_t wn = static_cast<size_t>(O) * I;
  return {p, p + wn, p + wn + O, p + 2 * wn + O};
}

// x (rows, I + Y); saved = [a (rows, O), s (rows, O)]; y (rows, O).
template <class T>
void gated_dense_forward(T* y, T* saved, const T* x, const T* params, const PlannedLayer& l,
                         int rows, T*) {
  const int I = l.in_c + l.cond, O = l.out_c;
  const size_t n = static_cast<size_t>(rows) * O;
  const GatedParams<T> p = gated_params(params, I, O);
  T* a = saved;      // (rows, O)
  T* s = saved + n;  // (rows, O)
  linear_forward(a, x, p.w, p.b, rows, I, O);
  linear_forward(s, x, p.gw, p.gb, rows, I, O);
  sigmoid_forward(s, s, n);
  for (size_t i = 0; i < n; ++i) y[i] = a[i] * s[i];
}

template <class T>
void gated_dense_backward(T* dx, T* dparams, const T* dy, const T* saved, const T* x,
                          const T* params, const PlannedLayer& l, int rows, T* scratch) {
  const int I = l.in_c + l.cond, O = l.out_c;
  const size_t n = static_cast<size_t>(rows) * O, wn = static_cast<size_t>(O) * I;
  const GatedParams<T> p = gated_params(params, I, O);
  const T* a = saved;      // (rows, O)
  const T* s = saved + n;  // (rows, O)
  T* da = scratch;         // (rows, O)
  T* dg = scratch + n;     // (rows, O)
  for (size_t i = 0; i < n; ++i) {
    da[i] = dy[i] * s[i];
    dg[i] = dy[i] * a[i] * s[i] * (T(1) - s[i]);
  }
  T* dw = dparams;  // the gradient buffer has the parameters' layout
  linear_backward(dx, dw, dw + wn, da, x, p.w, rows, I, O);
  linear_backward(dx, dw + wn + O, dw + 2 * wn + O, dg, x, p.gw, rows, I, O);
}

}  // namespace

const LayerKind kGatedDenseKind = {
    "gated_dense",
    "gated_dense (units): y = (x W^T + b) * sigmoid(x G^T + c), no activation after it; "
    "flattens an image input",
    R"({"type": "gated_dense", "units": 300})",
    {"units", nullptr},
    /*view=*/false,
    /*takes_one_hot=*/true,
    /*output_has_data_geometry=*/false,
    /*self_activated=*/true,
    dense_read,
    dense_write,
    gated_dense_token,
    dense_plan,
    gated_dense_params,
    gated_dense_scratch,
    gated_dense_saved,
    {gated_dense_forward<float>, gated_dense_backward<float>},
    {gated_dense_forward<double>, gated_dense_backward<double>},
};

LayerSpec gated_dense_layer(int units) {
  LayerSpec s;
  s.kind = &kGatedDenseKind;
  s.units = units;
  return s;
}

}  // namespace vae
