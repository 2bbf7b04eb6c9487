#include "wrn/report/metrics_log.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <utility>

#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"

namespace wrn::train {
namespace {

// JSON has no NaN/Inf: a diverged loss becomes null.
nlohmann::ordered_json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

double get_number(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) throw FileError(fmt::format("missing key '{}'", key));
  if (it->is_null()) return std::nan("");
  if (!it->is_number()) throw FileError(fmt::format("key '{}' must be a number", key));
  return it->get<double>();
}

bool same(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

// An ordered object keeps the documented key order in the file, for people reading it.
nlohmann::ordered_json ordered(const EpochMetrics& m) {
  nlohmann::ordered_json o;
  o["epoch"] = m.epoch;
  o["lr"] = number_or_null(m.lr);
  o["train_loss"] = number_or_null(m.train_loss);
  o["train_top1_err"] = number_or_null(m.train_top1_err);
  o["test_loss"] = number_or_null(m.test_loss);
  o["test_top1_err"] = number_or_null(m.test_top1_err);
  o["test_top5_err"] = number_or_null(m.test_top5_err);
  if (std::isfinite(m.val_top1_err)) {
    o["val_loss"] = number_or_null(m.val_loss);
    o["val_top1_err"] = number_or_null(m.val_top1_err);
  }
  o["seconds"] = number_or_null(m.seconds);
  o["images_per_second"] = number_or_null(m.images_per_second);
  return o;
}

std::string to_line(const EpochMetrics& m) { return ordered(m).dump() + "\n"; }

nlohmann::ordered_json ordered(const StepMetrics& m) {
  nlohmann::ordered_json o;
  o["step"] = m.step;
  o["epoch"] = m.epoch;
  o["loss"] = number_or_null(m.loss);
  o["lr"] = number_or_null(m.lr);
  o["images_per_second"] = number_or_null(m.images_per_second);
  return o;
}

std::string to_line(const StepMetrics& m) { return ordered(m).dump() + "\n"; }

// JSON lines of records T; blank lines skipped, a torn last line (a crash inside an append) dropped.
template <class T>
std::vector<T> read_records(const std::string& path) {
  std::vector<T> out;
  if (!std::filesystem::exists(path)) return out;
  const std::string text = read_file(path);
  const bool ends_with_newline = !text.empty() && text.back() == '\n';
  std::istringstream in(text);
  std::string line;
  int line_no = 0;
  size_t consumed = 0;
  while (std::getline(in, line)) {
    ++line_no;
    consumed += line.size() + 1;
    const bool last_unterminated = consumed > text.size() && !ends_with_newline;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      out.push_back(nlohmann::json::parse(line).get<T>());
    } catch (const std::exception& e) {
      if (last_unterminated) break;  // an append cut short by a crash
      throw FileError(fmt::format("{}:{}: not a metrics record: {}", path, line_no, one_line_message(e)));
    }
  }
  return out;
}

template <class T>
void write_records(const std::string& path, const std::vector<T>& records) {
  std::string content;
  for (const auto& m : records) content += to_line(m);
  write_file_atomically(path, content);
}

void append_line(std::FILE* file, const std::string& path, const std::string& line) {
  WRN_CHECK_FILE(file != nullptr, "{}: metrics log is closed", path);
  const bool ok = std::fwrite(line.data(), 1, line.size(), file) == line.size() && std::fflush(file) == 0 &&
                  ::fsync(::fileno(file)) == 0;
  WRN_CHECK_FILE(ok, "{}: cannot append metrics: {}", path, std::strerror(errno));
}

}  // namespace

bool StepMetrics::operator==(const StepMetrics& o) const {
  return step == o.step && epoch == o.epoch && same(loss, o.loss) && same(lr, o.lr) &&
         same(images_per_second, o.images_per_second);
}

void to_json(nlohmann::json& j, const StepMetrics& m) { j = nlohmann::json::parse(ordered(m).dump()); }

void from_json(const nlohmann::json& j, StepMetrics& m) {
  if (!j.is_object()) throw FileError("expected a JSON object");
  for (const char* key : {"step", "epoch"}) {
    auto it = j.find(key);
    if (it == j.end()) throw FileError(fmt::format("missing key '{}'", key));
    if (!it->is_number_integer()) throw FileError(fmt::format("key '{}' must be an integer", key));
  }
  m.step = j["step"].get<int64_t>();
  m.epoch = j["epoch"].get<int>();
  m.loss = get_number(j, "loss");
  m.lr = get_number(j, "lr");
  m.images_per_second = get_number(j, "images_per_second");
}

std::vector<StepMetrics> read_step_metrics(const std::string& path) { return read_records<StepMetrics>(path); }

void write_step_metrics(const std::string& path, const std::vector<StepMetrics>& metrics) {
  write_records(path, metrics);
}

bool EpochMetrics::operator==(const EpochMetrics& o) const {
  return epoch == o.epoch && same(lr, o.lr) && same(train_loss, o.train_loss) &&
         same(train_top1_err, o.train_top1_err) && same(test_loss, o.test_loss) &&
         same(test_top1_err, o.test_top1_err) && same(test_top5_err, o.test_top5_err) && same(val_loss, o.val_loss) && same(val_top1_err, o.val_top1_err) &&
         same(seconds, o.seconds) && same(images_per_second, o.images_per_second);
}

void to_json(nlohmann::json& j, const EpochMetrics& m) { j = nlohmann::json::parse(ordered(m).dump()); }

void from_json(const nlohmann::json& j, EpochMetrics& m) {
  if (!j.is_object()) throw FileError("expected a JSON object");
  auto it = j.find("epoch");
  if (it == j.end()) throw FileError("missing key 'epoch'");
  if (!it->is_number_integer()) throw FileError("key 'epoch' must be an integer");
  m.epoch = it->get<int>();
  m.lr = get_number(j, "lr");
  m.train_loss = get_number(j, "train_loss");
  m.train_top1_err = get_number(j, "train_top1_err");
  m.test_loss = get_number(j, "test_loss");
  m.test_top1_err = get_number(j, "test_top1_err");
  m.test_top5_err = get_number(j, "test_top5_err");
  if (j.contains("val_top1_err")) {
    m.val_loss = get_number(j, "val_loss");
    m.val_top1_err = get_number(j, "val_top1_err");
  }
  m.seconds = get_number(j, "seconds");
  m.images_per_second = get_number(j, "images_per_second");
}

std::vector<EpochMetrics> read_metrics(const std::string& path) { return read_records<EpochMetrics>(path); }

void write_metrics(const std::string& path, const std::vector<EpochMetrics>& metrics) { write_records(path, metrics); }

MetricsLog::MetricsLog(std::string path) : path_(std::move(path)) {
  file_ = std::fopen(path_.c_str(), "ab");
  WRN_CHECK_FILE(file_ != nullptr, "{}: cannot open for appending: {}", path_, std::strerror(errno));
}

MetricsLog::~MetricsLog() {
  if (file_) std::fclose(file_);
}

MetricsLog::MetricsLog(MetricsLog&& other) noexcept : path_(std::move(other.path_)), file_(other.file_) {
  other.file_ = nullptr;
}

MetricsLog& MetricsLog::operator=(MetricsLog&& other) noexcept {
  if (this != &other) {
    if (file_) std::fclose(file_);
    path_ = std::move(other.path_);
    file_ = other.file_;
    other.file_ = nullptr;
  }
  return *this;
}

void MetricsLog::append(const EpochMetrics& m) { append_line(file_, path_, to_line(m)); }

void MetricsLog::append(const StepMetrics& m) { append_line(file_, path_, to_line(m)); }

}  // namespace wrn::train
