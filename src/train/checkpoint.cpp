// Checkpoint files (layout in include/vae/checkpoint.h).
#include "vae/checkpoint.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <utility>

#include "io/json_fields.h"
#include "io/safetensors.h"
#include "vae/error.h"

namespace vae {

using nlohmann::json;

static std::string hex64(uint64_t v) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string TrainState::to_json() const {
  json r = json::array();
  for (uint64_t w : rng) r.push_back(hex64(w));
  json j = {{"epoch", epoch}, {"step", step}, {"best_epoch", best_epoch}, {"rng", r},
            {"recoveries", recoveries}};
  if (lr > 0) j["lr"] = lr;
  if (lr_reductions > 0) {
    j["lr_reductions"] = lr_reductions;
    j["last_reduction_epoch"] = last_reduction_epoch;
  }
  // JSON has no infinity: a run with no finished epoch has best_test_loss null.
  j["best_test_loss"] = std::isfinite(best_test_loss) ? json(best_test_loss) : json(nullptr);
  return j.dump();
}

TrainState TrainState::from_json(const std::string& text, const std::string& origin) {
  TrainState s;
  try {
    const auto j = json::parse(text);
    constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
    s.epoch = json_integer(j.at("epoch"), "epoch", 0, kMax);
    s.step = json_integer(j.at("step"), "step", 0, kMax);
    s.best_epoch = json_integer(j.at("best_epoch"), "best_epoch", 0, kMax);
    const auto& b = j.at("best_test_loss");
    s.best_test_loss =
        b.is_null() ? std::numeric_limits<double>::infinity() : json_double(b, "best_test_loss");
    const auto& r = j.at("rng");
    if (!r.is_array() || r.size() != 4) throw Error("rng must hold 4 words");
    for (int i = 0; i < 4; ++i) {
      const std::string w = r[i].get<std::string>();
      if (w.size() != 16 || w.find_first_not_of("0123456789abcdef") != std::string::npos)
        throw Error("rng word '" + w + "' is not 16 hex digits");
      s.rng[i] = std::stoull(w, nullptr, 16);
    }
    // Keys added after format version 1 first shipped default to the behaviour before them.
    s.lr = json_double_or(j, "lr", 0.0);
    s.recoveries = j.contains("recoveries") ? json_integer(j["recoveries"], "recoveries", 0, kMax) : 0;
    for (auto [key, value] : {std::pair{"lr_reductions", &s.lr_reductions},
                              std::pair{"last_reduction_epoch", &s.last_reduction_epoch}})
      *value = j.contains(key) ? json_integer(j[key], key, 0, kMax) : 0;
    if (!(s.lr >= 0) || !std::isfinite(s.lr)) throw Error("lr must be a number >= 0");
  } catch (const json::exception& e) {
    throw Error(origin + ": malformed train_state (" + e.what() + ")");
  } catch (const Error& e) {
    throw Error(origin + ": train_state: " + e.what());
  }
  return s;
}

// What the checkpoint says of its data beyond the scaling: the training range, where the best
// model was chosen and the sources' fingerprints (all optional; layout in vae/checkpoint.h).
static void read_data_record(const SafeTensors& st, const std::string& path, Checkpoint& c) {
  if (st.find("data.min") || st.find("data.max")) {
    c.scaler.lo = st.get_f32("data.min", {c.model.input_dim});
    c.scaler.hi = st.get_f32("data.max", {c.model.input_dim});
  }
  const auto selected = st.metadata.find("selected_on");
  c.selected_on = selected != st.metadata.end() ? selected->second
                  : c.train.data.val_split == 0  ? "test"
                                                 : "val";
  if (c.selected_on != "val" && c.selected_on != "test")
    throw Error(path + ": selected_on must be 'val' or 'test', got '" + c.selected_on + "'");
  const auto prints = st.metadata.find("data_fingerprint");
  if (prints == st.metadata.end()) return;
  try {
    const auto j = json::parse(prints->second);
    if (j.contains("data"))
      c.data_prints.data = DataFingerprint::from_json(j["data"].dump(), path);
    if (j.contains("test_data"))
      c.data_prints.test_data = DataFingerprint::from_json(j["test_data"].dump(), path);
  } catch (const json::exception& e) {
    throw Error(path + ": malformed data_fingerprint (" + e.what() + ")");
  }
}

void save_checkpoint(const std::string& path, const Checkpoint& c) {
  const auto table = param_table(c.model);
  const size_t P = param_count(c.model);
  VAE_ASSERT(c.params.size() == P);
  const bool with_optim = !c.adam_m.empty();
  VAE_ASSERT(!with_optim || (c.adam_m.size() == P && c.adam_v.size() == P));

  SafeTensors st;
  st.metadata = {{"format", kCheckpointFormat},
                 {"format_version", std::to_string(kCheckpointVersion)},
                 {"model", c.model.to_json()},
                 {"data_scaling", json{{"kind", scaler_kind_name(c.scaler.kind)},
                                       {"clamp01", c.scaler.clamp01}}.dump()}};
  if (!c.selected_on.empty()) st.metadata["selected_on"] = c.selected_on;
  json prints = json::object();
  if (c.data_prints.data.known()) prints["data"] = json::parse(c.data_prints.data.to_json());
  if (c.data_prints.test_data.known())
    prints["test_data"] = json::parse(c.data_prints.test_data.to_json());
  if (!prints.empty()) st.metadata["data_fingerprint"] = prints.dump();
  if (!c.class_names.empty()) st.metadata["class_names"] = json(c.class_names).dump();
  if (c.imported_from.empty()) {
    st.metadata["train_options"] = c.train.to_json();
    st.metadata["train_state"] = c.state.to_json();
  } else {
    st.metadata["imported_from"] = c.imported_from;  // no training run to describe
  }
  for (const ParamInfo& p : table) st.add_f32(p.name, p.shape, c.params.data() + p.offset);
  if (with_optim) {
    for (const ParamInfo& p : table)
      st.add_f32("optimizer.exp_avg." + p.name, p.shape, c.adam_m.data() + p.offset);
    for (const ParamInfo& p : table)
      st.add_f32("optimizer.exp_avg_sq." + p.name, p.shape, c.adam_v.data() + p.offset);
    st.add_i64("optimizer.step", {}, &c.adam_step);
  }
  if (!c.scaler.identity()) {
    VAE_ASSERT(c.scaler.offset.size() == static_cast<size_t>(c.model.input_dim));
    VAE_ASSERT(c.scaler.factor.size() == static_cast<size_t>(c.model.input_dim));
    st.add_f32("data.offset", {c.model.input_dim}, c.scaler.offset.data());
    st.add_f32("data.factor", {c.model.input_dim}, c.scaler.factor.data());
  }
  if (c.scaler.lo.size() == static_cast<size_t>(c.model.input_dim) &&
      c.scaler.hi.size() == c.scaler.lo.size()) {
    st.add_f32("data.min", {c.model.input_dim}, c.scaler.lo.data());
    st.add_f32("data.max", {c.model.input_dim}, c.scaler.hi.data());
  }
  write_safetensors(path, st);
}

namespace {

// The training run's options and state, or for an imported checkpoint, which has none, where
// it came from (the default options with no data, the zero state).
void read_run(const std::map<std::string, std::string>& metadata, const std::string& path,
              Checkpoint& c) {
  if (const auto it = metadata.find("imported_from"); it != metadata.end()) {
    c.imported_from = it->second;
    c.train.data.data.clear();
    return;
  }
  for (const char* key : {"train_options", "train_state"})
    if (!metadata.count(key))
      throw Error(path + ": not a vae.cpp checkpoint (metadata has no '" + key + "')");
  c.train = TrainOptions::from_json(metadata.at("train_options"), path);
  c.state = TrainState::from_json(metadata.at("train_state"), path);
}

}  // namespace

Checkpoint load_checkpoint(const std::string& path) {
  const SafeTensors st = read_safetensors(path);
  auto meta = [&](const std::string& key) -> const std::string& {
    const auto it = st.metadata.find(key);
    if (it == st.metadata.end())
      throw Error(path + ": not a vae.cpp checkpoint (metadata has no '" + key + "')");
    return it->second;
  };
  if (meta("format") != kCheckpointFormat)
    throw Error(path + ": not a vae.cpp checkpoint (format '" + meta("format") + "')");
  if (meta("format_version") != std::to_string(kCheckpointVersion))
    throw Error(path + ": checkpoint format version " + meta("format_version") +
                " is not supported (this build reads version " +
                std::to_string(kCheckpointVersion) + ")");
  Checkpoint c;
  c.model = ModelConfig::from_json(meta("model"), path);
  read_run(st.metadata, path, c);

  const auto table = param_table(c.model);
  // The parameter count comes from the metadata; check that the file really holds every tensor
  // before allocating (a tiny file must not be able to ask for gigabytes).
  const bool with_optim = st.find("optimizer.step") != nullptr;
  for (const ParamInfo& p : table) {
    st.require_f32(p.name, p.shape);
    if (with_optim) {
      st.require_f32("optimizer.exp_avg." + p.name, p.shape);
      st.require_f32("optimizer.exp_avg_sq." + p.name, p.shape);
    }
  }
  c.params.resize(param_count(c.model));
  auto fill = [&](std::vector<float>& dst, const std::string& prefix) {
    for (const ParamInfo& p : table) {
      const std::vector<float> v = st.get_f32(prefix + p.name, p.shape);
      std::copy(v.begin(), v.end(), dst.begin() + static_cast<std::ptrdiff_t>(p.offset));
    }
  };
  fill(c.params, "");
  for (float v : c.params)
    if (!std::isfinite(v)) throw Error(path + ": parameters contain NaN or Inf");
  if (with_optim) {
    c.adam_m.resize(c.params.size());
    c.adam_v.resize(c.params.size());
    fill(c.adam_m, "optimizer.exp_avg.");
    fill(c.adam_v, "optimizer.exp_avg_sq.");
    c.adam_step = st.get_i64("optimizer.step", {})[0];
    if (c.adam_step < 0) throw Error(path + ": optimizer.step is negative");
  }
  if (const auto it = st.metadata.find("data_scaling"); it != st.metadata.end()) {
    try {
      const auto j = json::parse(it->second);
      c.scaler.kind = parse_scaler_kind(j.at("kind").get<std::string>());
      c.scaler.clamp01 = j.at("clamp01").get<bool>();
    } catch (const json::exception& e) {
      throw Error(path + ": malformed data_scaling (" + e.what() + ")");
    } catch (const Error& e) {
      throw Error(path + ": data_scaling: " + e.what());
    }
  }
  if (const auto it = st.metadata.find("class_names"); it != st.metadata.end()) {
    try {
      c.class_names = json::parse(it->second).get<std::vector<std::string>>();
    } catch (const json::exception& e) {
      throw Error(path + ": malformed class_names (" + e.what() + ")");
    }
  }
  if (st.find("data.offset") || st.find("data.factor")) {
    c.scaler.offset = st.get_f32("data.offset", {c.model.input_dim});
    c.scaler.factor = st.get_f32("data.factor", {c.model.input_dim});
    for (size_t j = 0; j < c.scaler.factor.size(); ++j)
      if (!std::isfinite(c.scaler.offset[j]) || !std::isfinite(c.scaler.factor[j]) || c.scaler.factor[j] == 0)
        throw Error(path + ": data.offset/data.factor hold a non-finite or zero value");
  }
  read_data_record(st, path, c);
  return c;
}

Vae<float> model_from_checkpoint(const Checkpoint& ckpt, int max_batch) {
  if (max_batch < 1) throw FieldError("max_batch", "must be >= 1, got " + std::to_string(max_batch));
  Vae<float> model(ckpt.model, max_batch);
  if (ckpt.params.size() != model.num_params())
    throw Error("checkpoint: holds " + std::to_string(ckpt.params.size()) +
                " parameters, its model needs " + std::to_string(model.num_params()));
  std::copy(ckpt.params.begin(), ckpt.params.end(), model.params());
  return model;
}

}  // namespace vae
