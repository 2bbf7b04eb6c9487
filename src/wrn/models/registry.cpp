#include "wrn/models/registry.h"

#include <array>
#include <functional>
#include <regex>

#include "wrn/core/enum_names.h"
#include "wrn/core/error.h"
#include "wrn/core/text.h"
#include "wrn/models/preact_resnet.h"
#include "wrn/models/resnet.h"
#include "wrn/models/wide_resnet.h"

namespace wrn::models {

void ModelSpec::add_setting(const std::string& key_equals_value) {
  auto eq = key_equals_value.find('=');
  WRN_CHECK(eq != std::string::npos && eq > 0, "--set: expected key=value, got '{}'", key_equals_value);
  settings.emplace_back(trim(key_equals_value.substr(0, eq)), trim(key_equals_value.substr(eq + 1)));
}

namespace {

const InputShape kImageNetInput{3, 224, 224};
const InputShape kCifarInput{3, 32, 32};

// ---- settings shared by every family ------------------------------------------------------

const std::vector<std::string> kInitKeys = {"init", "bn_init", "zero_init_residual"};

bool apply_init_setting(InitOptions& init, const std::string& key, const std::string& value) {
  if (key == "init") {
    init.conv = parse_conv_init(value);
  } else if (key == "bn_init") {
    init.bn = parse_bn_init(value);
  } else if (key == "zero_init_residual") {
    init.zero_init_residual = parse_bool(value, key);
  } else {
    return false;
  }
  return true;
}

[[noreturn]] void unknown_key(const std::string& model, const std::string& key, std::vector<std::string> keys) {
  throw ConfigError(fmt::format("--set {}: '{}' has no setting '{}'{}; settings: {}", key, model, key,
                                did_you_mean(key, keys), join(keys, ", ")));
}

std::vector<int64_t> parse_int_list(const std::string& value, const std::string& what) {
  std::vector<int64_t> out;
  for (const auto& part : split(value, ',')) out.push_back(parse_int(part, what));
  return out;
}

ShortcutType parse_shortcut(const std::string& value, bool allow_c) {
  std::string v = to_lower(value);
  if (v == "a") return ShortcutType::A;
  if (v == "b") return ShortcutType::B;
  if (v == "c" && allow_c) return ShortcutType::C;
  throw ConfigError(fmt::format("shortcut: expected {}, got '{}'", allow_c ? "A, B or C" : "A or B", value));
}

constexpr std::array<EnumName<StrideIn>, 2> kStrideIn{{{StrideIn::Conv3x3, "3x3"}, {StrideIn::Conv1x1, "1x1"}}};
constexpr std::array<EnumName<ActivationOrder>, 5> kActivationOrders{
    {{ActivationOrder::Original, "original"},
     {ActivationOrder::BnAfterAddition, "bn_after_addition"},
     {ActivationOrder::ReluBeforeAddition, "relu_before_addition"},
     {ActivationOrder::ReluOnlyPreact, "relu_only_preact"},
     {ActivationOrder::FullPreact, "full_preact"}}};
constexpr std::array<EnumName<ShortcutVariant>, 6> kShortcutVariants{
    {{ShortcutVariant::Identity, "identity"},
     {ShortcutVariant::ConstantScaling, "constant_scaling"},
     {ShortcutVariant::ExclusiveGating, "exclusive_gating"},
     {ShortcutVariant::ShortcutOnlyGating, "shortcut_only_gating"},
     {ShortcutVariant::Conv1x1, "conv1x1"},
     {ShortcutVariant::Dropout, "dropout"}}};

// A setting's value from its name list (core/enum_names.h), in --set's error style.
template <class E, size_t N>
E parse_setting(const std::array<EnumName<E>, N>& names, const std::string& key, const std::string& value) {
  if (auto v = find_enum(names, value)) return *v;
  const auto allowed = enum_names(names);
  throw ConfigError(fmt::format("{}: expected one of {}, got '{}'{}", key, join(allowed, ", "), value,
                                did_you_mean(value, allowed)));
}

// ---- ResNet family -------------------------------------------------------------------------

const std::vector<std::string> kResNetKeys = {
    "init",     "bn_init",        "zero_init_residual", "shortcut",     "stride_in",
    "groups",   "width_per_group", "activation",        "shortcut_variant", "shortcut_scale",
    "scale_branch", "gate_bias",  "shortcut_dropout"};

void apply_resnet_setting(const std::string& model, ResNetOptions& o, const std::string& key,
                          const std::string& value) {
  InitOptions init = o.init();
  if (apply_init_setting(init, key, value)) {
    o.init(init);
  } else if (key == "shortcut") {
    o.shortcut(parse_shortcut(value, true));
  } else if (key == "stride_in") {
    o.stride_in(parse_setting(kStrideIn, key, value));
  } else if (key == "groups") {
    o.groups(parse_int(value, key));
  } else if (key == "width_per_group") {
    o.width_per_group(parse_int(value, key));
  } else if (key == "activation") {
    o.activation(parse_setting(kActivationOrders, key, value));
  } else if (key == "shortcut_variant") {
    o.shortcut_variant(parse_setting(kShortcutVariants, key, value));
  } else if (key == "shortcut_scale") {
    o.shortcut_scale(parse_double(value, key));
  } else if (key == "scale_branch") {
    o.scale_branch(parse_bool(value, key));
  } else if (key == "gate_bias") {
    o.gate_bias(parse_double(value, key));
  } else if (key == "shortcut_dropout") {
    o.shortcut_dropout(parse_double(value, key));
  } else {
    unknown_key(model, key, kResNetKeys);
  }
}

// ---- pre-activation family -----------------------------------------------------------------

const std::vector<std::string> kPreActKeys = {"init", "bn_init", "zero_init_residual", "shortcut"};

void apply_preact_setting(const std::string& model, PreActResNetOptions& o, const std::string& key,
                          const std::string& value) {
  InitOptions init = o.init();
  if (apply_init_setting(init, key, value)) {
    o.init(init);
  } else if (key == "shortcut") {
    o.shortcut(parse_shortcut(value, false));
  } else {
    unknown_key(model, key, kPreActKeys);
  }
}

// ---- Wide ResNet ---------------------------------------------------------------------------

const std::vector<std::string> kWideKeys = {"init", "bn_init", "zero_init_residual", "dropout", "block",
                                            "deepening"};

void apply_wide_setting(const std::string& model, WideResNetOptions& o, const std::string& key,
                        const std::string& value) {
  InitOptions init = o.init();
  if (apply_init_setting(init, key, value)) {
    o.init(init);
  } else if (key == "dropout") {
    o.dropout(parse_double(value, key));
  } else if (key == "block") {
    std::string v = value;
    if (v.rfind("B(", 0) == 0 && v.back() == ')') v = v.substr(2, v.size() - 3);  // accept "B(3,1,3)"
    auto block = parse_int_list(v, "block");
    WRN_CHECK(block.size() <= 64, "block: at most 64 convolutions per block, got {}", block.size());
    o.block_type(std::move(block));
  } else if (key == "deepening") {
    int64_t l = parse_int(value, key);
    // The paper goes to 4 (B(3,3,3,3)); 64 bounds the model (and every message that spells its block).
    WRN_CHECK(l >= 1 && l <= 64, "deepening: the number of 3x3 convolutions per block must be 1 to 64, got {}", l);
    o.block_type(std::vector<int64_t>(static_cast<size_t>(l), 3));
  } else {
    unknown_key(model, key, kWideKeys);
  }
}

// ---- the named models ----------------------------------------------------------------------

struct Entry {
  ModelInfo info;
  std::vector<std::string> keys;
  std::function<Classifier(const ModelSpec&)> build;  // spec already resolved
};

template <typename Options, typename Apply>
Options with_settings(const ModelSpec& spec, Options o, Apply apply) {
  for (const auto& [key, value] : spec.settings) apply(spec.name, o, key, value);
  return o;
}

Entry torchvision_resnet(const std::string& name, BlockKind block, std::vector<int64_t> layers, int64_t groups,
                         int64_t width_per_group, const std::string& description) {
  auto build = [=](const ModelSpec& spec) -> Classifier {
    auto o = ResNetOptions()
                 .block(block)
                 .layers(layers)
                 .groups(groups)
                 .width_per_group(width_per_group)
                 .num_classes(spec.classes)
                 .in_channels(spec.input.channels);
    return std::make_shared<ResNetImpl>(with_settings(spec, o, apply_resnet_setting));
  };
  return {{name, "resnet", description, 1000, kImageNetInput}, kResNetKeys, build};
}

Entry cifar_resnet(int64_t depth) {
  const bool bottleneck = depth == 164 || depth == 1001;
  const int64_t n = bottleneck ? (depth - 2) / 9 : (depth - 2) / 6;
  auto build = [=](const ModelSpec& spec) -> Classifier {
    auto o = ResNetOptions()
                 .block(bottleneck ? BlockKind::Bottleneck : BlockKind::Basic)
                 .layers({n, n, n})
                 .planes({16, 32, 64})
                 .stem(Stem::Cifar)
                 .shortcut(bottleneck ? ShortcutType::B : ShortcutType::A)
                 .num_classes(spec.classes)
                 .in_channels(spec.input.channels);
    return std::make_shared<ResNetImpl>(with_settings(spec, o, apply_resnet_setting));
  };
  std::string description =
      bottleneck ? fmt::format("CIFAR ResNet-{}, bottleneck (9n+2, n={}), projection shortcuts", depth, n)
                 : fmt::format("CIFAR ResNet-{} (6n+2, n={}), option A shortcuts", depth, n);
  return {{"resnet" + std::to_string(depth), "resnet", description, 10, kCifarInput}, kResNetKeys, build};
}

Entry preact_cifar(int64_t depth) {
  const bool bottleneck = depth != 110;
  const int64_t n = bottleneck ? (depth - 2) / 9 : (depth - 2) / 6;
  auto build = [=](const ModelSpec& spec) -> Classifier {
    auto o = PreActResNetOptions()
                 .block(bottleneck ? BlockKind::Bottleneck : BlockKind::Basic)
                 .layers({n, n, n})
                 .num_classes(spec.classes)
                 .in_channels(spec.input.channels);
    return std::make_shared<PreActResNetImpl>(with_settings(spec, o, apply_preact_setting));
  };
  return {{"preact_resnet" + std::to_string(depth), "preact_resnet",
           fmt::format("pre-activation ResNet-{} for CIFAR ({}, n={})", depth,
                       bottleneck ? "bottleneck, 9n+2" : "basic, 6n+2", n),
           10, kCifarInput},
          kPreActKeys,
          build};
}

Entry preact_imagenet(int64_t depth, std::vector<int64_t> layers) {
  auto build = [=](const ModelSpec& spec) -> Classifier {
    auto o = PreActResNetOptions()
                 .block(BlockKind::Bottleneck)
                 .layers(layers)
                 .planes({64, 128, 256, 512})
                 .stem(Stem::ImageNet)
                 .num_classes(spec.classes)
                 .in_channels(spec.input.channels);
    return std::make_shared<PreActResNetImpl>(with_settings(spec, o, apply_preact_setting));
  };
  return {{"preact_resnet" + std::to_string(depth), "preact_resnet",
           fmt::format("pre-activation ResNet-{} for ImageNet (bottleneck)", depth), 1000, kImageNetInput},
          kPreActKeys,
          build};
}

Entry preact_resnet18_seed() {
  auto build = [](const ModelSpec& spec) -> Classifier {
    auto o = PreActResNetOptions()
                 .block(BlockKind::Basic)
                 .layers({2, 2, 2, 2})
                 .planes({64, 128, 256, 512})
                 .stem_width(64)
                 .stem_relu(true)
                 .shortcut(ShortcutType::A)
                 .final_bn(false)
                 .num_classes(spec.classes)
                 .in_channels(spec.input.channels);
    return std::make_shared<PreActResNetImpl>(with_settings(spec, o, apply_preact_setting));
  };
  return {{"preact_resnet18", "preact_resnet",
           "PreActResNet-18 as the seed code: conv64+ReLU stem, zero-padding shortcuts, final ReLU", 10,
           kCifarInput},
          kPreActKeys,
          build};
}

Entry wide_resnet(int64_t depth, int64_t k) {
  auto build = [=](const ModelSpec& spec) -> Classifier {
    auto o = WideResNetOptions().depth(depth).widen_factor(k).num_classes(spec.classes).in_channels(
        spec.input.channels);
    return std::make_shared<WideResNetImpl>(with_settings(spec, o, apply_wide_setting));
  };
  return {{fmt::format("wrn-{}-{}", depth, k), "wide_resnet",
           fmt::format("Wide ResNet WRN-{}-{} (depth {}, widening factor {})", depth, k, depth, k), 10,
           kCifarInput},
          kWideKeys,
          build};
}

const std::vector<Entry>& named_entries() {
  static const std::vector<Entry> entries = [] {
    std::vector<Entry> e;
    const auto basic = BlockKind::Basic;
    const auto bottle = BlockKind::Bottleneck;
    e.push_back(torchvision_resnet("resnet18", basic, {2, 2, 2, 2}, 1, 64, "ResNet-18 (torchvision)"));
    e.push_back(torchvision_resnet("resnet34", basic, {3, 4, 6, 3}, 1, 64, "ResNet-34 (torchvision)"));
    e.push_back(torchvision_resnet("resnet50", bottle, {3, 4, 6, 3}, 1, 64, "ResNet-50 v1.5 (torchvision)"));
    e.push_back(torchvision_resnet("resnet101", bottle, {3, 4, 23, 3}, 1, 64, "ResNet-101 v1.5 (torchvision)"));
    e.push_back(torchvision_resnet("resnet152", bottle, {3, 8, 36, 3}, 1, 64, "ResNet-152 v1.5 (torchvision)"));
    e.push_back(torchvision_resnet("resnext50_32x4d", bottle, {3, 4, 6, 3}, 32, 4, "ResNeXt-50 32x4d (torchvision)"));
    e.push_back(
        torchvision_resnet("resnext101_32x8d", bottle, {3, 4, 23, 3}, 32, 8, "ResNeXt-101 32x8d (torchvision)"));
    e.push_back(torchvision_resnet("wide_resnet50_2", bottle, {3, 4, 6, 3}, 1, 128,
                                   "Wide ResNet-50-2, WRN-50-2-bottleneck (torchvision)"));
    e.push_back(torchvision_resnet("wide_resnet101_2", bottle, {3, 4, 23, 3}, 1, 128,
                                   "Wide ResNet-101-2 (torchvision)"));
    for (int64_t d : {20, 32, 44, 56, 110, 164, 1001, 1202}) e.push_back(cifar_resnet(d));
    e.push_back(preact_resnet18_seed());
    for (int64_t d : {110, 164, 1001}) e.push_back(preact_cifar(d));
    e.push_back(preact_imagenet(152, {3, 8, 36, 3}));
    e.push_back(preact_imagenet(200, {3, 24, 36, 3}));
    // The WRN paper's tables; any wrn-D-K with a valid depth is accepted too.
    for (auto [d, k] : std::vector<std::pair<int64_t, int64_t>>{{16, 4}, {16, 8}, {16, 10}, {22, 8}, {22, 10},
                                                                {28, 10}, {28, 12}, {40, 1}, {40, 2}, {40, 4},
                                                                {40, 8}, {40, 10}, {52, 1}}) {
      e.push_back(wide_resnet(d, k));
    }
    return e;
  }();
  return entries;
}

// The entry for `name`: a listed model, or any wrn-D-K.
Entry find_entry(const std::string& name) {
  for (const auto& e : named_entries()) {
    if (e.info.name == name) return e;
  }
  static const std::regex wrn_pattern(R"(wrn-(\d{1,4})-(\d{1,3}))");
  std::smatch m;
  if (std::regex_match(name, m, wrn_pattern)) return wide_resnet(std::stoll(m[1]), std::stoll(m[2]));
  std::vector<std::string> names;
  for (const auto& e : named_entries()) names.push_back(e.info.name);
  throw ConfigError(fmt::format("unknown model '{}'{}; see 'wrn models' (Wide ResNets are written wrn-D-K)", name,
                                did_you_mean(name, names)));
}

}  // namespace

std::vector<ModelInfo> list_models() {
  std::vector<ModelInfo> out;
  for (const auto& e : named_entries()) out.push_back(e.info);
  return out;
}

ModelSpec resolve_spec(const ModelSpec& spec) {
  Entry entry = find_entry(spec.name);
  ModelSpec resolved = spec;
  WRN_CHECK(spec.classes >= 0, "--classes: expected a positive number of classes, got {}", spec.classes);
  if (resolved.classes == 0) resolved.classes = entry.info.default_classes;
  if (resolved.input.channels == 0) resolved.input = entry.info.default_input;
  WRN_CHECK(resolved.input.channels > 0 && resolved.input.height > 0 && resolved.input.width > 0,
            "--input: every dimension must be positive, got {}", resolved.input.str());
  return resolved;
}

Classifier build_model(const ModelSpec& spec) {
  ModelSpec resolved = resolve_spec(spec);
  return find_entry(resolved.name).build(resolved);
}

}  // namespace wrn::models
