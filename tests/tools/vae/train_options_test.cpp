// Tests for tools/vae/train_options.cpp, `vae train`'s option table: every row is in --help with
// the library's default, applying a row's default text leaves the library's structs at their
// defaults, --resume refuses exactly the rows marked so, fields map to flags, and the command
// line that reproduces a run parses back into the same options.
#include "train_options.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "cli.h"
#include "cli/cli_util.h"
#include "vae/error.h"
#include "vae/trainer.h"

namespace {

using vae_cli::GivenFlags;
using vae_cli::TrainFlag;
using vae_cli::TrainSetup;
using vae_cli::train_flags;

// What `vae train ARGS` gives, parsed by the table's own CLI11 options.
GivenFlags parse_train(const std::vector<std::string>& args) {
  CLI::App app{"train"};
  vae_cli::TrainFlagParser parser(&app);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them reversed
  app.parse(reversed);
  return parser.given();
}

// Every option's value as the table spells it.
std::vector<std::string> texts(const TrainSetup& s) {
  std::vector<std::string> out;
  for (const TrainFlag& row : train_flags()) out.push_back(row.flag + " " + row.get(s));
  return out;
}

TEST(TrainFlags, FlagsAndFieldsAreUnique) {
  std::set<std::string> flags, fields;
  for (const TrainFlag& row : train_flags()) {
    EXPECT_EQ(row.flag.rfind("--", 0), 0u) << row.flag;
    EXPECT_TRUE(flags.insert(row.flag).second) << row.flag;
    EXPECT_TRUE(fields.insert(row.field).second) << row.field;
    EXPECT_FALSE(row.help.empty()) << row.flag;
  }
}

TEST(TrainFlags, EveryRowIsInHelpWithTheLibrarysDefault) {
  const vae_cli_test::RunResult help = vae_cli_test::vae_run({"train", "--help"});
  ASSERT_EQ(help.code, 0) << help.err;
  for (const TrainFlag& row : train_flags()) {
    const size_t at = help.out.find("\n  " + row.flag + " ");
    ASSERT_NE(at, std::string::npos) << row.flag << " missing from\n" << help.out;
    const std::string line = help.out.substr(at + 1, help.out.find('\n', at + 1) - at - 1);
    if (!row.is_switch && !row.default_text().empty()) {
      EXPECT_NE(line.find("=" + row.default_text() + " "), std::string::npos) << line;
    }
  }
}

TEST(TrainFlags, DefaultsAreTheLibrarysStructs) {
  const vae::TrainOptions train;
  const vae::ModelConfig model;
  EXPECT_EQ(vae_cli::train_flag("--lr").default_text(), "0.001");
  EXPECT_EQ(vae_cli::train_flag("--epochs").default_text(), std::to_string(train.epochs));
  EXPECT_EQ(vae_cli::train_flag("--latent").default_text(), std::to_string(model.latent));
  EXPECT_EQ(vae_cli::train_flag("--scale").default_text(), vae::scale_name(train.data.scale));
  EXPECT_EQ(vae_cli::train_flag("--hidden").default_text(), "400");
  EXPECT_EQ(vae_cli::train_flag("--conditional").default_text(), "false");
  // Setting every option to its default text changes nothing.
  TrainSetup s;
  GivenFlags all;
  for (const TrainFlag& row : train_flags())
    if (!row.is_switch) all.items.emplace_back(&row, row.default_text());
  vae_cli::apply_flags(s, all);
  EXPECT_EQ(s.train.to_json(), train.to_json());
  EXPECT_EQ(s.model.to_json(), model.to_json());
  EXPECT_EQ(texts(s), texts(TrainSetup{}));
}

TEST(TrainFlags, ResumeRefusesExactlyTheRowsMarkedSo) {
  std::vector<std::string> allowed;
  for (const TrainFlag& row : train_flags()) {
    GivenFlags given;
    given.items.emplace_back(&row, row.default_text());
    if (row.on_resume == vae_cli::OnResume::Allowed) {
      EXPECT_NO_THROW(vae_cli::check_resumable(given)) << row.flag;
      allowed.push_back(row.flag);
      continue;
    }
    try {
      vae_cli::check_resumable(given);
      ADD_FAILURE() << row.flag << " allowed with --resume";
    } catch (const vae_cli::UsageError& e) {
      EXPECT_EQ(std::string(e.what()).rfind(row.flag + ": cannot be combined with --resume", 0), 0u)
          << e.what();
      EXPECT_NE(std::string(e.what()).find("--data, --epochs, --max-recoveries, --save-every, "
                                           "--out and --threads apply"),
                std::string::npos)
          << e.what();
    }
  }
  EXPECT_EQ(allowed, (std::vector<std::string>{"--data", "--epochs", "--max-recoveries",
                                               "--save-every", "--out", "--threads", "--resume"}));
}

TEST(TrainFlags, FieldsMapToFlags) {
  for (const TrainFlag& row : train_flags()) EXPECT_EQ(vae_cli::flag_for_field(row.field), row.flag);
  EXPECT_EQ(vae_cli::flag_for_field("batch_size"), "--batch-size");
  EXPECT_EQ(vae_cli::flag_for_field("val_split"), "--val-split");
  EXPECT_EQ(vae_cli::flag_for_field("num_classes"), "--conditional");
  EXPECT_EQ(vae_cli::flag_for_field("input_dim"), "input_dim");  // no flag sets it
  // A value a row cannot read is refused under the row's own field, so main.cpp names its flag.
  for (const TrainFlag& row : train_flags()) {
    if (row.is_switch) continue;
    TrainSetup s;
    try {
      row.set(s, "x!");
    } catch (const vae::FieldError& e) {
      EXPECT_EQ(e.field(), row.field) << row.flag;
    }
  }
  // The library's own checks name fields the table maps.
  vae::TrainOptions o;
  o.kl_warmup = vae::parse_kl_warmup("linear:2");
  o.objective = vae::Objective::Iwae;
  try {
    o.validate();
    ADD_FAILURE() << "iwae with a KL warm-up";
  } catch (const vae::FieldError& e) {
    EXPECT_EQ(vae_cli::flag_for_field(e.field()), "--objective");
  }
}

TEST(TrainFlags, NumbersAndListsAreCheckedAsTheyAreRead) {
  TrainSetup s;
  GivenFlags given = parse_train({"--hidden", "512,256", "--sigma", "learned", "--likelihood", "gaussian", "--seed",
                                  "18446744073709551615", "--kl-warmup", "cyclical:2.5"});
  vae_cli::apply_flags(s, given);
  EXPECT_EQ(s.model.hidden, (std::vector<int>{512, 256}));
  EXPECT_EQ(s.model.likelihood, vae::Likelihood::GaussianLearnedSigma);
  EXPECT_EQ(s.train.seed, 18446744073709551615ull);
  EXPECT_EQ(s.train.kl_warmup.kind, vae::KlWarmup::Kind::Cyclical);
  vae_cli::apply_flags(s, parse_train({"--hidden", "none"}));
  EXPECT_TRUE(s.model.hidden.empty());
  for (const auto& [flag, text] : std::vector<std::pair<std::string, std::string>>{
           {"--latent", "1.5"}, {"--latent", "99999999999"}, {"--seed", "-1"}, {"--lr", "nan"},
           {"--hidden", "8,"}, {"--sigma", "wide"}, {"--binarize", "maybe"}}) {
    TrainSetup t;
    EXPECT_THROW(vae_cli::apply_flags(t, parse_train({flag, text})), vae::FieldError)
        << flag << " " << text;
  }
}

// ---- The reproduced command line ------------------------------------------------------------

vae::Checkpoint default_checkpoint() {
  vae::Checkpoint c;
  c.model.hidden = {400};
  c.model.latent = 20;
  return c;
}

TEST(ReproduceCommand, DefaultRun) {
  EXPECT_EQ(vae_cli::reproduce_command(default_checkpoint(), "runs/a"),
            "vae train --data fashion-mnist --hidden 400 --latent 20 --activation relu "
            "--epochs 10 --batch-size 128 --lr 0.001 --seed 1 --binarize none --out runs/a");
}

vae::Checkpoint every_option_checkpoint() {
  vae::Checkpoint c = default_checkpoint();
  c.model.hidden = {512, 256};
  c.model.latent = 2;
  c.model.activation = vae::Activation::Tanh;
  c.train.data.data = "/data/my images";
  c.train.epochs = 30;
  c.train.batch_size = 64;
  c.train.lr = 3e-4;
  c.train.seed = 42;
  c.train.binarize = vae::Binarize::Dynamic;
  return c;
}

TEST(ReproduceCommand, EveryOptionSpelledOutAndQuoted) {
  vae::Checkpoint c = every_option_checkpoint();
  EXPECT_EQ(vae_cli::reproduce_command(c, "it's here"),
            "vae train --data '/data/my images' --hidden 512,256 --latent 2 --activation tanh "
            "--epochs 30 --batch-size 64 --lr 0.0003 --seed 42 --binarize dynamic "
            "--out 'it'\\''s here'");
  // Options away from their defaults are spelled out too.
  c.train.data.val_split = 0.1;
  c.train.data.scale = vae::Scale::Standardize;
  c.model.likelihood = vae::Likelihood::Gaussian;
  c.model.sigma = 0.5;
  c.train.beta = 4;
  c.train.kl_warmup = vae::parse_kl_warmup("linear:5");
  c.train.free_bits = 0.25;
  c.train.patience = 3;
  c.train.max_recoveries = 0;
  EXPECT_EQ(vae_cli::reproduce_command(c, "out"),
            "vae train --data '/data/my images' --val-split 0.1 --scale standardize "
            "--hidden 512,256 --latent 2 --activation tanh --likelihood gaussian --sigma 0.5 "
            "--epochs 30 --batch-size 64 --lr 0.0003 --seed 42 --binarize dynamic --beta 4 "
            "--kl-warmup linear:5 --free-bits 0.25 --patience 3 --max-recoveries 0 --out out");
}

TEST(ReproduceCommand, ConvIwaeConditionalAndConfigRuns) {
  vae::Checkpoint c = default_checkpoint();
  c.model.arch = vae::Arch::Conv;
  c.model.num_classes = 10;
  c.train.objective = vae::Objective::Iwae;
  c.train.k = 5;
  c.train.clip_grad = 1;
  EXPECT_EQ(vae_cli::reproduce_command(c, "o"),
            "vae train --data fashion-mnist --arch conv --latent 20 --activation relu "
            "--conditional --epochs 10 --batch-size 128 --lr 0.001 --seed 1 --binarize none "
            "--objective iwae --k 5 --clip-grad 1 --out o");
  c = default_checkpoint();
  c.model.arch = vae::Arch::Custom;
  c.model.likelihood = vae::Likelihood::Gaussian;
  EXPECT_EQ(vae_cli::reproduce_command(c, "o"),
            "vae train --data fashion-mnist --config o/model.json --epochs 10 --batch-size 128 "
            "--lr 0.001 --seed 1 --binarize none --out o");
}

TEST(ReproduceCommand, ParsesBackIntoTheSameOptions) {
  vae::Checkpoint c = every_option_checkpoint();
  c.train.data.test_data = "t.csv";
  c.train.data.val_split = 0.125;
  c.train.data.label_column = "label";
  c.train.data.scale = vae::Scale::None;
  c.model.likelihood = vae::Likelihood::GaussianLearnedSigma;
  c.train.kl_warmup = vae::parse_kl_warmup("cyclical:2.5");
  c.train.free_bits = 0.5;
  c.train.clip_grad = 3;
  c.train.max_recoveries = 7;
  for (const vae::Checkpoint& ckpt : {default_checkpoint(), c}) {
    const std::vector<std::string> words = vae_cli::reproduce_words(ckpt, "runs/x");
    ASSERT_GE(words.size(), 2u);
    TrainSetup parsed;
    vae_cli::apply_flags(parsed, parse_train({words.begin() + 2, words.end()}));
    TrainSetup original;
    original.train = ckpt.train;
    original.model = ckpt.model;
    original.out = "runs/x";
    EXPECT_EQ(texts(parsed), texts(original));
    EXPECT_EQ(parsed.train.to_json(), original.train.to_json());
  }
}

}  // namespace
