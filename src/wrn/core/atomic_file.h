// Crash-safe file output: write everything to a temporary file beside the target,
// flush it to disk, then rename it over the target. A reader never sees a half-written
// file, and a failure leaves the previous file (if any) untouched.
#pragma once

#include <functional>
#include <ostream>
#include <string>

namespace wrn {

// Calls `write` with a stream on a temporary file in the target's directory, then
// fsyncs and renames it to `path`. Throws wrn::FileError naming `path` when the
// directory is not writable or any write fails; the temporary file is removed.
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write);

// Convenience: the whole content at once.
void write_file_atomically(const std::string& path, const std::string& content);

// Reads a whole file; throws wrn::FileError naming the file when it cannot.
std::string read_file(const std::string& path);

}  // namespace wrn
