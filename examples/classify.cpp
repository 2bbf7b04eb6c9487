// Classifies one image file with a checkpoint written by `wrn train` (or train_one_epoch),
// through wrn::infer's BN-folded inference path, and prints the top classes.
//
//   classify CHECKPOINT IMAGE [TOP]      e.g. classify run/checkpoints/last.ckpt run/sample.png
#include <cstdio>
#include <string>

#include "wrn/core/error.h"
#include "wrn/infer/predictor.h"
#include "wrn/setup/checkpoint_model.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s CHECKPOINT IMAGE [TOP]\n", argv[0]);
    return 2;
  }
  const std::string checkpoint_path = argv[1], image_path = argv[2];
  const int64_t top = argc > 3 ? std::stoll(argv[3]) : 3;
  try {
    // A checkpoint holds the resolved config, the weights, the training normalization and the
    // class names; load_checkpoint_model verifies it (size, checksum, every tensor) and
    // rebuilds the same network at the input size it was trained on.
    const wrn::train::CheckpointModel m = wrn::train::load_checkpoint_model(checkpoint_path);

    // The evaluation transform (resize to the input, the training normalization) and names.
    wrn::infer::PredictorOptions options;
    options.preprocess.spec = m.preprocessing;  // the images as training saw them
    options.preprocess.normalizer = m.normalizer;
    options.class_names = m.class_names;  // empty: class indices
    wrn::infer::Predictor predictor(m.model, options);  // folds BatchNorm into the convolutions

    // A file that cannot be decoded comes back with an error instead of an exception.
    const wrn::infer::Prediction p = predictor.predict_files({image_path}, top).at(0);
    if (p.error) throw wrn::FileError(*p.error);
    std::printf("%s\n", p.file.c_str());
    for (const auto& s : p.top) std::printf("  %6.2f%%  %s\n", 100.0 * s.probability, s.name.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "classify: error: %s\n", wrn::one_line_message(e).c_str());
    return 1;
  }
  return 0;
}
