// Numbers as the project's text outputs spell them: the shortest text that reads back exactly.
#include "io/number_text.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include "vae/rng.h"
#include "vae/train_options.h"

namespace {

TEST(NumberText, ShortestSpellingOfHandPickedValues) {
  EXPECT_EQ(vae::shortest(4), "4");
  EXPECT_EQ(vae::shortest(10), "10");
  EXPECT_EQ(vae::shortest(100), "100");  // not %.1g's "1e+02"
  EXPECT_EQ(vae::shortest(-250), "-250");
  EXPECT_EQ(vae::shortest(1e6), "1e+06");  // shorter than "1000000"
  EXPECT_EQ(vae::shortest(0.001), "0.001");
  EXPECT_EQ(vae::shortest(1e-05), "1e-05");
  EXPECT_EQ(vae::shortest(0.1), "0.1");
  EXPECT_EQ(vae::shortest(5e-4), "0.0005");
  EXPECT_EQ(vae::shortest(1e20), "1e+20");
}

TEST(NumberText, EveryValueReadsBackExactly) {
  vae::Rng rng(3);
  for (int i = 0; i < 20000; ++i) {
    const double scale = std::ldexp(1.0, static_cast<int>(rng.below(120)) - 60);
    const double v = (rng.uniform_float() - 0.5) * scale;
    const double whole = std::floor(v * 1000);
    for (const double x : {v, whole}) {
      const std::string s = vae::shortest(x);
      EXPECT_EQ(std::strtod(s.c_str(), nullptr), x) << s;
    }
  }
}

TEST(NumberText, WarmUpPeriodsReadAsTyped) {
  EXPECT_EQ(vae::kl_warmup_name(vae::parse_kl_warmup("linear:100")), "linear:100");
  EXPECT_EQ(vae::kl_warmup_name(vae::parse_kl_warmup("cyclical:2.5")), "cyclical:2.5");
}

}  // namespace
