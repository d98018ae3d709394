// vae: train, evaluate and use variational autoencoders. See `vae --help`.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cli.h"
#include "train/distributed.h"
#include "train_options.h"
#include "vae/error.h"

namespace {

// Levenshtein distance: single-character insertions, deletions and substitutions.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// "'trian' is not a vae command; did you mean 'train'?" for a first word that names no
// subcommand (the nearest within two edits is suggested), or "" when it names one.
std::string unknown_command(const CLI::App& app, const std::string& word) {
  std::string nearest;
  size_t best = 3;
  for (const CLI::App* sub : app.get_subcommands({})) {
    if (sub->get_name() == word) return "";
    const size_t d = edit_distance(word, sub->get_name());
    if (d < best) {
      best = d;
      nearest = sub->get_name();
    }
  }
  return "'" + word + "' is not a vae command" +
         (nearest.empty() ? std::string() : "; did you mean '" + nearest + "'?");
}

// What an option of this type takes, for messages: "an integer", "a number"...
std::string value_kind(const std::string& type) {
  if (type == "INT") return "an integer";
  if (type == "UINT") return "an integer >= 0";
  if (type == "FLOAT") return "a number";
  return type.empty() ? "a value" : "a value of type " + type;
}

// The option called `name` in whichever subcommand has it (the one being parsed), or null.
const CLI::Option* find_option(const CLI::App& app, const std::string& name) {
  for (const CLI::App* sub : app.get_subcommands({}))
    if (const CLI::Option* o = sub->get_option_no_throw(name)) return o;
  return nullptr;
}

// CLI11's messages for a malformed value, reworded to name the option and what it takes:
//   "Could not convert: --iw = abc"          -> "--iw: expected an integer, got 'abc'"
//   "--iw: At Most 1 required but received 2" -> "--iw: given 2 times; give it once"
//   "--iw: 1 required INT missing"           -> "--iw: needs a value (an integer)"
// Any other message is kept as it is.
std::string usage_message(const CLI::App& app, const std::string& what) {
  const std::string convert = "Could not convert: ";
  if (what.rfind(convert, 0) == 0) {
    const size_t eq = what.find(" = ", convert.size());
    if (eq != std::string::npos) {
      const std::string name = what.substr(convert.size(), eq - convert.size());
      const std::string value = what.substr(eq + 3);
      const CLI::Option* o = find_option(app, name);
      const bool digits = !value.empty() && value.find_first_not_of("0123456789-+") == std::string::npos;
      return name + ": expected " + value_kind(o ? o->get_type_name() : "") + ", got '" + value +
             "'" + (digits ? " (out of range)" : "");
    }
  }
  const size_t colon = what.find(": ");
  if (colon == std::string::npos) return what;
  const std::string name = what.substr(0, colon), rest = what.substr(colon + 2);
  const std::string at_most = "At Most 1 required but received ";
  if (rest.rfind(at_most, 0) == 0)
    return name + ": given " + rest.substr(at_most.size()) + " times; give it once";
  const std::string one = "1 required ";
  if (rest.rfind(one, 0) == 0 && vae_cli::ends_with(rest, " missing"))
    return name + ": needs a value (" +
           value_kind(rest.substr(one.size(), rest.size() - one.size() - 8)) + ")";
  return what;
}

// Prints one error line: "vae: <message>", the message kept to one line (line breaks of a value
// it quotes become spaces) and to about 400 characters (the middle of a long value is left out,
// saying how much), then returns `code`.
int fail(std::string message, int code) {
  for (char& c : message)
    if (c == '\n' || c == '\r') c = ' ';
  constexpr size_t kHead = 240, kTail = 120;
  if (message.size() > kHead + kTail + 40)
    message = message.substr(0, kHead) + " [... " + std::to_string(message.size() - kHead - kTail) +
              " characters left out ...] " + message.substr(message.size() - kTail);
  std::fprintf(stderr, "vae: %s\n", message.c_str());
  return code;
}

// A failure of the command line: the same on every rank of an MPI job, so rank 0 alone says it.
int fail_usage(const std::string& message, int code) {
  return vae::is_root_rank() ? fail(message, code) : code;
}

// A failure while a command runs. In an MPI job of several ranks it may be this rank's alone
// while the others wait for it in a collective: the job is ended (MPI_Abort) after the line.
// `vae eval` and `vae score` fail alike on every rank (they read the same files), so rank 0
// alone says it; `vae train`'s ranks each say theirs.
bool every_rank_says = false;

int fail_running(const std::string& message, int code) {
  if (every_rank_says || vae::is_root_rank()) fail(message, code);
  vae::abort_ranks(code);
  return code;
}

// The command: parsed, then run. Under mpirun every rank runs `vae train`, `vae eval` and `vae
// score` (which share the work); the other commands run on rank 0 alone (the others exit 0).
int run(int argc, char** argv) {
  CLI::App app{"vae: train, evaluate and use variational autoencoders", "vae"};
  app.option_defaults()->always_capture_default();
  app.require_subcommand(1);
  app.set_version_flag("--version", "vae 0.1.0");
  std::vector<vae_cli::Command> commands = {
      vae_cli::add_train(app),  vae_cli::add_eval(app),   vae_cli::add_sample(app),
      vae_cli::add_reconstruct(app), vae_cli::add_encode(app), vae_cli::add_decode(app),
      vae_cli::add_info(app), vae_cli::add_score(app),
      vae_cli::add_interpolate(app), vae_cli::add_traverse(app), vae_cli::add_manifold(app),
      vae_cli::add_latents(app), vae_cli::add_curves(app), vae_cli::add_report(app),
      vae_cli::add_export(app), vae_cli::add_import(app), vae_cli::add_serve(app)};
  if (argc > 1 && argv[1][0] != '-') {
    const std::string unknown = unknown_command(app, argv[1]);
    if (!unknown.empty()) return fail_usage(unknown + " (see vae --help)", 2);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return vae::is_root_rank() ? app.exit(e) : 0;  // --help, --version
  } catch (const CLI::ParseError& e) {
    return fail_usage(usage_message(app, e.what()) + " (see --help)", 2);
  } catch (const vae::Error& e) {
    return fail_usage(e.what(), 1);  // a file named on the command line (checkpoint_in)
  }
  // Exit codes are sorted here alone: a field the library refuses is named by its flag (from
  // `vae train`'s option table) and is a usage error, as are the commands' own UsageErrors.
  try {
    for (auto& c : commands) {
      if (!c.app->parsed()) continue;
      const std::string name = c.app->get_name();
      every_rank_says = name == "train";
      if (!vae::is_root_rank() && name != "train" && name != "eval" && name != "score") return 0;
      return c.run();
    }
  } catch (const vae_cli::AgreedFailure& e) {
    return fail_usage(e.what(), e.code());
  } catch (const vae::FieldError& e) {
    return fail_running(vae_cli::flag_message(e), 2);
  } catch (const vae_cli::UsageError& e) {
    return fail_running(e.what(), 2);
  } catch (const vae::Error& e) {
    return fail_running(e.what(), 1);
  } catch (const std::bad_alloc&) {
    return fail_running("out of memory", 1);
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Under mpirun: MPI starts here and ends after the command (train/distributed.h).
  vae::distributed_init(&argc, &argv);
  const int code = run(argc, argv);
  vae::distributed_finalize();
  return code;
}
