// Numbers as this project's text outputs spell them (checkpoint strings, command lines, reports).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace vae {

/// The shortest %.{p}g form of v that reads back as exactly v: "0.001", "4", "1e-05", "0.1".
inline std::string shortest(double v) {
  char buf[40];
  for (int p = 1; p <= 17; ++p) {
    std::snprintf(buf, sizeof buf, "%.*g", p, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

}  // namespace vae
