// Names of enum values as config files and options spell them: one list per enum type,
// declared next to the enum, from which parsing (strict, with did-you-mean), writing and the
// docs' allowed values all come. The one mechanism for naming enum values in wrn.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace wrn {

template <class E>
struct EnumName {
  E value;
  const char* name;
};

// The name of `value` in `names`; "?" for a value missing from the list (a complete list
// never has one).
template <class E, size_t N>
constexpr const char* enum_name(const std::array<EnumName<E>, N>& names, E value) {
  for (const auto& n : names)
    if (n.value == value) return n.name;
  return "?";
}

template <class E, size_t N>
std::vector<std::string> enum_names(const std::array<EnumName<E>, N>& names) {
  std::vector<std::string> out;
  for (const auto& n : names) out.emplace_back(n.name);
  return out;
}

// The value named `text`, or nullopt (for callers with their own error, e.g. a file reader's).
template <class E, size_t N>
std::optional<E> find_enum(const std::array<EnumName<E>, N>& names, const std::string& text) {
  for (const auto& n : names)
    if (text == n.name) return n.value;
  return std::nullopt;
}

// The index of `text` in `allowed`. Throws wrn::ConfigError, one line:
//   config: 'KEY' is 'TEXT', expected one of a, b, c (did you mean 'b'?)
size_t enum_index(const std::string& text, const std::vector<std::string>& allowed, const std::string& key);

// `text` as a value of E; throws as enum_index does.
template <class E, size_t N>
E parse_enum(const std::array<EnumName<E>, N>& names, const std::string& text, const std::string& key) {
  return names[enum_index(text, enum_names(names), key)].value;
}

}  // namespace wrn
