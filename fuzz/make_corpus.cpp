// Writes the seed corpora of the fuzz harnesses: small valid files of each kind, most of them
// made by the project's own writers (write_npy, write_png, to_safetensors_bytes,
// save_checkpoint, the to_json of the configs and of EpochMetrics), so the seeds are what the
// toolkit really produces.
//   fuzz_make_corpus OUT_DIR     writes OUT_DIR/<target>/<name> for every harness
// scripts/fuzz.sh --make-corpus regenerates fuzz/corpus with it; every file stays under 20 KB.
#include <cstdio>
// <cstdio> comes first: jpeglib.h needs FILE and size_t declared before it.
#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "io/fileio.h"
#include "io/png.h"
#include "io/safetensors.h"
#include "vae/checkpoint.h"
#include "vae/model.h"
#include "vae/npy.h"
#include "vae/trainer.h"

namespace {

namespace fs = std::filesystem;

std::string g_out;  // OUT_DIR

std::string target_dir(const std::string& target) {
  const std::string dir = g_out + "/" + target;
  fs::create_directories(dir);
  return dir;
}

void put(const std::string& target, const std::string& name, const std::string& bytes) {
  std::ofstream f(target_dir(target) + "/" + name, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) {
    std::fprintf(stderr, "make_corpus: cannot write %s/%s\n", target.c_str(), name.c_str());
    std::exit(1);
  }
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// ---- IDX ----

void put_be(std::string& s, uint64_t v, int bytes) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8)
    s.push_back(static_cast<char>((v >> shift) & 0xFF));
}

std::string idx_header(uint8_t type, const std::vector<uint32_t>& dims) {
  std::string s = {'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) put_be(s, d, 4);
  return s;
}

std::string gzip(const std::string& data) {
  z_stream zs{};
  deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, data.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

void make_idx() {
  // MNIST-shaped: 3 images of 4x4 u8, and their labels.
  std::string images = idx_header(0x08, {3, 4, 4});
  for (int i = 0; i < 3 * 16; ++i) images.push_back(static_cast<char>(i * 37 % 256));
  std::string labels = idx_header(0x08, {3});
  labels += std::string{'\x07', '\x00', '\x09'};
  put("idx", "images-u8-idx3-ubyte", images);
  put("idx", "labels-u8-idx1-ubyte", labels);
  put("idx", "images-u8-idx3-ubyte.gz", gzip(images));
  put("idx", "labels-u8-idx1-ubyte.gz", gzip(labels));
  // `cat a.gz b.gz`: two members read as one stream.
  put("idx", "two-members.gz", gzip(images.substr(0, 10)) + gzip(images.substr(10)));

  std::string i8 = idx_header(0x09, {2, 3});
  for (int v : {-128, -1, 0, 1, 100, 127}) i8.push_back(static_cast<char>(v));
  put("idx", "i8-idx2", i8);
  std::string i16 = idx_header(0x0B, {4});
  for (int v : {-32768, -1, 256, 32767}) put_be(i16, static_cast<uint16_t>(v), 2);
  put("idx", "i16-idx1", i16);
  std::string i32 = idx_header(0x0C, {2, 2});
  for (int64_t v : {-2147483648LL, -1LL, 16777217LL, 2147483647LL})
    put_be(i32, static_cast<uint32_t>(v), 4);
  put("idx", "i32-idx2", i32);
  std::string f32 = idx_header(0x0D, {1, 2, 2});
  for (float v : {0.0f, 0.5f, 1.0f, -3.25e-5f}) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    put_be(f32, bits, 4);
  }
  put("idx", "f32-idx3", f32);
  std::string f64 = idx_header(0x0E, {3});
  for (double v : {0.0, 0.25, 1e30}) {
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    put_be(f64, bits, 8);
  }
  put("idx", "f64-idx1.gz", gzip(f64));
  put("idx", "empty-dim-idx2", idx_header(0x08, {0, 5}));
}

// ---- CSV ----

void make_csv() {
  put("csv", "header.csv", "a,b,label\n0.5,1,0\n-2,3e-2,1\n4,5.25,2\n");
  put("csv", "no-header.csv", "1,2,3\n4,5,6\n");
  put("csv", "quoted-crlf.csv",
      "\xEF\xBB\xBF\"x 1\",\"say \"\"hi\"\"\",label\r\n\"1\", 2 ,3\r\n\r\n+4,-5.5E+2,0\r\n");
  put("csv", "blank-lines.csv", "\n  \nlabel,v\n1,0.125\n\t\n0,1e-400\n");
  put("csv", "one-column.csv", "7\n8\n9");
}

// ---- NPY ----

// A .npy file with any dtype: header dict as NumPy writes it, padded to 64 bytes.
std::string npy_bytes(const std::string& descr, const std::string& shape, const std::string& data,
                      int major = 1) {
  const std::string dict =
      "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  const size_t prefix = major == 1 ? 10 : 12;
  const size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  const size_t hlen = total - prefix;
  std::string s = "\x93NUMPY";
  s.push_back(static_cast<char>(major));
  s.push_back('\0');
  for (size_t i = 0; i < prefix - 8; ++i) s.push_back(static_cast<char>((hlen >> (8 * i)) & 0xFF));
  s += dict;
  s.append(hlen - dict.size() - 1, ' ');
  s += '\n';
  return s + data;
}

template <typename T>
std::string le_bytes(const std::vector<T>& v) {
  std::string s(v.size() * sizeof(T), '\0');
  std::memcpy(s.data(), v.data(), s.size());  // the host is little-endian (x86-64)
  return s;
}

void make_npy(const std::string& tmp) {
  // write_npy: '<f4', as `vae encode` writes it.
  const float table[6] = {0.f, 1.f, 2.5f, -1.f, 1e-3f, 3.f};
  vae::write_npy(tmp + "/t.npy", table, {2, 3});
  put("npy", "f4-table.npy", slurp(tmp + "/t.npy"));
  std::vector<float> rgb(2 * 3 * 3 * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<float>(i % 7) / 6.f;
  vae::write_npy(tmp + "/rgb.npy", rgb.data(), {2, 3, 3, 3});
  put("npy", "f4-rgb-images.npy", slurp(tmp + "/rgb.npy"));

  std::string u8;
  for (int i = 0; i < 2 * 4 * 4; ++i) u8.push_back(static_cast<char>(i * 8));
  put("npy", "u1-grey-images.npy", npy_bytes("|u1", "(2, 4, 4)", u8));
  put("npy", "i1-table.npy",
      npy_bytes("|i1", "(3, 2)", std::string("\x80\xff\x00\x01\x7f\x10", 6)));
  put("npy", "i4-table.npy", npy_bytes("<i4", "(2, 2)", le_bytes<int32_t>({-5, 0, 7, 1 << 30})));
  put("npy", "i8-table.npy", npy_bytes("<i8", "(1, 3)", le_bytes<int64_t>({-1, 2, 1LL << 40})));
  put("npy", "f8-rgba-images.npy",
      npy_bytes("<f8", "(1, 1, 2, 4)", le_bytes<double>({0, .25, .5, 1, 1, .5, .25, 0})));
  put("npy", "f8-v2-table.npy", npy_bytes("<f8", "(2, 1)", le_bytes<double>({1.5, -2}), 2));
  put("npy", "f4-v3-1d.npy", npy_bytes("<f4", "(3,)", le_bytes<float>({1, 2, 3}), 3));
  put("npy", "f4-scalar.npy", npy_bytes("<f4", "()", le_bytes<float>({42})));
}

// ---- Images ----

// A PNG written through libpng directly, for the layouts write_png does not make.
void png_direct(const std::string& path, int width, int height, int bit_depth, int color,
                int interlace, const std::vector<uint8_t>& raw) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) std::exit(1);
  png_init_io(png, f);
  png_set_IHDR(png, info, width, height, bit_depth, color, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (color == PNG_COLOR_TYPE_PALETTE) {
    png_color palette[4] = {{0, 0, 0}, {255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
    png_set_PLTE(png, info, palette, 4);
    png_byte alpha[2] = {0, 128};
    png_set_tRNS(png, info, alpha, 2, nullptr);
  }
  png_write_info(png, info);
  const size_t row_bytes = raw.size() / static_cast<size_t>(height);
  const int passes = interlace == PNG_INTERLACE_ADAM7 ? png_set_interlace_handling(png) : 1;
  for (int pass = 0; pass < passes; ++pass) {
    for (int y = 0; y < height; ++y)
      png_write_row(png, const_cast<png_bytep>(raw.data() + static_cast<size_t>(y) * row_bytes));
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(f);
}

std::string jpeg_bytes(int width, int height, int components, bool progressive) {
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  c.image_width = width;
  c.image_height = height;
  c.input_components = components;
  c.in_color_space = components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 75, TRUE);
  if (progressive) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  std::vector<uint8_t> row(static_cast<size_t>(width) * components);
  while (c.next_scanline < c.image_height) {
    for (size_t i = 0; i < row.size(); ++i)
      row[i] = static_cast<uint8_t>((i * 29 + c.next_scanline * 53) % 256);
    JSAMPROW r = row.data();
    jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::string out(reinterpret_cast<char*>(buf), size);
  std::free(buf);
  return out;
}

void make_image(const std::string& tmp) {
  for (int channels : {1, 3, 4}) {
    vae::Image img;
    img.width = 5;
    img.height = 3;
    img.channels = channels;
    for (int i = 0; i < 5 * 3 * channels; ++i) img.pixels.push_back(static_cast<uint8_t>(i * 17));
    const std::string path = tmp + "/img.png";
    vae::write_png(path, img);
    put("image", "c" + std::to_string(channels) + "-5x3.png", slurp(path));
  }
  const std::string path = tmp + "/direct.png";
  png_direct(path, 4, 2, 8, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_INTERLACE_NONE,
             {0, 255, 50, 128, 100, 0, 150, 255, 200, 255, 250, 1, 10, 20, 30, 40});
  put("image", "grey-alpha-4x2.png", slurp(path));
  png_direct(path, 4, 2, 2, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, {0x1B, 0xE4});
  put("image", "palette-trns-2bit-4x2.png", slurp(path));
  png_direct(path, 3, 3, 16, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_ADAM7,
             {0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 255, 255});
  put("image", "grey16-adam7-3x3.png", slurp(path));
  png_direct(path, 8, 1, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, {0xA5});
  put("image", "grey1bit-8x1.png", slurp(path));

  put("image", "grey-8x8.jpg", jpeg_bytes(8, 8, 1, false));
  put("image", "rgb-9x7.jpg", jpeg_bytes(9, 7, 3, false));
  put("image", "rgb-progressive-16x8.jpg", jpeg_bytes(16, 8, 3, true));
}

// ---- safetensors, checkpoints, configs ----

vae::Checkpoint tiny_checkpoint(bool with_optim, bool with_scaler) {
  vae::Checkpoint c;
  c.model.input_dim = 4;
  c.model.hidden = {3};
  c.model.latent = 2;
  c.model.height = 2;
  c.model.width = 2;
  c.model.channels = 1;
  c.train.data.data = "fashion-mnist";
  c.train.epochs = 2;
  c.state.epoch = 1;
  c.state.step = 7;
  c.state.best_test_loss = 12.5;
  c.state.best_epoch = 1;
  c.state.rng = {0x0123456789abcdefULL, 1, 2, 0xffffffffffffffffULL};
  const size_t p = vae::param_count(c.model);
  for (size_t i = 0; i < p; ++i) c.params.push_back(std::sin(static_cast<float>(i)) * 0.1f);
  if (with_optim) {
    c.adam_m.assign(p, 0.01f);
    c.adam_v.assign(p, 0.0001f);
    c.adam_step = 7;
  }
  if (with_scaler) {
    c.model.likelihood = vae::Likelihood::Gaussian;
    c.model.channels = 0;
    c.model.height = c.model.width = 0;
    c.train.data.data = "table.csv";
    c.train.data.scale = vae::Scale::Standardize;
    c.train.data.label_column = "label";
    c.train.kl_warmup = vae::parse_kl_warmup("linear:3");
    c.scaler.kind = vae::ScalerKind::Standardize;
    c.scaler.offset = {0.5f, -1.f, 2.f, 0.f};
    c.scaler.factor = {2.f, 1.f, 0.25f, 1.f};
  }
  return c;
}

void make_safetensors_and_checkpoints(const std::string& tmp) {
  vae::SafeTensors st;
  st.metadata = {{"format", "pt"}, {"note", "x"}};
  const float f[6] = {1, 2, 3, 4, 5, 6};
  st.add_f32("weight", {2, 3}, f);
  const int64_t i[1] = {42};
  st.add_i64("step", {}, i);
  st.add_f32("empty", {0, 4}, nullptr);
  vae::TensorEntry u8;
  u8.name = "bytes";
  u8.dtype = vae::DType::U8;
  u8.shape = {3};
  u8.data = {1, 2, 255};
  st.tensors.push_back(u8);
  vae::TensorEntry f64;
  f64.name = "double";
  f64.dtype = vae::DType::F64;
  f64.shape = {1};
  f64.data.assign(8, 0);
  st.tensors.push_back(f64);
  vae::TensorEntry i32;
  i32.name = "int";
  i32.dtype = vae::DType::I32;
  i32.shape = {1, 1};
  i32.data = {7, 0, 0, 0};
  st.tensors.push_back(i32);
  put("safetensors", "dtypes.safetensors", vae::to_safetensors_bytes(st));
  put("safetensors", "empty.safetensors", vae::to_safetensors_bytes(vae::SafeTensors{}));

  const std::string path = tmp + "/ckpt.safetensors";
  int k = 0;
  for (bool optim : {false, true}) {
    for (bool scaler : {false, true}) {
      const vae::Checkpoint c = tiny_checkpoint(optim, scaler);
      vae::save_checkpoint(path, c);
      const std::string name =
          std::string("tiny") + (optim ? "-adam" : "") + (scaler ? "-scaled" : "") + ".safetensors";
      put("checkpoint", name, slurp(path));
      if (k++ == 0) put("safetensors", name, slurp(path));
      if (optim) continue;  // the configs do not depend on the optimiser state
      const std::string kind = scaler ? "-table" : "-images";
      put("config_json", "model" + kind + ".json", c.model.to_json());
      put("config_json", "train_options" + kind + ".json", c.train.to_json());
      put("config_json", "train_state" + kind + ".json", c.state.to_json());
    }
  }
  // A config with no hidden layer and a state before any finished epoch (best_test_loss null).
  vae::ModelConfig linear;
  linear.hidden = {};
  linear.activation = vae::Activation::Tanh;
  put("config_json", "model-linear.json", linear.to_json());
  put("config_json", "train_state-fresh.json", vae::TrainState{}.to_json());
}

// ---- metrics.jsonl ----

void make_metrics() {
  std::string test_lines, val_lines;
  for (int64_t epoch : {1, 2}) {
    vae::EpochMetrics m;
    m.epoch = epoch;
    m.train_loss = 300.5 / epoch;
    m.train_recon = 280.25 / epoch;
    m.train_kl = 20.25;
    m.train_objective = m.train_loss;
    m.test_loss = 310.0 / epoch;
    m.test_recon = 290.0 / epoch;
    m.test_kl = 20.0;
    m.examples_per_s = 12345.6;
    m.seconds = 4.5;
    test_lines += m.to_json() + "\n";
    m.on_val = true;
    val_lines += m.to_json() + "\n";
  }
  put("metrics", "test.jsonl", test_lines);
  put("metrics", "val.jsonl", val_lines);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_corpus OUT_DIR\n");
    return 2;
  }
  g_out = argv[1];
  const std::string tmp = g_out + "/.tmp";
  fs::create_directories(tmp);
  try {
    make_idx();
    make_csv();
    make_npy(tmp);
    make_image(tmp);
    make_safetensors_and_checkpoints(tmp);
    make_metrics();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_corpus: %s\n", e.what());
    return 1;
  }
  fs::remove_all(tmp);
  return 0;
}
