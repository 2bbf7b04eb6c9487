#include "wrn/report/report.h"

#include <cmath>
#include <limits>

#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"
#include "wrn/core/text.h"
#include "wrn/report/progress.h"

namespace wrn::train {
namespace {

std::string percent(double v) { return std::isfinite(v) ? fmt::format("{:.2f}%", v) : "n/a"; }

std::string text_or_na(const std::string& s) { return s.empty() ? "n/a" : s; }

// Markdown table cells must not contain '|' or newlines.
std::string cell(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  std::string out;
  for (char c : s) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

void fill_results(ReportInputs& in, const std::vector<EpochMetrics>& metrics) {
  if (metrics.empty()) return;
  const EpochMetrics& last = metrics.back();
  in.epochs_completed = last.epoch;
  in.final_test_error = last.test_top1_err;
  in.final_test_top5_error = last.test_top5_err;
  in.final_train_loss = last.train_loss;
  in.best_test_error = std::numeric_limits<double>::quiet_NaN();
  in.best_epoch = 0;
  double seconds = 0, ips = 0;
  int ips_n = 0;
  bool on_val = false;
  for (const auto& m : metrics) on_val = on_val || std::isfinite(m.val_top1_err);
  in.best_chosen_on = on_val ? "validation" : "test";
  in.best_val_error = std::numeric_limits<double>::quiet_NaN();
  for (const auto& m : metrics) {
    if (on_val) {
      if (std::isfinite(m.val_top1_err) && !(m.val_top1_err >= in.best_val_error)) {
        in.best_val_error = m.val_top1_err;
        in.best_test_error = m.test_top1_err;
        in.best_epoch = m.epoch;
      }
    } else if (std::isfinite(m.test_top1_err) && !(m.test_top1_err >= in.best_test_error)) {
      in.best_test_error = m.test_top1_err;
      in.best_epoch = m.epoch;
    }
    if (std::isfinite(m.seconds)) seconds += m.seconds;
    if (std::isfinite(m.images_per_second) && m.images_per_second > 0) ips += m.images_per_second, ++ips_n;
  }
  in.wall_seconds = seconds;
  in.images_per_second = ips_n > 0 ? ips / ips_n : std::numeric_limits<double>::quiet_NaN();
}

std::string render_report(const ReportInputs& in) {
  std::string md;
  md += fmt::format("# Run report: {}\n\n", text_or_na(in.run_name));

  md += "## Model and data\n\n| | |\n|---|---|\n";
  md += fmt::format("| Model | {} |\n", cell(text_or_na(in.model_name)));
  md += fmt::format("| Parameters | {} |\n",
                    in.num_params > 0 ? fmt::format("{} ({:.1f}M)", thousands(in.num_params), in.num_params / 1e6)
                                      : std::string("n/a"));
  md += fmt::format("| Dataset | {} |\n", cell(text_or_na(in.dataset)));
  md += fmt::format("| Device | {} |\n\n", cell(text_or_na(in.device)));

  md += "## Recipe\n\n";
  md += in.preset.empty() ? std::string("No preset (options given on the command line).\n\n")
                          : fmt::format("Preset `{}`.\n\n", in.preset);
  if (!in.hyperparameters.empty()) {
    md += "| hyperparameter | value |\n|---|---|\n";
    for (const auto& [k, v] : in.hyperparameters) md += fmt::format("| {} | {} |\n", cell(k), cell(v));
    md += "\n";
  }
  if (in.preset_found && !in.recipe_changes.empty()) {
    md += fmt::format("Changed from the preset `{}` ({} setting{}; the preset's value -> this run's):\n\n", in.preset,
                      in.recipe_changes.size(), in.recipe_changes.size() == 1 ? "" : "s");
    for (const auto& c : in.recipe_changes) md += fmt::format("- `{}`\n", c);
    md += "\n";
  } else if (in.preset_found) {
    md += fmt::format("The recipe is the preset's, unchanged{}.\n\n",
                      in.paper ? ": the results below are a reproduction of the published number" : "");
  }

  md += "## Results\n\n";
  std::string final_line = fmt::format("- **Final test error (top-1):** {}", percent(in.final_test_error));
  if (in.epochs_completed > 0) final_line += fmt::format(" (epoch {})", in.epochs_completed);
  const bool reproduction = in.paper && in.preset_found && in.recipe_changes.empty();
  if (reproduction) {
    final_line += fmt::format(" — paper: {} ({})", percent(in.paper->test_error), in.paper->source);
    if (std::isfinite(in.final_test_error) && std::isfinite(in.paper->test_error))
      final_line += fmt::format("; ours − paper = {:+.2f} points", in.final_test_error - in.paper->test_error);
  } else if (in.paper) {
    final_line += fmt::format(" — not a reproduction: the paper's {} ({}) is for the preset's recipe, {}",
                              percent(in.paper->test_error), in.paper->source,
                              in.preset_found ? "which this run changed (below)"
                                              : fmt::format("and the preset `{}` is not one of this wrn's, so the recipe "
                                                            "could not be checked",
                                                            in.preset));
  }
  md += final_line + "\n";
  if (in.best_chosen_on == "validation") {
    md += fmt::format("- **Best epoch, chosen on the validation split:** {} (validation error {}, test error {})\n",
                      in.best_epoch, percent(in.best_val_error), percent(in.best_test_error));
  } else {
    md += fmt::format("- **Best test error (top-1):** {}{} (chosen on the test split)\n", percent(in.best_test_error),
                      in.best_epoch > 0 ? fmt::format(" (epoch {})", in.best_epoch) : std::string());
  }
  md += fmt::format("- **Final test error (top-5):** {}\n", percent(in.final_test_top5_error));
  md += fmt::format("- **Final train loss:** {}\n",
                    std::isfinite(in.final_train_loss) ? fmt::format("{:.4f}", in.final_train_loss) : "n/a");
  md += fmt::format("- **Epochs:** {}{}\n", in.epochs_completed,
                    in.epochs_planned > 0 ? fmt::format(" of {}", in.epochs_planned) : std::string());
  md += fmt::format("- **Wall time:** {}{}\n", format_duration(in.wall_seconds),
                    std::isfinite(in.wall_seconds) ? fmt::format(" ({:.0f} s)", in.wall_seconds) : std::string());
  md += fmt::format("- **Throughput:** {}\n\n", std::isfinite(in.images_per_second)
                                                    ? fmt::format("{:.0f} images/s (training, mean over epochs)",
                                                                  in.images_per_second)
                                                    : std::string("n/a"));
  if (in.paper && in.epochs_planned > 0 && in.epochs_completed < in.epochs_planned)
    md += "The run stopped before the planned epochs: compare with the paper only after it finishes.\n\n";

  if (!in.curves_png.empty()) md += fmt::format("![Training curves]({})\n\n", in.curves_png);
  if (!in.notes.empty()) md += "## Notes\n\n" + in.notes + "\n";
  return md;
}

void write_report(const std::string& path, const ReportInputs& inputs) {
  write_file_atomically(path, render_report(inputs));
}

}  // namespace wrn::train
