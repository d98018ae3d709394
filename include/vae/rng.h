// The one source of randomness: xoshiro256** (Blackman & Vigna), seeded through splitmix64.
// Its whole state is four 64-bit words, saved in every checkpoint, so a resumed run draws
// exactly the numbers an uninterrupted one would.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

namespace vae {

class Rng {
 public:
  using State = std::array<uint64_t, 4>;

  explicit Rng(uint64_t seed = 1) { reseed(seed); }
  void reseed(uint64_t seed) {
    uint64_t s = seed;
    for (auto& w : s_) w = splitmix64(s);
  }
  const State& state() const { return s_; }
  void set_state(const State& s) { s_ = s; }

  /// Next 64 random bits.
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  /// Uniform in [0, 1) with 24 random bits (exactly representable as float).
  float uniform_float() { return static_cast<float>(next() >> 40) * 0x1.0p-24f; }
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  /// Uniform integer in [0, n), n > 0 (Lemire's multiply-shift; bias < n / 2^64).
  uint64_t below(uint64_t n) { return static_cast<uint64_t>((static_cast<__uint128_t>(next()) * n) >> 64); }

  /// Fills out[0..n) with N(0, 1) draws by the Box–Muller transform, two per pair of uniforms:
  ///   r = sqrt(-2 ln u1), z0 = r cos(2π u2), z1 = r sin(2π u2),  u1 ∈ (0, 1].
  /// For odd n the last pair's second value is discarded, so the count of draws is ceil(n/2).
  template <class T>
  void normal_fill(T* out, size_t n) {
    constexpr double two_pi = 6.283185307179586476925286766559;
    for (size_t i = 0; i < n; i += 2) {
      const double u1 = 1.0 - uniform();
      const double u2 = uniform();
      const double r = std::sqrt(-2.0 * std::log(u1));
      out[i] = static_cast<T>(r * std::cos(two_pi * u2));
      if (i + 1 < n) out[i + 1] = static_cast<T>(r * std::sin(two_pi * u2));
    }
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  State s_{};
};

}  // namespace vae
