// The metadata every wrn export carries (safetensors "__metadata__", ONNX
// ModelProto.metadata_props, TorchScript's "extra/wrn.json"): one string -> string map, built
// here once for all formats, and read back here by `wrn import` and `wrn info`.
//
//   wrn.model          the model name ("wrn-28-10")
//   wrn.classes        the class count ("10")
//   wrn.input          the input shape, CxHxW ("3x32x32")
//   wrn.settings       the model settings, a JSON object ({"dropout": "0.3"})
//   wrn.preprocessing  how an image becomes an input: data::Preprocessing::to_json()
//   wrn.class_names    the class names, a JSON array of strings (only when known)
//   wrn.mean, wrn.std  the per-channel normalization (0..255 scale), JSON arrays, and wrn.zca
//                      "true"/"false" (only when the spec has a normalization; the same
//                      numbers as in wrn.preprocessing, kept for readers of older exports)
// A .pt export is a pure state_dict (torchvision loads it) and carries none of this.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "wrn/data/preprocessing.h"
#include "wrn/models/registry.h"

namespace wrn::train {

struct CheckpointModel;

using ExportMetadata = std::map<std::string, std::string>;

// The map above for `spec` (resolved), its preprocessing and class names (empty: no
// wrn.class_names).
ExportMetadata export_metadata(const models::ModelSpec& spec, const data::Preprocessing& preprocessing,
                               const std::vector<std::string>& class_names);
// The same for a model loaded from a checkpoint.
ExportMetadata export_metadata(const CheckpointModel& model);

// wrn.preprocessing, when the map has it. Throws FileError naming `source` and the key for a
// value that is not a valid spec.
std::optional<data::Preprocessing> metadata_preprocessing(const ExportMetadata& metadata, const std::string& source);

// wrn.class_names, when the map has it (else empty). Throws FileError naming `source` and the
// key for a value that is not a JSON array of strings.
std::vector<std::string> metadata_class_names(const ExportMetadata& metadata, const std::string& source);

}  // namespace wrn::train
