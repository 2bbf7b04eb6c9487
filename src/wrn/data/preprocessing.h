// The preprocessing spec: how an image file becomes a model input, for training and for
// evaluation. One description, written at training time into config.yaml, the checkpoint and
// every export's metadata, and read back by eval, predict, export and infer::Predictor, so all
// of them see the images exactly as training did.
//
//   1. decode (PNG / JPEG), then channels: grey -> RGB by replication, RGB -> grey with the
//      ITU-R 601 luma weights (data::luma_weights), alpha dropped;
//   2. geometry, to height x width:
//        eval  resize              bilinear (antialiased when shrinking) straight to the size
//              resize_center_crop  shorter side to eval_resize, then the center crop
//                                  (torchvision's Resize(S) + CenterCrop(size))
//        train pad_crop            the eval geometry, then a random crop of the image padded by
//                                  augment.pad (and a flip), on whole batches
//              random_resized_crop torchvision's RandomResizedCrop(size, scale, ratio) (and a
//                                  flip), per sample from the original image
//              none                the eval geometry (and a flip when augment.flip)
//   3. normalization: per-channel (x - mean) / std on 0..255 values, ZCA when fitted
//      (data::Normalizer; its fitted state lives beside this spec in checkpoints).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "wrn/core/enum_names.h"
#include "wrn/data/augment.h"

namespace wrn::data {

enum class TrainTransform { PadCrop, RandomResizedCrop, None };
enum class EvalTransform { Resize, ResizeCenterCrop };

inline constexpr std::array<EnumName<TrainTransform>, 3> kTrainTransforms{{{TrainTransform::PadCrop, "pad_crop"},
                                                                          {TrainTransform::RandomResizedCrop, "random_resized_crop"},
                                                                          {TrainTransform::None, "none"}}};
inline constexpr std::array<EnumName<EvalTransform>, 2> kEvalTransforms{
    {{EvalTransform::Resize, "resize"}, {EvalTransform::ResizeCenterCrop, "resize_center_crop"}}};
inline const char* to_string(TrainTransform t) { return enum_name(kTrainTransforms, t); }
inline const char* to_string(EvalTransform t) { return enum_name(kEvalTransforms, t); }

// The image options of the config's data section (train::DataConfig derives from it, so the
// keys are data.image_size, data.channels, ...). Unresolved: 0 / empty mean "from the data".
struct ImageOptions {
  // "H" (square) or "HxW"; empty: the built-in data set's size, or the first training
  // image's (image folders). Resolved and written back into config.yaml by training.
  std::string image_size;
  // 1 or 3; 0: the built-in data set's, or (image folders) 1 when the sampled training
  // images are all grey, else 3. Resolved likewise.
  int64_t channels = 0;
  TrainTransform train_transform = TrainTransform::PadCrop;
  EvalTransform eval_transform = EvalTransform::Resize;
  // resize_center_crop: the shorter side before the crop; 0: round(min(H, W) * 256 / 224)
  // (256 for 224, as torchvision's ImageNet evaluation).
  int64_t eval_resize = 0;
  // random_resized_crop: area fraction and aspect-ratio (width / height) ranges.
  std::vector<double> crop_scale{0.08, 1.0};
  std::vector<double> crop_ratio{3.0 / 4.0, 4.0 / 3.0};
};

// Parses "H" or "HxW" (positive); throws ConfigError naming `what`.
std::pair<int64_t, int64_t> parse_image_size(const std::string& text, const std::string& what);

// Contract: a resolved spec has channels in {1, 3}, height and width > 0, eval_resize >=
// min(height, width) for resize_center_crop (0 otherwise), 0 < scale_min <= scale_max <= 1 and
// 0 < ratio_min <= ratio_max. validate() throws ConfigError naming the field otherwise.
struct Preprocessing {
  int64_t channels = 3;
  int64_t height = 32;
  int64_t width = 32;
  TrainTransform train = TrainTransform::PadCrop;
  AugmentOptions augment;  // pad_crop: pad and pad_mode; every train transform: flip
  double scale_min = 0.08, scale_max = 1.0;
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;
  EvalTransform eval = EvalTransform::Resize;
  int64_t eval_resize = 0;
  // The normalization, for readers of exports (a checkpoint keeps the fitted Normalizer).
  std::vector<double> mean, std;
  bool zca = false;

  // From the options, with the data's own size and channels where the options leave them
  // (0 / empty). Throws ConfigError naming the data.* key for a bad value.
  static Preprocessing resolve(const ImageOptions& options, const AugmentOptions& augment, int64_t data_channels,
                               int64_t data_height, int64_t data_width);
  void validate() const;

  // One JSON object (the "wrn.preprocessing" metadata of exports):
  //   {"channels":3,"height":224,"width":224,"train":"random_resized_crop","pad":4,
  //    "pad_mode":"reflect","flip":true,"scale":[0.08,1],"ratio":[0.75,1.333],
  //    "eval":"resize_center_crop","eval_resize":256,"mean":[...],"std":[...],"zca":false}
  std::string to_json() const;
  // Throws FileError naming `what` for text that is not such an object or has bad values.
  static Preprocessing from_json(const std::string& json, const std::string& what);

  // One line for reports, `wrn info` and --help: "3x224x224; train random_resized_crop(...)
  // + flip; eval resize 256 + center crop 224; normalize mean [...] std [...]".
  std::string describe() const;

  bool operator==(const Preprocessing& o) const;
};

}  // namespace wrn::data
