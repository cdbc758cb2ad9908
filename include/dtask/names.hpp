#pragma once

#include <string>

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
  return {};
}

} // namespace dtask
