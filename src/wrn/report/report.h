// report.md of a run directory: what was trained, how, and how well — with the paper's
// number beside ours when the preset reproduces a published result.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "wrn/report/metrics_log.h"

namespace wrn::train {

// A published number the run is meant to reproduce, e.g. {4.00, "WRN paper Table 5"}.
struct PaperReference {
  double test_error = 0;  // top-1 test error, percent
  std::string source;     // where it is published, e.g. "WRN paper Table 5"
};

// Everything the report shows, as plain fields the engine fills in. Numbers that are
// unknown stay NaN (or 0 for counts) and print as "n/a".
struct ReportInputs {
  std::string run_name;     // title line, e.g. the run directory's name
  std::string model_name;   // e.g. "wrn-28-10"
  int64_t num_params = 0;   // trainable parameters
  std::string dataset;      // e.g. "cifar10"
  std::string preset;       // recipe preset name; empty when none
  std::string device;       // e.g. "CUDA (NVIDIA H100)" or "CPU, 16 threads"
  // Key hyperparameters in display order, e.g. {"lr", "0.1"}, {"batch size", "128"}.
  std::vector<std::pair<std::string, std::string>> hyperparameters;

  int epochs_completed = 0;
  int epochs_planned = 0;
  double final_test_error = std::numeric_limits<double>::quiet_NaN();       // top-1, percent
  double final_test_top5_error = std::numeric_limits<double>::quiet_NaN();  // percent
  double best_test_error = std::numeric_limits<double>::quiet_NaN();        // top-1, percent
  int best_epoch = 0;
  // The split that chose the best epoch: "test", or "validation" when the metrics carry a
  // validation error (best_test_error is then the test error of the epoch best on validation).
  std::string best_chosen_on = "test";
  double best_val_error = std::numeric_limits<double>::quiet_NaN();
  double final_train_loss = std::numeric_limits<double>::quiet_NaN();
  double wall_seconds = std::numeric_limits<double>::quiet_NaN();       // all epochs of the run
  double images_per_second = std::numeric_limits<double>::quiet_NaN();  // mean training throughput

  std::optional<PaperReference> paper;
  // Whether this run's recipe is the preset's (the one the paper's number belongs to):
  // "key: preset -> run" for each difference (recipe_differences). A paper number is shown
  // as a reproduction only when the preset was found and nothing differs.
  bool preset_found = false;
  std::vector<std::string> recipe_changes;
  std::string curves_png = "curves.png";  // relative link to the figure; empty to omit it
  std::string notes;                      // free text appended at the end; may be empty
};

// Fills the result fields (epochs_completed, final/best errors, best_epoch, final train
// loss, wall_seconds = sum of epoch seconds, images_per_second = mean over epochs) from the
// metrics log. Leaves the other fields alone; does nothing for an empty log.
void fill_results(ReportInputs& inputs, const std::vector<EpochMetrics>& metrics);

// The report as Markdown text.
std::string render_report(const ReportInputs& inputs);

// render_report written to `path` atomically. Throws wrn::FileError.
void write_report(const std::string& path, const ReportInputs& inputs);

}  // namespace wrn::train
