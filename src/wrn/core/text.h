// Small string utilities shared by the registry, the config and the CLI.
#pragma once

#include <string>
#include <vector>

namespace wrn {

// Levenshtein edit distance.
size_t edit_distance(const std::string& a, const std::string& b);

// The candidate closest to `word` when it is close enough to be a likely typo,
// otherwise an empty string. For "did you mean ...?" messages.
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

// " (did you mean 'x'?)" or "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

std::vector<std::string> split(const std::string& s, char sep);
std::string join(const std::vector<std::string>& parts, const std::string& sep);
std::string trim(const std::string& s);
std::string to_lower(std::string s);

// Digits grouped by commas: 2748890 -> "2,748,890", -1234 -> "-1,234".
std::string thousands(long long n);

// Strict parsers for option values: the whole string must be a number.
// `what` names the option in the error message.
long long parse_int(const std::string& s, const std::string& what);
double parse_double(const std::string& s, const std::string& what);
bool parse_bool(const std::string& s, const std::string& what);

}  // namespace wrn
