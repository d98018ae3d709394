// Training options: their enums' names, the KL schedule, validation and the JSON form
// (include/vae/train_options.h).
#include "vae/train_options.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "core/enum_names.h"
#include "io/json_fields.h"
#include "io/number_text.h"
#include "vae/error.h"

namespace vae {

namespace {

using nlohmann::json;

constexpr EnumName<Binarize> kBinarizeNames[] = {{Binarize::None, "none"},
                                                 {Binarize::Dynamic, "dynamic"}};
constexpr EnumName<Objective> kObjectiveNames[] = {{Objective::Elbo, "elbo"},
                                                   {Objective::Iwae, "iwae"}};
constexpr EnumName<KlWarmup::Kind> kKlWarmupNames[] = {{KlWarmup::Kind::None, "none"},
                                                       {KlWarmup::Kind::Linear, "linear"},
                                                       {KlWarmup::Kind::Cyclical, "cyclical"}};
constexpr EnumName<LrSchedule::Kind> kLrScheduleNames[] = {{LrSchedule::Kind::None, "none"},
                                                           {LrSchedule::Kind::Step, "step"},
                                                           {LrSchedule::Kind::Cosine, "cosine"},
                                                           {LrSchedule::Kind::Plateau, "plateau"}};
constexpr double kPi = 3.14159265358979323846;

}  // namespace

const char* binarize_name(Binarize binarize) { return enum_name(kBinarizeNames, binarize); }
Binarize parse_binarize(const std::string& text) {
  return enum_parse(kBinarizeNames, text, "binarize");
}

const char* objective_name(Objective objective) { return enum_name(kObjectiveNames, objective); }
Objective parse_objective(const std::string& text) {
  return enum_parse(kObjectiveNames, text, "objective");
}

// ---- The KL schedule ------------------------------------------------------------------------

double KlWarmup::weight(double beta, double t) const {
  switch (kind) {
    case Kind::None: return beta;
    case Kind::Linear: return beta * std::min(1.0, t / period);
    case Kind::Cyclical: {
      const double u = std::fmod(t, period) / period;
      return beta * std::min(1.0, 2.0 * u);
    }
  }
  return beta;
}

std::string kl_warmup_name(const KlWarmup& warmup) {
  const std::string kind = enum_name(kKlWarmupNames, warmup.kind);
  return warmup.kind == KlWarmup::Kind::None ? kind : kind + ":" + shortest(warmup.period);
}

KlWarmup parse_kl_warmup(const std::string& text) {
  auto bad = [&] {
    return FieldError("kl_warmup", "expected none, linear:EPOCHS or cyclical:PERIOD with a "
                                   "positive number, got '" + text + "'");
  };
  KlWarmup w;
  if (text == "none") return w;
  const size_t colon = text.find(':');
  if (colon == std::string::npos) throw bad();
  const std::string kind = text.substr(0, colon), period = text.substr(colon + 1);
  if (kind == "linear") w.kind = KlWarmup::Kind::Linear;
  else if (kind == "cyclical") w.kind = KlWarmup::Kind::Cyclical;
  else throw bad();
  size_t used = 0;
  try {
    w.period = std::stod(period, &used);
  } catch (const std::exception&) {
    throw bad();
  }
  if (used != period.size() || !(w.period > 0) || !std::isfinite(w.period)) throw bad();
  return w;
}

// ---- The learning-rate schedule -------------------------------------------------------------

double LrSchedule::rate(double base_lr, int64_t t, int epochs, int64_t reductions) const {
  switch (kind) {
    case Kind::None: return base_lr;
    case Kind::Step: return base_lr * std::pow(factor, static_cast<double>(t / every));
    case Kind::Cosine:
      return base_lr * 0.5 *
             (1.0 + std::cos(kPi * static_cast<double>(t) / std::max(epochs, 1)));
    case Kind::Plateau: return base_lr * std::pow(factor, static_cast<double>(reductions));
  }
  return base_lr;
}

std::string lr_schedule_name(const LrSchedule& schedule) {
  const std::string kind = enum_name(kLrScheduleNames, schedule.kind);
  const bool two_numbers =
      schedule.kind == LrSchedule::Kind::Step || schedule.kind == LrSchedule::Kind::Plateau;
  return two_numbers ? kind + ":" + std::to_string(schedule.every) + ":" + shortest(schedule.factor)
                     : kind;
}

LrSchedule parse_lr_schedule(const std::string& text) {
  auto bad = [&] {
    return FieldError("lr_schedule", "expected none, cosine, step:EPOCHS:FACTOR or "
                                     "plateau:EPOCHS:FACTOR (EPOCHS a whole number >= 1, FACTOR "
                                     "in (0, 1]), got '" + text + "'");
  };
  LrSchedule s;
  if (text == "none") return s;
  if (text == "cosine") {
    s.kind = LrSchedule::Kind::Cosine;
    return s;
  }
  const size_t a = text.find(':'), b = a == std::string::npos ? a : text.find(':', a + 1);
  if (b == std::string::npos) throw bad();
  const std::string kind = text.substr(0, a), every = text.substr(a + 1, b - a - 1),
                    factor = text.substr(b + 1);
  if (kind == "step") s.kind = LrSchedule::Kind::Step;
  else if (kind == "plateau") s.kind = LrSchedule::Kind::Plateau;
  else throw bad();
  size_t used_every = 0, used_factor = 0;
  try {
    if (every.empty() || every.find_first_not_of("0123456789") != std::string::npos) throw bad();
    s.every = std::stoi(every, &used_every);
    s.factor = std::stod(factor, &used_factor);
  } catch (const std::exception&) {
    throw bad();
  }
  if (used_factor != factor.size() || s.every < 1 || !(s.factor > 0 && s.factor <= 1)) throw bad();
  return s;
}

// ---- Validation -----------------------------------------------------------------------------

void TrainOptions::validate() const {
  auto count = [](int v) { return ", got " + std::to_string(v); };
  if (epochs < 0) throw FieldError("epochs", "must be >= 0" + count(epochs));
  if (batch_size < 1 || batch_size > 65536)
    throw FieldError("batch_size", "must be in 1..65536" + count(batch_size));
  if (!(lr > 0) || !std::isfinite(lr)) throw FieldError("lr", "must be a positive number");
  if ((lr_schedule.kind == LrSchedule::Kind::Step || lr_schedule.kind == LrSchedule::Kind::Plateau) &&
      (lr_schedule.every < 1 || !(lr_schedule.factor > 0 && lr_schedule.factor <= 1)))
    throw FieldError("lr_schedule", "needs a whole number of epochs >= 1 and a factor in (0, 1]");
  if (!(weight_decay >= 0) || !std::isfinite(weight_decay))
    throw FieldError("weight_decay", "must be a number >= 0 (0 = off)");
  if (patience < 0) throw FieldError("patience", "must be >= 0" + count(patience));
  if (!(beta >= 0) || !std::isfinite(beta)) throw FieldError("beta", "must be a number >= 0");
  if (!(free_bits >= 0) || !std::isfinite(free_bits))
    throw FieldError("free_bits", "must be a number >= 0 (nats per latent dimension)");
  if (kl_warmup.kind != KlWarmup::Kind::None &&
      (!(kl_warmup.period > 0) || !std::isfinite(kl_warmup.period)))
    throw FieldError("kl_warmup", "the period must be a positive number of epochs");
  if (k < 1 || k > 4096) throw FieldError("k", "must be in 1..4096" + count(k));
  if (objective == Objective::Elbo && k != 1)
    throw FieldError("k", "importance samples need the iwae objective");
  if (objective == Objective::Iwae &&
      (beta != 1.0 || kl_warmup.kind != KlWarmup::Kind::None || free_bits != 0.0))
    throw FieldError("objective", "iwae: the importance-weighted bound has no KL term to weight; "
                                  "leave beta, kl_warmup and free_bits at their defaults");
  if (!(clip_grad >= 0) || !std::isfinite(clip_grad))
    throw FieldError("clip_grad", "must be a number >= 0 (0 = off)");
  if (max_recoveries < 0)
    throw FieldError("max_recoveries", "must be >= 0" + count(max_recoveries));
  if (save_every < 0) throw FieldError("save_every", "must be >= 0 (0 = off)" + count(save_every));
  if (patience > 0 && data.val_split == 0)
    throw FieldError("patience", "early stopping watches the validation loss; it needs a "
                                 "validation split ({val_split})");
  data.validate();
}

// ---- The JSON form --------------------------------------------------------------------------

namespace {

// One member's value as JSON and back: integers checked for range, enums by name.
json value_to_json(int v) { return v; }
json value_to_json(uint64_t v) { return v; }
json value_to_json(double v) { return v; }
json value_to_json(const std::string& v) { return v; }
json value_to_json(Binarize v) { return binarize_name(v); }
json value_to_json(Objective v) { return objective_name(v); }
json value_to_json(Scale v) { return scale_name(v); }
json value_to_json(char v) { return csv_delimiter_name(v); }
json value_to_json(CsvHeader v) { return csv_header_name(v); }
json value_to_json(const KlWarmup& v) { return kl_warmup_name(v); }
json value_to_json(const LrSchedule& v) { return lr_schedule_name(v); }

void value_from_json(const json& j, const char* key, int& v) { v = json_int(j, key); }
void value_from_json(const json& j, const char* key, uint64_t& v) { v = json_uint64(j, key); }
void value_from_json(const json& j, const char* key, double& v) { v = json_double(j, key); }
void value_from_json(const json& j, const char*, std::string& v) { v = j.get<std::string>(); }
void value_from_json(const json& j, const char*, Binarize& v) {
  v = parse_binarize(j.get<std::string>());
}
void value_from_json(const json& j, const char*, Objective& v) {
  v = parse_objective(j.get<std::string>());
}
void value_from_json(const json& j, const char*, Scale& v) {
  v = parse_scale(j.get<std::string>());
}
void value_from_json(const json& j, const char*, char& v) {
  v = parse_csv_delimiter(j.get<std::string>());
}
void value_from_json(const json& j, const char*, CsvHeader& v) {
  v = parse_csv_header(j.get<std::string>());
}
void value_from_json(const json& j, const char*, KlWarmup& v) {
  v = parse_kl_warmup(j.get<std::string>());
}
void value_from_json(const json& j, const char*, LrSchedule& v) {
  v = parse_lr_schedule(j.get<std::string>());
}

// One key of the JSON form. A file without a key that is not `required` (one added after format
// version 1 first shipped) reads as the behaviour before the option: `before` sets it when that
// differs from the struct's default.
struct JsonField {
  const char* key;
  std::function<json(const TrainOptions&)> write;
  std::function<void(TrainOptions&, const json&)> read;
  bool required = true;
  std::function<void(TrainOptions&)> before;
};

// `member` is a generic lambda returning a reference to the member in a TrainOptions (const or
// not), so that one accessor serves both directions.
template <class Member>
JsonField required_key(const char* key, Member member) {
  return {key, [member](const TrainOptions& o) { return value_to_json(member(o)); },
          [key, member](TrainOptions& o, const json& j) { value_from_json(j, key, member(o)); },
          true, nullptr};
}

template <class Member>
JsonField optional_key(const char* key, Member member) {
  JsonField f = required_key(key, member);
  f.required = false;
  return f;
}

template <class Member, class Value>
JsonField optional_key(const char* key, Member member, Value before) {
  JsonField f = optional_key(key, member);
  f.before = [member, before](TrainOptions& o) { member(o) = before; };
  return f;
}

#define VAE_MEMBER(path) [](auto& o) -> auto& { return o.path; }

// Every key but "optimizer" (always "adam", written for readers of the file), in reading order.
const std::vector<JsonField>& json_fields() {
  static const std::vector<JsonField> fields = {
      required_key("epochs", VAE_MEMBER(epochs)),
      required_key("batch_size", VAE_MEMBER(batch_size)),
      required_key("lr", VAE_MEMBER(lr)),
      optional_key("lr_schedule", VAE_MEMBER(lr_schedule)),
      optional_key("weight_decay", VAE_MEMBER(weight_decay)),
      required_key("seed", VAE_MEMBER(seed)),
      required_key("binarize", VAE_MEMBER(binarize)),
      optional_key("patience", VAE_MEMBER(patience)),
      optional_key("beta", VAE_MEMBER(beta)),
      optional_key("kl_warmup", VAE_MEMBER(kl_warmup)),
      optional_key("free_bits", VAE_MEMBER(free_bits)),
      optional_key("objective", VAE_MEMBER(objective)),
      optional_key("k", VAE_MEMBER(k)),
      optional_key("clip_grad", VAE_MEMBER(clip_grad)),
      // Runs from before the option stopped at the first non-finite step.
      optional_key("max_recoveries", VAE_MEMBER(max_recoveries), 0),
      optional_key("save_every", VAE_MEMBER(save_every)),
      optional_key("init_from", VAE_MEMBER(init_from)),
      required_key("data", VAE_MEMBER(data.data)),
      optional_key("test_data", VAE_MEMBER(data.test_data)),
      optional_key("test_split", VAE_MEMBER(data.test_split)),
      // Runs from before the default validation split had none.
      optional_key("val_split", VAE_MEMBER(data.val_split), 0.0),
      optional_key("label_column", VAE_MEMBER(data.label_column)),
      optional_key("delimiter", VAE_MEMBER(data.delimiter)),
      optional_key("header", VAE_MEMBER(data.header)),
      optional_key("scale", VAE_MEMBER(data.scale)),
      optional_key("limit", VAE_MEMBER(data.limit)),
  };
  return fields;
}

#undef VAE_MEMBER

}  // namespace

std::string TrainOptions::to_json() const {
  json j = {{"optimizer", "adam"}};
  for (const JsonField& f : json_fields()) j[f.key] = f.write(*this);
  if (init_from.empty()) j.erase("init_from");  // only runs that started from a checkpoint
  return j.dump();
}

TrainOptions TrainOptions::from_json(const std::string& text, const std::string& origin) {
  TrainOptions o;
  try {
    const auto j = json::parse(text);
    for (const JsonField& f : json_fields()) {
      if (f.required || j.contains(f.key))
        f.read(o, j.at(f.key));
      else if (f.before)
        f.before(o);
    }
    o.validate();
  } catch (const json::exception& e) {
    throw Error(origin + ": malformed train_options (" + e.what() + ")");
  } catch (const Error& e) {
    throw Error(origin + ": train_options: " + e.what());
  }
  return o;
}

}  // namespace vae
