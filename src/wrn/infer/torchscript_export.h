// TorchScript export: the evaluation-mode network (inference_graph.h, BN folded) as a
// scripted module that Python's torch.jit.load and C++'s torch::jit::load run without wrn.
//
// How: a torch::jit::Module with the folded weights registered as parameters
// ("layer1_0_conv1_weight": the state_dict name with '_' for '.') and a `forward` written as
// TorchScript source from the op tree and compiled with Module::define: scripting, no
// tracing, so the batch size (and H, W) stay free. forward(input: float [N, C, H, W]) ->
// float logits [N, classes]; dropout is dropped.
//
// Metadata, readable from Python and C++ alike: the archive holds "extra/wrn.json", one JSON
// object with "family", "input", "classes", "producer" and every entry of `metadata` (string
// values; wrn export writes train::export_metadata: "wrn.model", "wrn.preprocessing", ...):
//   Python  extra = {"wrn.json": ""}; m = torch.jit.load(f, _extra_files=extra)
//           json.loads(json.loads(extra["wrn.json"])["wrn.preprocessing"])
//   C++     torch::jit::ExtraFilesMap extra{{"wrn.json", ""}}; torch::jit::load(f, c10::nullopt, extra)
// The module also has the entries of `metadata` as an attribute `wrn_metadata: Dict[str, str]`
// (Python: m.wrn_metadata["wrn.class_names"]; C++: m.attr("wrn_metadata").toGenericDict()).
#pragma once

#include <map>
#include <string>

#include "wrn/models/network.h"

namespace wrn::infer {

// Contract: requires a zoo Classifier (any family and ablation) with running BN statistics
// and an input shape whose channel count matches its first convolution. Returns the bytes
// of a torch.jit.save archive whose forward equals model->eval() forward up to float
// rounding (relative error < 1e-4); the module's weights are CPU float copies and it is in
// eval mode. Throws ConfigError for an unsupported model or a channel mismatch.
std::string encode_torchscript(const models::Classifier& model, const models::InputShape& input,
                               const std::map<std::string, std::string>& metadata = {});

// Same, written to `path` atomically (temporary file + rename). Throws wrn::FileError naming
// `path` when it cannot be written; no partial file is left.
void export_torchscript(const models::Classifier& model, const models::InputShape& input,
                        const std::string& path, const std::map<std::string, std::string>& metadata = {});

// The entries of a TorchScript export's "extra/wrn.json" as strings (the `metadata` above, plus
// "input", "family", "classes" and "producer"). Throws FileError naming `path` when it is not a
// TorchScript archive written by wrn.
std::map<std::string, std::string> read_torchscript_metadata(const std::string& path);

}  // namespace wrn::infer
