// TorchScript export: the evaluation-mode network (inference_graph.h, BN folded) as a
// scripted module that Python's torch.jit.load and C++'s torch::jit::load run without wrn.
//
// How: a torch::jit::Module with the folded weights registered as parameters
// ("layer1_0_conv1_weight": the state_dict name with '_' for '.') and a `forward` written as
// TorchScript source from the op tree and compiled with Module::define: scripting, no
// tracing, so the batch size (and H, W) stay free. forward(input: float [N, C, H, W]) ->
// float logits [N, classes]; dropout is dropped. The archive also holds "extra/wrn.json"
// with the family, input shape and class count.
#pragma once

#include <string>

#include "wrn/models/network.h"

namespace wrn::infer {

// Contract: requires a zoo Classifier (any family and ablation) with running BN statistics
// and an input shape whose channel count matches its first convolution. Returns the bytes
// of a torch.jit.save archive whose forward equals model->eval() forward up to float
// rounding (relative error < 1e-4); the module's weights are CPU float copies and it is in
// eval mode. Throws ConfigError for an unsupported model or a channel mismatch.
std::string encode_torchscript(const models::Classifier& model, const models::InputShape& input);

// Same, written to `path` atomically (temporary file + rename). Throws wrn::FileError naming
// `path` when it cannot be written; no partial file is left.
void export_torchscript(const models::Classifier& model, const models::InputShape& input,
                        const std::string& path);

}  // namespace wrn::infer
