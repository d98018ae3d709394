// `vae train`'s options: ONE table, train_flags(), with a row per flag the command takes (data,
// model, training and the command's own), each giving the field it sets, its default (read
// from the library's default-constructed structs, never written here), its help, and whether a
// resumed run may change it. From the table alone come
//   * the CLI11 options of `vae train` (TrainFlagParser; --help shows the true defaults),
//   * the check that refuses options a resumed run cannot change (check_resumable),
//   * the flag named in a vae::FieldError message (flag_for_field; main.cpp prints it),
//   * the command line that reproduces a run, shown by the report (reproduce_command).
// A new training option is its field in the library (and its use) plus one row here.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <utility>
#include <vector>

#include "vae/checkpoint.h"
#include "vae/error.h"
#include "vae/model.h"
#include "vae/train_options.h"

namespace vae_cli {

/// Everything one `vae train` command line asks for.
struct TrainSetup {
  vae::TrainOptions train;  ///< the data options inside
  /// num_classes 1 marks --conditional until the data give the class count.
  vae::ModelConfig model;
  std::string out;          ///< the run folder; empty: a new one under runs/, or the resumed run's
  int threads = 0;          ///< 0 = all cores
  std::string resume;       ///< the checkpoint of a run to continue, or empty
  bool overwrite = false;   ///< start over in a folder that holds a run
  std::string config;       ///< a JSON model description, or empty
};

enum class OnResume { Refused, Allowed };

/// One option of `vae train`.
struct TrainFlag {
  std::string flag;   ///< "--batch-size"
  /// The field the option sets, as vae::FieldError names it: a member of TrainOptions,
  /// DataOptions or ModelConfig ("batch_size", "val_split", "latent"), or of TrainSetup for
  /// the command's own options ("out", "threads").
  std::string field;
  OnResume on_resume;
  bool is_switch;     ///< takes no value (--conditional, --overwrite)
  /// The value as the command line spells it ("0.001", "512,256", "linear:5"; switches
  /// "true" or "false").
  std::function<std::string(const TrainSetup&)> get;
  /// Sets the field from the command line's text; throws vae::FieldError(field, ...) for a
  /// value the field cannot take (ranges are the library's validate()'s to check).
  std::function<void(TrainSetup&, const std::string&)> set;
  /// Whether the command line that reproduces a run spells this option.
  bool (*shown)(const TrainFlag& row, const TrainSetup& setup);
  std::string help;
  std::string value_name;  ///< what --help calls the value: "INT", "FLOAT", "TEXT"

  /// The value of a default-constructed TrainSetup: the library's default.
  std::string default_text() const;
};

/// The table, in the order of --help and of the reproduced command line.
const std::vector<TrainFlag>& train_flags();
/// The row of `flag` ("--lr"); a flag missing from the table is a broken contract.
const TrainFlag& train_flag(const std::string& flag);
/// The flag that sets `field` ("batch_size" → "--batch-size"), or `field` itself when no row
/// sets it.
std::string flag_for_field(const std::string& field);
/// A field error as the command prints it: "--flag: problem", every field in it as its flag
/// ("--patience: … needs a validation split (--val-split)").
std::string flag_message(const vae::FieldError& e);

/// The options given on one command line, in table order, with their text ("true" for a switch).
struct GivenFlags {
  std::vector<std::pair<const TrainFlag*, std::string>> items;
  bool has(const std::string& flag) const;
  std::string text(const std::string& flag) const;  ///< "" when not given
};

/// One CLI11 option per row of the table, each over its own buffer. CLI11 keeps pointers into
/// the buffers: the parser stays where it was made.
class TrainFlagParser {
 public:
  explicit TrainFlagParser(CLI::App* app);
  TrainFlagParser(const TrainFlagParser&) = delete;
  TrainFlagParser& operator=(const TrainFlagParser&) = delete;
  /// After app->parse(): what was given.
  GivenFlags given() const;

 private:
  struct Slot {
    std::string text;
    bool on = false;
    CLI::Option* option = nullptr;
  };
  std::vector<Slot> slots_;  ///< one per row of train_flags()
};

/// Sets the field of each given option, in table order. Throws vae::FieldError for a value its
/// field cannot take.
void apply_flags(TrainSetup& setup, const GivenFlags& given);

/// Throws UsageError naming the first given option that a resumed run cannot change.
void check_resumable(const GivenFlags& given);

/// The words of the `vae train` command that repeats the checkpoint's run into `out_dir`:
/// "vae", "train", then the options the table shows for the run (data, model, training: the
/// ones every run states and those away from their defaults), values as the table spells them.
/// A model described by --config names the run's model.json (written by `vae train`).
std::vector<std::string> reproduce_words(const vae::Checkpoint& ckpt, const std::string& out_dir);
/// reproduce_words joined by spaces, each shell-quoted where needed.
std::string reproduce_command(const vae::Checkpoint& ckpt, const std::string& out_dir);

/// A word as the shell reads it: unchanged when it holds only safe characters, else in single
/// quotes with each ' written as '\''.
std::string shell_quote(const std::string& word);

}  // namespace vae_cli
