// The optimizer interface: what the training engine needs of an optimizer over the flat
// parameter and gradient buffers (optim/flat_parameters.h). One file per optimizer implements
// it (sgd.h, adamw.h); optimizer_factory.h makes the configured one.
#pragma once

#include <torch/types.h>

#include "wrn/io/state_dict.h"

namespace wrn::train {

// An optimizer over one flat parameter buffer and its gradient buffer.
class FlatOptimizer {
 public:
  virtual ~FlatOptimizer() = default;
  // One update with learning rate `lr` (the schedule's value for this step).
  virtual void step(double lr) = 0;
  // Forgets the moment estimates (the WRN Torch code's restart at each LR drop).
  virtual void reset_momentum() = 0;
  // Checkpoint state, and its restore (wrn::FileError for a missing or mis-sized tensor).
  virtual io::StateDict state() const = 0;
  virtual void load_state(const io::StateDict& state) = 0;
  // Weight decay only where `mask` (float [numel], 0 or 1) is 1, e.g. not on BatchNorm and
  // biases (decay_mask_without_vectors); undefined: everywhere.
  void set_decay_mask(torch::Tensor mask) { decay_mask_ = std::move(mask); }

 protected:
  torch::Tensor decay_mask_;
};

}  // namespace wrn::train
