// The conv_transpose layer kind (nn/layers/conv_transpose.h).
#include "nn/layers/conv_transpose.h"

#include "nn/layers/conv.h"

namespace vae {

namespace {

void conv_transpose_write(const LayerSpec& s, nlohmann::json& j) {
  write_conv_fields(s, j);
  j["output_padding"] = s.output_padding;
}

std::string conv_transpose_token(const LayerSpec& s) { return conv_token("convT", s); }

bool conv_transpose_plan(PlannedLayer& l, bool image, const std::string& at) {
  check_conv_fields(l, image, at);
  check_layer_range(at, "output_padding", l.spec.output_padding, 0, l.spec.stride - 1);
  l.out_c = l.spec.units;
  const ConvShape cs = conv_shape(l, 1);
  l.out_h = conv_transpose2d_h_out(cs);
  l.out_w = conv_transpose2d_w_out(cs);
  if (l.out_h < 1 || l.out_w < 1)
    layer_error(
        at, "",
        "the output of a " + geometry_text(l.in_c, l.in_h, l.in_w) + " input would be empty");
  return true;
}

std::vector<LayerParam> conv_transpose_params(const PlannedLayer& l) {
  return {{"weight", {l.in_c, l.out_c, l.spec.kernel, l.spec.kernel}}, {"bias", {l.out_c}}};
}

size_t conv_transpose_scratch(const PlannedLayer& l, int rows) {
  return conv_transpose2d_scratch_size(conv_shape(l, rows));
}

// x (rows, C, H, W), W (C, O, K, K) then b (O) at params, y (rows, O, H_out, W_out).
template <class T>
void conv_transpose_forward(T* y, T*, const T* x, const T* params, const PlannedLayer& l, int rows,
                            T* scratch) {
  const ConvShape s = conv_shape(l, rows);
  conv_transpose2d_forward(y, x, params, params + conv_weight_size(s), s, scratch);
}

template <class T>
void conv_transpose_backward(T* dx, T* dparams, const T* dy, const T*, const T* x, const T* params,
                             const PlannedLayer& l, int rows, T* scratch) {
  const ConvShape s = conv_shape(l, rows);
  conv_transpose2d_backward(dx, dparams, dparams + conv_weight_size(s), dy, x, params, s, scratch);
}

}  // namespace

const LayerKind kConvTransposeKind = {
    "conv_transpose",
    "conv_transpose (channels, kernel, stride = 1, padding = 0, output_padding = 0): transposed "
    "2-d convolution (torch.nn.ConvTranspose2d)",
    R"({"type": "conv_transpose", "channels": 1, "kernel": 3, "stride": 2, "padding": 1,)"
    R"( "output_padding": 1})",
    {"channels", "kernel", "stride", "padding", "output_padding", nullptr},
    /*view=*/false,
    /*takes_one_hot=*/false,
    /*output_has_data_geometry=*/true,
    /*self_activated=*/false,
    read_conv_fields,
    conv_transpose_write,
    conv_transpose_token,
    conv_transpose_plan,
    conv_transpose_params,
    conv_transpose_scratch,
    no_layer_saved,
    {conv_transpose_forward<float>, conv_transpose_backward<float>},
    {conv_transpose_forward<double>, conv_transpose_backward<double>},
};

LayerSpec conv_transpose_layer(int channels, int kernel, int stride, int padding,
                               int output_padding) {
  LayerSpec s = conv_layer(channels, kernel, stride, padding);
  s.kind = &kConvTransposeKind;
  s.output_padding = output_padding;
  return s;
}

}  // namespace vae
