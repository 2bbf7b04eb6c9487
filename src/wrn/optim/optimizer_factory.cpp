#include "wrn/optim/optimizer_factory.h"

#include <fmt/format.h>

#include "wrn/optim/adamw.h"

namespace wrn::train {

std::unique_ptr<FlatOptimizer> make_optimizer(const FlatParameters& flat, const OptimizerConfig& o) {
  std::unique_ptr<FlatOptimizer> out;
  if (o.type == OptimizerType::AdamW) {
    AdamWOptions a;
    a.beta1 = o.betas.at(0);
    a.beta2 = o.betas.at(1);
    a.eps = o.eps;
    a.weight_decay = o.weight_decay;
    out = std::make_unique<AdamW>(flat, a);
  } else {
    out = std::make_unique<Sgd>(flat, static_cast<const SgdOptions&>(o));
  }
  if (o.no_decay_bn_bias) out->set_decay_mask(flat.decay_mask_without_vectors());
  return out;
}

std::string describe_optimizer(const OptimizerConfig& o) {
  if (o.type == OptimizerType::AdamW)
    return fmt::format("AdamW, betas {}, {}, eps {:g}", o.betas.at(0), o.betas.at(1), o.eps);
  return fmt::format("SGD, momentum {}{}", o.momentum, o.nesterov ? " (Nesterov)" : "");
}

std::string optimizer_recipe_extra(const OptimizerConfig& o) {
  if (o.type == OptimizerType::AdamW)
    return fmt::format("AdamW (betas {}, {}, eps {:g})", o.betas.at(0), o.betas.at(1), o.eps);
  return "";
}

}  // namespace wrn::train
