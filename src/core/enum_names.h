// Enums that the edges (checkpoint JSON, the command line) spell as words: one table of
// (value, name) rows per enum, beside the enum's name and parse functions, read both ways here.
#pragma once

#include <cstddef>
#include <string>

#include "vae/error.h"

namespace vae {

template <class E>
struct EnumName {
  E value;
  const char* name;
};

/// The name of `value` in `table`; a value missing from its table is a broken contract.
template <class E, size_t N>
const char* enum_name(const EnumName<E> (&table)[N], E value) {
  for (const EnumName<E>& row : table)
    if (row.value == value) return row.name;
  assert_fail("the value has a row in its name table", __FILE__, __LINE__);
}

/// The value named `text`; throws FieldError(field, "must be 'a', 'b' or 'c', got 'x'").
template <class E, size_t N>
E enum_parse(const EnumName<E> (&table)[N], const std::string& text, const char* field) {
  for (const EnumName<E>& row : table)
    if (text == row.name) return row.value;
  std::string choices;
  for (size_t i = 0; i < N; ++i)
    choices += std::string(i == 0 ? "" : i + 1 == N ? " or " : ", ") + "'" + table[i].name + "'";
  throw FieldError(field, "must be " + choices + ", got '" + text + "'");
}

}  // namespace vae
