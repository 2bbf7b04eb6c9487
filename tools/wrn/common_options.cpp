#include "common_options.h"

#include <fmt/format.h>

#include <cstdio>

#include "wrn/train/trainer.h"

namespace wrn::cli {

std::string threads_help(const std::string& config_key) {
  return "Intra-op CPU threads, 0: all cores" + (config_key.empty() ? "" : " (" + config_key + ")");
}

CLI::Option* add_device_option(CLI::App* cmd, std::string& device, const std::string& note) {
  return cmd->add_option("--device", device, "cpu, cuda, cuda:N or auto (" + note + ")");
}

CLI::Option* add_checkpoint_option(CLI::App* cmd, std::string& path) {
  return cmd->add_option("--checkpoint", path, "A wrn checkpoint (.ckpt), e.g. RUN_DIR/checkpoints/best.ckpt")->required();
}

void add_precision_option(CLI::App* cmd, std::string& text) {
  text = "auto";
  cmd->add_option("--precision", text, kPrecisionHelp)->capture_default_str();
}

ResolvedPrecision resolve_precision_option(const std::string& text, const c10::Device& device, bool quiet) {
  auto r = resolve_precision(parse_precision(text, "--precision"), device, "--precision");
  if (!quiet) say_precision(r);
  return r;
}

void say_precision(const ResolvedPrecision& r) {
  fmt::print(stderr, "precision {} ({})\n", precision_name(r.value), r.reason);
  if (!r.warning.empty()) fmt::print(stderr, "wrn: warning: {}\n", r.warning);
}

void print_resumed_summary(const train::RunResult& r, const std::string& run_dir) {
  fmt::print("done: {} epochs, final test error {:.2f}%, {}; see {}/report.md\n", r.epochs_completed,
             r.final_test_error, train::best_epoch_text(r), run_dir);
}

}  // namespace wrn::cli
