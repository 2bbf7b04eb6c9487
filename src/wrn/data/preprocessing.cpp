#include "wrn/data/preprocessing.h"

#include <nlohmann/json.hpp>

#include <cmath>

#include "wrn/core/error.h"
#include "wrn/core/text.h"

namespace wrn::data {

namespace {

std::string numbers(const std::vector<double>& v) {
  std::vector<std::string> parts;
  for (double x : v) parts.push_back(fmt::format("{:g}", x));
  return "[" + join(parts, ", ") + "]";
}

TrainTransform train_from(const std::string& s, const std::string& what) {
  if (auto t = find_enum(kTrainTransforms, s)) return *t;
  throw FileError(fmt::format("{}: unknown train transform '{}'", what, s));
}

EvalTransform eval_from(const std::string& s, const std::string& what) {
  if (auto t = find_enum(kEvalTransforms, s)) return *t;
  throw FileError(fmt::format("{}: unknown eval transform '{}'", what, s));
}

}  // namespace

std::pair<int64_t, int64_t> parse_image_size(const std::string& text, const std::string& what) {
  const auto x = text.find('x');
  const auto h = parse_int(text.substr(0, x), what);
  const auto w = x == std::string::npos ? h : parse_int(text.substr(x + 1), what);
  WRN_CHECK(h > 0 && w > 0 && h <= 65536 && w <= 65536, "{}: expected H or HxW with sizes in [1, 65536], got '{}'",
            what, text);
  return {h, w};
}

Preprocessing Preprocessing::resolve(const ImageOptions& o, const AugmentOptions& augment, int64_t data_channels,
                                     int64_t data_height, int64_t data_width) {
  Preprocessing p;
  p.channels = o.channels > 0 ? o.channels : data_channels;
  if (o.image_size.empty()) {
    p.height = data_height;
    p.width = data_width;
  } else {
    std::tie(p.height, p.width) = parse_image_size(o.image_size, "data.image_size");
  }
  p.train = o.train_transform;
  p.augment = augment;
  WRN_CHECK(o.crop_scale.size() == 2, "config: 'data.crop_scale' must be two numbers [min, max], got {}",
            o.crop_scale.size());
  WRN_CHECK(o.crop_ratio.size() == 2, "config: 'data.crop_ratio' must be two numbers [min, max], got {}",
            o.crop_ratio.size());
  p.scale_min = o.crop_scale[0];
  p.scale_max = o.crop_scale[1];
  p.ratio_min = o.crop_ratio[0];
  p.ratio_max = o.crop_ratio[1];
  p.eval = o.eval_transform;
  p.eval_resize = p.eval == EvalTransform::ResizeCenterCrop
                      ? (o.eval_resize > 0 ? o.eval_resize
                                           : static_cast<int64_t>(std::lround(std::min(p.height, p.width) * 256.0 / 224.0)))
                      : 0;
  p.validate();
  return p;
}

void Preprocessing::validate() const {
  WRN_CHECK(channels == 1 || channels == 3, "config: 'data.channels' must be 1 or 3, got {}", channels);
  WRN_CHECK(height > 0 && width > 0, "config: 'data.image_size' must be positive, got {}x{}", height, width);
  WRN_CHECK(eval != EvalTransform::ResizeCenterCrop || eval_resize >= std::min(height, width),
            "config: 'data.eval_resize' ({}) must be at least the crop size {}x{}", eval_resize, height, width);
  WRN_CHECK(std::isfinite(scale_min) && std::isfinite(scale_max) && 0 < scale_min && scale_min <= scale_max &&
                scale_max <= 1,
            "config: 'data.crop_scale' must satisfy 0 < min <= max <= 1, got [{}, {}]", scale_min, scale_max);
  WRN_CHECK(std::isfinite(ratio_min) && std::isfinite(ratio_max) && 0 < ratio_min && ratio_min <= ratio_max,
            "config: 'data.crop_ratio' must satisfy 0 < min <= max, got [{}, {}]", ratio_min, ratio_max);
  WRN_CHECK(augment.pad >= 0, "config: 'data.augment.pad' must be >= 0, got {}", augment.pad);
}

std::string Preprocessing::to_json() const {
  nlohmann::json j = {{"channels", channels},
                      {"height", height},
                      {"width", width},
                      {"train", to_string(train)},
                      {"pad", augment.pad},
                      {"pad_mode", to_string(augment.pad_mode)},
                      {"flip", augment.flip},
                      {"scale", {scale_min, scale_max}},
                      {"ratio", {ratio_min, ratio_max}},
                      {"eval", to_string(eval)},
                      {"eval_resize", eval_resize},
                      {"mean", mean},
                      {"std", std},
                      {"zca", zca}};
  return j.dump();
}

Preprocessing Preprocessing::from_json(const std::string& text, const std::string& what) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  WRN_CHECK_FILE(j.is_object(), "{}: the preprocessing spec is not a JSON object", what);
  Preprocessing p;
  try {
    p.channels = j.at("channels").get<int64_t>();
    p.height = j.at("height").get<int64_t>();
    p.width = j.at("width").get<int64_t>();
    p.train = train_from(j.at("train").get<std::string>(), what);
    p.augment.pad = j.at("pad").get<int64_t>();
    const auto mode = j.at("pad_mode").get<std::string>();
    const auto pad_mode = find_enum(kPadModes, mode);
    WRN_CHECK_FILE(pad_mode, "{}: pad_mode must be reflect or zeros, got '{}'", what, mode);
    p.augment.pad_mode = *pad_mode;
    p.augment.flip = j.at("flip").get<bool>();
    const auto scale = j.at("scale").get<std::vector<double>>();
    const auto ratio = j.at("ratio").get<std::vector<double>>();
    WRN_CHECK_FILE(scale.size() == 2 && ratio.size() == 2, "{}: scale and ratio must be [min, max]", what);
    p.scale_min = scale[0];
    p.scale_max = scale[1];
    p.ratio_min = ratio[0];
    p.ratio_max = ratio[1];
    p.eval = eval_from(j.at("eval").get<std::string>(), what);
    p.eval_resize = j.at("eval_resize").get<int64_t>();
    p.mean = j.at("mean").get<std::vector<double>>();
    p.std = j.at("std").get<std::vector<double>>();
    p.zca = j.at("zca").get<bool>();
  } catch (const nlohmann::json::exception& e) {
    throw FileError(fmt::format("{}: bad preprocessing spec ({})", what, e.what()));
  }
  try {
    p.validate();
  } catch (const ConfigError& e) {
    throw FileError(fmt::format("{}: bad preprocessing spec: {}", what, e.what()));
  }
  WRN_CHECK_FILE(p.mean.size() == p.std.size() && (p.mean.empty() || int64_t(p.mean.size()) == p.channels),
                 "{}: bad preprocessing spec: {} mean and {} std values for {} channels", what, p.mean.size(),
                 p.std.size(), p.channels);
  for (size_t i = 0; i < p.std.size(); ++i)
    WRN_CHECK_FILE(std::isfinite(p.mean[i]) && std::isfinite(p.std[i]) && p.std[i] > 0,
                   "{}: bad preprocessing spec: mean/std must be finite with std > 0", what);
  return p;
}

std::string Preprocessing::describe() const {
  std::string train_text;
  switch (train) {
    case TrainTransform::PadCrop:
      train_text = augment.pad > 0 ? fmt::format("pad {} ({}) + random crop", augment.pad,
                                                 to_string(augment.pad_mode))
                                   : "no crop";
      break;
    case TrainTransform::RandomResizedCrop:
      train_text = fmt::format("random-resized crop (scale {:g}-{:g}, ratio {:.3g}-{:.3g})", scale_min, scale_max,
                               ratio_min, ratio_max);
      break;
    case TrainTransform::None: train_text = "no crop"; break;
  }
  if (augment.flip) train_text += " + flip";
  const std::string eval_text = eval == EvalTransform::Resize
                                    ? fmt::format("resize to {}x{}", height, width)
                                    : fmt::format("resize {} + center crop {}x{}", eval_resize, height, width);
  std::string norm = mean.empty() ? "" : fmt::format("; normalize mean {} std {}", numbers(mean), numbers(std));
  if (zca) norm += " + ZCA";
  return fmt::format("{}x{}x{} ({}); train: {}; eval: {}{}", channels, height, width, channels == 1 ? "grey" : "RGB",
                     train_text, eval_text, norm);
}

bool Preprocessing::operator==(const Preprocessing& o) const {
  return to_json() == o.to_json();
}

}  // namespace wrn::data
