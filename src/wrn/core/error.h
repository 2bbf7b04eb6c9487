// Errors a user can act on.
//
// wrn::Error carries a one-line message that names the file, option or value at fault
// and what was expected. Every user-facing failure in the library throws it (or a
// subclass); the CLI prints what() on one line and exits non-zero.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace wrn {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Bad configuration: an option, a model setting, a preset field.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// A file that is missing, unreadable, truncated, corrupt or of the wrong format.
class FileError : public Error {
 public:
  using Error::Error;
};

// Throws ExceptionType(fmt::format(...)) when cond is false. Used instead of assert():
// the checks guard user input and must stay in Release builds.
#define WRN_CHECK_T(ExceptionType, cond, ...)                   \
  do {                                                          \
    if (!(cond)) throw ExceptionType(fmt::format(__VA_ARGS__)); \
  } while (0)
#define WRN_CHECK(cond, ...) WRN_CHECK_T(::wrn::ConfigError, cond, __VA_ARGS__)
#define WRN_CHECK_FILE(cond, ...) WRN_CHECK_T(::wrn::FileError, cond, __VA_ARGS__)

// The message of any exception, on one line, without LibTorch's C++ backtrace.
std::string one_line_message(const std::exception& e);

}  // namespace wrn
