// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value", ...}}
// padded with spaces to a multiple of 8, then the raw little-endian tensor data. Offsets
// are relative to the end of the header; together the tensors cover the data exactly once.
#pragma once

#include <map>
#include <string>

#include "wrn/io/state_dict.h"

namespace wrn::io {

struct SafetensorsFile {
  StateDict tensors;                           // in the header's order
  std::map<std::string, std::string> metadata; // "__metadata__" (string values only)
};

// Writes the tensors (any of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL) in the given
// order, atomically. Throws wrn::FileError naming `path` when it cannot be written and
// wrn::ConfigError for a duplicate name or an unsupported dtype; no file is left behind.
void save_safetensors(const std::string& path, const StateDict& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// The file's bytes, as save_safetensors writes them.
std::string encode_safetensors(const StateDict& tensors, const std::map<std::string, std::string>& metadata = {});

// Reads and validates a file: header length within the file, JSON object, known dtypes,
// shapes and offsets consistent, the data covered contiguously with neither gaps nor
// overlaps. Throws wrn::FileError with one line naming the file and the problem.
SafetensorsFile load_safetensors(const std::string& path);

// Same, on bytes already in memory; `source` names them in messages.
SafetensorsFile decode_safetensors(const std::string& bytes, const std::string& source);

}  // namespace wrn::io
