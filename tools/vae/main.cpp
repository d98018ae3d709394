// vae: train, evaluate and use variational autoencoders. See `vae --help`.
#include <cstdio>
#include <vector>

#include "cli.h"
#include "train_options.h"
#include "vae/error.h"

int main(int argc, char** argv) {
  CLI::App app{"vae: train, evaluate and use variational autoencoders", "vae"};
  app.option_defaults()->always_capture_default();
  app.require_subcommand(1);
  app.set_version_flag("--version", "vae 0.1.0");
  std::vector<vae_cli::Command> commands = {
      vae_cli::add_train(app),  vae_cli::add_eval(app),   vae_cli::add_sample(app),
      vae_cli::add_reconstruct(app), vae_cli::add_encode(app), vae_cli::add_decode(app),
      vae_cli::add_info(app), vae_cli::add_score(app),
      vae_cli::add_interpolate(app), vae_cli::add_traverse(app), vae_cli::add_manifold(app),
      vae_cli::add_latents(app), vae_cli::add_curves(app), vae_cli::add_report(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "vae: %s (see --help)\n", e.what());
    return 2;
  }
  // Exit codes are sorted here alone: a field the library refuses is named by its flag (from
  // `vae train`'s option table) and is a usage error, as are the commands' own UsageErrors.
  try {
    for (auto& c : commands)
      if (c.app->parsed()) return c.run();
  } catch (const vae::FieldError& e) {
    std::fprintf(stderr, "vae: %s: %s\n", vae_cli::flag_for_field(e.field()).c_str(),
                 e.problem().c_str());
    return 2;
  } catch (const vae_cli::UsageError& e) {
    std::fprintf(stderr, "vae: %s\n", e.what());
    return 2;
  } catch (const vae::Error& e) {
    std::fprintf(stderr, "vae: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "vae: out of memory\n");
    return 1;
  }
  return 2;
}
