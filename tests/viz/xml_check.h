// A small well-formedness check for the XML the toolkit writes (SVG) and for its HTML report:
// tags balance, attribute quotes pair up, and text holds no raw '<' and no '&' that does not
// start an entity. Not a validating parser: it knows only what the writers emit.
#pragma once

#include <cctype>
#include <set>
#include <string>
#include <vector>

namespace vae_test {

/// "" when `doc` is well formed; otherwise what is wrong and where. With `html`, the void
/// elements of HTML (meta, img, br, hr, input, link) need no closing tag, and the text of
/// <style> is not checked.
inline std::string xml_problem(const std::string& doc, bool html = false) {
  static const std::set<std::string> kVoid = {"meta", "img", "br", "hr", "input", "link"};
  std::vector<std::string> open;
  auto where = [&](size_t i) { return " at byte " + std::to_string(i); };
  for (size_t i = 0; i < doc.size();) {
    if (doc[i] == '&') {
      const size_t semi = doc.find(';', i);
      if (semi == std::string::npos || semi - i > 8) return "stray '&'" + where(i);
      const std::string ent = doc.substr(i + 1, semi - i - 1);
      const bool numeric = ent.size() > 1 && ent[0] == '#' &&
                           ent.find_first_not_of("0123456789", 1) == std::string::npos;
      if (!numeric && ent != "amp" && ent != "lt" && ent != "gt" && ent != "quot" && ent != "apos")
        return "unknown entity &" + ent + ";" + where(i);
      i = semi + 1;
      continue;
    }
    if (doc[i] != '<') {
      ++i;
      continue;
    }
    const size_t end = doc.find('>', i);
    if (end == std::string::npos) return "unclosed tag" + where(i);
    const std::string tag = doc.substr(i + 1, end - i - 1);
    size_t quotes = 0;
    for (char c : tag) quotes += c == '"';
    if (quotes % 2) return "unpaired quote in <" + tag.substr(0, 40) + ">" + where(i);
    if (tag.empty() || std::isspace(static_cast<unsigned char>(tag[0])))
      return "raw '<' in text" + where(i);
    if (tag[0] == '!' || tag[0] == '?') {
      i = end + 1;
      continue;
    }
    if (tag[0] == '/') {
      const std::string name = tag.substr(1);
      if (open.empty() || open.back() != name)
        return "</" + name + "> closes <" + (open.empty() ? "" : open.back()) + ">" + where(i);
      open.pop_back();
      i = end + 1;
      continue;
    }
    const std::string name = tag.substr(0, tag.find_first_of(" \t\n/"));
    const bool self_closing = tag.back() == '/' || (html && kVoid.count(name));
    if (!self_closing) open.push_back(name);
    i = end + 1;
    if (html && name == "style") {
      const size_t close = doc.find("</style>", i);
      if (close == std::string::npos) return "unclosed <style>" + where(i);
      i = close;
    }
  }
  if (!open.empty()) return "<" + open.back() + "> never closed";
  return "";
}

/// The values of every src="…" and href="…" attribute in `doc`, in order.
inline std::vector<std::string> link_values(const std::string& doc) {
  std::vector<std::string> values;
  for (const char* name : {" src=\"", " href=\""}) {
    const std::string key = name;
    for (size_t p = doc.find(key); p != std::string::npos; p = doc.find(key, p + 1)) {
      const size_t start = p + key.size(), end = doc.find('"', start);
      values.push_back(doc.substr(start, end == std::string::npos ? end : end - start));
    }
  }
  return values;
}

}  // namespace vae_test
