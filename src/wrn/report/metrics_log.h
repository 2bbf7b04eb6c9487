// The per-epoch metrics log of a run directory: metrics.jsonl, one JSON object a line.
//
// Each line holds the keys epoch, lr, train_loss, train_top1_err, test_loss, test_top1_err,
// test_top5_err, seconds, images_per_second (and val_loss, val_top1_err with a validation
// split). Error rates are in percent (0..100).
// Losses may be non-finite when training diverged; they are written as JSON null and read
// back as NaN, so the file stays valid JSON Lines.
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace wrn::train {

// The numbers of one finished epoch. `epoch` counts from 1.
struct EpochMetrics {
  int epoch = 0;
  double lr = 0.0;
  double train_loss = 0.0;
  double train_top1_err = 0.0;  // percent
  double test_loss = 0.0;
  double test_top1_err = 0.0;  // percent
  double test_top5_err = 0.0;  // percent
  // The held-out validation split (data.val_fraction), NaN without one; written only when set.
  double val_loss = std::nan("");
  double val_top1_err = std::nan("");  // percent
  double seconds = 0.0;        // wall time of the epoch (train + test)
  double images_per_second = 0.0;  // training throughput

  bool operator==(const EpochMetrics& o) const;
  bool operator!=(const EpochMetrics& o) const { return !(*this == o); }
};

// nlohmann::json conversions (found by ADL). from_json throws wrn::FileError naming the
// missing or mistyped key.
void to_json(nlohmann::json& j, const EpochMetrics& m);
void from_json(const nlohmann::json& j, EpochMetrics& m);

// One line of steps.jsonl (config log_every_steps): the training loss of one step (the
// optimized objective, with label smoothing / mixing when on), its learning rate and the
// images/s since the previous record.
struct StepMetrics {
  int64_t step = 0;  // global step, 1-based (the step just taken)
  int epoch = 0;     // 1-based
  double loss = 0.0;
  double lr = 0.0;
  double images_per_second = 0.0;
  bool operator==(const StepMetrics& o) const;
};
void to_json(nlohmann::json& j, const StepMetrics& m);
void from_json(const nlohmann::json& j, StepMetrics& m);

// Reads a metrics.jsonl file. Blank lines are skipped. A missing file yields an empty vector.
// Throws wrn::FileError naming the file and line when a line is not a valid record, except
// a truncated last line (a crash in the middle of an append), which is dropped.
std::vector<EpochMetrics> read_metrics(const std::string& path);

// Replaces `path` atomically with exactly these records (used on resume to cut the log back
// to the checkpoint's epochs). Throws wrn::FileError when the file cannot be written.
void write_metrics(const std::string& path, const std::vector<EpochMetrics>& metrics);

// The same for steps.jsonl.
std::vector<StepMetrics> read_step_metrics(const std::string& path);
void write_step_metrics(const std::string& path, const std::vector<StepMetrics>& metrics);

// Appends records to metrics.jsonl, one line per call, flushed and fsynced before append()
// returns so a crash loses at most the line being written.
// Requires: the directory exists. Throws wrn::FileError when the file cannot be opened or
// written. Not copyable; movable.
class MetricsLog {
 public:
  // Opens `path` for appending (creating it when absent); existing lines are kept.
  explicit MetricsLog(std::string path);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  MetricsLog(MetricsLog&& other) noexcept;
  MetricsLog& operator=(MetricsLog&& other) noexcept;

  void append(const EpochMetrics& m);
  void append(const StepMetrics& m);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace wrn::train
