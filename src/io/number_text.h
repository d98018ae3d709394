// Numbers as this project's text outputs spell them (checkpoint strings, command lines, reports).
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace vae {

/// The shortest text that reads back as exactly v: the fewest-digit %.{p}g form, or the whole
/// number written out when that is no longer: "0.001", "4", "1e-05", "0.1", "100", "1e+06".
inline std::string shortest(double v) {
  char buf[40];
  for (int p = 1; p <= 17; ++p) {
    std::snprintf(buf, sizeof buf, "%.*g", p, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  // %g's fewest digits may still be the longer text: "1e+02" for 100, where "100" reads better.
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char whole[40];
    std::snprintf(whole, sizeof whole, "%.0f", v);
    if (std::strlen(whole) <= std::strlen(buf)) return whole;
  }
  return buf;
}

}  // namespace vae
