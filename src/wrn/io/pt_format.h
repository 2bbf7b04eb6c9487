// PyTorch state_dict files (.pt / .pth): the zip archive that Python's torch.save writes,
// holding a pickled dict {name: tensor}.
//
// Written as torch::pickle_save writes a c10::Dict<std::string, Tensor>, without its type
// tags: Python's torch.load (weights_only=True too) returns a dict that model.load_state_dict
// accepts. Read with a small unpickler of our own (pt_format.cpp), because torch::pickle_load turns the OrderedDict that Python's
// torch.save(model.state_dict()) writes into None, over the archive's checked entries
// (io/zip_check.h), because LibTorch's zip reader trusts a crafted directory.
#pragma once

#include <string>

#include "wrn/io/pickle_scan.h"
#include "wrn/io/state_dict.h"

namespace wrn::io {

// Writes the tensors, in order, atomically. Throws wrn::FileError naming `path` when it
// cannot be written; no partial file is left.
void save_pt(const std::string& path, const StateDict& tensors);

// The file's bytes, as save_pt writes them.
std::string encode_pt(const StateDict& tensors);

// Reads a state_dict file. Throws wrn::FileError naming the file when it is not a torch.save
// archive, or when it holds anything but a dict of string -> tensor (a whole pickled
// module, a training checkpoint with nested dicts, ...).
StateDict load_pt(const std::string& path);

// Same, on bytes in memory; `source` names them in messages. A pickle that nests containers
// more than `max_nesting` deep is refused before it is decoded (io/pickle_scan.h); tests raise
// the limit to reach the decoder itself.
StateDict decode_pt(const std::string& bytes, const std::string& source, size_t max_nesting = kMaxPickleNesting);

}  // namespace wrn::io
