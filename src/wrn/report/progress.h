// Training progress on stderr (or any FILE*).
//
// On a terminal: one line redrawn in place with '\r':
//   epoch 3/200 [#########.........] step 120/391  loss 1.2345  1234 img/s  ETA 0:02:11
// Elsewhere (CI logs, files): plain lines, at most one every `interval_seconds` and at each
// 10% of the epoch, e.g.
//   epoch 3/200 step 120/391 (31%) loss 1.2345 1234 img/s eta 0:02:11
// The class never reads a tensor: it keeps a running mean only of the losses the caller
// passes, so the caller decides how often to pay for a device-to-host copy.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

namespace wrn::train {

// Formats seconds as H:MM:SS (or "--:--" when unknown or negative).
std::string format_duration(double seconds);

// Progress reporting for one training run.
// Requires: total_epochs >= 1, steps_per_epoch >= 1 (throws wrn::ConfigError otherwise);
// `out` stays open while the object is used (it is not closed).
class Progress {
 public:
  enum class Mode { automatic, terminal, plain };
  using Clock = std::chrono::steady_clock;

  Progress(int total_epochs, int64_t steps_per_epoch, std::FILE* out = stderr, Mode mode = Mode::automatic);

  // Starts epoch `epoch` (1-based): resets the step counter, running loss and timer.
  void start_epoch(int epoch);
  // One training step of `batch_images` images; `loss` only when the caller has it on the
  // host (the running mean covers the steps that had one).
  void step(int64_t batch_images, std::optional<double> loss = std::nullopt);
  // Ends the epoch: clears the bar (terminal) and prints `summary` as its own line when not empty.
  void end_epoch(const std::string& summary = "");
  // Prints a message on its own line without garbling the bar.
  void message(const std::string& line);

  // Plain mode: minimum seconds between two lines (default 30); 0 prints only at 10% marks.
  void set_interval_seconds(double s) { interval_seconds_ = s; }
  // For tests: a clock that the caller controls. When set, now() returns it.
  void set_clock_for_testing(Clock::time_point t) { fake_now_ = t; }

  bool is_terminal() const { return terminal_; }
  double mean_loss() const;           // NaN when no loss was given this epoch
  double images_per_second() const;   // this epoch so far
  int64_t steps_done() const { return step_; }

 private:
  Clock::time_point now() const { return fake_now_ ? *fake_now_ : Clock::now(); }
  std::string status_text(bool bar) const;
  void draw();

  int total_epochs_;
  int64_t steps_per_epoch_;
  std::FILE* out_;
  bool terminal_;
  double interval_seconds_ = 30;
  std::optional<Clock::time_point> fake_now_;

  int epoch_ = 0;
  int64_t step_ = 0;
  int64_t images_ = 0;
  double loss_sum_ = 0;
  int64_t loss_count_ = 0;
  Clock::time_point epoch_start_{};
  Clock::time_point last_print_{};
  int last_decile_ = 0;
  size_t last_width_ = 0;
  bool bar_visible_ = false;
};

}  // namespace wrn::train
