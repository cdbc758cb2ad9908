#pragma once

#include <string>

#include "dtask/utf8.hpp"

namespace dtask {

/// Longest task name in bytes.
constexpr size_t max_name_bytes = 255;

/// Checks a task name. Returns an empty string if it is valid, otherwise a
/// sentence naming the problem.
inline std::string check_name(const std::string& name) {
  if (name.empty())
    return "the name is empty";
  if (name.size() > max_name_bytes)
    return "the name has " + std::to_string(name.size())
           + " bytes, more than the limit of "
           + std::to_string(max_name_bytes);
  for (size_t i = 0; i < name.size(); ++i) {
    auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7f)
      return "the name has a control character at byte " + std::to_string(i);
  }
  // Names are printed (CLI JSON, logs, scripts): bytes that are not UTF-8
  // would have to be replaced there, and two names would print alike.
  auto bad = invalid_utf8_at(name);
  if (bad != std::string::npos)
    return "the name is not valid UTF-8 at byte " + std::to_string(bad);
  return {};
}

/// `text` as a log line may show it: printable ASCII as is, every other
/// byte as \xNN, at most `limit` bytes of it (then "..."), so that a name
/// from the wire can neither forge log lines nor flood the log.
inline std::string escaped(const std::string& text, size_t limit = 80) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < text.size() && i < limit; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  if (text.size() > limit)
    out += "...";
  return out;
}

} // namespace dtask
