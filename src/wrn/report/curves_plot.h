// Pictures of a run: the training curves (curves.png) and a confusion matrix (used by
// `wrn eval`). Drawn into an RGB buffer with an embedded 5x7 bitmap font and anti-aliased
// lines (no plotting library to depend on), then written as PNG atomically.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "wrn/report/metrics_log.h"
#include "wrn/report/png_writer.h"

namespace wrn::train {

// Options of the training-curves figure.
struct CurvesPlotOptions {
  std::string title = "Training curves";  // e.g. "WRN-28-10 on CIFAR-10"
  int width = 1280;                        // pixels; at least 480
  int height = 540;                        // pixels; at least 240
};

// Two panels side by side, like the papers' figures: left, train (and test) loss against
// epochs; right, test top-1 error (%) with train top-1 and test top-5 error, the best test
// error marked and named in the panel title. Axes carry tick labels, panels a legend.
// Guarantees: any input draws (empty, one epoch, constant values, non-finite values, which
// break a line rather than bend the axes). Throws wrn::ConfigError for a size below the minimum.
RgbImage render_curves(const std::vector<EpochMetrics>& metrics, const CurvesPlotOptions& options = {});

// render_curves written to `path` as PNG (temporary file + rename). Throws wrn::FileError.
void plot_curves(const std::string& path, const std::vector<EpochMetrics>& metrics,
                 const CurvesPlotOptions& options = {});

// Options of the confusion-matrix figure.
struct ConfusionPlotOptions {
  std::string title = "Confusion matrix";
  // Optional class names, shown in a key below the matrix when there are at most 20 classes.
  // Axis labels are always class indices. Empty, or exactly one name per class.
  std::vector<std::string> class_names;
};

// A classes x classes heat map: counts[true_class][predicted_class]. Cell colour is the
// fraction of the true class's images (row-normalized, so rare classes stay readable);
// counts are printed in the cells when they fit; rows and columns carry class indices; the
// title adds the overall accuracy. Requires a square, non-empty matrix of non-negative counts
// with at most 1000 classes; throws wrn::ConfigError otherwise.
RgbImage render_confusion_matrix(const std::vector<std::vector<int64_t>>& counts,
                                 const ConfusionPlotOptions& options = {});

// render_confusion_matrix written to `path` as PNG (temporary file + rename). Throws wrn::FileError.
void plot_confusion_matrix(const std::string& path, const std::vector<std::vector<int64_t>>& counts,
                           const ConfusionPlotOptions& options = {});

// One column of a spread plot: a configuration's values over seeds.
struct SpreadColumn {
  std::string label;            // below the column; '\n' starts a new line
  std::vector<double> values;   // one dot each (non-finite ones are left out)
  double median = std::numeric_limits<double>::quiet_NaN();     // a solid line; NaN: none
  double reference = std::numeric_limits<double>::quiet_NaN();  // a dashed line (the paper's); NaN: none
};

struct SpreadPlotOptions {
  std::string title = "Spread over seeds";
  std::string ylabel = "final test error (%)";
  int height = 540;  // pixels, 240..8192; the width follows from the columns and labels
};

// A strip chart (`wrn sweep`'s spread.png): one column per entry, its values as dots spread
// sideways so equal values stay visible, its median as a line and its reference as a dashed
// line, on a y axis zoomed to the values and references. Guarantees: any input draws (no
// columns, empty columns, non-finite values). Throws wrn::ConfigError for a bad height.
RgbImage render_spread(const std::vector<SpreadColumn>& columns, const SpreadPlotOptions& options = {});

// render_spread written to `path` as PNG (temporary file + rename). Throws wrn::FileError.
void plot_spread(const std::string& path, const std::vector<SpreadColumn>& columns,
                 const SpreadPlotOptions& options = {});

}  // namespace wrn::train
