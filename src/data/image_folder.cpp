// A folder of PNG and JPEG images as a data set.
//
// Layouts (names compared byte by byte, so sorted order is the C locale's):
//   dir/a.png, dir/b.jpg, ...              flat: no labels
//   dir/cat/1.png, dir/dog/7.jpeg, ...     one subfolder per class: labels 0, 1, ... in sorted
//                                          subfolder order, as torchvision's ImageFolder does
// Rules, each with its reason:
//   * Names starting with '.' are skipped at both levels: .git, .ipynb_checkpoints, and macOS's
//     "._x.png" resource forks, which carry an image extension but hold no image.
//   * Only one level of subfolders is read; folders inside a class folder are ignored. A
//     symbolic link to a folder counts as a class folder, but is never followed further, so a
//     link loop costs one extra listing and nothing more.
//   * Images directly in dir alongside subfolders that hold images is an error: which layout is
//     meant cannot be told. Subfolders without images beside flat images are ignored.
//   * In the class layout a subfolder without images is an error: skipping it would silently
//     shift the labels of every class after it.
//   * An entry with an image extension that is neither a file nor a folder (a pipe, a socket, a
//     broken link) is an error, as opening a pipe would block.
// Files are decoded by their content, not their extension: the PNG signature goes to read_png,
// the JPEG start-of-image marker FF D8 FF to libjpeg. An image above kMaxPixels is refused from
// its header, before its pixels are allocated.
//
// libjpeg reports errors through error_exit, which must not return; it longjmps to a jmp_buf,
// as png.cpp does for libpng. longjmp must not cross a C++ frame holding objects with
// destructors, so every libjpeg call runs inside a small function that owns nothing
// (jpeg_header, jpeg_pixels) and whose setjmp turns the jump into `false`; the decompressor
// struct and the pixel buffer belong to the caller and are freed by RAII.
#include <cstdio>
// <cstdio> comes first: jpeglib.h needs FILE and size_t declared before it.
#include <jerror.h>
#include <jpeglib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csetjmp>
#include <cstring>
#include <filesystem>

#include "io/fileio.h"
#include "io/png.h"
#include "vae/error.h"
#include "vae/readers.h"

namespace vae {
namespace {

namespace fs = std::filesystem;

// 4096 x 4096: far beyond what a VAE is trained on unresized, and small enough that one hostile
// header cannot ask for gigabytes (a PNG may legally inflate 1032:1, a progressive JPEG more).
constexpr uint64_t kMaxPixels = uint64_t{1} << 24;
// A progressive JPEG may repeat scans without bound, each a pass over every block of the image,
// and a few bytes of end-of-band runs can make a scan cover a large image. Real encoders write
// about ten scans. The count is capped at 500 (the limit libjpeg-turbo's own fuzzers use) and
// scans times pixels at 2^30, which is 64 scans at kMaxPixels: about a second of decoding.
constexpr int kMaxScans = 500;
constexpr uint64_t kMaxScanPixels = uint64_t{1} << 30;

struct Pixels {
  int width = 0, height = 0, channels = 0;  // channels 1 (grey) or 3 (RGB)
  std::vector<uint8_t> data;                // (height, width, channels)
};

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error(path + ": " + what);
}

std::string size_text(int width, int height, int channels) {
  return std::to_string(width) + "x" + std::to_string(height) + " with " +
         std::to_string(channels) + (channels == 1 ? " channel" : " channels");
}

void check_pixel_count(const std::string& path, uint64_t width, uint64_t height) {
  if (width * height > kMaxPixels)
    fail(path, std::to_string(width) + "x" + std::to_string(height) + " image is larger than " +
                   std::to_string(kMaxPixels) + " pixels, the limit for one image");
}

// ---- JPEG through libjpeg ----

struct JpegError {
  jpeg_error_mgr mgr;  // first, so that cinfo->err points at the whole struct
  std::jmp_buf jump;
  char text[JMSG_LENGTH_MAX];
};

[[noreturn]] void jpeg_jump(j_common_ptr cinfo, const char* text) {
  auto* e = reinterpret_cast<JpegError*>(cinfo->err);
  if (text) {
    std::snprintf(e->text, sizeof e->text, "%s", text);
  } else {
    (*cinfo->err->format_message)(cinfo, e->text);
  }
  std::longjmp(e->jump, 1);
}

void on_jpeg_error(j_common_ptr cinfo) { jpeg_jump(cinfo, nullptr); }

// Level -1 is a warning about corrupt data that libjpeg recovers from, as Pillow also accepts
// (extraneous bytes before a marker, say). A truncated file is the exception, as in Pillow:
// the rest of the image would be grey fill. Nothing is printed: this is a library.
void on_jpeg_message(j_common_ptr cinfo, int level) {
  if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_jump(cinfo, nullptr);
}

struct JpegProgress {
  jpeg_progress_mgr mgr;  // first, so that cinfo->progress points at the whole struct
  int max_scans;
};

void on_jpeg_progress(j_common_ptr cinfo) {
  const auto* progress = reinterpret_cast<JpegProgress*>(cinfo->progress);
  if (!cinfo->is_decompressor ||
      reinterpret_cast<j_decompress_ptr>(cinfo)->input_scan_number <= progress->max_scans)
    return;
  // Formatted in place: nothing with a destructor may live in a frame that longjmp leaves.
  auto* e = reinterpret_cast<JpegError*>(cinfo->err);
  std::snprintf(e->text, sizeof e->text,
                "more than %d progressive scans for this image size, far more than encoders write",
                progress->max_scans);
  std::longjmp(e->jump, 1);
}

class JpegDecoder {
 public:
  JpegDecoder() {
    // Zeroed so that destruction is safe even when jpeg_create_decompress failed part way:
    // jpeg_destroy frees nothing while cinfo.mem is null.
    std::memset(&cinfo, 0, sizeof cinfo);
    std::memset(&progress, 0, sizeof progress);
  }
  ~JpegDecoder() { jpeg_destroy_decompress(&cinfo); }
  JpegDecoder(const JpegDecoder&) = delete;
  JpegDecoder& operator=(const JpegDecoder&) = delete;

  jpeg_decompress_struct cinfo;
  JpegError error;
  JpegProgress progress;
};

enum class JpegHeader { kOk, kFailed, kUnsupportedColour };

JpegHeader jpeg_header(JpegDecoder& d, const unsigned char* data, size_t size) {
  if (setjmp(d.error.jump)) return JpegHeader::kFailed;
  d.cinfo.err = jpeg_std_error(&d.error.mgr);
  d.error.mgr.error_exit = on_jpeg_error;
  d.error.mgr.emit_message = on_jpeg_message;
  jpeg_create_decompress(&d.cinfo);
  d.progress.mgr.progress_monitor = on_jpeg_progress;
  d.progress.max_scans = kMaxScans;
  d.cinfo.progress = &d.progress.mgr;
  jpeg_mem_src(&d.cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&d.cinfo, TRUE);
  switch (d.cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
      d.cinfo.out_color_space = JCS_GRAYSCALE;
      break;
    case JCS_YCbCr:
    case JCS_RGB:
      d.cinfo.out_color_space = JCS_RGB;
      break;
    default:  // CMYK, YCCK, or components libjpeg cannot name
      return JpegHeader::kUnsupportedColour;
  }
  jpeg_calc_output_dimensions(&d.cinfo);
  const uint64_t pixels = uint64_t{d.cinfo.output_width} * d.cinfo.output_height;
  if (pixels > 0 && kMaxScanPixels / pixels < kMaxScans)
    d.progress.max_scans = static_cast<int>(kMaxScanPixels / pixels);
  return JpegHeader::kOk;
}

// Decodes into `out`, sized by the caller from the header: output_height rows of row_bytes.
bool jpeg_pixels(JpegDecoder& d, uint8_t* out, size_t row_bytes) {
  if (setjmp(d.error.jump)) return false;
  jpeg_start_decompress(&d.cinfo);
  while (d.cinfo.output_scanline < d.cinfo.output_height) {
    JSAMPROW row = out + static_cast<size_t>(d.cinfo.output_scanline) * row_bytes;
    // The memory source never suspends: it ends a short file with a fake end-of-image marker
    // and the JWRN_JPEG_EOF warning, which on_jpeg_message turns into an error.
    if (jpeg_read_scanlines(&d.cinfo, &row, 1) != 1)
      jpeg_jump(reinterpret_cast<j_common_ptr>(&d.cinfo), "decoder returned no rows");
  }
  jpeg_finish_decompress(&d.cinfo);
  return true;
}

Pixels decode_jpeg(const std::string& path) {
  const std::vector<unsigned char> bytes = read_file(path);
  JpegDecoder d;
  switch (jpeg_header(d, bytes.data(), bytes.size())) {
    case JpegHeader::kOk:
      break;
    case JpegHeader::kFailed:
      fail(path, std::string("cannot decode JPEG (") + d.error.text + ")");
    case JpegHeader::kUnsupportedColour:
      fail(path, "unsupported JPEG colour space (" + std::to_string(d.cinfo.num_components) +
                     " components, not grey, YCbCr or RGB; CMYK JPEGs must be converted)");
  }
  check_pixel_count(path, d.cinfo.output_width, d.cinfo.output_height);
  Pixels px;
  px.width = static_cast<int>(d.cinfo.output_width);
  px.height = static_cast<int>(d.cinfo.output_height);
  px.channels = d.cinfo.output_components;
  VAE_ASSERT(px.channels == 1 || px.channels == 3);
  const size_t row_bytes = static_cast<size_t>(px.width) * static_cast<size_t>(px.channels);
  px.data.resize(row_bytes * static_cast<size_t>(px.height));
  if (!jpeg_pixels(d, px.data.data(), row_bytes))
    fail(path, std::string("cannot decode JPEG (") + d.error.text + ")");
  return px;
}

// ---- PNG through read_png ----

uint32_t load_be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// `head` is the file's first bytes. PNG starts with an 8-byte signature and then the IHDR
// chunk: length (4), "IHDR", width (4), height (4), bit depth (1), colour type (1), ... all
// big-endian. Its colour type tells grey from colour, which read_png's output no longer does:
// it widens grey with alpha to RGBA.
Pixels decode_png(const std::string& path, const unsigned char* head, size_t head_size) {
  bool grey = false;
  if (head_size >= 26 && std::memcmp(head + 12, "IHDR", 4) == 0) {
    check_pixel_count(path, load_be32(head + 16), load_be32(head + 20));
    grey = (head[25] & 2) == 0;  // colour types 0 (grey) and 4 (grey + alpha)
  }
  // Anything malformed that the peek above let through, read_png refuses with its own message.
  Image img = read_png(path);
  const int in_channels = img.channels;
  Pixels px;
  px.width = img.width;
  px.height = img.height;
  // Alpha is dropped; grey widened to RGBA has R = G = B, so its first channel is the grey.
  px.channels = grey || in_channels == 1 ? 1 : 3;
  const size_t count = static_cast<size_t>(img.width) * static_cast<size_t>(img.height);
  if (px.channels == in_channels) {
    px.data = std::move(img.pixels);
    return px;
  }
  px.data.resize(count * static_cast<size_t>(px.channels));
  for (size_t i = 0; i < count; ++i) {
    for (int c = 0; c < px.channels; ++c)
      px.data[i * px.channels + c] = img.pixels[i * in_channels + c];
  }
  return px;
}

Pixels decode_image(const std::string& path) {
  // The first bytes say which format this is; PNG needs 26 of them for its IHDR fields.
  unsigned char head[26];
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail(path, std::string("cannot open (") + std::strerror(errno) + ")");
  const size_t head_size = std::fread(head, 1, sizeof head, f);
  std::fclose(f);
  static const unsigned char kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (head_size >= 8 && std::memcmp(head, kPngSignature, 8) == 0)
    return decode_png(path, head, head_size);
  if (head_size >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF)
    return decode_jpeg(path);
  fail(path, head_size == 0 ? "empty file, not a PNG or JPEG image"
                            : "not a PNG or JPEG image (unrecognised first bytes)");
}

// ---- the folder ----

// Bytes of physical memory, or 0 when the system does not say.
uint64_t physical_memory() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page_size > 0 ? static_cast<uint64_t>(pages) * page_size : 0;
}

std::string gib_text(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

bool has_image_extension(const std::string& name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = name.substr(dot + 1);
  for (char& c : ext) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return ext == "png" || ext == "jpg" || ext == "jpeg";
}

// The entries of one folder that matter here, each sorted: image files and subfolders.
struct Listing {
  std::vector<std::string> images;   // names with an image extension, regular files
  std::vector<std::string> folders;  // names of folders, or of links to folders
};

Listing list_folder(const fs::path& dir) {
  Listing out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    std::error_code status_ec;
    const fs::file_status st = it->status(status_ec);  // follows links
    if (fs::is_directory(st)) {
      out.folders.push_back(name);
    } else if (has_image_extension(name)) {
      if (!fs::is_regular_file(st))
        fail(it->path().string(),
             "not a regular file (a broken link, a pipe or a device), so not readable as an image");
      out.images.push_back(name);
    }
  }
  if (ec) fail(dir.string(), "cannot list folder (" + ec.message() + ")");
  std::sort(out.images.begin(), out.images.end());
  std::sort(out.folders.begin(), out.folders.end());
  return out;
}

}  // namespace

Dataset read_image_folder(const std::string& dir, std::vector<std::string>* class_names) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    fail(dir, fs::exists(dir, ec) ? "not a folder" : "no such folder");
  const fs::path root(dir);
  const Listing top = list_folder(root);

  std::vector<std::string> paths;  // (N) in reading order
  std::vector<int32_t> labels;     // (N) when the class layout is used
  std::vector<std::string> classes;
  if (!top.images.empty()) {
    for (const std::string& folder : top.folders) {
      const Listing sub = list_folder(root / folder);
      if (!sub.images.empty())
        fail(dir, "holds both images ('" + top.images[0] +
                      "') and class subfolders with images ('" + folder +
                      "'); put every image in a class subfolder, or none");
    }
    for (const std::string& name : top.images) paths.push_back((root / name).string());
  } else {
    std::vector<Listing> subs;  // one per entry of top.folders
    for (const std::string& folder : top.folders) subs.push_back(list_folder(root / folder));
    const bool any_images =
        std::any_of(subs.begin(), subs.end(), [](const Listing& l) { return !l.images.empty(); });
    for (size_t k = 0; k < subs.size() && any_images; ++k) {
      const fs::path folder = root / top.folders[k];
      if (subs[k].images.empty())
        fail(folder.string(),
             "class folder holds no .png, .jpg or .jpeg images (every subfolder is a class)");
      for (const std::string& name : subs[k].images) {
        paths.push_back((folder / name).string());
        labels.push_back(static_cast<int32_t>(classes.size()));
      }
      classes.push_back(top.folders[k]);
    }
  }
  if (paths.empty())
    fail(dir, "no .png, .jpg or .jpeg images, neither in the folder nor in its subfolders");

  Dataset out;
  std::string first_path;
  for (const std::string& path : paths) {
    const Pixels px = decode_image(path);
    if (out.n == 0) {
      first_path = path;
      out.width = px.width;
      out.height = px.height;
      out.channels = px.channels;
      out.d = px.data.size();
      // Every image has this size or is an error, so the first one tells what the whole set
      // needs: refusing now beats decoding for an hour and then running out of memory.
      const uint64_t need = uint64_t{paths.size()} * out.d * sizeof(float);
      const uint64_t have = physical_memory();
      if (have > 0 && need > have)
        fail(dir, std::to_string(paths.size()) + " images of " +
                      size_text(px.width, px.height, px.channels) + " need " +
                      gib_text(static_cast<double>(need)) + " as floats, more than the " +
                      gib_text(static_cast<double>(have)) + " of memory here");
    } else if (px.width != out.width || px.height != out.height || px.channels != out.channels) {
      fail(path, "image is " + size_text(px.width, px.height, px.channels) + ", but " + first_path +
                     " is " + size_text(out.width, out.height, out.channels) +
                     "; all images must share one size and channel count (they are not resized)");
    }
    // Capacity doubles as in a plain vector, but stops at the final size: never more than
    // twice what has been decoded, and no slack at the end.
    if (out.x.capacity() - out.x.size() < out.d)
      out.x.reserve(std::min(std::max(2 * out.x.capacity(), out.d), paths.size() * out.d));
    out.x.insert(out.x.end(), px.data.begin(), px.data.end());
    ++out.n;
  }
  out.labels = std::move(labels);
  out.class_names = classes;
  if (class_names) *class_names = std::move(classes);
  return out;
}

}  // namespace vae
