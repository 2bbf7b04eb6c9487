#include "wrn/report/sinks.h"

#include <cmath>

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "wrn/report/progress.h"
#include "wrn/report/tensorboard.h"

namespace fs = std::filesystem;

namespace wrn::train {
namespace {

std::string in_run(const std::string& run_dir, const char* name) { return (fs::path(run_dir) / name).string(); }

// steps.jsonl's records up to `global_step` (none when the file does not exist).
std::vector<StepMetrics> logged_steps_until(const std::string& path, int64_t global_step) {
  std::vector<StepMetrics> steps;
  if (!fs::exists(path)) return steps;
  steps = read_step_metrics(path);
  steps.erase(std::remove_if(steps.begin(), steps.end(), [&](const StepMetrics& m) { return m.step > global_step; }),
              steps.end());
  return steps;
}

void add_step_scalars(TensorBoardWriter& tb, const StepMetrics& m) {
  tb.add_scalars({{"step/loss", m.loss}, {"step/lr", m.lr}, {"step/images_per_second", m.images_per_second}}, m.step);
}

class MetricsLogSink : public RunSink {
 public:
  explicit MetricsLogSink(std::string path) : path_(std::move(path)) {}
  void rewind_to(const RunPosition&, const std::vector<EpochMetrics>& history) override {
    if (fs::exists(path_)) write_metrics(path_, history);
    log_.emplace(path_);
  }
  void on_epoch(const EpochMetrics& m, const std::string&) override { log_->append(m); }

 private:
  std::string path_;
  std::optional<MetricsLog> log_;
};

class StepLogSink : public RunSink {
 public:
  StepLogSink(std::string path, bool append) : path_(std::move(path)), append_(append) {}
  void rewind_to(const RunPosition& position, const std::vector<EpochMetrics>&) override {
    if (fs::exists(path_)) write_step_metrics(path_, logged_steps_until(path_, position.global_step));
    if (append_) log_.emplace(path_);
  }
  void on_step(const StepEvent& e) override {
    if (e.logged && log_) log_->append(*e.logged);
  }

 private:
  std::string path_;
  bool append_;
  std::optional<MetricsLog> log_;
};

class TensorBoardSink : public RunSink {
 public:
  explicit TensorBoardSink(std::string run_dir) : run_dir_(std::move(run_dir)) {}
  void rewind_to(const RunPosition& position, const std::vector<EpochMetrics>& history) override {
    tb_.emplace(run_dir_);
    for (const auto& m : logged_steps_until(in_run(run_dir_, "steps.jsonl"), position.global_step))
      add_step_scalars(*tb_, m);
    for (const auto& m : history) tb_->write_epoch(m);
    tb_->flush();
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(run_dir_, ec)) {
      const auto name = e.path().filename().string();
      if (name.rfind("events.out.tfevents.", 0) == 0 && e.path() != fs::path(tb_->path())) fs::remove(e.path(), ec);
    }
  }
  void on_step(const StepEvent& e) override {
    if (e.logged) add_step_scalars(*tb_, *e.logged);
  }
  void on_epoch(const EpochMetrics& m, const std::string&) override { tb_->write_epoch(m); }

 private:
  std::string run_dir_;
  std::optional<TensorBoardWriter> tb_;
};

class ProgressSink : public RunSink {
 public:
  ProgressSink(int epochs, int64_t steps_per_epoch, std::FILE* out)
      : epochs_(epochs), progress_(epochs, steps_per_epoch, out) {}
  ~ProgressSink() override {
    if (in_epoch_) progress_.end_epoch();
  }
  void on_epoch_start(int epoch, int64_t steps_done) override {
    progress_.start_epoch(epoch);
    for (int64_t i = 0; i < steps_done; ++i) progress_.step(0);
    in_epoch_ = true;
  }
  void on_step(const StepEvent& e) override { progress_.step(e.images, e.loss); }
  void on_epoch(const EpochMetrics& m, const std::string& notes) override {
    // Epochs between evaluations (eval_every) carry NaN test numbers: said in words, not "nan%".
    const std::string test = std::isnan(m.test_top1_err)
                                 ? std::string("test not evaluated this epoch")
                                 : fmt::format("test loss {:.4f} err {:.2f}% (top-5 {:.2f}%)", m.test_loss,
                                               m.test_top1_err, m.test_top5_err);
    progress_.end_epoch(fmt::format("epoch {}/{}  lr {:.4g}  train loss {:.4f} err {:.2f}%  {}  {:.1f}s  {:.0f} img/s  {}",
                                    m.epoch, epochs_, m.lr, m.train_loss, m.train_top1_err, test, m.seconds,
                                    m.images_per_second, notes));
    in_epoch_ = false;
  }

 private:
  int epochs_;
  Progress progress_;
  bool in_epoch_ = false;
};

}  // namespace

std::unique_ptr<RunSink> make_metrics_log_sink(const std::string& run_dir) {
  return std::make_unique<MetricsLogSink>(in_run(run_dir, "metrics.jsonl"));
}
std::unique_ptr<RunSink> make_step_log_sink(const std::string& run_dir, bool append) {
  return std::make_unique<StepLogSink>(in_run(run_dir, "steps.jsonl"), append);
}
std::unique_ptr<RunSink> make_tensorboard_sink(const std::string& run_dir) {
  return std::make_unique<TensorBoardSink>(run_dir);
}
std::unique_ptr<RunSink> make_progress_sink(int epochs, int64_t steps_per_epoch, std::FILE* out) {
  return std::make_unique<ProgressSink>(epochs, steps_per_epoch, out);
}

}  // namespace wrn::train
