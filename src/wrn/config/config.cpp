#include "wrn/config/config.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <random>
#include <set>
#include <type_traits>

#include "wrn/core/error.h"
#include "wrn/core/text.h"
#include "wrn/data/dataset.h"

namespace wrn::train {
namespace {

std::string type_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "nothing";
    default: return "'" + n.Scalar() + "'";
  }
}

std::string num(double v) { return fmt::format("{}", v); }

YAML::Node number_list(const std::vector<double>& v) {
  YAML::Node n(YAML::NodeType::Sequence);
  for (double x : v) n.push_back(num(x));
  n.SetStyle(YAML::EmitterStyle::Flow);
  return n;
}

using Settings = std::vector<std::pair<std::string, std::string>>;

// ---- One writer and one strict reader per member type ----

YAML::Node to_node(const std::string& v) { return YAML::Node(v); }
YAML::Node to_node(int64_t v) { return YAML::Node(v); }
YAML::Node to_node(int v) { return YAML::Node(v); }
YAML::Node to_node(uint64_t v) { return YAML::Node(v); }
YAML::Node to_node(double v) { return YAML::Node(num(v)); }
YAML::Node to_node(bool v) { return YAML::Node(v); }
YAML::Node to_node(const std::vector<double>& v) { return number_list(v); }
YAML::Node to_node(const Settings& v) {
  YAML::Node n(YAML::NodeType::Map);
  for (const auto& [k, s] : v) n[k] = s;
  return n;
}

std::string what(const std::string& key) { return "config key '" + key + "'"; }

const std::string& single_value(const YAML::Node& n, const std::string& key) {
  WRN_CHECK(n.IsScalar(), "config: '{}' must be a single value, got {}", key, type_name(n));
  return n.Scalar();
}

void from_node(const YAML::Node& n, const std::string& key, std::string& out) {
  WRN_CHECK(n.IsScalar(), "config: '{}' must be a string, got {}", key, type_name(n));
  WRN_CHECK(n.Scalar().size() <= kMaxConfigString, "config: '{}' is {} characters long, expected at most {}", key,
            n.Scalar().size(), kMaxConfigString);
  out = n.Scalar();
}
void from_node(const YAML::Node& n, const std::string& key, int64_t& out) {
  out = parse_int(single_value(n, key), what(key));
}
void from_node(const YAML::Node& n, const std::string& key, int& out) {
  const long long v = parse_int(single_value(n, key), what(key));
  WRN_CHECK(v >= std::numeric_limits<int>::min() && v <= std::numeric_limits<int>::max(),
            "config: '{}' is out of range: {}", key, v);
  out = static_cast<int>(v);
}
void from_node(const YAML::Node& n, const std::string& key, uint64_t& out) {
  const long long v = parse_int(single_value(n, key), what(key));
  WRN_CHECK(v >= 0, "config: '{}' must be >= 0, got {}", key, v);
  out = static_cast<uint64_t>(v);
}
void from_node(const YAML::Node& n, const std::string& key, double& out) {
  out = parse_double(single_value(n, key), what(key));
}
void from_node(const YAML::Node& n, const std::string& key, bool& out) {
  out = parse_bool(single_value(n, key), what(key));
}
void from_node(const YAML::Node& n, const std::string& key, std::vector<double>& out) {
  out.clear();
  if (n.IsScalar()) {
    out.push_back(parse_double(n.Scalar(), what(key)));
    return;
  }
  WRN_CHECK(n.IsSequence(), "config: '{}' must be a list of numbers, got {}", key, type_name(n));
  WRN_CHECK(n.size() <= kMaxConfigList, "config: '{}' has {} values, expected at most {}", key, n.size(),
            kMaxConfigList);
  for (size_t i = 0; i < n.size(); ++i) {
    WRN_CHECK(n[i].IsScalar(), "config: '{}[{}]' must be a number, got {}", key, i, type_name(n[i]));
    out.push_back(parse_double(n[i].Scalar(), fmt::format("config key '{}[{}]'", key, i)));
  }
}
// A mapping of scalar settings, kept in file order.
void from_node(const YAML::Node& n, const std::string& key, Settings& out) {
  WRN_CHECK(n.IsMap(), "config: '{}' must be a mapping of settings, got {}", key, type_name(n));
  WRN_CHECK(n.size() <= kMaxConfigList, "config: '{}' has {} settings, expected at most {}", key, n.size(),
            kMaxConfigList);
  out.clear();
  for (const auto& kv : n) {
    const auto k = kv.first.Scalar();
    const auto& v = kv.second;
    std::string text;
    if (v.IsScalar()) {
      text = v.Scalar();
    } else if (v.IsSequence()) {  // block: [3, 3] -> "3,3"
      std::vector<std::string> parts;
      for (const auto& e : v) parts.push_back(e.Scalar());
      text = join(parts, ",");
    } else {
      throw ConfigError(fmt::format("config: '{}.{}' must be a value, got {}", key, k, type_name(v)));
    }
    out.emplace_back(k, text);
  }
}

template <class T>
constexpr FieldType field_type() {
  if constexpr (std::is_same_v<T, std::string>) return FieldType::String;
  else if constexpr (std::is_same_v<T, bool>) return FieldType::Bool;
  else if constexpr (std::is_same_v<T, uint64_t>) return FieldType::UInt;
  else if constexpr (std::is_integral_v<T>) return FieldType::Int;
  else if constexpr (std::is_floating_point_v<T>) return FieldType::Float;
  else if constexpr (std::is_same_v<T, std::vector<double>>) return FieldType::FloatList;
  else return FieldType::Settings;
}

// ---- Building the table ----

// Chained setters on the field just added (TORCH_ARG style).
class FieldRef {
 public:
  FieldRef(std::vector<ConfigField>& fields, size_t index) : fields_(fields), index_(index) {}
  FieldRef& at_least(double v) { return set_min(v, false); }
  FieldRef& above(double v) { return set_min(v, true); }
  FieldRef& below(double v) { return set_max(v, true); }
  FieldRef& at_most(double v) { return set_max(v, false); }
  FieldRef& one_of(std::vector<std::string> names) {
    f().allowed = std::move(names);
    return *this;
  }
  FieldRef& omit_default() {
    f().omit_default = true;
    return *this;
  }
  FieldRef& example(std::string yaml) {
    f().example = std::move(yaml);
    return *this;
  }

 private:
  ConfigField& f() { return fields_[index_]; }
  FieldRef& set_min(double v, bool exclusive) {
    f().min = v;
    f().min_exclusive = exclusive;
    return *this;
  }
  FieldRef& set_max(double v, bool exclusive) {
    f().max = v;
    f().max_exclusive = exclusive;
    return *this;
  }
  std::vector<ConfigField>& fields_;
  size_t index_;
};

// The fields of one struct S reached from the TrainConfig by `ref`, under `path`.
template <class S>
class Section {
 public:
  using Ref = S& (*)(TrainConfig&);
  Section(std::vector<ConfigField>& fields, std::vector<ConfigSection>& sections, std::string path, std::string doc,
          Ref ref)
      : fields_(fields), path_(std::move(path)), ref_(ref) {
    if (!path_.empty()) sections.push_back({path_, std::move(doc)});
  }

  // A member of S (or of a base of S) of one of the plain types.
  template <class T, class C>
  FieldRef field(const char* name, T C::*member, const char* doc) {
    static_assert(std::is_base_of_v<C, S>, "the member must belong to the section's struct");
    ConfigField f = make(name, field_type<T>(), doc);
    const Ref ref = ref_;
    f.write = [ref, member](const TrainConfig& c) { return to_node(ref(const_cast<TrainConfig&>(c)).*member); };
    f.read = [ref, member, key = f.key](TrainConfig& c, const YAML::Node& n) { from_node(n, key, ref(c).*member); };
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
      f.numbers = [ref, member](const TrainConfig& c) {
        return std::vector<double>{static_cast<double>(ref(const_cast<TrainConfig&>(c)).*member)};
      };
    } else if constexpr (std::is_same_v<T, std::vector<double>>) {
      f.numbers = [ref, member](const TrainConfig& c) { return ref(const_cast<TrainConfig&>(c)).*member; };
    }
    return push(std::move(f));
  }

  // An enum member, spelled by `names` in config files.
  template <class E, size_t N, class C>
  FieldRef choice(const char* name, E C::*member, const std::array<EnumName<E>, N>& names, const char* doc) {
    static_assert(std::is_base_of_v<C, S>, "the member must belong to the section's struct");
    ConfigField f = make(name, FieldType::Enum, doc);
    f.allowed = enum_names(names);
    const Ref ref = ref_;
    const auto* list = &names;
    f.write = [ref, member, list](const TrainConfig& c) {
      return YAML::Node(std::string(enum_name(*list, ref(const_cast<TrainConfig&>(c)).*member)));
    };
    f.read = [ref, member, list, key = f.key](TrainConfig& c, const YAML::Node& n) {
      WRN_CHECK(n.IsScalar(), "config: '{}' must be one of {}, got {}", key, join(enum_names(*list), ", "),
                type_name(n));
      ref(c).*member = parse_enum(*list, n.Scalar(), key);
    };
    return push(std::move(f));
  }

 private:
  ConfigField make(const char* name, FieldType type, const char* doc) const {
    ConfigField f;
    f.key = path_.empty() ? name : path_ + "." + name;
    f.type = type;
    f.doc = doc;
    return f;
  }
  FieldRef push(ConfigField f) {
    fields_.push_back(std::move(f));
    return FieldRef(fields_, fields_.size() - 1);
  }

  std::vector<ConfigField>& fields_;
  std::string path_;
  Ref ref_;
};

struct Table {
  std::vector<ConfigField> fields;
  std::vector<ConfigSection> sections;
};

// THE declaration of every config field, in config.yaml order. Defaults are the structs'.
Table build_table() {
  Table t;
  auto& F = t.fields;
  auto& S = t.sections;
  using T = TrainConfig;
  Section<T> top(F, S, "", "", [](T& c) -> T& { return c; });
  top.field("preset", &T::preset, "The preset's name (informational)").omit_default().example("my-preset");
  top.field("run_id", &T::run_id,
            "The run's identity, set by wrn train when it starts (checkpoints carry it; resume checks it)")
      .omit_default()
      .example("0123456789abcdef");
  top.field("description", &T::description, "One line of free text, shown in report.md")
      .omit_default()
      .example("a test run");

  Section<PaperConfig> paper(F, S, "paper", "A published number the preset reproduces (shown in report.md)",
                             [](T& c) -> PaperConfig& { return c.paper; });
  paper.field("error", &PaperConfig::error, "Published top-1 test error, percent").omit_default().example("4.0");
  paper.field("source", &PaperConfig::source, "Where the number is published").omit_default().example("WRN paper");

  Section<ModelConfig> model(F, S, "model", "The network", [](T& c) -> ModelConfig& { return c.model; });
  model.field("name", &ModelConfig::name, "Model name, e.g. wrn-28-10, resnet110, preact_resnet164 (see `wrn models`)")
      .example("wrn-28-10");
  model.field("classes", &ModelConfig::classes, "Number of classes; 0: the data set's class count")
      .at_least(0)
      .example("100");
  model.field("input", &ModelConfig::input, "Input shape CxHxW; empty: the data set's image shape")
      .example("3x32x32");
  model.field("settings", &ModelConfig::settings,
              "Model settings by name, e.g. {dropout: 0.3, block: [3, 3]} (see `wrn models`)")
      .example("{dropout: 0.3}");
  model.field("init_from", &ModelConfig::init_from,
              "Start from these weights (wrn checkpoint, .pt or .safetensors); a classifier of another size is "
              "re-initialized (fine-tuning); empty: the initialization")
      .omit_default()
      .example("weights.safetensors");
  model.field("sync_bn", &ModelConfig::sync_bn,
              "Data-parallel: BatchNorm mean and variance over the global batch of all ranks (as "
              "torch.nn.SyncBatchNorm); false: per rank, as DDP")
      .omit_default()
      .example("true");

  Section<DataConfig> data(F, S, "data", "The data set and its batches", [](T& c) -> DataConfig& { return c.data; });
  data.field("kind", &DataConfig::kind, "Data set format").one_of(data::dataset_kinds()).example("cifar100");
  data.field("dir", &DataConfig::dir, "Data set directory; empty: the kind's default ($WRN_DATA_DIR/<kind>)")
      .example("/data/cifar100");
  data.field("train_split", &DataConfig::train_split, "Training split, e.g. train, train+extra (SVHN)")
      .example("train+extra");
  data.field("test_split", &DataConfig::test_split, "Test split").example("val");
  data.field("batch_size", &DataConfig::batch_size, "Training batch size (at least 2: batch norm needs 2 images)")
      .at_least(2)
      .example("64");
  data.field("test_batch_size", &DataConfig::test_batch_size, "Test batch size; 0: 2 x batch_size")
      .at_least(0)
      .example("256");
  data.field("limit_train", &DataConfig::limit_train,
             "> 0: a seeded subset of N training images, class proportions kept (smoke runs)")
      .at_least(0)
      .example("1000");
  data.field("limit_test", &DataConfig::limit_test, "> 0: a seeded subset of N test images, class proportions kept")
      .at_least(0)
      .example("500");
  data.field("val_fraction", &DataConfig::val_fraction,
             "> 0: this share of the train split (per class, seeded) is held out as a validation split that "
             "chooses best.ckpt; the test split is then only reported")
      .at_least(0)
      .below(1)
      .example("0.1");
  data.field("image_size", &DataConfig::image_size,
             "Model input size H or HxW; empty: the data set's (image folders: the first training image's)")
      .example("224");
  data.field("channels", &DataConfig::channels,
             "1 (grey) or 3 (RGB), images converted to it; 0: the data set's (image folders: 1 if the sampled "
             "training images are all grey)")
      .at_least(0)
      .at_most(3)
      .example("3");
  data.choice("train_transform", &DataConfig::train_transform, kTrainTransforms,
              "pad_crop: eval geometry, then data.augment's padded random crop; random_resized_crop: torchvision's "
              "RandomResizedCrop(image_size, crop_scale, crop_ratio) of the original image; none. All flip when "
              "data.augment.flip")
      .example("random_resized_crop");
  data.field("crop_scale", &DataConfig::crop_scale, "random_resized_crop: [min, max] area fraction")
      .above(0)
      .at_most(1)
      .example("[0.25, 1]");
  data.field("crop_ratio", &DataConfig::crop_ratio, "random_resized_crop: [min, max] aspect ratio (width / height)")
      .above(0)
      .example("[0.5, 2]");
  data.choice("eval_transform", &DataConfig::eval_transform, kEvalTransforms,
              "resize: straight to image_size; resize_center_crop: shorter side to eval_resize, then the center "
              "crop (torchvision's ImageNet evaluation)")
      .example("resize_center_crop");
  data.field("eval_resize", &DataConfig::eval_resize,
             "resize_center_crop: the shorter side before the crop; 0: round(size * 256 / 224)")
      .at_least(0)
      .example("256");
  data.choice("storage", &DataConfig::storage, kStorages,
              "Image folders: memory (decoded once), stream (decoded each epoch by data.workers threads), auto "
              "(stream when the decoded set would exceed a quarter of the RAM, or for random_resized_crop)")
      .example("stream");
  data.field("workers", &DataConfig::workers, "Decoding threads when streaming; 0: the hardware threads")
      .at_least(0)
      .at_most(256)
      .example("4");
  data.choice("on_bad_image", &DataConfig::on_bad_image, kOnBadImage,
              "An image that cannot be decoded: fail (naming it) or skip (counted and listed in report.md)")
      .example("skip");

  Section<AugmentConfig> aug(F, S, "data.augment", "Random crop and flip of each training batch",
                             [](T& c) -> AugmentConfig& { return c.data.augment; });
  aug.field("pad", &AugmentConfig::pad, "Random crop from the image padded by this many pixels; 0: no crop")
      .at_least(0)
      .example("2");
  aug.choice("pad_mode", &AugmentConfig::pad_mode, kPadModes, "How the padding is filled").example("zeros");
  aug.field("flip", &AugmentConfig::flip, "Random horizontal flip").example("false");

  Section<data::AutoAugmentOptions> pol(
      F, S, "data.augment.policy",
      "Automatic augmentation of the uint8 batch after the crop and flip (torchvision's ops and magnitudes)",
      [](T& c) -> data::AutoAugmentOptions& { return c.data.augment.policy; });
  pol.choice("kind", &data::AutoAugmentOptions::kind, kAutoAugmentKinds,
             "trivialaugment: TrivialAugment-Wide (Mueller & Hutter 2021), one op of random magnitude per image; "
             "randaugment: RandAugment (Cubuk et al. 2020), `ops` ops at `magnitude`; none")
      .example("trivialaugment");
  pol.field("ops", &data::AutoAugmentOptions::num_ops, "RandAugment: ops per image").at_least(0).at_most(16).example("3");
  pol.field("magnitude", &data::AutoAugmentOptions::magnitude, "RandAugment: magnitude bin, below `bins`")
      .at_least(0)
      .example("5");
  pol.field("bins", &data::AutoAugmentOptions::num_magnitude_bins, "Magnitude bins of both policies")
      .at_least(2)
      .at_most(1000)
      .example("11");

  Section<data::CutoutOptions> cut(F, S, "data.augment.cutout",
                                   "Cutout (DeVries & Taylor 2017): squares set to the mean after normalization",
                                   [](T& c) -> data::CutoutOptions& { return c.data.augment.cutout; });
  cut.field("size", &data::CutoutOptions::size, "Side of each square in pixels (16 on CIFAR-10); 0: off")
      .at_least(0)
      .at_most(4096)
      .example("16");
  cut.field("holes", &data::CutoutOptions::holes, "Squares per image").at_least(1).at_most(64).example("2");

  Section<data::ErasingOptions> erase(F, S, "data.augment.erasing",
                                      "Random Erasing (Zhong et al. 2017), torchvision's RandomErasing after normalization",
                                      [](T& c) -> data::ErasingOptions& { return c.data.augment.erasing; });
  erase.field("p", &data::ErasingOptions::p, "Probability that an image gets a rectangle (0.5 in the paper); 0: off")
      .at_least(0)
      .at_most(1)
      .example("0.5");
  erase.field("scale", &data::ErasingOptions::scale, "[min, max] area of the rectangle as a fraction of the image")
      .above(0)
      .below(1)
      .example("[0.02, 0.4]");
  erase.field("ratio", &data::ErasingOptions::ratio, "[min, max] aspect ratio of the rectangle (log-uniform)")
      .above(0)
      .example("[0.5, 2]");
  erase.field("random_fill", &data::ErasingOptions::random_fill,
              "Fill with N(0, 1) noise per pixel; false: 0 (the per-channel mean)")
      .example("true");

  Section<NormalizeConfig> norm(F, S, "data.normalize", "Input normalization (0..255 scale) or ZCA whitening",
                                [](T& c) -> NormalizeConfig& { return c.data.normalize; });
  norm.field("mean", &NormalizeConfig::mean, "Per-channel mean; empty: fitted on the train set")
      .example("[125.3, 123, 113.9]");
  norm.field("std", &NormalizeConfig::std, "Per-channel standard deviation (as many as mean); empty: fitted")
      .above(0)
      .example("[63, 62.1, 66.7]");
  norm.field("zca", &NormalizeConfig::zca, "ZCA whitening fitted on the train set (after mean/std)")
      .example("true");
  norm.field("zca_epsilon", &NormalizeConfig::zca_epsilon, "ZCA regularizer added to the eigenvalues")
      .above(0)
      .example("0.1");

  Section<OptimizerConfig> opt(F, S, "optimizer", "SGD or AdamW (PyTorch's arithmetic) over all parameters",
                               [](T& c) -> OptimizerConfig& { return c.optimizer; });
  opt.choice("type", &OptimizerConfig::type, kOptimizerTypes,
             "sgd: torch.optim.SGD (momentum, dampening, nesterov); adamw: torch.optim.AdamW (betas, eps, "
             "decoupled weight_decay)")
      .example("adamw");
  opt.field("lr", &OptimizerConfig::lr, "Base learning rate (the schedule scales it)").above(0).example("0.05");
  opt.field("momentum", &OptimizerConfig::momentum, "Momentum").at_least(0).below(1).example("0.5");
  opt.field("dampening", &OptimizerConfig::dampening, "Momentum dampening (0 with nesterov)")
      .at_least(0)
      .at_most(1)
      .example("0.1");
  opt.field("weight_decay", &OptimizerConfig::weight_decay, "L2 weight decay").at_least(0).example("0.0001");
  opt.field("nesterov", &OptimizerConfig::nesterov, "Nesterov momentum (needs momentum > 0, dampening 0)")
      .example("false");
  opt.field("betas", &OptimizerConfig::betas, "AdamW: [beta1, beta2], the moments' decay rates")
      .at_least(0)
      .below(1)
      .example("[0.9, 0.99]");
  opt.field("eps", &OptimizerConfig::eps, "AdamW: added to the second moment's root").above(0).example("1e-6");
  opt.field("no_decay_bn_bias", &OptimizerConfig::no_decay_bn_bias,
            "No weight decay on BatchNorm weights and biases nor on any bias (a second parameter group)")
      .example("true");
  opt.field("clip_grad_norm", &OptimizerConfig::clip_grad_norm,
            "> 0: gradients scaled to at most this global L2 norm (torch.nn.utils.clip_grad_norm_); 0: off")
      .at_least(0)
      .example("5");
  opt.field("reset_momentum_on_drop", &OptimizerConfig::reset_momentum_on_drop,
            "Restart the momentum at each multistep drop (as the WRN Torch code does)")
      .example("true");

  Section<ScheduleConfig> sched(F, S, "schedule", "Learning-rate schedule, evaluated per iteration",
                                [](T& c) -> ScheduleConfig& { return c.schedule; });
  sched.choice("type", &ScheduleConfig::type, kScheduleTypes,
               "multistep: lr x gamma at each milestone; cosine: to min_lr over the run; constant")
      .example("cosine");
  sched.choice("unit", &ScheduleConfig::unit, kScheduleUnits, "Unit of the milestones").example("iteration");
  sched.field("milestones", &ScheduleConfig::milestones, "Multistep drop points, increasing (epochs may be fractional)")
      .at_least(0)
      .example("[100, 200]");
  sched.field("gamma", &ScheduleConfig::gamma, "Multistep factor per milestone").above(0).example("0.2");
  sched.field("min_lr", &ScheduleConfig::min_lr, "Cosine floor").at_least(0).example("0.001");

  Section<WarmupConfig> warm(F, S, "schedule.warmup", "Replaces the first iterations' learning rate",
                             [](T& c) -> WarmupConfig& { return c.schedule.warmup; });
  warm.field("iterations", &WarmupConfig::iterations, "Warmup length in iterations; 0: no warmup")
      .at_least(0)
      .example("400");
  warm.field("lr", &WarmupConfig::lr, "constant: the lr used (> 0); linear: the starting lr").at_least(0).example(
      "0.01");
  warm.choice("mode", &WarmupConfig::mode, kWarmupModes,
              "constant: warmup.lr throughout; linear: ramp from warmup.lr to the schedule's value")
      .example("linear");

  top.field("epochs", &T::epochs, "Training epochs").at_least(1).at_most(1000000).example("10");
  top.field("seed", &T::seed, "Seed of the initialization, the data order, augmentation and dropout").example("42");
  top.field("device", &T::device, "cpu, auto (CUDA when available), cuda or cuda:N").example("auto");
  top.field("threads", &T::threads, "Intra-op CPU threads; 0: all cores")
      .at_least(0)
      .at_most(1024)
      .example("2");
  top.field("eval_every", &T::eval_every, "Test every N epochs (and always after the last)").at_least(1).example("5");
  top.choice("channels_last", &T::channels_last, kChannelsLast,
             "Model and batches in channels-last memory format; auto: the faster of the two for a training step "
             "of this model, batch and precision, measured when the run starts (config.yaml keeps the choice)")
      .example("auto");
  top.choice("precision", &T::precision, kPrecisions,
             "auto: bf16 on a CPU with AMX-BF16/AVX-512-BF16 or a CUDA GPU of compute capability >= 8.0, else "
             "fp32; bf16/fp16 (CUDA only): reduced-precision convolutions with fp32 master weights and BatchNorm")
      .example("fp32");

  Section<LossConfig> loss(F, S, "loss", "The training loss (cross-entropy)", [](T& c) -> LossConfig& { return c.loss; });
  loss.field("label_smoothing", &LossConfig::label_smoothing,
             "Targets (1 - s) onehot + s / classes, as PyTorch's cross_entropy(label_smoothing=s); 0: off")
      .at_least(0)
      .below(1)
      .example("0.1");

  Section<data::MixOptions> mix(F, S, "mix", "mixup and CutMix of each training batch with itself reversed (timm's batch mode)",
                                [](T& c) -> data::MixOptions& { return c.mix; });
  mix.field("mixup_alpha", &data::MixOptions::mixup_alpha, "> 0: mixup with lam ~ Beta(alpha, alpha); 0: off")
      .at_least(0)
      .at_most(100)
      .example("0.2");
  mix.field("cutmix_alpha", &data::MixOptions::cutmix_alpha, "> 0: CutMix with lam ~ Beta(alpha, alpha); 0: off")
      .at_least(0)
      .at_most(100)
      .example("1.0");
  mix.field("prob", &data::MixOptions::prob, "Probability that a batch is mixed").at_least(0).at_most(1).example("0.5");
  mix.field("switch_prob", &data::MixOptions::switch_prob, "Both on: probability of CutMix rather than mixup")
      .at_least(0)
      .at_most(1)
      .example("0.3");

  Section<EmaConfig> ema(F, S, "ema",
                         "Exponential moving average of the weights and BatchNorm buffers: evaluated, checkpointed, "
                         "exported in place of the trained weights",
                         [](T& c) -> EmaConfig& { return c.ema; });
  ema.field("decay", &EmaConfig::decay, "Per-step decay, e.g. 0.999; 0: off").at_least(0).below(1).example("0.999");
  ema.field("warmup", &EmaConfig::warmup, "Decay min(decay, (1 + t) / (10 + t)) at update t").example("false");
  top.field("eval_tta", &T::eval_tta,
            "Each epoch's validation and test numbers average every image's class probabilities with its mirror "
            "image's (test-time augmentation, as wrn eval --tta)")
      .example("true");
  top.field("log_every_steps", &T::log_every_steps,
            "> 0: the loss, lr and images/s every N steps to steps.jsonl and TensorBoard; 0: per epoch only")
      .at_least(0)
      .example("50");

  Section<CheckpointConfig> ck(F, S, "checkpoint", "When checkpoints/last.ckpt and best.ckpt are written",
                               [](T& c) -> CheckpointConfig& { return c.checkpoint; });
  ck.field("every_steps", &CheckpointConfig::every_steps, "> 0: also checkpoint every N steps inside an epoch")
      .at_least(0)
      .example("100");
  ck.field("every_seconds", &CheckpointConfig::every_seconds,
           "> 0: also checkpoint when this long has passed since the last one")
      .at_least(0)
      .example("60");
  ck.field("keep_best", &CheckpointConfig::keep_best, "Keep checkpoints/best.ckpt at the lowest validation error (data.val_fraction > 0), else test error")
      .example("false");

  Section<DistributedConfig> dist(F, S, "distributed",
                                  "Data-parallel training over several processes (wrn train --nproc-per-node, torchrun)",
                                  [](T& c) -> DistributedConfig& { return c.distributed; });
  dist.field("timeout", &DistributedConfig::timeout,
             "Seconds a rank waits for the others in a collective before the run fails, naming the lost rank")
      .above(0)
      .at_most(86400)
      .omit_default()
      .example("60");
  dist.field("bucket_mb", &DistributedConfig::bucket_mb, "Gradient allreduce bucket size in MB")
      .above(0)
      .at_most(4096)
      .omit_default()
      .example("50");
  dist.field("overlap", &DistributedConfig::overlap,
             "Start each bucket's allreduce during the backward pass, as soon as its gradients are final (as "
             "DDP); false: all buckets after the backward. The same sums either way, bit for bit")
      .omit_default()
      .example("false");
  return t;
}

const Table& table() {
  static const Table t = build_table();
  return t;
}

std::string emit(const YAML::Node& n) {
  YAML::Emitter out;
  out << YAML::Flow << n;
  return out.c_str();
}

std::string parent_of(const std::string& key) {
  const auto dot = key.rfind('.');
  return dot == std::string::npos ? "" : key.substr(0, dot);
}

// The keys allowed directly under `path` ("" for the top level), in table order.
std::vector<std::string> children_of(const std::string& path) {
  std::vector<std::string> out;
  const std::string prefix = path.empty() ? "" : path + ".";
  for (const auto& f : config_fields()) {
    if (f.key.compare(0, prefix.size(), prefix) != 0) continue;
    const auto rest = f.key.substr(prefix.size());
    const auto name = rest.substr(0, rest.find('.'));
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  return out;
}

const ConfigField* find_field(const std::string& key) {
  for (const auto& f : config_fields())
    if (f.key == key) return &f;
  return nullptr;
}

bool is_section(const std::string& path) {
  const auto& s = config_sections();
  return std::any_of(s.begin(), s.end(), [&](const ConfigSection& x) { return x.path == path; });
}

// Reads one mapping of the tree: fields through their readers, sections recursively,
// anything else is an unknown key.
void read_map(const YAML::Node& node, const std::string& path, TrainConfig& c) {
  WRN_CHECK(!node.IsDefined() || node.IsNull() || node.IsMap(), "config: '{}' must be a mapping, got {}",
            path.empty() ? "<top level>" : path, type_name(node));
  if (!node.IsMap()) return;
  for (const auto& kv : node) {
    const auto k = kv.first.Scalar();
    const auto key = path.empty() ? k : path + "." + k;
    if (const auto* f = find_field(key)) {
      if (kv.second.IsDefined() && !kv.second.IsNull()) f->read(c, kv.second);
    } else if (is_section(key)) {
      read_map(kv.second, key, c);
    } else {
      const auto known = children_of(path);
      throw ConfigError(fmt::format("config: unknown key '{}'{}; known keys here: {}", key, did_you_mean(k, known),
                                    join(known, ", ")));
    }
  }
}

// The field's own range and allowed values.
void check_field(const ConfigField& f, const TrainConfig& c) {
  if (f.type == FieldType::String && !f.allowed.empty()) {
    const auto v = f.write(c).Scalar();
    WRN_CHECK(std::find(f.allowed.begin(), f.allowed.end(), v) != f.allowed.end(),
              "config: '{}' is '{}', expected one of {}{}", f.key, v, join(f.allowed, ", "),
              did_you_mean(v, f.allowed));
  }
  if (!f.numbers || (!f.min && !f.max)) return;
  const auto values = f.numbers(c);
  for (double v : values) {
    // Every ranged number is finite too: inf passes "> 0" (gamma=inf ran to non-finite weights).
    WRN_CHECK(!std::isinf(v), "config: '{}'{} must be finite, got {}", f.key,
              f.type == FieldType::FloatList ? " values" : "", v);
    const bool ok = (!f.min || (f.min_exclusive ? v > *f.min : v >= *f.min)) &&
                    (!f.max || (f.max_exclusive ? v < *f.max : v <= *f.max));
    WRN_CHECK(ok, "config: '{}'{} must be {}{}, got {}", f.key, f.type == FieldType::FloatList ? " values" : "",
              f.min && f.max ? "in " : "", f.range_text(), v);
  }
}

std::string type_text(const ConfigField& f) {
  switch (f.type) {
    case FieldType::String: return f.allowed.empty() ? "string" : "string (one of)";
    case FieldType::Int: return "integer";
    case FieldType::UInt: return "integer >= 0";
    case FieldType::Float: return "number";
    case FieldType::Bool: return "true/false";
    case FieldType::FloatList: return "list of numbers";
    case FieldType::Enum: return "one of";
    case FieldType::Settings: return "mapping";
  }
  return "?";
}

std::string cell(std::string s) {
  std::string out;
  for (char ch : s) {
    if (ch == '|') out += '\\';
    out += ch;
  }
  return out;
}

}  // namespace

std::string ConfigField::range_text() const {
  if (!min && !max) return "";
  if (min && max)
    return fmt::format("{}{}, {}{}", min_exclusive ? "(" : "[", *min, *max, max_exclusive ? ")" : "]");
  if (min) return fmt::format("{} {}", min_exclusive ? ">" : ">=", *min);
  return fmt::format("{} {}", max_exclusive ? "<" : "<=", *max);
}

const std::vector<ConfigField>& config_fields() { return table().fields; }
const std::vector<ConfigSection>& config_sections() { return table().sections; }

void TrainConfig::validate() const {
  for (const auto& f : config_fields()) check_field(f, *this);
  // Cross-field rules.
  WRN_CHECK(!model.name.empty(), "config: 'model.name' must be set");
  WRN_CHECK(data.normalize.mean.size() == data.normalize.std.size(),
            "config: 'data.normalize.mean' and 'data.normalize.std' need the same length (got {} and {})",
            data.normalize.mean.size(), data.normalize.std.size());
  if (optimizer.type == OptimizerType::Sgd) {
    optimizer.validate("optimizer");  // finite lr and weight decay, nesterov's needs
  } else {  // AdamW: the SGD fields (momentum, dampening, nesterov) are not used, so not checked
    WRN_CHECK(optimizer.lr > 0 && std::isfinite(optimizer.lr), "config: 'optimizer.lr' must be a positive number, got {}",
              optimizer.lr);
    WRN_CHECK(optimizer.weight_decay >= 0 && std::isfinite(optimizer.weight_decay),
              "config: 'optimizer.weight_decay' must be >= 0, got {}", optimizer.weight_decay);
  }
  schedule.validate("schedule");    // increasing milestones, a constant warmup's lr
  WRN_CHECK(data.channels == 0 || data.channels == 1 || data.channels == 3,
            "config: 'data.channels' must be 0 (the data's), 1 or 3, got {}", data.channels);
  WRN_CHECK(data.channels == 0 || data.normalize.mean.empty() ||
                static_cast<int64_t>(data.normalize.mean.size()) == data.channels,
            "config: 'data.normalize.mean' and 'data.normalize.std' have {} values for 'data.channels' {}: give one "
            "per channel, or [] to compute them from the training set",
            data.normalize.mean.size(), data.channels);
  if (!data.image_size.empty()) data::parse_image_size(data.image_size, "config: 'data.image_size'");
  WRN_CHECK(data.crop_scale.size() == 2 && data.crop_scale[0] <= data.crop_scale[1],
            "config: 'data.crop_scale' must be [min, max] with min <= max");
  WRN_CHECK(data.crop_ratio.size() == 2 && data.crop_ratio[0] <= data.crop_ratio[1],
            "config: 'data.crop_ratio' must be [min, max] with min <= max");
  WRN_CHECK(data.augment.erasing.scale.size() == 2 && data.augment.erasing.scale[0] <= data.augment.erasing.scale[1],
            "config: 'data.augment.erasing.scale' must be [min, max] with min <= max");
  WRN_CHECK(data.augment.erasing.ratio.size() == 2 && data.augment.erasing.ratio[0] <= data.augment.erasing.ratio[1],
            "config: 'data.augment.erasing.ratio' must be [min, max] with min <= max");
  WRN_CHECK(data.augment.policy.magnitude < data.augment.policy.num_magnitude_bins,
            "config: 'data.augment.policy.magnitude' ({}) must be below 'data.augment.policy.bins' ({})",
            data.augment.policy.magnitude, data.augment.policy.num_magnitude_bins);
  WRN_CHECK(optimizer.betas.size() == 2, "config: 'optimizer.betas' must be [beta1, beta2], got {} values",
            optimizer.betas.size());
  WRN_CHECK(schedule.min_lr <= optimizer.lr, "config: 'schedule.min_lr' ({}) must not exceed 'optimizer.lr' ({})",
            schedule.min_lr, optimizer.lr);
  WRN_CHECK(device == "cpu" || device == "auto" || device == "cuda" || device.rfind("cuda:", 0) == 0,
            "config: 'device' is '{}', expected cpu, auto, cuda or cuda:N", device);
}

std::vector<std::string> recipe_differences(const TrainConfig& run, const TrainConfig& reference) {
  static const std::vector<std::string> operational{
      "preset", "run_id", "description", "paper.", "seed", "device", "threads", "precision", "channels_last",
      "checkpoint.", "eval_every", "log_every_steps", "distributed.", "data.dir", "data.workers", "data.storage",
      "data.test_batch_size", "data.on_bad_image", "model.sync_bn"};
  auto is_operational = [&](const std::string& key) {
    for (const auto& o : operational)
      if (o.back() == '.' ? key.rfind(o, 0) == 0 : key == o) return true;
    return false;
  };
  std::vector<std::string> out;
  for (const auto& f : config_fields()) {
    if (is_operational(f.key)) continue;
    const auto a = emit(f.write(reference)), b = emit(f.write(run));
    // Left to the data by the reference (empty / 0) and resolved from it by the run.
    const bool resolved = (f.key == "model.input" || f.key == "model.classes" || f.key == "data.image_size" ||
                           f.key == "data.channels") &&
                          (a == "\"\"" || a == "" || a == "~" || a == "0");
    if (a != b && !resolved) out.push_back(fmt::format("{}: {} -> {}", f.key, a, b));
  }
  return out;
}

std::vector<std::string> config_differences(const TrainConfig& a, const TrainConfig& b,
                                            const std::vector<std::string>& ignore) {
  auto ignored = [&](const std::string& key) {
    for (const auto& o : ignore)
      if (!o.empty() && (o.back() == '.' ? key.rfind(o, 0) == 0 : key == o)) return true;
    return false;
  };
  std::vector<std::string> out;
  for (const auto& f : config_fields()) {
    if (ignored(f.key)) continue;
    const auto x = emit(f.write(a)), y = emit(f.write(b));
    if (x != y) out.push_back(fmt::format("{}: {} -> {}", f.key, x, y));
  }
  return out;
}

std::string differences_text(const std::vector<std::string>& lines) {
  constexpr size_t kShown = 5, kWidth = 120;
  std::vector<std::string> shown;
  for (size_t i = 0; i < lines.size() && i < kShown; ++i)
    shown.push_back(lines[i].size() > kWidth ? lines[i].substr(0, kWidth - 3) + "..." : lines[i]);
  if (lines.size() > kShown) shown.push_back(fmt::format("and {} more", lines.size() - kShown));
  return join(shown, "; ");
}

std::string new_run_id() {
  std::random_device source;  // /dev/urandom on Linux
  const uint64_t id = (static_cast<uint64_t>(source()) << 32) ^ source();
  return fmt::format("{:016x}", id);
}

std::optional<std::vector<std::string>> changes_from_preset(const TrainConfig& run) {
  if (run.preset.empty()) return std::nullopt;
  try {
    return recipe_differences(run, config_from_yaml(load_yaml_file(find_preset(run.preset))));
  } catch (const Error&) {
    return std::nullopt;
  }
}

TrainConfig config_from_yaml(const YAML::Node& root, bool validate) {
  TrainConfig c;
  read_map(root, "", c);
  if (validate) c.validate();
  return c;
}

YAML::Node config_to_yaml(const TrainConfig& c) {
  static const TrainConfig defaults;
  YAML::Node root(YAML::NodeType::Map);
  for (const auto& f : config_fields()) {
    auto value = f.write(c);
    if (f.omit_default && emit(value) == emit(f.write(defaults))) continue;
    // yaml-cpp nodes are handles: walk with copies that reference the same tree.
    const auto parts = split(f.key, '.');
    std::vector<YAML::Node> chain{root};
    for (size_t i = 0; i + 1 < parts.size(); ++i) chain.push_back(chain.back()[parts[i]]);
    chain.back()[parts.back()] = value;
  }
  return root;
}

std::string config_doc_markdown() {
  static const TrainConfig defaults;
  std::string md =
      "# Training configuration\n"
      "\n"
      "<!-- Generated from the field table in src/wrn/config/config.cpp by `wrn train --print-config-doc`;\n"
      "     do not edit by hand: test_config fails when this file differs from the generated text. -->\n"
      "\n"
      "`wrn train` reads one YAML mapping: a preset from `presets/` (`--preset NAME`) or a file\n"
      "(`--config FILE`), then applies `--set key=value` overrides in order (the value is YAML:\n"
      "`--set schedule.milestones=[60,120,160]`, `--set model.settings.dropout=0.3`). Every key is\n"
      "optional: an absent key keeps its default. Reading is strict: an unknown key, a value of the\n"
      "wrong type, an enum value not in its list or a value out of its range stops with a one-line\n"
      "message naming the key. `wrn train --print-config` prints the resolved configuration; the run\n"
      "directory's `config.yaml` holds every field, so `wrn resume` continues with the same settings.\n";
  auto table_of = [&](const std::string& path) {
    std::string t =
        "\n| Key | Type | Default | Allowed | Description |\n"
        "|-----|------|---------|---------|-------------|\n";
    for (const auto& f : config_fields()) {
      if (parent_of(f.key) != path) continue;
      const auto def = f.omit_default ? std::string("unset") : "`" + emit(f.write(defaults)) + "`";
      std::vector<std::string> allowed;
      for (const auto& a : f.allowed) allowed.push_back("`" + a + "`");
      auto allowed_text = join(allowed, ", ");
      if (!f.range_text().empty()) allowed_text += (allowed_text.empty() ? "" : "; ") + f.range_text();
      t += fmt::format("| `{}` | {} | {} | {} | {} |\n", f.key, type_text(f), cell(def), cell(allowed_text),
                       cell(f.doc));
    }
    return t;
  };
  md += "\n## Top level\n" + table_of("");
  for (const auto& s : config_sections()) md += fmt::format("\n## `{}`\n\n{}.\n", s.path, s.doc) + table_of(s.path);
  return md;
}

std::string config_to_string(const TrainConfig& config) {
  YAML::Emitter out;
  out << config_to_yaml(config);
  return std::string(out.c_str()) + "\n";
}

namespace {

// yaml-cpp keeps every pair of a mapping but operator[] finds the first: a repeated key would
// silently lose its later value. Reports the first repeat, by its dotted path and line.
// Walks the tree once per node: an alias is the node its anchor defined (the same position in
// the file), checked when first reached. Walking every expansion instead made a 520-byte file of
// ten nested aliases take 10^10 steps. `visited` holds the file positions of the nodes seen.
void check_unique_keys(const YAML::Node& node, const std::string& path, const std::string& file,
                       std::set<int>& visited) {
  if (!node.IsSequence() && !node.IsMap()) return;
  const int pos = node.Mark().pos;
  if (pos >= 0 && !visited.insert(pos).second) return;
  WRN_CHECK_FILE(visited.size() <= kMaxConfigNodes, "config file '{}': more than {} lists and mappings", file,
                 kMaxConfigNodes);
  if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i)
      check_unique_keys(node[i], fmt::format("{}[{}]", path, i), file, visited);
    return;
  }
  std::set<std::string> seen;
  for (const auto& kv : node) {
    const auto k = kv.first.IsScalar() ? kv.first.Scalar() : emit(kv.first);
    const auto key = path.empty() ? k : path + "." + k;
    WRN_CHECK_FILE(seen.insert(k).second, "config file '{}': line {}: duplicate key '{}'", file,
                   kv.first.Mark().line + 1, key);
    check_unique_keys(kv.second, key, file, visited);
  }
}

}  // namespace

YAML::Node load_yaml_file(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  WRN_CHECK_FILE(std::filesystem::exists(status), "config file '{}' does not exist", path);
  WRN_CHECK_FILE(std::filesystem::is_regular_file(status), "config file '{}': not a regular file, expected a YAML file",
                 path);
  const auto bytes = std::filesystem::file_size(path, ec);
  WRN_CHECK_FILE(ec || bytes <= kMaxConfigFileBytes, "config file '{}': {} bytes, expected at most {} (1 MiB)", path,
                 bytes, kMaxConfigFileBytes);
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw FileError(fmt::format("config file '{}': line {}: {}", path, e.mark.line + 1, e.msg));
  }
  // An empty file is an empty mapping (every default); a list, a scalar or binary garbage (which
  // YAML reads as one scalar) used to become the default config silently.
  WRN_CHECK_FILE(root.IsNull() || root.IsMap(), "config file '{}': expected a YAML mapping of config keys, got {}",
                 path, root.IsSequence() ? "a list" : "a single value");
  std::set<int> visited;
  check_unique_keys(root, "", path, visited);
  return root;
}

void apply_override(YAML::Node& root, const std::string& key_equals_value) {
  const auto eq = key_equals_value.find('=');
  WRN_CHECK(eq != std::string::npos && eq > 0, "--set expects key=value (e.g. optimizer.lr=0.05), got '{}'",
            key_equals_value);
  const auto key = trim(key_equals_value.substr(0, eq));
  const auto value_text = key_equals_value.substr(eq + 1);
  YAML::Node value;
  try {
    value = YAML::Load(value_text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(fmt::format("--set {}: cannot parse the value '{}': {}", key, value_text, e.msg));
  }
  if (value.IsNull() && value_text.empty()) value = YAML::Node("");
  auto parts = split(key, '.');
  for (const auto& p : parts) WRN_CHECK(!p.empty(), "--set: empty component in the key '{}'", key);
  if (!root.IsMap()) root = YAML::Node(YAML::NodeType::Map);
  // yaml-cpp nodes are handles: walk with copies that reference the same tree.
  std::vector<YAML::Node> chain{root};
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node next = chain.back()[parts[i]];
    if (!next.IsMap()) {
      chain.back()[parts[i]] = YAML::Node(YAML::NodeType::Map);
      next = chain.back()[parts[i]];
    }
    chain.push_back(next);
  }
  chain.back()[parts.back()] = value;
}

}  // namespace wrn::train
