// The run report: gathers a run's checkpoint, metrics and test data, draws every picture, and
// writes one HTML page with the PNGs inlined as data: URIs and the plots as inline SVG.
//
// Legend: N test examples, D values per example, Z latent size.
#include "viz/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>
#include <utility>

#include "data/batcher.h"
#include "eval/latent_stats.h"
#include "io/fileio.h"
#include "io/number_text.h"
#include "io/png.h"
#include "vae/error.h"
#include "viz/plot.h"
#include "viz/viz.h"

namespace vae {
namespace {


std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// A one-line shell command folded for reading: breaks go before options ("--name", outside
// single quotes) once a line would pass `width` characters, each ending in " \" so that the
// folded text is still the same command when pasted.
std::string fold_command(const std::string& cmd, size_t width) {
  std::vector<std::string> parts;  // "vae train", " --data fashion-mnist", …
  bool quoted = false;
  size_t start = 0;
  for (size_t i = 0; i < cmd.size(); ++i) {
    if (cmd[i] == '\'') quoted = !quoted;
    if (!quoted && cmd.compare(i, 3, " --") == 0 && i > start) {
      parts.push_back(cmd.substr(start, i - start));
      start = i;
    }
  }
  parts.push_back(cmd.substr(start));
  std::string out, line;
  for (const std::string& part : parts) {
    if (!line.empty() && line.size() + part.size() > width) {
      out += line + " \\\n";
      line = "   ";
    }
    line += part;
  }
  return out + line;
}

std::string architecture(const ModelConfig& m) { return m.describe(); }

// Width and height from a PNG's IHDR chunk (bytes 16..23, big-endian), which every PNG file
// starts with after its 8-byte signature.
std::pair<int, int> png_size(const std::vector<unsigned char>& b, const std::string& path) {
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (b.size() < 24 || !std::equal(sig, sig + 8, b.begin()))
    throw Error(path + ": not a PNG file (bad signature)");
  auto be32 = [&](size_t i) {
    return static_cast<int>((uint32_t(b[i]) << 24) | (uint32_t(b[i + 1]) << 16) |
                            (uint32_t(b[i + 2]) << 8) | uint32_t(b[i + 3]));
  };
  return {be32(16), be32(20)};
}

// <img> of a PNG file as a data: URI, shown at an integer zoom that keeps it within 1000
// pixels (at most 3×), pixels kept sharp.
std::string img_tag(const std::string& path, const std::string& alt) {
  const std::vector<unsigned char> bytes = read_file(path);
  const auto [w, h] = png_size(bytes, path);
  const int zoom = std::clamp(1000 / std::max(w, 1), 1, 3);
  return "<img src=\"data:image/png;base64," + base64_encode(bytes.data(), bytes.size()) +
         "\" width=\"" + std::to_string(w * zoom) + "\" height=\"" + std::to_string(h * zoom) +
         "\" alt=\"" + xml_escape(alt) + "\">";
}

std::string section(const std::string& id, const std::string& title, const std::string& body) {
  return "<section id=\"" + id + "\">\n<h2>" + xml_escape(title) + "</h2>\n" + body +
         "</section>\n";
}

std::string row(const std::vector<std::string>& cells, bool header = false) {
  std::string r = "<tr>";
  for (size_t i = 0; i < cells.size(); ++i) {
    const bool th = header || i == 0;
    r += (th ? "<th>" : "<td>") + cells[i] + (th ? "</th>" : "</td>");
  }
  return r + "</tr>\n";
}

constexpr const char* kStyle = R"(
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; color: #1e1e1e;
       max-width: 1060px; margin: 24px auto; padding: 0 16px; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 1.6em; }
nav a { margin-right: 0.8em; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 3px 10px; text-align: left; }
td { font-variant-numeric: tabular-nums; }
tr th:first-child { background: #f6f6f6; }
pre { background: #f6f6f6; padding: 10px; overflow-x: auto; }
img { image-rendering: pixelated; max-width: 100%; height: auto; display: block; }
svg { max-width: 100%; height: auto; display: block; }
figure { margin: 8px 0 16px 0; }
figcaption { color: #555; font-size: 0.92em; margin-top: 4px; }
.note { color: #555; font-size: 0.92em; }
)";

}  // namespace

std::vector<EpochMetrics> read_metrics(const std::string& path) {
  const std::vector<unsigned char> bytes = read_file(path);
  std::istringstream in(std::string(bytes.begin(), bytes.end()));
  std::vector<EpochMetrics> out;
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(line_no) + ": ";
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      throw Error(where + "not a JSON object");
    }
    if (!j.is_object()) throw Error(where + "not a JSON object");
    auto number = [&](const char* key, bool required) {
      if (!j.contains(key)) {
        if (required) throw Error(where + "no '" + key + "'");
        return 0.0;
      }
      if (!j[key].is_number()) throw Error(where + "'" + key + "' is not a number");
      return j[key].get<double>();
    };
    EpochMetrics m;
    const double epoch = number("epoch", true);
    // A whole number in range before the cast (1e300 was undefined behaviour; found by fuzzing).
    if (!(epoch >= 0 && epoch <= 1e15) || epoch != std::floor(epoch))
      throw Error(where + "'epoch' is not a whole number of epochs");
    m.epoch = static_cast<int64_t>(epoch);
    m.train_loss = number("train_loss", true);
    m.train_recon = number("train_recon", true);
    m.train_kl = number("train_kl", true);
    // Runs with a validation split log val_* per epoch (the test set is scored once, at the end).
    m.on_val = !j.contains("test_loss") && j.contains("val_loss");
    const std::string held = m.on_val ? "val" : "test";
    m.test_loss = number((held + "_loss").c_str(), true);
    m.test_recon = number((held + "_recon").c_str(), true);
    m.test_kl = number((held + "_kl").c_str(), true);
    m.examples_per_s = number("examples_per_s", false);
    m.seconds = number("seconds", false);
    out.push_back(m);
  }
  return out;
}

std::string base64_encode(const void* data, size_t n) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* b = static_cast<const unsigned char*>(data);
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  // Each 3 bytes (24 bits) become 4 characters of 6 bits; a short last group is padded with '='.
  for (size_t i = 0; i < n; i += 3) {
    const uint32_t v = (uint32_t(b[i]) << 16) | (i + 1 < n ? uint32_t(b[i + 1]) << 8 : 0) |
                       (i + 2 < n ? uint32_t(b[i + 2]) : 0);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < n ? kAlphabet[v & 63] : '=';
  }
  return out;
}

namespace {

// final.json's figures of the selected model on the test set (absent while a run is going).
struct FinalFigures {
  bool present = false;
  int64_t best_epoch = 0;
  double test_loss = 0, test_recon = 0, test_kl = 0;
};

FinalFigures read_final(const std::string& path) {
  const std::vector<unsigned char> bytes = read_file(path);
  FinalFigures f;
  try {
    const auto j = nlohmann::json::parse(bytes.begin(), bytes.end());
    f.best_epoch = j.at("best_epoch").get<int64_t>();
    f.test_loss = j.at("test_loss").get<double>();
    f.test_recon = j.at("test_recon").get<double>();
    f.test_kl = j.at("test_kl").get<double>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": malformed final.json (" + e.what() + ")");
  }
  f.present = true;
  return f;
}

// What a report is written from: the run folder's files and the examples, checked to fit.
struct RunFiles {
  std::string dir;
  Checkpoint ckpt;                    // last.safetensors
  std::vector<EpochMetrics> metrics;  // metrics.jsonl, empty when there is none
  FinalFigures final;                 // final.json
  std::string spec;                   // the examples' data spec
  Dataset test;                       // the examples, binarised when the run binarised (N, D)
  const ReportOptions& options;

  std::string in_run(const std::string& name) const {
    return (std::filesystem::path(dir) / name).string();
  }
  const ModelConfig& cfg() const { return ckpt.model; }
  // "test #3 (Dress)": example i as captions name it.
  std::string example_name(size_t i) const {
    std::string s = options.split + " #" + std::to_string(i);
    if (!test.labels.empty()) s += " (" + class_name(ckpt.class_names, spec, test.labels[i]) + ")";
    return s;
  }
};

RunFiles read_run(const std::string& run_dir, const Dataset& examples, const ReportOptions& o) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(run_dir, ec)) throw Error(run_dir + ": not a folder");
  RunFiles run{run_dir, {}, {}, {}, {}, {}, o};
  run.ckpt = load_checkpoint(run.in_run(kLastCheckpoint));
  const std::string metrics_path = run.in_run(kMetricsFile);
  if (fs::exists(metrics_path, ec)) run.metrics = read_metrics(metrics_path);
  const std::string final_path = run.in_run(kFinalFile);
  if (fs::exists(final_path, ec)) run.final = read_final(final_path);
  run.spec = o.data_spec.empty() ? run.ckpt.train.data.data : o.data_spec;
  if (examples.d != static_cast<size_t>(run.cfg().input_dim))
    throw Error(run.spec + ": examples have " + std::to_string(examples.d) +
                " values but the model expects " + std::to_string(run.cfg().input_dim));
  if (examples.n == 0) throw Error(run.spec + ": the " + o.split + " split is empty");
  run.test =
      run.ckpt.train.binarize == Binarize::Dynamic ? binarize(examples, kTestBinarizeSeed) : examples;
  return run;
}

struct Picture {
  std::string file;
  Image image;
};

// Everything the page shows that is computed from the model and the examples.
struct Figures {
  LatentStats stats;
  std::vector<TraversalRow> order;  // every dimension, by decreasing KL
  bool images = false;              // an image model: there are pictures to draw
  LatentMap map;                    // when Z >= 2
  size_t ia = 0, ib = 0;            // the two examples interpolated between
  std::vector<Picture> pictures;
  std::string manifold_caption;
  std::string curves_svg, latents_svg, kl_svg;  // empty when there is nothing to plot
};

// Two test examples to interpolate between: the first, and the first of another class.
std::pair<size_t, size_t> interpolation_ends(const Dataset& test) {
  size_t ia = 0, ib = std::min<size_t>(1, test.n - 1);
  if (!test.labels.empty())
    for (size_t i = 1; i < test.n; ++i)
      if (test.labels[i] != test.labels[0]) {
        ib = i;
        break;
      }
  return {ia, ib};
}

// The PNGs of an image model (samples and reconstructions only when the run folder lacks them).
void draw_pictures(Vae<float>& model, const RunFiles& run, Figures* f) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const ReportOptions& o = run.options;
  const Dataset& test = run.test;
  const size_t Z = run.cfg().latent, ia = f->ia, ib = f->ib;
  if (!fs::exists(run.in_run("samples.png"), ec))
    f->pictures.push_back({"samples.png", sample_grid(model, 64, run.ckpt.train.seed)});
  if (!fs::exists(run.in_run("reconstructions.png"), ec))
    f->pictures.push_back({"reconstructions.png", reconstruction_grid(model, test, 32)});
  std::vector<float> mu(2 * Z), logvar(2 * Z);  // (2, Z): the two examples' posteriors
  model.encode(test.row(ia), 1, mu.data(), logvar.data(), test.label_ptr(ia));
  model.encode(test.row(ib), 1, mu.data() + Z, logvar.data() + Z, test.label_ptr(ib));
  // A conditional model decodes the pictures below for the first example's class.
  if (run.cfg().num_classes > 0 && !test.labels.empty()) model.set_default_label(test.labels[ia]);
  f->pictures.push_back(
      {"interpolations.png",
       interpolation_grid(model, mu.data(), mu.data() + Z, o.interpolation_steps, test.row(ia),
                          test.row(ib), "#" + std::to_string(ia), "#" + std::to_string(ib))});
  std::vector<TraversalRow> shown(
      f->order.begin(), f->order.begin() + std::min<size_t>(f->order.size(), o.traversal_max_rows));
  f->pictures.push_back({"traversals.png", traversal_grid(model, mu.data(), shown,
                                                          o.traversal_range, o.traversal_steps)});
  const bool pca = Z > 2;
  f->pictures.push_back(
      {"manifold.png", manifold_grid(model, o.manifold_size, pca ? &f->map.pca : nullptr)});
  f->manifold_caption =
      pca ? "Decoded grid over the two principal directions of the " + o.split +
                " encodings' means: z = m "
                "+ c\u2081 v\u2081 + c\u2082 v\u2082 at the quantiles of a normal with the "
                "encodings' spread along each (coordinates c shown at the edges)."
          : "Decoded grid over the prior's quantiles: z = \u03a6\u207b\u00b9(p) for p evenly "
            "spaced in (0, 1), the picture of Kingma &amp; Welling (2014).";
}

Figures compute_figures(Vae<float>& model, const RunFiles& run) {
  const ModelConfig& cfg = run.cfg();
  const size_t Z = cfg.latent;
  Figures f;
  f.stats = latent_stats(model, run.test);
  f.order = traversal_order(f.stats);
  f.images = cfg.channels > 0 && cfg.height > 0 && cfg.width > 0;
  if (Z >= 2) f.map = latent_map(model, run.test, run.options.scatter_points);
  std::tie(f.ia, f.ib) = interpolation_ends(run.test);
  if (f.images) draw_pictures(model, run, &f);
  if (!run.metrics.empty()) f.curves_svg = figure_svg(loss_curves_figure(run.metrics));
  if (Z >= 2) f.latents_svg = figure_svg(latent_scatter_figure(f.map, run.spec, run.ckpt.class_names));
  f.kl_svg = figure_svg(kl_bars_figure(f.stats));
  return f;
}

void write_figures(const RunFiles& run, const Figures& f) {
  for (const Picture& p : f.pictures) write_png(run.in_run(p.file), p.image);
  if (!f.curves_svg.empty()) write_file_atomic(run.in_run("loss_curves.svg"), f.curves_svg);
  if (!f.latents_svg.empty()) write_file_atomic(run.in_run("latents.svg"), f.latents_svg);
  write_file_atomic(run.in_run("kl_per_dim.svg"), f.kl_svg);
}

// ---- The page, section by section ----

// The document's head, the title line and the links to the sections.
std::string page_header(const RunFiles& run) {
  namespace fs = std::filesystem;
  const std::string& dir = run.dir;
  const ModelConfig& cfg = run.cfg();
  const std::string run_name = fs::path(dir).lexically_normal().filename().string().empty()
                                   ? dir
                                   : fs::path(dir).lexically_normal().filename().string();
  char when[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M", std::localtime(&now));

  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>vae report: " +
      xml_escape(run_name) + "</title>\n<style>" + kStyle +
      "</style>\n</head>\n<body>\n<header>\n<h1>Run " + xml_escape(run_name) + "</h1>\n<p>" +
      xml_escape(architecture(cfg)) + " VAE (" + activation_name(cfg.activation) + ", " +
      xml_escape(likelihood_name(cfg)) + " likelihood), " + std::to_string(run.ckpt.state.epoch) +
      " epochs on " + xml_escape(run.spec) + ". Report written " + when + ".</p>\n<nav>";
  const std::pair<const char*, const char*> nav[] = {{"configuration", "configuration"},
                                                     {"command", "command"},
                                                     {"metrics", "metrics"},
                                                     {"curves", "loss curves"},
                                                     {"samples", "samples"},
                                                     {"reconstructions", "reconstructions"},
                                                     {"interpolations", "interpolations"},
                                                     {"traversals", "traversals"},
                                                     {"latent-map", "latent map"},
                                                     {"manifold", "manifold"},
                                                     {"kl", "KL per dimension"}};
  for (const auto& [id, name] : nav)
    html += "<a href=\"#" + std::string(id) + "\">" + name + "</a>";
  return html + "</nav>\n</header>\n";
}

std::string configuration_section(const RunFiles& run, const Figures& f) {
  const ModelConfig& cfg = run.cfg();
  const TrainOptions& t = run.ckpt.train;
  const TrainState& state = run.ckpt.state;
  std::string body = "<table>\n";
  body += row({"data", xml_escape(run.spec) + " (pictures and statistics: the " +
                           xml_escape(run.options.split) + " split, " + std::to_string(run.test.n) +
                           " examples)"});
  body += row({"model", xml_escape(architecture(cfg)) + ", " + activation_name(cfg.activation) +
                            " hidden layers, Z = " + std::to_string(cfg.latent)});
  std::string likelihood = xml_escape(likelihood_name(cfg));
  if (sigma_role(cfg.likelihood) == SigmaRole::Fixed)
    likelihood += ", \u03c3 = " + shortest(cfg.sigma);
  body += row({"likelihood", likelihood});
  body += row({"prior", xml_escape(prior_description(cfg))});
  if (f.images)
    body += row({"images", std::to_string(cfg.height) + " \u00d7 " + std::to_string(cfg.width) +
                               " \u00d7 " + std::to_string(cfg.channels)});
  body += row({"parameters", std::to_string(param_count(cfg))});
  body += row({"epochs", std::to_string(state.epoch) + " done of " + std::to_string(t.epochs) +
                             " planned (" + std::to_string(state.step) + " Adam steps)"});
  body += row({"batch size", std::to_string(t.batch_size)});
  std::string objective = "\u2212ELBO";
  if (t.beta != 1.0) objective += ", KL weight \u03b2 = " + shortest(t.beta);
  if (t.kl_warmup.kind != KlWarmup::Kind::None)
    objective += ", KL warm-up " + kl_warmup_name(t.kl_warmup);
  if (t.free_bits != 0.0) objective += ", free bits " + shortest(t.free_bits) + " nats";
  body += row({"objective", objective});
  body += row({"optimizer", "Adam, lr " + shortest(t.lr)});
  body += row({"seed", std::to_string(t.seed)});
  body += row({"binarize", binarize_name(t.binarize)});
  body += row({"checkpoint", xml_escape(run.in_run(kLastCheckpoint))});
  body += "</table>\n";
  return section("configuration", "Configuration", body);
}

// The command that reproduces the run.
std::string command_section(const RunFiles& run) {
  return section("command", "Command line",
                 "<pre>" + xml_escape(fold_command(run.options.command, 80)) +
                     "</pre>\n<p class=\"note\">With the same seed, machine and --threads count "
                     "the run ends with the same parameters, bit for bit.</p>\n");
}

// Where best.safetensors was chosen, and what that means for the test figures.
std::string selection_text(const std::string& selected_on) {
  if (selected_on == "val")
    return "the validation split (rows taken from the training data); the test set was scored "
           "once, at the end";
  return "the test set (--val-split 0): the best test figure is optimistic, since the same rows "
         "chose the model";
}

std::string metrics_section(const RunFiles& run, const Figures& f) {
  const std::vector<EpochMetrics>& metrics = run.metrics;
  if (metrics.empty())
    return section("metrics", "Final metrics",
                   "<p class=\"note\">No metrics.jsonl in the run folder.</p>\n");
  const EpochMetrics& last = metrics.back();
  const TrainState& state = run.ckpt.state;
  double total_s = 0;
  for (const EpochMetrics& m : metrics) total_s += m.seconds;
  std::string body =
      "<p>Epoch " + std::to_string(last.epoch) + ", nats per example:</p>\n<table>\n";
  const std::string held = last.on_val ? "validation" : "test";
  body += row({"", "train", held}, true);
  body += row({"\u2212ELBO", fmt("%.2f", last.train_loss), fmt("%.2f", last.test_loss)});
  body += row({"reconstruction", fmt("%.2f", last.train_recon), fmt("%.2f", last.test_recon)});
  body += row({"KL", fmt("%.2f", last.train_kl), fmt("%.2f", last.test_kl)});
  body += "</table>\n<table>\n";
  if (std::isfinite(state.best_test_loss))
    body += row({"best " + held + " \u2212ELBO", fmt("%.2f", state.best_test_loss) + " (epoch " +
                                                     std::to_string(state.best_epoch) + ")"});
  body += row({"model selected on", selection_text(run.ckpt.selected_on)});
  if (run.final.present)
    body += row({"selected model, test \u2212ELBO",
                 fmt("%.2f", run.final.test_loss) + " (recon " + fmt("%.2f", run.final.test_recon) +
                     " + KL " + fmt("%.2f", run.final.test_kl) + ", epoch " +
                     std::to_string(run.final.best_epoch) + ")"});
  body += row({"active units", std::to_string(f.stats.active_units) + " of " +
                                   std::to_string(run.cfg().latent) +
                                   " (Var<sub>x</sub> \u03bc<sub>j</sub> > 0.01)"});
  body += row({"throughput", fmt("%.0f", last.examples_per_s) + " examples/s (last epoch)"});
  body += row({"training time",
               fmt("%.1f", total_s) + " s over " + std::to_string(metrics.size()) + " epochs"});
  body += "</table>\n";
  return section("metrics", "Final metrics", body);
}

std::string curves_section(const Figures& f) {
  return section("curves", "Loss curves",
                 f.curves_svg.empty() ? "<p class=\"note\">No epochs recorded.</p>\n"
                                      : "<figure>\n" + f.curves_svg +
                                            "<figcaption>Train (running mean over the epoch) and "
                                            "test \u2212ELBO = reconstruction + KL, per epoch."
                                            "</figcaption>\n</figure>\n");
}

const char* const kNoImages =
    "<p class=\"note\">The model was trained on non-image data: nothing to draw.</p>\n";

// A PNG of the run folder with its caption (HTML); the image's alt text is the file name.
std::string figure(const RunFiles& run, const std::string& file, const std::string& caption) {
  return "<figure>\n" + img_tag(run.in_run(file), file) + "\n<figcaption>" + caption +
         "</figcaption>\n</figure>\n";
}

// Samples, reconstructions, interpolations and traversals.
std::string picture_sections(const RunFiles& run, const Figures& f) {
  std::string html;
  if (!f.images) {
    for (const auto& [id, title] : {std::pair<const char*, const char*>{"samples", "Samples"},
                                    {"reconstructions", "Reconstructions"},
                                    {"interpolations", "Interpolations"},
                                    {"traversals", "Traversals"}})
      html += section(id, title, kNoImages);
    return html;
  }
  const ReportOptions& o = run.options;
  html += section("samples", "Samples",
                  figure(run, "samples.png", "Decoder means of 64 draws z ~ N(0, I)."));
  html += section("reconstructions", "Reconstructions",
                  figure(run, "reconstructions.png",
                         "Test examples (odd rows) above the decoder means at their posterior "
                         "means (even rows)."));
  html += section("interpolations", "Interpolations",
                  figure(run, "interpolations.png",
                         "From " + xml_escape(run.example_name(f.ia)) + " to " +
                             xml_escape(run.example_name(f.ib)) +
                             ": decoded along the straight line between their posterior means "
                             "(top) and along the great-circle arc, slerp (bottom); the "
                             "originals frame each row."));
  html += section(
      "traversals", "Traversals",
      figure(run, "traversals.png",
             "Each row sweeps one latent dimension over [\u2212" + shortest(o.traversal_range) +
                 ", " + shortest(o.traversal_range) +
                 "] with the others fixed at the posterior mean of " +
                 xml_escape(run.example_name(f.ia)) +
                 ". Rows are sorted by KL; collapsed dimensions (Var \u03bc \u2264 0.01) are "
                 "marked in red." +
                 (f.order.size() > static_cast<size_t>(o.traversal_max_rows)
                      ? " The " + std::to_string(o.traversal_max_rows) + " of " +
                            std::to_string(f.order.size()) + " dimensions with the most KL."
                      : std::string())));
  return html;
}

std::string latent_map_section(const RunFiles& run, const Figures& f) {
  return section(
      "latent-map", "Latent map",
      f.latents_svg.empty()
          ? "<p class=\"note\">The model has one latent dimension: no plane to map.</p>\n"
          : "<figure>\n" + f.latents_svg + "<figcaption>Posterior means of the first " +
                std::to_string(f.map.xy.size() / 2) + " " + run.options.split + " examples" +
                (f.map.from_pca ? ", projected on their two principal components" : "") +
                ", coloured by label.</figcaption>\n</figure>\n");
}

std::string manifold_section(const RunFiles& run, const Figures& f) {
  return section("manifold", "Manifold",
                 f.images ? figure(run, "manifold.png", f.manifold_caption) : kNoImages);
}

std::string kl_section(const RunFiles& run, const Figures& f) {
  std::string body = "<figure>\n" + f.kl_svg + "<figcaption>Mean over the " + run.options.split +
                     " set of KL(q(z<sub>j</sub>|x) \u2016 N(0, 1)) "
                     "per dimension; grey bars are collapsed dimensions (Var<sub>x</sub> "
                     "\u03bc<sub>j</sub> \u2264 0.01), which carry no information about x."
                     "</figcaption>\n</figure>\n<details><summary>Values</summary>\n<table>\n";
  body += row({"dimension", "KL (nats)", "Var \u03bc", "state"}, true);
  for (const TraversalRow& r : f.order)
    body += row({"z" + std::to_string(r.dim + 1), fmt("%.4f", r.kl), fmt("%.4f", r.mu_variance),
                 r.collapsed ? "collapsed" : "active"});
  body += "</table>\n</details>\n";
  return section("kl", "KL per dimension", body);
}

}  // namespace

std::string write_report(const std::string& run_dir, const Dataset& examples,
                         const ReportOptions& o) {
  // Everything is read and computed before the first file is written.
  const RunFiles run = read_run(run_dir, examples, o);
  Vae<float> model = model_from_checkpoint(run.ckpt, 256);
  const Figures f = compute_figures(model, run);
  write_figures(run, f);

  std::string html = page_header(run);
  html += configuration_section(run, f);
  html += command_section(run);
  html += metrics_section(run, f);
  html += curves_section(f);
  html += picture_sections(run, f);
  html += latent_map_section(run, f);
  html += manifold_section(run, f);
  html += kl_section(run, f);
  html += "</body>\n</html>\n";
  const std::string report = run.in_run(kReportFile);
  write_file_atomic(report, html);
  return report;
}

}  // namespace vae
