// ONNX export: the evaluation-mode network (inference_graph.h, BN folded) as a standard ONNX
// model that ONNX Runtime, OpenCV's dnn module, TensorRT, ... run without wrn.
//
// The graph: input "input" float [batch, C, H, W] ("batch" symbolic), output "logits" float
// [batch, classes]. Ops (default domain, opset >= 13): Conv (with bias), Relu,
// BatchNormalization (inference; a BN that follows an addition), MaxPool 3x3/2 pad 1,
// Slice (strided) + Pad (channels) for the zero-padding shortcut, Sigmoid + Mul/Sub/Add for
// the gated shortcuts, GlobalAveragePool + Flatten + Gemm for the head. Dropout is dropped.
// Node and initializer names follow the state_dict ("layer1.0.conv1.weight").
// Built with Debian's libonnx (the protobuf classes and onnx::checker); a build with
// WRN_WITH_ONNX=OFF keeps the functions but they throw ConfigError.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "wrn/models/network.h"

namespace wrn::infer {

struct OnnxExportOptions {
  int64_t opset = 13;            // 13 ... 17 (what the bundled onnx checker knows)
  bool fold_batchnorm = true;    // false: every BatchNorm stays a BatchNormalization node
  std::string producer_version;  // ModelProto.producer_version (producer_name is "wrn")
  // ModelProto.metadata_props, after "wrn.family" and "wrn.input" (a "wrn.input" here replaces
  // the exporter's): wrn export writes train::export_metadata (wrn.model, wrn.preprocessing, ...).
  std::map<std::string, std::string> metadata;
};

// True when this build can export ONNX (WRN_WITH_ONNX).
bool onnx_export_available();

// Contract: requires a zoo Classifier (any family and ablation) with running BN statistics
// and an input shape whose channel count matches its first convolution. Returns the
// serialized ModelProto described above, after onnx::checker::check_model and strict shape
// inference accepted it. The model is not modified (weights are copied to CPU float).
// Throws ConfigError for an unsupported model, an opset outside 13..17, a channel mismatch,
// or a build without ONNX.
std::string encode_onnx(const models::Classifier& model, const models::InputShape& input,
                        const OnnxExportOptions& options = {});

// Same, written to `path` atomically (temporary file + rename). Throws wrn::FileError naming
// `path` when it cannot be written; no partial file is left.
void export_onnx(const models::Classifier& model, const models::InputShape& input, const std::string& path,
                 const OnnxExportOptions& options = {});

// The metadata_props of an ONNX file (key -> value). Throws FileError naming `path` when it
// cannot be read or is not an ONNX model, ConfigError in a build without ONNX.
std::map<std::string, std::string> read_onnx_metadata(const std::string& path);

}  // namespace wrn::infer
