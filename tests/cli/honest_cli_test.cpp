// The numbers a run reports, held to independent values: the model is selected on validation
// rows taken from the training data (the test set is scored once), `vae eval` and `vae score`
// agree with final.json, the data a later command re-creates are the data the run saw (by
// fingerprint, whatever the path is written as), and inputs outside the training range are
// flagged, not clamped silently.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "cli_util.h"
#include "vae/checkpoint.h"

namespace {

using namespace vae_cli_test;
using vae_test::exists;
using vae_test::read_bytes;
using vae_test::TempDir;
using vae_test::write_bytes;

// 60 rows of 3 columns, x0 = i, x1 = (7i mod 13), x2 = 0.5 i; label i % 2.
std::string table(int rows = 60) {
  std::string csv = "a,b,c,label\n";
  for (int i = 0; i < rows; ++i)
    csv += std::to_string(i) + "," + std::to_string((7 * i) % 13) + "," + std::to_string(0.5 * i) +
           "," + std::to_string(i % 2) + "\n";
  return csv;
}

std::vector<std::string> train_args(const std::string& data, const std::string& out) {
  return {"train", "--data", data,      "--out",       out,        "--epochs",   "3",
          "--batch-size", "16", "--hidden", "8", "--latent", "2", "--threads", "1",
          "--likelihood", "gaussian", "--label-column", "label"};
}

nlohmann::json json_file(const std::string& path) { return nlohmann::json::parse(read_bytes(path)); }

// Rows of a CSV file as numbers (the header skipped).
std::vector<std::vector<double>> csv_rows(const std::string& path) {
  std::vector<std::vector<double>> rows;
  const auto lines = split_lines(read_bytes(path));
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<double> v;
    std::stringstream ss(lines[i]);
    for (std::string f; std::getline(ss, f, ',');) v.push_back(std::stod(f));
    rows.push_back(v);
  }
  return rows;
}

// `vae args...` run by the shell from folder `dir`.
RunResult vae_run_in(const std::string& dir, const std::vector<std::string>& args) {
  std::string cmd = "cd '" + dir + "' && exec '" + std::string(VAE_BINARY) + "'";
  for (const std::string& a : args) cmd += " '" + a + "'";
  return run_binary("/bin/sh", {"-c", cmd});
}

TEST(HonestCli, TheDefaultSelectsOnValidationRowsAndScoresTheTestSetOnce) {
  TempDir tmp;
  const std::string data = tmp.file("t.csv"), run = tmp.file("run");
  write_bytes(data, table());
  const auto args = train_args(data, run);
  const RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  // 60 rows: 6 test (10%), then round(10% of the 54 others) = 5 for validation.
  EXPECT_NE(r.out.find("49 train / 5 val / 6 test"), std::string::npos) << r.out;

  // Every epoch is scored on validation rows; best.safetensors is the epoch of the lowest.
  const auto lines = split_lines(read_bytes(run + "/metrics.jsonl"));
  ASSERT_EQ(lines.size(), 3u);
  double best = INFINITY;
  int best_epoch = 0;
  for (const std::string& line : lines) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_FALSE(j.contains("test_loss")) << line;
    if (j.at("val_loss").get<double>() < best) {
      best = j.at("val_loss").get<double>();
      best_epoch = j.at("epoch").get<int>();
    }
  }
  const vae::Checkpoint chosen = vae::load_checkpoint(run + "/best.safetensors");
  EXPECT_EQ(chosen.selected_on, "val");
  EXPECT_EQ(chosen.state.epoch, best_epoch);
  const auto final = json_file(run + "/final.json");
  EXPECT_EQ(final.at("selected_on"), "val");
  EXPECT_EQ(final.at("best_epoch").get<int>(), best_epoch);
  EXPECT_NEAR(final.at("val_loss").get<double>(), best, 1e-4);

  // The test figure of final.json is the selected model's, as `vae eval` computes it alone.
  const std::vector<std::string> eval = {"eval", run + "/best.safetensors", "--threads", "1"};
  const RunResult e = vae_run(eval);
  ASSERT_EQ(e.code, 0) << describe(eval, e);
  const auto ej = nlohmann::json::parse(e.out);
  EXPECT_EQ(ej.at("examples").get<int>(), 6);
  EXPECT_EQ(ej.at("split"), "test");
  EXPECT_EQ(ej.at("loss").get<double>(), final.at("test_loss").get<double>());
  EXPECT_EQ(ej.at("recon").get<double>(), final.at("test_recon").get<double>());
  EXPECT_EQ(ej.at("kl").get<double>(), final.at("test_kl").get<double>());

  // The rows `vae score` writes average to eval's loss.
  const std::string scores = tmp.file("s.csv");
  const std::vector<std::string> score = {"score", run + "/best.safetensors", "--threads", "1",
                                          "--out", scores};
  const RunResult s = vae_run(score);
  ASSERT_EQ(s.code, 0) << describe(score, s);
  const auto rows = csv_rows(scores);
  ASSERT_EQ(rows.size(), 6u);
  double sum = 0, recon = 0;
  for (const auto& row : rows) sum += row.at(3), recon += row.at(4);  // neg_elbo, recon_nll
  EXPECT_NEAR(sum / 6, ej.at("loss").get<double>(), 1e-4);
  EXPECT_NEAR(recon / 6, ej.at("recon").get<double>(), 1e-4);

  // The report shows where the model was chosen and final.json's figure.
  const std::string html = read_bytes(run + "/report.html");
  EXPECT_NE(html.find("the validation split (rows taken from the training data)"), std::string::npos);
  char cell[64];
  std::snprintf(cell, sizeof cell, "%.2f (recon %.2f + KL %.2f, epoch %d)",
                final.at("test_loss").get<double>(), final.at("test_recon").get<double>(),
                final.at("test_kl").get<double>(), best_epoch);
  EXPECT_NE(html.find(cell), std::string::npos) << cell;
}

TEST(HonestCli, ValSplitZeroSelectsOnTheTestSetAndSaysSo) {
  TempDir tmp;
  const std::string data = tmp.file("t.csv"), run = tmp.file("run");
  write_bytes(data, table());
  auto args = train_args(data, run);
  args.insert(args.end(), {"--val-split", "0"});
  const RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  EXPECT_NE(r.out.find("54 train / 0 val / 6 test"), std::string::npos) << r.out;
  EXPECT_EQ(vae::load_checkpoint(run + "/best.safetensors").selected_on, "test");
  EXPECT_EQ(json_file(run + "/final.json").at("selected_on"), "test");
  EXPECT_NE(read_bytes(run + "/report.html").find("the test set (--val-split 0)"),
            std::string::npos);
  const RunResult info = vae_run({"info", run + "/best.safetensors"});
  EXPECT_NE(info.out.find("best         test loss"), std::string::npos) << info.out;
}

TEST(HonestCli, AnMnistFolderValidatesOnTheLastSixthOfItsTrainingImages) {
  TempDir tmp;
  const std::string data = write_data(tmp.file("mnist")), run = tmp.file("run");
  const std::vector<std::string> args = {"train", "--data", data, "--out", run, "--epochs", "1",
                                         "--batch-size", "16", "--hidden", "8", "--latent", "2",
                                         "--threads", "1"};
  const RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  // 64 training images: the last 64/6 = 10 validate (Fashion-MNIST: the last 10,000 of 60,000).
  EXPECT_NE(r.out.find("54 train / 10 val / 16 test"), std::string::npos) << r.out;
}

TEST(HonestCli, TheRunsDataAreFoundFromAnyFolderAndChecked) {
  TempDir tmp;
  const std::string dir = tmp.file("d"), run = tmp.file("run");
  std::filesystem::create_directories(dir + "/data");
  write_bytes(dir + "/data/t.csv", table());
  // Trained with a path relative to `dir`, written with "./".
  auto args = train_args("./data/t.csv", run);
  const RunResult r = vae_run_in(dir, args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const std::string ckpt = run + "/last.safetensors";

  // From another folder, with and without "./": the run's own test split (6 rows).
  for (const auto& [where, spec] : std::vector<std::pair<std::string, std::string>>{
           {tmp.path(), ""}, {dir, "data/t.csv"}, {dir, "./data/t.csv"}, {tmp.path(), "d/data/t.csv"}}) {
    std::vector<std::string> eval = {"eval", ckpt, "--threads", "1"};
    if (!spec.empty()) eval.insert(eval.end(), {"--data", spec});
    const RunResult e = vae_run_in(where, eval);
    ASSERT_EQ(e.code, 0) << where << ": " << describe(eval, e);
    const auto j = nlohmann::json::parse(e.out);
    EXPECT_EQ(j.at("split"), "test") << spec;
    EXPECT_EQ(j.at("examples").get<int>(), 6) << spec;
  }

  // A copy under another name is another file: used whole, and said so.
  write_bytes(tmp.file("copy.csv"), table());
  const std::vector<std::string> whole = {"eval", ckpt, "--threads", "1", "--data", tmp.file("copy.csv")};
  const RunResult w = vae_run(whole);
  ASSERT_EQ(w.code, 0) << describe(whole, w);
  EXPECT_EQ(nlohmann::json::parse(w.out).at("split"), "all");
  EXPECT_EQ(nlohmann::json::parse(w.out).at("examples").get<int>(), 60);
  EXPECT_NE(w.err.find("holds the same rows as the run's data"), std::string::npos) << w.err;

  // The file changed since training: the splits cannot be re-created.
  write_bytes(dir + "/data/t.csv", table(61));
  for (const char* cmd : {"eval", "report"}) {
    const std::vector<std::string> again = {cmd, cmd == std::string("eval") ? ckpt : run};
    const RunResult c = vae_run(again);
    EXPECT_EQ(c.code, 1) << describe(again, c);
    EXPECT_NE(c.err.find("the data changed since the run was trained (now 61 rows"),
              std::string::npos) << c.err;
    EXPECT_EQ(count_lines(c.err), 1u) << c.err;
  }
}

TEST(HonestCli, ScoresFlagValuesOutsideTheTrainingRange) {
  TempDir tmp;
  const std::string data = tmp.file("t.csv"), run = tmp.file("run");
  write_bytes(data, table());
  auto args = train_args(data, run);
  args[args.size() - 3] = "bernoulli";  // tables scaled to [0, 1] by min-max, clamped
  const RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  // Row 0 at the training minimum; row 1 far outside in one column; row 2 below in two.
  const std::string odd = tmp.file("odd.csv"), scores = tmp.file("s.csv");
  write_bytes(odd, "a,b,c,label\n0,0,0,0\n1e6,3,1,1\n-5,3,-1,0\n");
  const std::vector<std::string> score = {"score", run + "/best.safetensors", "--data", odd,
                                          "--threads", "1", "--out", scores};
  const RunResult s = vae_run(score);
  ASSERT_EQ(s.code, 0) << describe(score, s);
  EXPECT_EQ(split_lines(read_bytes(scores))[0],
            "index,label,score,neg_elbo,recon_nll,kl,mse,out_of_range");
  const auto rows = csv_rows(scores);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].back(), 0);
  EXPECT_EQ(rows[1].back(), 1);
  EXPECT_EQ(rows[2].back(), 2);
  EXPECT_NE(s.err.find("warning: 2 of 3 examples hold values outside the range of the training rows"),
            std::string::npos) << s.err;
  // eval says the same, in its JSON and on stderr.
  const RunResult e = vae_run({"eval", run + "/best.safetensors", "--data", odd, "--threads", "1"});
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_NE(e.out.find("2 of 3 examples hold values outside"), std::string::npos) << e.out;
}

TEST(HonestCli, HeldOutLabelsOutsideTheTrainingClassesAreRefusedBeforeTheRunFolder) {
  TempDir tmp;
  const std::string data = tmp.file("t.csv"), test = tmp.file("test.csv"), run = tmp.file("run");
  write_bytes(data, table());
  write_bytes(test, "a,b,c,label\n1,2,3,0\n4,5,6,7\n");
  auto args = train_args(data, run);
  args.insert(args.end(), {"--conditional", "--test-data", test});
  const RunResult r = vae_run(args);
  EXPECT_EQ(r.code, 1) << describe(args, r);
  EXPECT_NE(r.err.find(test + ": row 1 has label 7, outside the classes 0..1"), std::string::npos)
      << r.err;
  EXPECT_FALSE(exists(run));
}

}  // namespace
