// Checked reads of JSON fields for the parsers of user and checkpoint files. nlohmann's
// get<int>() converts a float such as 1e20 with an unchecked cast (undefined behaviour); these
// accept only JSON integers within the target's range and throw vae::Error naming the field.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <string>

#include "vae/error.h"

namespace vae {

/// v as an integer in [lo, hi]; throws "<field>: must be an integer in lo..hi".
inline int64_t json_integer(const nlohmann::json& v, const std::string& field, int64_t lo,
                            int64_t hi) {
  auto fail = [&] {
    throw Error(field + ": must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi));
  };
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (hi < 0 || u > static_cast<uint64_t>(hi)) fail();
    return static_cast<int64_t>(u);
  }
  if (!v.is_number_integer()) fail();
  const int64_t i = v.get<int64_t>();
  if (i < lo || i > hi) fail();
  return i;
}

/// An int field (any int value allowed; callers validate the meaning).
inline int json_int(const nlohmann::json& v, const std::string& field) {
  return static_cast<int>(json_integer(v, field, std::numeric_limits<int>::min(),
                                       std::numeric_limits<int>::max()));
}

/// An unsigned 64-bit field (seeds): a JSON integer ≥ 0.
inline uint64_t json_uint64(const nlohmann::json& v, const std::string& field) {
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
    throw Error(field + ": must be an integer >= 0");
  return v.get<uint64_t>();
}

/// A double field: any JSON number.
inline double json_double(const nlohmann::json& v, const std::string& field) {
  if (!v.is_number()) throw Error(field + ": must be a number");
  return v.get<double>();
}

/// Optional keys (added to a format after it first shipped): the checked read of j[key] when j
/// has it, else `absent`.
inline int json_int_or(const nlohmann::json& j, const char* key, int absent) {
  return j.contains(key) ? json_int(j[key], key) : absent;
}
inline double json_double_or(const nlohmann::json& j, const char* key, double absent) {
  return j.contains(key) ? json_double(j[key], key) : absent;
}

}  // namespace vae
