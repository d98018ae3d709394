// PNG (ISO/IEC 15948, https://www.w3.org/TR/png/) through libpng 1.6: an 8-byte signature, then
// chunks (length, type, data, CRC): IHDR (size, bit depth, colour type), optional PLTE/tRNS,
// IDAT (the zlib-compressed, per-row filtered pixels) and IEND. The writer emits 8-bit grey, RGB
// or RGBA; the reader decodes anything libpng does and hands back 8 bits per channel.
//
// libpng reports errors by longjmp to the jmp_buf of the png struct. longjmp must not cross a
// C++ frame holding objects with destructors, so every libpng call runs inside a small function
// that owns nothing (write_image, read_header, read_rows) and whose setjmp turns the jump into
// `false`; the png structs and all buffers belong to the caller, which frees them by RAII and
// throws vae::Error.
#include "io/png.h"

#include <cerrno>
#include <png.h>

#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>

#include "io/fileio.h"
#include "vae/error.h"

namespace vae {
namespace {

// libpng's message for the failure, kept for the vae::Error.
struct PngMessage {
  char text[200] = "unknown libpng error";
};

void on_png_error(png_structp png, png_const_charp msg) {
  auto* m = static_cast<PngMessage*>(png_get_error_ptr(png));
  std::snprintf(m->text, sizeof m->text, "%s", msg);
  png_longjmp(png, 1);
}

// Warnings (an odd sRGB profile, a bad ancillary chunk) leave a usable image: not worth a line
// on stderr from a library.
void on_png_warning(png_structp, png_const_charp) {}

class PngWriter {
 public:
  PngWriter() {
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &message, on_png_error, on_png_warning);
    if (png) info = png_create_info_struct(png);
  }
  ~PngWriter() { png_destroy_write_struct(&png, &info); }
  PngWriter(const PngWriter&) = delete;
  PngWriter& operator=(const PngWriter&) = delete;

  PngMessage message;
  png_structp png = nullptr;
  png_infop info = nullptr;
};

// The header and the rows, to wherever w's output was pointed. A libpng error long-jumps to the
// caller's setjmp.
void write_header_and_rows(PngWriter& w, const Image& img, png_bytep* rows) {
  const int color = img.channels == 1   ? PNG_COLOR_TYPE_GRAY
                    : img.channels == 3 ? PNG_COLOR_TYPE_RGB
                                        : PNG_COLOR_TYPE_RGB_ALPHA;
  png_set_IHDR(w.png, w.info, static_cast<png_uint_32>(img.width),
               static_cast<png_uint_32>(img.height), 8, color, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(w.png, w.info);
  png_write_image(w.png, rows);
  png_write_end(w.png, nullptr);
}

bool write_image(PngWriter& w, std::FILE* fp, const Image& img, png_bytep* rows) {
  if (setjmp(png_jmpbuf(w.png))) return false;
  png_init_io(w.png, fp);
  write_header_and_rows(w, img, rows);
  return true;
}

// A PNG written into memory: libpng hands each piece of the file to append_to_string.
void append_to_string(png_structp png, png_bytep data, size_t n) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<const char*>(data), n);
}
void flush_nothing(png_structp) {}

bool write_image_to_memory(PngWriter& w, std::string* out, const Image& img, png_bytep* rows) {
  if (setjmp(png_jmpbuf(w.png))) return false;
  png_set_write_fn(w.png, out, append_to_string, flush_nothing);
  write_header_and_rows(w, img, rows);
  return true;
}

// The whole file in memory: libpng reads from it through read_from_memory, which raises a libpng
// error instead of reading past the end.
struct MemorySource {
  const unsigned char* data;
  size_t size;
  size_t pos;
};

void read_from_memory(png_structp png, png_bytep out, size_t n) {
  auto* src = static_cast<MemorySource*>(png_get_io_ptr(png));
  if (n > src->size - src->pos) png_error(png, "file is truncated");
  std::memcpy(out, src->data + src->pos, n);
  src->pos += n;
}

class PngReader {
 public:
  explicit PngReader(const std::vector<unsigned char>& bytes)
      : source{bytes.data(), bytes.size(), 0} {
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &message, on_png_error, on_png_warning);
    if (png) info = png_create_info_struct(png);
  }
  ~PngReader() { png_destroy_read_struct(&png, &info, nullptr); }
  PngReader(const PngReader&) = delete;
  PngReader& operator=(const PngReader&) = delete;

  PngMessage message;
  MemorySource source;
  png_structp png = nullptr;
  png_infop info = nullptr;
};

// What read_header learns: the output image's size and channels, the bytes of one output row,
// and the bytes the filtered, uncompressed image data takes in the file's own format.
struct PngLayout {
  int width = 0, height = 0, channels = 0;
  size_t row_bytes = 0;
  size_t raw_bytes = 0;
};

bool read_header(PngReader& r, PngLayout* out) {
  if (setjmp(png_jmpbuf(r.png))) return false;
  png_set_read_fn(r.png, &r.source, read_from_memory);
  png_read_info(r.png, r.info);
  const png_uint_32 width = png_get_image_width(r.png, r.info);
  const png_uint_32 height = png_get_image_height(r.png, r.info);
  const int color = png_get_color_type(r.png, r.info);
  // One filter-type byte per row precedes the row's pixels.
  out->raw_bytes = static_cast<size_t>(height) * (png_get_rowbytes(r.png, r.info) + 1);

  png_set_expand(r.png);    // palette -> RGB, grey below 8 bits -> 8 bits, tRNS -> alpha
  png_set_strip_16(r.png);  // 16-bit samples keep their high byte
  const bool grey = !(color & PNG_COLOR_MASK_COLOR);
  const bool alpha = (color & PNG_COLOR_MASK_ALPHA) || png_get_valid(r.png, r.info, PNG_INFO_tRNS);
  // Image has no grey+alpha layout (channels 1, 3 or 4): such images become RGBA.
  if (grey && alpha) png_set_gray_to_rgb(r.png);
  png_set_interlace_handling(r.png);
  png_read_update_info(r.png, r.info);

  out->width = static_cast<int>(width);
  out->height = static_cast<int>(height);
  out->channels = png_get_channels(r.png, r.info);
  out->row_bytes = png_get_rowbytes(r.png, r.info);
  return true;
}

bool read_rows(PngReader& r, png_bytep* rows) {
  if (setjmp(png_jmpbuf(r.png))) return false;
  png_read_image(r.png, rows);
  png_read_end(r.png, nullptr);
  return true;
}

uint8_t to_byte(float v) {
  // Clamped to [0, 1] (NaN counts as 0), then rounded to the nearest of 0..255.
  const float x = v > 0.f ? (v < 1.f ? v : 1.f) : 0.f;
  return static_cast<uint8_t>(std::lround(x * 255.f));
}

// The rows of a checked image, as libpng takes them: non-const pointers, which it only reads
// when no transformations are set.
std::vector<png_bytep> row_pointers(const Image& img) {
  VAE_ASSERT(img.channels == 1 || img.channels == 3 || img.channels == 4);
  VAE_ASSERT(img.width > 0 && img.height > 0);
  const size_t row_bytes = static_cast<size_t>(img.width) * static_cast<size_t>(img.channels);
  VAE_ASSERT(img.pixels.size() == row_bytes * static_cast<size_t>(img.height));
  std::vector<png_bytep> rows(static_cast<size_t>(img.height));
  for (size_t y = 0; y < rows.size(); ++y)
    rows[y] = const_cast<png_bytep>(img.pixels.data() + y * row_bytes);
  return rows;
}

}  // namespace

void write_png(const std::string& path, const Image& img) {
  std::vector<png_bytep> rows = row_pointers(img);
  PngWriter w;
  if (!w.png || !w.info) throw Error(path + ": cannot write PNG (out of memory)");
  AtomicFile f(path);
  errno = 0;
  if (!write_image(w, f.file(), img, rows.data())) {
    const int err = errno;
    if (std::ferror(f.file())) throw Error(f.write_failed(err ? err : EIO));
    throw Error(path + ": cannot write PNG (" + w.message.text + ")");
  }
  f.commit();
}

std::string encode_png(const Image& img) {
  std::vector<png_bytep> rows = row_pointers(img);
  PngWriter w;
  if (!w.png || !w.info) throw Error("cannot encode PNG (out of memory)");
  std::string out;
  if (!write_image_to_memory(w, &out, img, rows.data()))
    throw Error(std::string("cannot encode PNG (") + w.message.text + ")");
  return out;
}

Image read_png(const std::string& path) {
  const std::vector<unsigned char> bytes = read_file(path);
  if (bytes.size() < 8 || png_sig_cmp(bytes.data(), 0, 8) != 0)
    throw Error(path + ": not a PNG file (bad signature)");
  PngReader r(bytes);
  if (!r.png || !r.info) throw Error(path + ": cannot read PNG (out of memory)");
  PngLayout layout;
  if (!read_header(r, &layout))
    throw Error(path + ": corrupt or truncated PNG (" + r.message.text + ")");
  // zlib cannot compress better than 1032:1, so an image whose data could not fit in this file
  // is refused before its pixels are allocated.
  if (layout.raw_bytes / 1032 > bytes.size())
    throw Error(path + ": corrupt or truncated PNG (a " + std::to_string(layout.width) + "x" +
                std::to_string(layout.height) + " image cannot fit in " +
                std::to_string(bytes.size()) + " bytes)");
  if ((layout.channels != 1 && layout.channels != 3 && layout.channels != 4) ||
      layout.row_bytes != static_cast<size_t>(layout.width) * layout.channels)
    throw Error(path + ": unsupported PNG layout (" + std::to_string(layout.channels) +
                " channels of 8 bits after expansion expected)");

  Image img;
  img.width = layout.width;
  img.height = layout.height;
  img.channels = layout.channels;
  img.pixels.resize(layout.row_bytes * static_cast<size_t>(img.height));
  std::vector<png_bytep> rows(static_cast<size_t>(img.height));
  for (size_t y = 0; y < rows.size(); ++y) rows[y] = img.pixels.data() + y * layout.row_bytes;
  if (!read_rows(r, rows.data()))
    throw Error(path + ": corrupt or truncated PNG (" + r.message.text + ")");
  return img;
}

Image make_grid(const float* images, int n, int h, int w, int c, int cols, int pad) {
  VAE_ASSERT(images != nullptr);
  VAE_ASSERT(n > 0 && h > 0 && w > 0 && cols > 0 && pad >= 0);
  VAE_ASSERT(c == 1 || c == 3 || c == 4);
  const int rows = (n + cols - 1) / cols;
  Image grid;
  grid.width = cols * w + (cols + 1) * pad;
  grid.height = rows * h + (rows + 1) * pad;
  grid.channels = c;
  // Padding and the unused cells of the last row stay white (255 in every channel).
  grid.pixels.assign(static_cast<size_t>(grid.width) * grid.height * c, 255);
  const size_t tile_size = static_cast<size_t>(h) * w * c;
  for (int k = 0; k < n; ++k) {
    const float* tile = images + k * tile_size;  // (h, w, c)
    const int top = pad + (k / cols) * (h + pad);
    const int left = pad + (k % cols) * (w + pad);
    for (int y = 0; y < h; ++y) {
      uint8_t* out = &grid.pixels[(static_cast<size_t>(top + y) * grid.width + left) * c];
      const float* in = tile + static_cast<size_t>(y) * w * c;
      for (int i = 0; i < w * c; ++i) out[i] = to_byte(in[i]);
    }
  }
  return grid;
}

}  // namespace vae
