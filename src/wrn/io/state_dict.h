// State dicts: the named tensors of a network, in PyTorch's order, and loading them back
// with a name-by-name, shape-by-shape check. The one named-tensor type of the project
// (weights files, checkpoints, optimizer and RNG state) and its one loader.
//
// PyTorch orders a state_dict by walking the modules in registration order and listing,
// for each module, its own parameters and then its own buffers. LibTorch's
// named_parameters() / named_buffers() are two separate lists, so the order is rebuilt here
// by walking named_modules(); files written from it read in Python exactly like
// `model.state_dict()`.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <string>
#include <vector>

#include "wrn/models/network.h"

namespace wrn::io {

struct NamedTensor {
  std::string name;
  torch::Tensor value;
};

// An ordered list of named tensors (names unique).
using StateDict = std::vector<NamedTensor>;

// The tensor named `key`; throws wrn::FileError "<what>: missing tensor '<key>'" when absent.
const torch::Tensor& find_tensor(const StateDict& tensors, const std::string& key, const std::string& what);

// The module's parameters and buffers (num_batches_tracked included, int64) in PyTorch's
// state_dict order, detached, contiguous and on the CPU. The tensors share storage with
// the module when it already is on the CPU.
StateDict state_dict(const torch::nn::Module& module);

// Every disagreement between a module and a state dict, found by load_state_dict.
struct StateDictMismatch {
  std::vector<std::string> missing;     // in the module, not in the file
  std::vector<std::string> unexpected;  // in the file, not in the module
  std::vector<std::string> wrong_shape; // "name: file [a, b] vs model [c, d]" (or dtype kind)
  bool empty() const { return missing.empty() && unexpected.empty() && wrong_shape.empty(); }
  // "3 missing, 1 unexpected, 2 with the wrong shape"
  std::string summary() const;
  // One line per problem, each prefixed by "missing: ", "unexpected: " or "wrong shape: ".
  std::vector<std::string> details() const;
};

// Names that are not compared nor loaded: any tensor whose name starts with one of them.
struct LoadOptions {
  std::vector<std::string> skip_prefixes;
};

// Compares names, shapes and dtype kinds (floating vs integer) without changing anything.
StateDictMismatch compare_state_dict(const torch::nn::Module& module, const StateDict& tensors,
                                     const LoadOptions& options = {});

// Copies every tensor into the module's parameter or buffer of the same name, in place (so
// views such as the trainer's flat parameter buffer and the memory format are kept),
// converting floating dtypes (F64 or F16 into the model's F32) and moving to its device.
// Throws wrn::FileError naming `source` when anything does not match: the message's first
// line is the summary, followed by one line per problem; the module is left unchanged.
void load_state_dict(torch::nn::Module& module, const StateDict& tensors, const std::string& source,
                     const LoadOptions& options = {});

// The prefix of the final linear layer of every family in the zoo ("fc.").
inline const char* classifier_prefix() { return "fc."; }

// Whether loading weights into a classifier may start a new task.
enum class FineTune {
  Never,             // every tensor must fit, the classifier included
  WhenClassesDiffer  // a classifier of another shape is neither compared nor loaded: the
                     // model keeps its own (freshly initialized) one
};

// Loads a state dict into a classifier: load_state_dict, with the one fine-tuning rule
// above. Returns true when the classifier was left out. Throws as load_state_dict.
bool load_weights(models::ClassifierImpl& model, const StateDict& tensors, const std::string& source,
                  FineTune fine_tune = FineTune::Never);

}  // namespace wrn::io
