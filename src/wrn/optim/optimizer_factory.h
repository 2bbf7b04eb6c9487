// The configured optimizer, made in one place: its type, its options, and the rules around it
// that the engine applies (no decay on BatchNorm and biases, gradient clipping, momentum reset).
// Adding an optimizer: its own file implementing FlatOptimizer (optimizer.h), a name in
// kOptimizerTypes and a case in make_optimizer and in the two describe functions below
// (docs/recipes.md).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "wrn/core/enum_names.h"
#include "wrn/optim/flat_parameters.h"
#include "wrn/optim/optimizer.h"
#include "wrn/optim/sgd.h"

namespace wrn::train {

enum class OptimizerType { Sgd, AdamW };
inline constexpr std::array<EnumName<OptimizerType>, 2> kOptimizerTypes{
    {{OptimizerType::Sgd, "sgd"}, {OptimizerType::AdamW, "adamw"}}};

// The optimizer's own options (what Sgd takes, by slicing; AdamW takes betas and eps too)
// plus the engine's rules around it.
struct OptimizerConfig : SgdOptions {
  OptimizerType type = OptimizerType::Sgd;
  std::vector<double> betas{0.9, 0.999};  // AdamW
  double eps = 1e-8;                      // AdamW
  bool no_decay_bn_bias = false;          // no weight decay on BatchNorm weights and biases, nor on any bias
  double clip_grad_norm = 0;              // > 0: gradients scaled to at most this global L2 norm
  bool reset_momentum_on_drop = false;    // the WRN Torch code restarts momentum at each LR drop
};

// The optimizer `config` asks for over `flat`, with the no-decay group when asked for.
std::unique_ptr<FlatOptimizer> make_optimizer(const FlatParameters& flat, const OptimizerConfig& config);

// The optimizer in report.md's words: "SGD, momentum 0.9 (Nesterov)", "AdamW, betas 0.9, 0.999, eps 1e-08".
std::string describe_optimizer(const OptimizerConfig& config);
// What a run's start-up "recipe" line says of an optimizer beyond the papers' SGD
// ("AdamW (betas 0.9, 0.999, eps 1e-08)"); empty for SGD.
std::string optimizer_recipe_extra(const OptimizerConfig& config);

}  // namespace wrn::train
