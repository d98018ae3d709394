// Replays every fuzz input kept in the repository (fuzz/corpus/<target>/ and
// fuzz/regressions/<target>/, docs/fuzzing.md) through the readers its fuzz target feeds, in the
// ordinary suite and so under both CI builds: each input is either read or rejected with a
// vae::Error, never a crash (the sanitizer build turns memory errors into failures).
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "serve/codec.h"
#include "test_util.h"
#include "vae/checkpoint.h"
#include "vae/error.h"
#include "vae/npy.h"
#include "vae/readers.h"
#include "viz/report.h"

namespace {

namespace fs = std::filesystem;

const fs::path kFuzzDir = fs::path(VAE_FIXTURE_DIR) / ".." / ".." / "fuzz";

// Runs `read` and passes when it returns or throws vae::Error; any other exception fails.
void expect_read_or_rejected(const std::string& name, const std::function<void()>& read) {
  try {
    read();
  } catch (const vae::Error&) {
  } catch (const std::exception& e) {
    ADD_FAILURE() << name << ": not a vae::Error: " << e.what();
  }
}

// The input as its fuzz target sees it: a scratch file (or folder, for images) named as the
// target names it, read by the same readers.
void replay(const std::string& target, const fs::path& input, const vae_test::TempDir& tmp) {
  const std::string bytes = vae_test::read_bytes(input.string());
  const std::string name = target + "/" + input.filename().string();
  if (target == "config_json") {
    expect_read_or_rejected(name, [&] { vae::ModelConfig::from_json(bytes, "model").validate(); });
    expect_read_or_rejected(name, [&] { vae::TrainOptions::from_json(bytes, "train_options"); });
    expect_read_or_rejected(name, [&] { vae::TrainState::from_json(bytes, "train_state"); });
    return;
  }
  if (target == "serve_request") {  // fuzz/fuzz_serve_request.cpp's reading of the first byte
    if (bytes.empty()) return;
    const auto b0 = static_cast<unsigned char>(bytes[0]);
    try {
      vae::serve::decode_body((b0 & 1) ? vae::serve::BodyFormat::Npy : vae::serve::BodyFormat::Json,
                              bytes.substr(1), (b0 & 16) ? "z" : "x", 1 + ((b0 >> 1) & 7), 16,
                              {"n", "seed", "k", "label", "samples"}, {{"k", "3"}, {"label", "1"}});
    } catch (const vae::serve::BadRequest&) {
    } catch (const vae::serve::Unprocessable&) {
    } catch (const std::exception& e) {
      ADD_FAILURE() << name << ": " << e.what();
    }
    return;
  }
  if (target == "image") {
    const std::string dir = tmp.file("image");
    fs::create_directories(dir);
    vae_test::write_bytes(dir + "/input.png", bytes);
    expect_read_or_rejected(name, [&] { vae::read_image_folder(dir); });
    return;
  }
  const std::map<std::string, std::pair<std::string, std::function<void(const std::string&)>>>
      readers = {
          {"checkpoint", {"input.safetensors", [](const std::string& p) { vae::load_checkpoint(p); }}},
          {"safetensors", {"input.safetensors", [](const std::string& p) { vae::read_safetensors(p); }}},
          {"metrics", {"metrics.jsonl", [](const std::string& p) { vae::read_metrics(p); }}},
          {"idx", {"input-idx", [](const std::string& p) { vae::read_idx(p); }}},
          {"npy", {"input.npy", [](const std::string& p) { vae::read_npy_dataset(p); }}},
          {"csv", {"input.csv",
                   [](const std::string& p) {
                     for (const char* label : {"", "0", "1", "99999999999999999999", "label"}) {
                       vae::CsvOptions o;
                       o.label_column = label;
                       try {
                         vae::read_csv(p, o);
                       } catch (const vae::Error&) {
                       }
                     }
                   }}},
      };
  const auto it = readers.find(target);
  ASSERT_NE(it, readers.end()) << "no reader for fuzz target " << target;
  const std::string path = tmp.file(it->second.first);
  vae_test::write_bytes(path, bytes);
  expect_read_or_rejected(name, [&] { it->second.second(path); });
  if (target == "npy") expect_read_or_rejected(name, [&] { vae::read_npy(path); });
}

TEST(FuzzRegressions, EveryKeptInputIsReadOrRejectedWithoutACrash) {
  size_t replayed = 0;
  for (const char* kind : {"corpus", "regressions"}) {
    ASSERT_TRUE(fs::is_directory(kFuzzDir / kind)) << (kFuzzDir / kind);
    for (const fs::directory_entry& target : fs::directory_iterator(kFuzzDir / kind))
      for (const fs::directory_entry& input : fs::directory_iterator(target.path())) {
        vae_test::TempDir tmp;
        replay(target.path().filename().string(), input.path(), tmp);
        ++replayed;
      }
  }
  // Every target's corpus (serve_request's 5 seeds included) and the regression files of
  // checkpoint, config_json and metrics.
  EXPECT_GE(replayed, 53u + 15u + 5u);
}

}  // namespace
