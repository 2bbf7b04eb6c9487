// wrn bench infer: images/s of the plain eval-mode forward and of the optimized inference
// path (FusedClassifier: BN folded, in-place ReLU, InferenceMode) in each memory layout,
// in one process with the same threads, each after a warm-up.
// wrn bench step: milliseconds of a training step's forward + backward with the fused
// BatchNorm+ReLU kernels and with ATen's unfused ops, interleaved in one process.
// wrn bench data: images/s of the streaming training pipeline (data::BatchLoader workers
// running data::load_train_sample: decode, random-resized crop, flip) over an image folder.
#include <fmt/format.h>

#include <torch/utils.h>

#include <sys/resource.h>

#include <chrono>
#include <functional>
#include <utility>
#include <vector>

#include "command.h"
#include "model_options.h"
#include "common_options.h"
#include "wrn/kernels/batch_norm_relu.h"
#include "wrn/models/batch_norm.h"
#include "wrn/models/precision.h"
#include "wrn/core/error.h"
#include "wrn/core/memory.h"
#include "wrn/core/timing.h"
#include "wrn/core/threads.h"
#include "wrn/data/batch_loader.h"
#include "wrn/data/image_list.h"
#include "wrn/data/transforms.h"
#include "wrn/infer/fused_model.h"
#include "wrn/setup/layout_probe.h"

namespace {

using wrn::median;

// Median seconds per call of `fn` over `iters` timed calls after `warmup` untimed ones.
double time_call(const std::function<void()>& fn, int warmup, int iters) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> t;
  for (int i = 0; i < iters; ++i) {
    auto start = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return median(std::move(t));
}

// What `wrn bench step` and `wrn bench infer` share: a model by name, a batch of random
// images, timed and warm-up repetitions, threads and precision.
struct ModelBenchArgs {
  wrn::cli::ModelArgs model;
  int64_t batch = 0;
  int iters = 10;
  int warmup = 2;
  int threads = 0;
  std::string precision;

  // `unit`: what one repetition is ("step", "forward"). Returns --batch, for the command's check.
  CLI::Option* add_options(CLI::App* cmd, const std::string& unit) {
    cmd->add_option("--model", model.name, "Model name (see 'wrn models')")->required();
    model.add_options(cmd);
    auto* batch_option = cmd->add_option("--batch", batch, "Images per " + unit);
    cmd->add_option("--iters", iters, "Timed " + unit + "s per path (median reported)")->check(CLI::PositiveNumber);
    cmd->add_option("--warmup", warmup, "Untimed " + unit + "s per path first")->check(CLI::NonNegativeNumber);
    wrn::cli::add_threads_option(cmd, threads);
    wrn::cli::add_precision_option(cmd, precision);
    return batch_option;
  }
};

// The threads set, the precision resolved, the model built (float32, training mode).
struct ModelBench {
  int threads = 0;
  wrn::ResolvedPrecision precision;
  c10::ScalarType dtype = c10::kFloat;
  wrn::models::ModelSpec spec;
  wrn::models::Classifier model{nullptr};

  explicit ModelBench(const ModelBenchArgs& a)
      : threads(wrn::configure_threads(a.threads)),
        precision(wrn::cli::resolve_precision_option(a.precision, torch::Device(torch::kCPU), true)),
        dtype(wrn::compute_dtype(precision.value)),
        spec(wrn::models::resolve_spec(a.model.spec())),
        model(wrn::models::build_model(spec)) {}
};

// `wrn bench step`: a training step's forward, cross-entropy and backward (no optimizer: the
// same for both), with the fused BatchNorm+ReLU and without, alternating step by step so that
// both see the same machine; the median of each.
void add_bench_step_command(CLI::App* bench) {
  struct Args : ModelBenchArgs {
    bool channels_last = false;
  };
  auto args = std::make_shared<Args>();
  args->batch = 128;
  auto* cmd = bench->add_subcommand(
      "step", "Milliseconds of a training step (forward + backward), fused BatchNorm+ReLU against unfused");
  cmd->footer("Example:\n  wrn bench step --model wrn-16-4 --batch 128 --threads 2");
  // BatchNorm in training needs 2 values a channel.
  args->add_options(cmd, "step")->check(CLI::Range(int64_t{2}, int64_t{1} << 20));
  cmd->add_flag("--channels-last", args->channels_last, "Activations in channels_last (NHWC) layout");
  cmd->callback([args] {
    ModelBench b(*args);
    const auto& spec = b.spec;
    auto& model = b.model;
    const auto dtype = b.dtype;
    model->train();
    wrn::models::cast_for_inference(*model, dtype);  // convolutions in the compute dtype, BatchNorm in fp32
    if (args->channels_last) wrn::parameters_to_channels_last(*model);  // as a channels_last run does
    torch::manual_seed(0);
    const auto x = wrn::batch_in_layout(
        torch::randn({args->batch, spec.input.channels, spec.input.height, spec.input.width}).to(dtype),
        args->channels_last);
    const auto labels = torch::randint(0, spec.classes, {args->batch});
    fmt::print("model {} input {} batch {} threads {} precision {} layout {} kernels {} (median of {} after {} "
               "warm-up, alternating)\n",
               spec.name, spec.input.str(), args->batch, b.threads, wrn::precision_name(b.precision.value),
               args->channels_last ? "channels_last" : "NCHW", wrn::kernels::batch_norm_relu_isa(), args->iters,
               args->warmup);
    const bool before = wrn::models::fused_batch_norm_relu();
    auto step = [&](bool fused) {
      wrn::models::set_fused_batch_norm_relu(fused);
      return wrn::train::training_step_seconds(model, x, labels);
    };
    for (int i = 0; i < args->warmup; ++i) step(true), step(false);
    std::vector<double> fused, plain;
    for (int i = 0; i < args->iters; ++i) {
      fused.push_back(step(true));
      plain.push_back(step(false));
    }
    wrn::models::set_fused_batch_norm_relu(before);
    const double f = median(fused), p = median(plain), n = double(args->batch);
    fmt::print("{:<34} {:>9.1f} images/s  {:>8.1f} ms/step\n", "unfused (ATen batch_norm, relu)", n / p, p * 1e3);
    fmt::print("{:<34} {:>9.1f} images/s  {:>8.1f} ms/step  speed-up {:.3f}x\n", "fused BatchNorm+ReLU", n / f,
               f * 1e3, p / f);
  });
}

// `wrn bench data`: whole epochs of the streaming loader, after warm-up epochs (page cache,
// allocator); the images/s of each timed epoch and their median.
void add_bench_data_command(CLI::App* bench) {
  struct Args {
    std::string dir;
    int workers = 0;
    int64_t size = 224;
    int64_t images = 0;
    int64_t batch = 64;
    int epochs = 3;
    int warmup = 1;
    uint64_t seed = 0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = bench->add_subcommand(
      "data", "Images/s of the streaming training pipeline: decode + random-resized crop + flip");
  cmd->footer("The folder holds one sub-folder of .png / .jpg images per class (ImageFolder layout).\n"
              "Example:\n  wrn bench data --dir data/imagenette/train --workers 2 --size 224");
  cmd->add_option("--dir", args->dir, "Image folder (class sub-folders)")->required();
  cmd->add_option("--workers", args->workers, "Loader worker threads (0: the hardware threads)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--size", args->size, "Output side (random_resized_crop to SIZE x SIZE)")->check(CLI::PositiveNumber);
  cmd->add_option("--images", args->images, "Use the first N images (0: all)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--batch", args->batch, "Images per batch")->check(CLI::PositiveNumber);
  cmd->add_option("--epochs", args->epochs, "Timed epochs (median reported)")->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", args->warmup, "Untimed epochs first")->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", args->seed, "Seed of the crops and flips");
  cmd->callback([args] {
    auto list = wrn::data::list_image_folder(args->dir);
    std::vector<std::string> paths = list.paths;
    if (args->images > 0 && args->images < int64_t(paths.size())) paths.resize(size_t(args->images));
    WRN_CHECK(!paths.empty(), "--dir {}: no images", args->dir);
    wrn::data::Preprocessing spec;
    spec.channels = 3;
    spec.height = spec.width = args->size;
    spec.train = wrn::data::TrainTransform::RandomResizedCrop;
    spec.augment.flip = true;
    spec.eval = wrn::data::EvalTransform::Resize;
    spec.validate();
    wrn::data::LoaderOptions options;
    options.workers = args->workers;
    const uint64_t seed = args->seed;
    wrn::data::BatchLoader loader(
        [&paths, &spec, seed](int64_t index, int64_t epoch) {
          auto generator = wrn::data::sample_generator(seed, epoch, index);
          return wrn::data::load_train_sample(paths[size_t(index)], spec, generator);
        },
        {3, args->size, args->size}, options);
    std::vector<int64_t> order(paths.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = int64_t(i);
    fmt::print("data: {} images of {} ({} classes), {}x{}x{} random_resized_crop + flip, batch {}, {} workers "
               "(median of {} epochs after {} warm-up)\n",
               paths.size(), args->dir, list.class_names.size(), 3, args->size, args->size, args->batch,
               loader.options().workers, args->epochs, args->warmup);
    // User + system CPU seconds of the process (every thread): images per CPU second depends
    // much less than images/s on what else a shared machine runs (contention still raises it).
    auto cpu_seconds = [] {
      rusage u{};
      getrusage(RUSAGE_SELF, &u);
      return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
    };
    std::vector<double> rates, per_cpu;
    for (int epoch = 0; epoch < args->warmup + args->epochs; ++epoch) {
      const double cpu0 = cpu_seconds();
      const auto start = std::chrono::steady_clock::now();
      loader.start(epoch, order, args->batch);
      int64_t images = 0;
      while (loader.has_next()) images += loader.next().images.size(0);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double cpu = cpu_seconds() - cpu0;
      const bool timed = epoch >= args->warmup;
      fmt::print("epoch {}{}: {} images in {:.2f} s: {:.1f} images/s, {:.2f} CPU s\n", epoch,
                 timed ? "" : " (warm-up)", images, seconds, double(images) / seconds, cpu);
      if (timed) {
        rates.push_back(double(images) / seconds);
        per_cpu.push_back(double(images) / cpu);
      }
    }
    fmt::print("images/s {:.1f}\n", median(rates));
    fmt::print("images/cpu-s {:.1f}\n", median(per_cpu));
  });
}

void add_bench_command(CLI::App& app) {
  struct Args : ModelBenchArgs {
    std::string layout = "all";
  };
  auto args = std::make_shared<Args>();
  args->batch = 32;
  auto* bench = app.add_subcommand("bench", "Micro-benchmarks");
  bench->require_subcommand(1);
  bench->footer("Examples:\n  wrn bench infer --model wrn-16-4 --batch 64 --threads 2\n"
                "  wrn bench step --model wrn-16-4 --batch 128 --threads 2\n"
                "  wrn bench data --dir data/imagenette/train --workers 2");
  auto* cmd = bench->add_subcommand("infer", "Images/s of the plain forward and the optimized inference path");
  cmd->footer("Example:\n  wrn bench infer --model wrn-16-4 --batch 64 --threads 2");
  args->add_options(cmd, "forward")->check(CLI::PositiveNumber);
  cmd->add_option("--layout", args->layout, "Optimized layout: all, contiguous, channels_last or mkldnn");
  cmd->callback([args] {
    ModelBench b(*args);
    const auto& spec = b.spec;
    auto& model = b.model;
    const auto dtype = b.dtype;
    const auto& precision = b.precision;
    const int threads = b.threads;
    model->eval();
    torch::manual_seed(0);
    auto x = torch::randn({args->batch, spec.input.channels, spec.input.height, spec.input.width});
    std::vector<wrn::infer::Layout> layouts;
    if (args->layout == "all") {
      layouts = {wrn::infer::Layout::Contiguous, wrn::infer::Layout::ChannelsLast, wrn::infer::Layout::Mkldnn};
    } else {
      layouts = {wrn::infer::parse_layout(args->layout)};
    }
    fmt::print("model {} input {} batch {} threads {} precision {} ({}) (median of {} after {} warm-up)\n",
               spec.name, spec.input.str(), args->batch, threads, wrn::precision_name(precision.value),
               precision.reason, args->iters, args->warmup);
    if (!precision.warning.empty()) fmt::print("warning: {}\n", precision.warning);
    // The fused copies are built from the float32 model; the plain path then runs the model cast.
    std::vector<wrn::infer::FusedClassifier> fused_models;
    for (auto layout : layouts) {
      wrn::infer::FuseOptions options;
      options.layout = layout;
      options.dtype = dtype;
      fused_models.push_back(wrn::infer::FusedClassifier::build(model, options));
    }
    wrn::models::cast_for_inference(*model, dtype);
    const auto x_plain = x.to(dtype);
    const double plain = time_call(
        [&] {
          torch::NoGradGuard no_grad;
          model->forward(x_plain);
        },
        args->warmup, args->iters);
    const double n = double(args->batch);
    fmt::print("{:<34} {:>9.1f} images/s  {:>8.1f} ms/batch\n", "plain eval forward (no_grad)", n / plain,
               plain * 1e3);
    for (const auto& fused : fused_models) {
      const double t = time_call([&] { fused.forward(x); }, args->warmup, args->iters);
      fmt::print("{:<34} {:>9.1f} images/s  {:>8.1f} ms/batch  speed-up {:.2f}x\n",
                 "optimized (" + wrn::infer::layout_name(fused.layout()) + ")", n / t, t * 1e3, plain / t);
    }
  });
  add_bench_step_command(bench);
  add_bench_data_command(bench);  // after infer: `wrn bench <TAB>` lists infer first
}

WRN_REGISTER_COMMAND(80, add_bench_command);

}  // namespace
