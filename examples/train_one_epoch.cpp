// Trains a small Wide ResNet on Fashion-MNIST for one epoch from code, with wrn::train.
//
//   train_one_epoch [DATA_DIR] [RUN_DIR]
//
// DATA_DIR holds the four Fashion-MNIST IDX files (plain or .gz; default: Debian's
// dataset-fashion-mnist, /usr/share/datasets/fashion-mnist). RUN_DIR (default: run) must
// not hold a run yet; it receives what `wrn train` writes: config.yaml, metrics.jsonl,
// checkpoints/{last,best}.ckpt, curves.png, report.md. The example also writes
// RUN_DIR/sample.png, the first test image, for the classify example.
#include <cstdio>
#include <string>

#include "wrn/core/error.h"
#include "wrn/core/memory.h"
#include "wrn/data/readers.h"
#include "wrn/config/config.h"
#include "wrn/report/png_writer.h"
#include "wrn/train/trainer.h"

int main(int argc, char** argv) {
  const std::string data_dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
  const std::string run_dir = argc > 2 ? argv[2] : "run";
  wrn::tune_allocator();  // malloc settings for training, before LibTorch allocates (as `wrn` does)
  try {
    // The configuration is a plain struct; every field has a default (see wrn/config/config.h).
    wrn::train::TrainConfig config;
    config.model.name = "wrn-10-1";  // WRN-d-k: depth 10, width factor 1
    config.model.input = "1x28x28";  // recorded in the checkpoint for classify
    config.data.kind = "fashion-mnist";
    config.data.dir = data_dir;
    config.data.limit_train = 12000;  // a fifth of the training set: a few seconds per epoch
    config.data.limit_test = 2000;
    config.data.augment.pad = 0;           // flips only
    config.data.normalize.mean = {72.94};  // Fashion-MNIST's pixel mean and std (0..255)
    config.data.normalize.std = {90.02};
    config.optimizer.lr = 0.1;
    config.schedule.type = wrn::train::ScheduleType::Cosine;
    config.epochs = 1;
    config.channels_last = wrn::train::ChannelsLast::Yes;  // No, Yes, or Auto (timed when the run starts)
    config.validate();  // throws wrn::ConfigError naming the field (train() checks it too)

    // Creates the run directory and trains; progress goes to stderr.
    const wrn::train::RunResult r = wrn::train::train(config, run_dir);
    std::printf("trained %lld epoch in %.1f s: test error %.2f%%\n",
                static_cast<long long>(r.epochs_completed), r.wall_seconds, r.final_test_error);
    std::printf("checkpoint: %s/checkpoints/last.ckpt\n", run_dir.c_str());

    // One test image as a PNG (grey replicated to RGB), to classify.
    const wrn::data::Dataset test = wrn::data::load_mnist(data_dir, "test", /*fashion=*/true);
    const auto pixels = test.images[0][0].contiguous();  // uint8 [28, 28]
    wrn::train::RgbImage image(28, 28);
    for (int y = 0; y < 28; ++y) {
      for (int x = 0; x < 28; ++x) {
        const uint8_t v = pixels[y][x].item<uint8_t>();
        uint8_t* px = image.at(x, y);
        px[0] = px[1] = px[2] = v;
      }
    }
    wrn::train::write_png(run_dir + "/sample.png", image);
    const int64_t label = test.labels[0].item<int64_t>();
    std::printf("sample: %s/sample.png (a %s)\n", run_dir.c_str(), test.class_names[label].c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_one_epoch: error: %s\n", wrn::one_line_message(e).c_str());
    return 1;
  }
  return 0;
}
