#include "wrn/setup/run_setup.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/cuda.h>

#include "wrn/core/error.h"
#include "wrn/core/memory.h"
#include "wrn/setup/data_setup.h"

namespace wrn::train {

torch::Device parse_device(const std::string& text) {
  if (text == "cpu") return torch::Device(torch::kCPU);
  if (text == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  WRN_CHECK(text == "cuda" || text.rfind("cuda:", 0) == 0, "device '{}': expected cpu, cuda or cuda:N", text);
  WRN_CHECK(torch::cuda::is_available(), "device '{}' asked for, but CUDA is not available in this build/machine",
            text);
  return text == "cuda" ? torch::Device(torch::kCUDA, 0) : torch::Device(text);
}

namespace {

// model.input and the data's image options describe one shape: the one given sets the other.
TrainConfig with_input_agreed(TrainConfig c) {
  if (c.model.input.empty()) return c;
  const auto input = models::InputShape::parse(c.model.input, "model.input");
  if (c.data.channels == 0) c.data.channels = input.channels;
  if (c.data.image_size.empty()) c.data.image_size = fmt::format("{}x{}", input.height, input.width);
  const auto [h, w] = data::parse_image_size(c.data.image_size, "data.image_size");
  WRN_CHECK(input.channels == c.data.channels && input.height == h && input.width == w,
            "config: 'model.input' {} does not match the data's {}x{}x{} (data.channels, data.image_size); "
            "set one of them", c.model.input, c.data.channels, h, w);
  return c;
}

// The normalizer of a streamed train split: fitted on a seeded sample of its images.
data::Normalizer fit_normalizer(const data::SplitData& train, const data::Preprocessing& spec, const TrainConfig& c) {
  if (!train.streamed()) return data::Normalizer::fit(train.memory, c.data.normalize);
  const auto& n = c.data.normalize;
  WRN_CHECK(!n.zca, "config: 'data.normalize.zca' needs the whole train set in memory (data.storage memory)");
  if (!n.mean.empty() && !n.std.empty()) return data::Normalizer::fit(data::decode_all(train.subset({0, 1}), spec, loader_options(c)).memory, n);
  constexpr int64_t kSample = 5000;
  std::vector<int64_t> pick;
  if (train.size() <= kSample) {
    for (int64_t i = 0; i < train.size(); ++i) pick.push_back(i);
  } else {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(c.seed ^ 0x6e6f726dULL);  // "norm"
    auto perm = torch::randperm(train.size(), gen, torch::kLong).narrow(0, 0, kSample);
    perm = std::get<0>(perm.sort()).contiguous();
    pick.assign(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + kSample);
  }
  return data::Normalizer::fit(data::decode_all(train.subset(pick), spec, loader_options(c)).memory, n);
}

std::string size_text(int64_t h, int64_t w) { return h == w ? std::to_string(h) : fmt::format("{}x{}", h, w); }

}  // namespace

RunSetup RunSetup::create(const TrainConfig& config, bool load_train,
                          const std::vector<torch::Tensor>* normalizer_state,
                          const std::vector<std::string>& class_names) {
  RunSetup s;
  s.config = with_input_agreed(config);
  s.device = parse_device(config.device);
  s.precision = resolve_precision(config.precision, s.device);
  s.config.precision = s.precision.value;
  auto run_data = load_run_data(s.config, load_train, class_names);
  s.preprocessing = run_data.spec;
  s.storage = run_data.storage_reason;
  // What the data resolved goes back into the config (config.yaml, checkpoints): eval, predict
  // and export read the same spec.
  s.config.data.image_size = size_text(s.preprocessing.height, s.preprocessing.width);
  s.config.data.channels = s.preprocessing.channels;
  s.config.data.eval_resize = s.preprocessing.eval_resize;
  if (normalizer_state) {
    s.normalizer.load_state(*normalizer_state);
  } else {
    WRN_CHECK(load_train, "the normalizer needs the train set or a saved state");
    s.normalizer = fit_normalizer(run_data.train, s.preprocessing, s.config);
  }
  s.preprocessing.mean = s.normalizer.mean();
  s.preprocessing.std = s.normalizer.std();
  s.preprocessing.zca = s.normalizer.has_zca();
  s.normalizer.to(s.device);
  const auto& ref = load_train ? run_data.train : run_data.test;
  models::ModelSpec spec;
  spec.name = config.model.name;
  spec.classes = config.model.classes > 0 ? config.model.classes : ref.num_classes();
  spec.input = {s.preprocessing.channels, s.preprocessing.height, s.preprocessing.width};
  spec.settings = config.model.settings;
  s.spec = models::resolve_spec(spec);
  WRN_CHECK(s.spec.classes >= ref.num_classes(), "model.classes is {}, but the data set '{}' has {} classes",
            s.spec.classes, config.data.kind, ref.num_classes());
  torch::manual_seed(config.seed);  // model initialization (and later dropout) draw from it
  s.model = models::build_model(s.spec);
  s.model->to(s.device);
  if (config.uses_channels_last()) parameters_to_channels_last(*s.model);  // auto: train/trainer.cpp decides
  auto on_device = [&](data::SplitData split) {
    if (!split.streamed() && split.size() > 0) split.memory = split.memory.to(s.device);
    return split;
  };
  s.train = on_device(std::move(run_data.train));
  s.val = on_device(std::move(run_data.val));
  s.test = on_device(std::move(run_data.test));
  return s;
}

}  // namespace wrn::train
