// The conv layer kind (nn/layers/conv.h).
#include "nn/layers/conv.h"

namespace vae {

ConvShape conv_shape(const PlannedLayer& l, int rows) {
  ConvShape s;
  s.N = rows;
  s.C_in = l.in_c;
  s.H = l.in_h;
  s.W = l.in_w;
  s.C_out = l.out_c;
  s.K = l.spec.kernel;
  s.S = l.spec.stride;
  s.P = l.spec.padding;
  s.OP = l.spec.output_padding;
  return s;
}

size_t conv_weight_size(const ConvShape& s) {
  return static_cast<size_t>(s.C_in) * s.C_out * s.K * s.K;
}

void read_conv_fields(LayerSpec& s, const nlohmann::json& j, const std::string& at) {
  s.units = read_layer_int(j, "channels", at);
  s.kernel = read_layer_int(j, "kernel", at);
  s.stride = read_layer_int_or(j, "stride", at, s.stride);
  s.padding = read_layer_int_or(j, "padding", at, s.padding);
  s.output_padding = read_layer_int_or(j, "output_padding", at, s.output_padding);
}

void write_conv_fields(const LayerSpec& s, nlohmann::json& j) {
  j["channels"] = s.units;
  j["kernel"] = s.kernel;
  j["stride"] = s.stride;
  j["padding"] = s.padding;
}

std::string conv_token(const char* prefix, const LayerSpec& s) {
  return prefix + std::to_string(s.units) + "k" + std::to_string(s.kernel) + "s" +
         std::to_string(s.stride);
}

void check_conv_fields(const PlannedLayer& l, bool image, const std::string& at) {
  require_image_input(l, image, at);
  check_layer_range(at, "channels", l.spec.units, 1, 4096);
  check_layer_range(at, "kernel", l.spec.kernel, 1, 64);
  check_layer_range(at, "stride", l.spec.stride, 1, 64);
  check_layer_range(at, "padding", l.spec.padding, 0, 64);
}

namespace {

std::string conv_token_of(const LayerSpec& s) { return conv_token("conv", s); }

bool conv_plan(PlannedLayer& l, bool image, const std::string& at) {
  check_conv_fields(l, image, at);
  const LayerSpec& s = l.spec;
  if (s.output_padding != 0)
    layer_error(at, "output_padding", "only conv_transpose layers take output_padding");
  if (l.in_h + 2 * s.padding < s.kernel || l.in_w + 2 * s.padding < s.kernel)
    layer_error(at, "kernel",
                "the kernel (" + std::to_string(s.kernel) + ") is larger than the padded " +
                    geometry_text(l.in_c, l.in_h, l.in_w) + " input");
  l.out_c = s.units;
  const ConvShape cs = conv_shape(l, 1);
  l.out_h = conv2d_h_out(cs);
  l.out_w = conv2d_w_out(cs);
  return true;
}

std::vector<LayerParam> conv_params(const PlannedLayer& l) {
  return {{"weight", {l.out_c, l.in_c, l.spec.kernel, l.spec.kernel}}, {"bias", {l.out_c}}};
}

size_t conv_scratch(const PlannedLayer& l, int rows) {
  return conv2d_scratch_size(conv_shape(l, rows));
}

// x (rows, C, H, W), W (O, C, K, K) then b (O) at params, y (rows, O, H_out, W_out).
template <class T>
void conv_forward(T* y, T*, const T* x, const T* params, const PlannedLayer& l, int rows,
                  T* scratch) {
  const ConvShape s = conv_shape(l, rows);
  conv2d_forward(y, x, params, params + conv_weight_size(s), s, scratch);
}

template <class T>
void conv_backward(T* dx, T* dparams, const T* dy, const T*, const T* x, const T* params,
                   const PlannedLayer& l, int rows, T* scratch) {
  const ConvShape s = conv_shape(l, rows);
  conv2d_backward(dx, dparams, dparams + conv_weight_size(s), dy, x, params, s, scratch);
}

}  // namespace

const LayerKind kConvKind = {
    "conv",
    "conv (channels, kernel, stride = 1, padding = 0): 2-d convolution (torch.nn.Conv2d)",
    R"({"type": "conv", "channels": 32, "kernel": 4, "stride": 2, "padding": 1})",
    {"channels", "kernel", "stride", "padding", nullptr},
    /*view=*/false,
    /*takes_one_hot=*/false,
    /*output_has_data_geometry=*/false,
    /*self_activated=*/false,
    read_conv_fields,
    write_conv_fields,
    conv_token_of,
    conv_plan,
    conv_params,
    conv_scratch,
    no_layer_saved,
    {conv_forward<float>, conv_backward<float>},
    {conv_forward<double>, conv_backward<double>},
};

LayerSpec conv_layer(int channels, int kernel, int stride, int padding) {
  LayerSpec s;
  s.kind = &kConvKind;
  s.units = channels;
  s.kernel = kernel;
  s.stride = stride;
  s.padding = padding;
  return s;
}

}  // namespace vae
