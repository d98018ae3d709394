// The table of latent structures (src/model/latent.cpp): exactly one row serves each kind of
// model, the one its configuration names; and a copy of a model carries its own latent structure
// (its buffers), giving the same forward pass as the original and leaving the original's intact.
#include "model/latent.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "layer_specs.h"
#include "vae/model.h"
#include "vae/rng.h"

namespace {

vae::ModelConfig small(vae::Prior prior, int top_latent) {
  vae::ModelConfig c = vae_test::mlp_config({5});  // D = 6
  c.latent = 4;
  c.prior = prior;
  c.pseudo_inputs = 3;
  c.top_latent = top_latent;
  return c;
}

TEST(LatentTable, EachConfigurationIsServedByTheRowThatNamesIt) {
  std::set<std::string> names;
  for (const vae::LatentRow& r : vae::latent_table()) names.insert(r.name);
  EXPECT_EQ(names.size(), vae::latent_table().size());
  EXPECT_EQ(std::string(vae::latent_row(small(vae::Prior::Standard, 0)).name), "standard");
  EXPECT_EQ(std::string(vae::latent_row(small(vae::Prior::Vamp, 0)).name), "vamp");
  EXPECT_EQ(std::string(vae::latent_row(small(vae::Prior::Standard, 2)).name), "hierarchy");
}

// One Gaussian q(z|x) per example with one stochastic layer, whatever the prior; not with two,
// where q(z₁|x, z₂) depends on the drawn z₂ (eval --iw then runs the whole model on each pair).
TEST(LatentTable, OnlyOneStochasticLayerHasAGaussianPosteriorPerExample) {
  EXPECT_TRUE(vae::Vae<float>(small(vae::Prior::Standard, 0), 2).gaussian_posterior());
  EXPECT_TRUE(vae::Vae<float>(small(vae::Prior::Vamp, 0), 2).gaussian_posterior());
  EXPECT_FALSE(vae::Vae<float>(small(vae::Prior::Standard, 2), 2).gaussian_posterior());
}

// forward on a copy (same weights) and then on the original: the same loss, bit for bit, and the
// copy's pass did not disturb the original's per-example KL rows (the VampPrior keeps them in its
// structure).
TEST(LatentTable, ACopyOfAModelCarriesItsOwnStructure) {
  for (const vae::ModelConfig& cfg : {small(vae::Prior::Standard, 0), small(vae::Prior::Vamp, 0),
                                      small(vae::Prior::Standard, 2)}) {
    SCOPED_TRACE(vae::latent_row(cfg).name);
    vae::Vae<double> model(cfg, 2);
    vae::Rng rng(3);
    model.init_params(rng);
    std::vector<double> x(2 * 6), eps(2 * 4), x2(2 * 6);
    for (double& v : x) v = rng.uniform();
    for (double& v : x2) v = rng.uniform();
    rng.normal_fill(eps.data(), eps.size());
    const vae::LossParts a = model.forward(x.data(), eps.data(), 2);
    std::vector<double> recon(2), kl(2);
    model.loss_rows(x.data(), 2, recon.data(), kl.data());

    vae::Vae<double> copy(model);
    const vae::LossParts b = copy.forward(x.data(), eps.data(), 2);
    EXPECT_EQ(a.recon, b.recon);
    EXPECT_EQ(a.kl, b.kl);
    copy.forward(x2.data(), eps.data(), 2);  // another batch through the copy only
    std::vector<double> recon_after(2), kl_after(2);
    model.loss_rows(x.data(), 2, recon_after.data(), kl_after.data());
    EXPECT_EQ(kl, kl_after);
    EXPECT_EQ(recon, recon_after);
  }
}

}  // namespace
