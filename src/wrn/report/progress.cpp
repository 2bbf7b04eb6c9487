#include "wrn/report/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "wrn/core/error.h"

namespace wrn::train {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const long long s = std::llround(seconds);
  return fmt::format("{}:{:02d}:{:02d}", s / 3600, static_cast<int>(s / 60 % 60), static_cast<int>(s % 60));
}

Progress::Progress(int total_epochs, int64_t steps_per_epoch, std::FILE* out, Mode mode)
    : total_epochs_(total_epochs), steps_per_epoch_(steps_per_epoch), out_(out) {
  WRN_CHECK(total_epochs >= 1, "progress: total epochs must be at least 1, got {}", total_epochs);
  WRN_CHECK(steps_per_epoch >= 1, "progress: steps per epoch must be at least 1, got {}", steps_per_epoch);
  WRN_CHECK(out != nullptr, "progress: no output stream");
  terminal_ = mode == Mode::terminal || (mode == Mode::automatic && ::isatty(::fileno(out)) == 1);
}

void Progress::start_epoch(int epoch) {
  epoch_ = epoch;
  step_ = 0;
  images_ = 0;
  loss_sum_ = 0;
  loss_count_ = 0;
  last_decile_ = 0;
  epoch_start_ = now();
  last_print_ = epoch_start_;
}

double Progress::mean_loss() const { return loss_count_ > 0 ? loss_sum_ / loss_count_ : std::nan(""); }

double Progress::images_per_second() const {
  const double s = std::chrono::duration<double>(now() - epoch_start_).count();
  return s > 0 ? images_ / s : 0.0;
}

std::string Progress::status_text(bool bar) const {
  const double elapsed = std::chrono::duration<double>(now() - epoch_start_).count();
  const double eta = step_ > 0 ? elapsed / step_ * (steps_per_epoch_ - step_) : std::nan("");
  const double loss = mean_loss();
  const std::string loss_s = std::isnan(loss) ? "-" : fmt::format("{:.4f}", loss);
  const double ips = images_per_second();
  if (bar) {
    constexpr int kWidth = 20;
    const int filled = static_cast<int>(kWidth * std::min<int64_t>(step_, steps_per_epoch_) / steps_per_epoch_);
    return fmt::format("epoch {}/{} [{}{}] step {}/{}  loss {}  {:.0f} img/s  ETA {}", epoch_, total_epochs_,
                       std::string(filled, '#'), std::string(kWidth - filled, '.'), step_, steps_per_epoch_, loss_s,
                       ips, format_duration(eta));
  }
  return fmt::format("epoch {}/{} step {}/{} ({}%) loss {} {:.0f} img/s eta {}", epoch_, total_epochs_, step_,
                     steps_per_epoch_, 100 * step_ / steps_per_epoch_, loss_s, ips, format_duration(eta));
}

void Progress::draw() {
  const std::string s = status_text(true);
  // Pad with spaces to erase the end of a longer previous line.
  const std::string pad(last_width_ > s.size() ? last_width_ - s.size() : 0, ' ');
  std::fprintf(out_, "\r%s%s", s.c_str(), pad.c_str());
  std::fflush(out_);
  last_width_ = s.size();
  bar_visible_ = true;
}

void Progress::step(int64_t batch_images, std::optional<double> loss) {
  ++step_;
  images_ += batch_images;
  if (loss && std::isfinite(*loss)) {
    loss_sum_ += *loss;
    ++loss_count_;
  }
  const auto t = now();
  const double since = std::chrono::duration<double>(t - last_print_).count();
  if (terminal_) {
    // Redraw at most ~10 times a second, and always on the last step.
    if (since >= 0.1 || step_ == steps_per_epoch_) {
      last_print_ = t;
      draw();
    }
    return;
  }
  const int decile = static_cast<int>(10 * step_ / steps_per_epoch_);
  const bool at_mark = decile > last_decile_ && step_ < steps_per_epoch_;  // the last step is end_epoch's
  const bool timed = interval_seconds_ > 0 && since >= interval_seconds_ && step_ < steps_per_epoch_;
  if (at_mark || timed) {
    last_decile_ = decile;
    last_print_ = t;
    std::fprintf(out_, "%s\n", status_text(false).c_str());
    std::fflush(out_);
  }
}

void Progress::message(const std::string& line) {
  if (bar_visible_) {
    std::fprintf(out_, "\r%s\r", std::string(last_width_, ' ').c_str());
    bar_visible_ = false;
    last_width_ = 0;
  }
  std::fprintf(out_, "%s\n", line.c_str());
  std::fflush(out_);
}

void Progress::end_epoch(const std::string& summary) {
  if (terminal_ && bar_visible_) {
    std::fprintf(out_, "\r%s\r", std::string(last_width_, ' ').c_str());
    bar_visible_ = false;
    last_width_ = 0;
  }
  if (!summary.empty()) std::fprintf(out_, "%s\n", summary.c_str());
  std::fflush(out_);
}

}  // namespace wrn::train
