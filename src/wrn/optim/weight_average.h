// An exponential moving average (EMA) of a model's weights and BatchNorm buffers, updated
// after every optimizer step and evaluated, checkpointed and exported in place of the
// trained weights (timm's ModelEma, with TensorFlow's ExponentialMovingAverage warm-up):
//   d_t   = warmup ? min(decay, (1 + t) / (10 + t)) : decay      (t: updates before this one)
//   ema   = d_t * ema + (1 - d_t) * w     for the float32 master weights and floating buffers
//   ema   = w                             for integer buffers (num_batches_tracked)
// It starts as a copy of the weights. One lerp over the flat parameter buffer per update.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace wrn::train {

struct EmaConfig {
  double decay = 0;     // 0: off; e.g. 0.999
  bool warmup = true;   // the (1 + t) / (10 + t) ramp, so early averages are not the initialization
  bool enabled() const { return decay > 0; }
};

class WeightAverage {
 public:
  WeightAverage() = default;
  // `params`: the flat float32 master buffer; `buffers`: the model's buffers (aliased).
  WeightAverage(torch::Tensor params, std::vector<torch::Tensor> buffers, EmaConfig config);

  bool enabled() const { return params_.defined(); }
  // The decay of the update after `updates` earlier ones.
  double decay_at(int64_t updates) const;
  // After an optimizer step.
  void update();
  int64_t updates() const { return updates_; }
  void set_updates(int64_t n) { updates_ = n; }

  // Exchanges the averaged values with the model's (call twice to undo): evaluation and
  // checkpoints see the average while swapped. A no-op when disabled.
  void swap();

 private:
  torch::Tensor params_, avg_params_;
  std::vector<torch::Tensor> buffers_, avg_buffers_;
  EmaConfig config_;
  int64_t updates_ = 0;
};

// Scoped swap(): the model holds the average until the end of the scope.
class AverageScope {
 public:
  explicit AverageScope(WeightAverage& w) : w_(w) { w_.swap(); }
  ~AverageScope() { w_.swap(); }
  AverageScope(const AverageScope&) = delete;
  AverageScope& operator=(const AverageScope&) = delete;

 private:
  WeightAverage& w_;
};

}  // namespace wrn::train
