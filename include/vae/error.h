// Two kinds of error (STYLE.md, rule 11):
//  * a broken contract inside the library (a caller passed sizes that disagree, a buffer that is
//    too small) is a programming error: VAE_ASSERT prints file, line and the condition and aborts;
//  * bad input a user can fix (a missing file, a corrupt header, an option out of range) is a
//    vae::Error carrying one line that names the file or option and what is wrong.
// The library never calls exit(); only the `vae` command maps errors to exit codes.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>

namespace vae {

/// A user-actionable failure. what() is one line: "<file or option>: <what is wrong>".
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A configuration field holds a value it cannot take. what() is "<field>: <what is wrong>",
/// the field named as the library's structs spell it ("latent", "batch_size", "val_split"); the
/// library never names a command-line flag. The `vae` command maps the field to its flag from its
/// option table (tools/vae/train_options.h) and exits with the usage code. A problem that names
/// another field writes it in braces ("needs a validation split ({val_split})"): what() and
/// problem() show the bare name, and the command spells it as its flag (problem_naming). Braces
/// around anything but such a name (a JSON example) are kept.
class FieldError : public Error {
 public:
  FieldError(const std::string& field, const std::string& problem)
      : Error(field + ": " + naming(problem, [](const std::string& f) { return f; })),
        field_(field),
        problem_(problem) {}
  const std::string& field() const { return field_; }  ///< "latent"
  /// "must be >= 1, got 0"; other fields it names are bare ("… split (val_split)").
  std::string problem() const { return problem_naming([](const std::string& f) { return f; }); }
  /// problem() with each field it names spelled by name(field) ("… split (--val-split)").
  template <class Name>
  std::string problem_naming(Name name) const { return naming(problem_, name); }

 private:
  // Each {field} of text (a lower-case name of letters, digits, '_' and '.') as name(field);
  // other braces (a JSON example such as {"type": "dense"}) stay as they are.
  template <class Name>
  static std::string naming(const std::string& text, Name name) {
    std::string out;
    size_t at = 0;
    for (size_t open; (open = text.find('{', at)) != std::string::npos;) {
      const size_t close = text.find('}', open);
      if (close == std::string::npos) break;
      const std::string inside = text.substr(open + 1, close - open - 1);
      const bool field = !inside.empty() && inside.find_first_not_of(
          "abcdefghijklmnopqrstuvwxyz0123456789_.") == std::string::npos;
      out += text.substr(at, open - at) + (field ? name(inside) : "{" + inside + "}");
      at = close + 1;
    }
    return out + text.substr(at);
  }
  std::string field_, problem_;
};

[[noreturn]] inline void assert_fail(const char* cond, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: internal check failed: %s\n", file, line, cond);
  std::abort();
}

}  // namespace vae

/// Contract check, on in every build type: cheap shape and size checks at layer boundaries.
#define VAE_ASSERT(cond) \
  ((cond) ? (void)0 : ::vae::assert_fail(#cond, __FILE__, __LINE__))
