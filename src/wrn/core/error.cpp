#include "wrn/core/error.h"

#include <c10/util/Exception.h>

namespace wrn {

std::string one_line_message(const std::exception& e) {
  std::string msg;
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) {
    msg = c10_error->what_without_backtrace();
  } else {
    msg = e.what();
  }
  // LibTorch messages span several lines: join them into one (newlines become spaces) and
  // drop the trailing spaces.
  for (char& c : msg) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  while (!msg.empty() && msg.back() == ' ') msg.pop_back();
  return msg;
}

}  // namespace wrn
