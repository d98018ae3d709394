#include <filesystem>

#include "cli.h"
#include "vae/batcher.h"
#include "vae/error.h"
#include "vae/runtime.h"

namespace vae_cli {

void add_threads_option(CLI::App* app, int* threads) {
  app->add_option("--threads", *threads,
                  "threads for matrix products (0 = all " + std::to_string(vae::hardware_threads()) +
                      " cores)");
}

void apply_threads(int threads) {
  if (threads < 0) throw UsageError("--threads: must be >= 0, got " + std::to_string(threads));
  vae::set_num_threads(threads);
}

vae::Dataset load_split_for(const vae::Checkpoint& ckpt, const std::string& data_spec,
                            const std::string& split) {
  if (split != "train" && split != "test")
    throw UsageError("--split: must be 'train' or 'test', got '" + split + "'");
  vae::DataSplits d = vae::load_data(data_spec);
  vae::Dataset& chosen = split == "train" ? d.train : d.test;
  check_fits(chosen, ckpt.model, data_spec);
  if (ckpt.train.binarize == "dynamic") return vae::binarize(chosen, vae::kTestBinarizeSeed);
  return std::move(chosen);
}

void check_fits(const vae::Dataset& data, const vae::ModelConfig& cfg, const std::string& what) {
  if (data.d != static_cast<size_t>(cfg.input_dim))
    throw vae::Error(what + ": examples have " + std::to_string(data.d) +
                     " values but the model expects " + std::to_string(cfg.input_dim));
}

void check_output_path(const std::string& path, const std::string& option) {
  namespace fs = std::filesystem;
  if (path.empty()) throw UsageError(option + ": needs a file name");
  const fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty() && !fs::is_directory(parent, ec))
    throw vae::Error(option + ": folder '" + parent.string() + "' does not exist");
  if (fs::is_directory(path, ec)) throw vae::Error(option + ": '" + path + "' is a folder");
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace vae_cli
