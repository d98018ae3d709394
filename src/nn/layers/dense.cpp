// The dense layer kind (nn/layers/dense.h).
#include "nn/layers/dense.h"

#include "vae/nn.h"

namespace vae {

void dense_read(LayerSpec& s, const nlohmann::json& j, const std::string& at) {
  s.units = read_layer_int(j, "units", at);
}

void dense_write(const LayerSpec& s, nlohmann::json& j) { j["units"] = s.units; }

std::string dense_token(const LayerSpec& s) { return "d" + std::to_string(s.units); }

bool dense_plan(PlannedLayer& l, bool, const std::string& at) {
  check_layer_range(at, "units", l.spec.units, 1, 1 << 16);
  l.in_c = static_cast<int>(l.in_size());  // flatten: NCHW rows are already (B, C·H·W)
  l.in_h = l.in_w = 1;
  l.out_c = l.spec.units;
  l.out_h = l.out_w = 1;
  return false;
}

namespace {

std::vector<LayerParam> dense_params(const PlannedLayer& l) {
  return {{"weight", {l.out_c, l.in_c + l.cond}}, {"bias", {l.out_c}}};
}

// x (rows, I + Y), W (O, I + Y) then b (O) at params, y (rows, O).
template <class T>
void dense_forward(T* y, T*, const T* x, const T* params, const PlannedLayer& l, int rows, T*) {
  const int I = l.in_c + l.cond, O = l.out_c;
  linear_forward(y, x, params, params + static_cast<size_t>(O) * I, rows, I, O);
}

template <class T>
void dense_backward(T* dx, T* dparams, const T* dy, const T*, const T* x, const T* params,
                    const PlannedLayer& l, int rows, T*) {
  const int I = l.in_c + l.cond, O = l.out_c;
  linear_backward(dx, dparams, dparams + static_cast<size_t>(O) * I, dy, x, params, rows, I, O);
}

}  // namespace

const LayerKind kDenseKind = {
    "dense",
    "dense (units): fully connected, y = x W^T + b (torch.nn.Linear); flattens an image input",
    R"({"type": "dense", "units": 256})",
    {"units", nullptr},
    /*view=*/false,
    /*takes_one_hot=*/true,
    /*output_has_data_geometry=*/false,
    /*self_activated=*/false,
    dense_read,
    dense_write,
    dense_token,
    dense_plan,
    dense_params,
    no_layer_scratch,
    no_layer_saved,
    {dense_forward<float>, dense_backward<float>},
    {dense_forward<double>, dense_backward<double>},
};

LayerSpec dense_layer(int units) {
  LayerSpec s;
  s.kind = &kDenseKind;
  s.units = units;
  return s;
}

}  // namespace vae
