// Mixed-precision training over the flat float32 parameters (optim/flat_parameters.h).
//
// The float32 flat buffer stays the master copy: the SGD update, weight decay, momentum,
// checkpoints and exports all see float32. For the forward and backward, the parameters that
// compute in reduced precision (models/precision.h: everything but BatchNorm) are re-pointed
// at a second flat buffer of the compute dtype (bf16 or fp16), refreshed from the master with
// ONE conversion kernel after each update; their gradients land in a flat compute-dtype
// gradient buffer and reach the master gradients with one conversion per contiguous run of
// such parameters. BatchNorm parameters keep aliasing the master buffers directly. Nothing is
// cast per op: activations stay in the compute dtype from the first convolution to the logits.
//
// Why not autocast: it converts every conv/linear weight on every forward (and the gradient
// back on every backward); explicit copies convert each weight once per optimizer step.
#pragma once

#include <c10/core/ScalarType.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include "wrn/optim/sgd.h"

namespace wrn::train {

class MixedPrecisionWeights {
 public:
  // Disabled: every call is a no-op (float32 training).
  MixedPrecisionWeights() = default;
  // Requires: `flat` was built from `module` (float32) and still aliases it; dtype BFloat16 or
  // Half. The module stays on its master (float32) tensors until use_compute().
  MixedPrecisionWeights(torch::nn::Module& module, const FlatParameters& flat, c10::ScalarType dtype);

  bool enabled() const { return enabled_; }
  c10::ScalarType dtype() const { return enabled_ ? dtype_ : c10::kFloat; }

  // Refreshes the compute copy from the master and points the module's reduced parameters (and
  // their .grad) at it. Call after anything that changed the master (a restore, an update).
  void use_compute();
  // Points the module back at the float32 master tensors (for state_dict(), saving, export).
  void use_master();
  bool on_compute() const { return on_compute_; }
  // The compute copy from the master again (one kernel); call after each optimizer step.
  void refresh();
  // Zeroes the compute gradient buffer (the caller zeroes the master's: FlatParameters).
  void zero_grad();
  // master gradients of the reduced parameters = their compute gradients (converted).
  void gradients_to_master();
  // The same for one parameter of the module, while it computes in the reduced dtype (a
  // gradient hook's work when the data-parallel reduction overlaps the backward pass); a no-op
  // for a float32 parameter (BatchNorm's) or when disabled.
  void gradient_to_master(const torch::Tensor& param);

  // Scoped use_master(): the module holds its float32 master tensors until the end of the scope.
  class MasterScope {
   public:
    explicit MasterScope(MixedPrecisionWeights& w) : w_(w), was_compute_(w.on_compute()) { w_.use_master(); }
    ~MasterScope() {
      if (was_compute_) w_.use_compute();
    }
    MasterScope(const MasterScope&) = delete;
    MasterScope& operator=(const MasterScope&) = delete;

   private:
    MixedPrecisionWeights& w_;
    bool was_compute_;
  };

 private:
  struct Slot {
    torch::Tensor param;                 // the module's tensor
    torch::Tensor master, master_grad;   // views of the float32 flat buffers
    torch::Tensor compute, compute_grad; // views of the compute-dtype flat buffers
  };
  bool enabled_ = false;
  bool on_compute_ = false;
  c10::ScalarType dtype_ = c10::kFloat;
  torch::Tensor master_, master_grads_, compute_, compute_grads_;
  std::vector<Slot> slots_;
  std::unordered_map<const c10::TensorImpl*, size_t> slot_of_;  // the module's tensor -> its slot
  std::vector<std::pair<int64_t, int64_t>> runs_;  // [offset, length) of contiguous reduced slots
};

}  // namespace wrn::train
