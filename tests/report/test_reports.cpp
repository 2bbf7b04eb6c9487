// Unit tests of the run-directory reports: metrics.jsonl, TensorBoard events, PNG figures,
// progress lines and report.md.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "report_readers.h"
#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"
#include "wrn/report/curves_plot.h"
#include "wrn/report/metrics_log.h"
#include "wrn/report/png_writer.h"
#include "wrn/report/progress.h"
#include "wrn/report/report.h"
#include "wrn/report/sinks.h"
#include "wrn/report/tensorboard.h"
#include "../common/test_temp_dir.h"

namespace fs = std::filesystem;
using namespace wrn::train;

namespace {

// A fresh directory per test (tests/common/test_temp_dir.h).
struct TempDir : wrn::testing::TestTempDir {
  TempDir() : TestTempDir("wrn_reports_") {}
};

// A plausible 200-epoch WRN run: step schedule, loss decaying, error dropping at each LR step.
std::vector<EpochMetrics> fake_run(int epochs) {
  std::vector<EpochMetrics> v;
  for (int e = 1; e <= epochs; ++e) {
    EpochMetrics m;
    m.epoch = e;
    m.lr = 0.1 * std::pow(0.2, (e > 60) + (e > 120) + (e > 160));
    const double drop = 1.0 + 2.0 * ((e > 60) + (e > 120) + (e > 160));
    m.train_loss = 2.0 * std::exp(-e / 15.0) / drop + 0.3 / drop + 0.01 * std::sin(e);
    m.train_top1_err = 60 * std::exp(-e / 10.0) / drop + 8 / drop;
    m.test_loss = m.train_loss * 1.2 + 0.1;
    m.test_top1_err = m.train_top1_err + 4 + 0.6 * std::sin(e * 0.7);
    m.test_top5_err = m.test_top1_err / 8;
    m.seconds = 30 + (e % 3);
    m.images_per_second = 50000 / m.seconds;
    v.push_back(m);
  }
  return v;
}

int count_pixels_like(const RgbImage& img, int r, int g, int b, int tol) {
  int n = 0;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      const uint8_t* p = img.at(x, y);
      n += std::abs(p[0] - r) <= tol && std::abs(p[1] - g) <= tol && std::abs(p[2] - b) <= tol;
    }
  return n;
}

int count_non_white(const RgbImage& img) {
  int n = 0;
  for (size_t i = 0; i < img.pixels.size(); i += 3) n += img.pixels[i] < 250 || img.pixels[i + 1] < 250 || img.pixels[i + 2] < 250;
  return n;
}

std::string slurp(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) s.append(buf, n);
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// metrics.jsonl

TEST(MetricsLog, JsonHasTheDocumentedKeys) {
  EpochMetrics m = fake_run(1)[0];
  const nlohmann::json j = m;
  for (const char* key : {"epoch", "lr", "train_loss", "train_top1_err", "test_loss", "test_top1_err", "test_top5_err",
                          "seconds", "images_per_second"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j.size(), 9u);
  EXPECT_EQ(j["epoch"].get<int>(), 1);
  EXPECT_DOUBLE_EQ(j["test_top1_err"].get<double>(), m.test_top1_err);
}

TEST(MetricsLog, AppendThenReadRoundTripsExactly) {
  TempDir dir;
  const auto run = fake_run(7);
  {
    MetricsLog log(dir.file("metrics.jsonl"));
    for (const auto& m : run) log.append(m);
  }
  const auto back = read_metrics(dir.file("metrics.jsonl"));
  ASSERT_EQ(back.size(), run.size());
  for (size_t i = 0; i < run.size(); ++i) EXPECT_EQ(back[i], run[i]) << "epoch " << run[i].epoch;

  // One JSON object per line, keys in the documented order.
  const std::string text = wrn::read_file(dir.file("metrics.jsonl"));
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 7);
  EXPECT_EQ(text.rfind("{\"epoch\":1,\"lr\":0.1,\"train_loss\":", 0), 0u) << text.substr(0, 80);
}

TEST(MetricsLog, ReopeningAppendsAfterExistingLines) {
  TempDir dir;
  const auto run = fake_run(4);
  { MetricsLog(dir.file("m.jsonl")).append(run[0]); }
  {
    MetricsLog log(dir.file("m.jsonl"));
    log.append(run[1]);
    log.append(run[2]);
  }
  const auto back = read_metrics(dir.file("m.jsonl"));
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[2], run[2]);
}

TEST(MetricsLog, WriteMetricsTruncatesForResume) {
  TempDir dir;
  const auto run = fake_run(10);
  write_metrics(dir.file("metrics.jsonl"), run);
  // Resume from the checkpoint of epoch 6: the log is cut back to epochs 1..6.
  auto kept = read_metrics(dir.file("metrics.jsonl"));
  kept.resize(6);
  write_metrics(dir.file("metrics.jsonl"), kept);
  MetricsLog(dir.file("metrics.jsonl")).append(run[6]);
  const auto back = read_metrics(dir.file("metrics.jsonl"));
  ASSERT_EQ(back.size(), 7u);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(back[i], run[i]);
}

TEST(MetricsLog, NonFiniteLossIsNullAndReadsBackAsNaN) {
  TempDir dir;
  auto run = fake_run(2);
  run[1].train_loss = std::numeric_limits<double>::quiet_NaN();
  run[1].test_loss = std::numeric_limits<double>::infinity();
  write_metrics(dir.file("m.jsonl"), run);
  const std::string text = wrn::read_file(dir.file("m.jsonl"));
  EXPECT_NE(text.find("\"train_loss\":null"), std::string::npos);
  const auto back = read_metrics(dir.file("m.jsonl"));
  ASSERT_EQ(back.size(), 2u);
  EXPECT_TRUE(std::isnan(back[1].train_loss));
  EXPECT_TRUE(std::isnan(back[1].test_loss));
  EXPECT_EQ(back[0], run[0]);
}

TEST(MetricsLog, MissingFileIsEmptyAndTruncatedLastLineIsDropped) {
  TempDir dir;
  EXPECT_TRUE(read_metrics(dir.file("absent.jsonl")).empty());
  write_metrics(dir.file("m.jsonl"), fake_run(3));
  {
    std::ofstream out(dir.file("m.jsonl"), std::ios::app);
    out << "{\"epoch\":4,\"lr\":0.1,\"train_lo";  // crash in the middle of an append
  }
  EXPECT_EQ(read_metrics(dir.file("m.jsonl")).size(), 3u);
}

TEST(MetricsLog, CorruptLineInTheMiddleThrowsNamingTheLine) {
  TempDir dir;
  wrn::write_file_atomically(dir.file("m.jsonl"), "{\"epoch\":1}\nnot json\n");
  try {
    read_metrics(dir.file("m.jsonl"));
    FAIL() << "expected FileError";
  } catch (const wrn::FileError& e) {
    EXPECT_NE(std::string(e.what()).find("m.jsonl:1"), std::string::npos) << e.what();  // line 1 lacks keys
  }
  wrn::write_file_atomically(dir.file("n.jsonl"), nlohmann::json(fake_run(1)[0]).dump() + "\n[1,2]\n{}\n");
  EXPECT_THROW(read_metrics(dir.file("n.jsonl")), wrn::FileError);
}

// ---------------------------------------------------------------------------------------
// TensorBoard

TEST(TensorBoard, Crc32cMatchesKnownVectors) {
  // RFC 3720 / iSCSI check value.
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  const std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  EXPECT_EQ(crc32c("", 0), 0u);
  const uint32_t c = crc32c("123456789", 9);
  EXPECT_EQ(masked_crc32c("123456789", 9), ((c >> 15) | (c << 17)) + 0xa282ead8u);
}

TEST(TensorBoard, EventFileRoundTripsWithValidCrcs) {
  TempDir dir;
  const auto run = fake_run(3);
  std::string path;
  {
    TensorBoardWriter tb(dir.path().string());
    path = tb.path();
    for (const auto& m : run) tb.write_epoch(m);
    tb.add_scalar("custom/value", -2.5, 123456789012LL, 1700000000.25);
  }
  EXPECT_EQ(fs::path(path).parent_path(), dir.path());
  EXPECT_EQ(fs::path(path).filename().string().rfind("events.out.tfevents.", 0), 0u);

  const auto events = read_tensorboard_events(path);
  ASSERT_EQ(events.size(), 1u + 3 * 7 + 1);
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  EXPECT_TRUE(events[0].values.empty());
  EXPECT_GT(events[0].wall_time, 1.5e9);

  const std::vector<std::string> tags = {"train/loss", "train/top1_err", "test/loss", "test/top1_err",
                                         "test/top5_err", "lr", "images_per_second"};
  for (size_t e = 0; e < run.size(); ++e) {
    const auto& m = run[e];
    const double expected[] = {m.train_loss, m.train_top1_err, m.test_loss, m.test_top1_err, m.test_top5_err, m.lr,
                               m.images_per_second};
    for (size_t t = 0; t < tags.size(); ++t) {
      const auto& ev = events[1 + e * tags.size() + t];
      EXPECT_EQ(ev.step, m.epoch);
      ASSERT_EQ(ev.values.size(), 1u);
      EXPECT_EQ(ev.values[0].first, tags[t]);
      EXPECT_FLOAT_EQ(ev.values[0].second, static_cast<float>(expected[t])) << tags[t];
      EXPECT_GE(ev.wall_time, events[0].wall_time);
    }
  }
  EXPECT_EQ(events.back().step, 123456789012LL);
  EXPECT_EQ(events.back().wall_time, 1700000000.25);
  EXPECT_EQ(events.back().values[0].first, "custom/value");
  EXPECT_EQ(events.back().values[0].second, -2.5f);
}

TEST(TensorBoard, RecordFramingIsTheTfRecordLayout) {
  TempDir dir;
  std::string path;
  {
    TensorBoardWriter tb(dir.path().string());
    path = tb.path();
  }
  const std::string data = wrn::read_file(path);
  ASSERT_GE(data.size(), 16u);
  uint64_t len = 0;
  std::memcpy(&len, data.data(), 8);  // little-endian on the machines we build for
  ASSERT_EQ(data.size(), 12 + len + 4);
  uint32_t len_crc, data_crc;
  std::memcpy(&len_crc, data.data() + 8, 4);
  std::memcpy(&data_crc, data.data() + 12 + len, 4);
  EXPECT_EQ(len_crc, masked_crc32c(data.data(), 8));
  EXPECT_EQ(data_crc, masked_crc32c(data.data() + 12, len));
  // Event: field 1 (wall_time) fixed64 first, then field 3 (file_version) string.
  EXPECT_EQ(static_cast<uint8_t>(data[12]), 0x09);
  EXPECT_EQ(static_cast<uint8_t>(data[21]), 0x1A);
  EXPECT_EQ(data.substr(23, 13), "brain.Event:2");
}

TEST(TensorBoard, CorruptedByteIsDetected) {
  TempDir dir;
  std::string path;
  {
    TensorBoardWriter tb(dir.path().string());
    path = tb.path();
    tb.write_epoch(fake_run(1)[0]);
  }
  std::string data = wrn::read_file(path);
  std::string bad = data;
  bad[bad.size() - 10] ^= 0x01;  // inside the last record's data
  wrn::write_file_atomically(dir.file("bad"), bad);
  EXPECT_THROW(read_tensorboard_events(dir.file("bad")), wrn::FileError);
  wrn::write_file_atomically(dir.file("short"), data.substr(0, data.size() - 3));
  EXPECT_THROW(read_tensorboard_events(dir.file("short")), wrn::FileError);
}

TEST(TensorBoard, TwoWritersInOneDirectoryDoNotCollide) {
  TempDir dir;
  TensorBoardWriter a(dir.path().string()), b(dir.path().string());
  EXPECT_NE(a.path(), b.path());
  EXPECT_THROW(TensorBoardWriter(dir.file("no_such_dir")), wrn::FileError);
}

// ---------------------------------------------------------------------------------------
// PNG figures

TEST(Png, WriteThenDecodeGivesTheSamePixels) {
  TempDir dir;
  RgbImage img(7, 5, 10, 20, 30);
  img.at(3, 2)[0] = 200;
  img.at(6, 4)[2] = 255;
  write_png(dir.file("x.png"), img);
  const RgbImage back = read_png(dir.file("x.png"));
  EXPECT_EQ(back.width, 7);
  EXPECT_EQ(back.height, 5);
  EXPECT_EQ(back.pixels, img.pixels);
  wrn::write_file_atomically(dir.file("not.png"), "hello world, not a png");
  EXPECT_THROW(read_png(dir.file("not.png")), wrn::FileError);
  const std::string bytes = wrn::read_file(dir.file("x.png"));
  wrn::write_file_atomically(dir.file("cut.png"), bytes.substr(0, bytes.size() / 2));
  EXPECT_THROW(read_png(dir.file("cut.png")), wrn::FileError);
  EXPECT_THROW(RgbImage(0, 3), wrn::ConfigError);
}

TEST(CurvesPlot, FullRunIsAValidPngOfTheRequestedSizeWithBothCurveColours) {
  TempDir dir;
  CurvesPlotOptions opt;
  opt.title = "WRN-28-10 on CIFAR-10 (fake data)";
  plot_curves(dir.file("curves.png"), fake_run(200), opt);
  const RgbImage img = read_png(dir.file("curves.png"));
  EXPECT_EQ(img.width, opt.width);
  EXPECT_EQ(img.height, opt.height);
  // Train loss is drawn in blue on the left half, test error in red on the right half.
  int blue_left = 0, red_right = 0, red_left = 0;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      const uint8_t* p = img.at(x, y);
      const bool blue = p[0] == 31 && p[1] == 119 && p[2] == 180;
      const bool red = p[0] == 214 && p[1] == 39 && p[2] == 40;
      if (x < img.width / 2) blue_left += blue, red_left += red;
      else red_right += red;
    }
  EXPECT_GT(blue_left, 500);
  EXPECT_GT(red_right, 500);
  EXPECT_EQ(red_left, 0);
  if (const char* keep = std::getenv("WRN_KEEP_PLOTS")) {  // developer: look at the figures
    plot_curves(std::string(keep) + "/curves.png", fake_run(200), opt);
    plot_curves(std::string(keep) + "/curves_1.png", fake_run(1), opt);
  }
}

TEST(CurvesPlot, EdgeCasesStillDraw) {
  TempDir dir;
  // One epoch.
  plot_curves(dir.file("one.png"), fake_run(1));
  RgbImage one = read_png(dir.file("one.png"));
  EXPECT_EQ(one.width, CurvesPlotOptions().width);
  EXPECT_GT(count_pixels_like(one, 214, 39, 40, 0), 10);  // the single test-error point is visible

  // Constant values, zeros, and no data at all.
  auto flat = fake_run(5);
  for (auto& m : flat) m.train_loss = m.test_loss = 1.0, m.train_top1_err = m.test_top1_err = m.test_top5_err = 0.0;
  EXPECT_NO_THROW(render_curves(flat));
  EXPECT_NO_THROW(render_curves({}));
  EXPECT_GT(count_non_white(render_curves({})), 1000);  // axes and "no data yet"

  // A diverged run: non-finite values break the line instead of breaking the plot.
  auto bad = fake_run(10);
  bad[4].train_loss = std::numeric_limits<double>::quiet_NaN();
  bad[5].test_top1_err = std::numeric_limits<double>::infinity();
  const RgbImage img = render_curves(bad);
  EXPECT_GT(count_pixels_like(img, 31, 119, 180, 0), 100);

  CurvesPlotOptions small;
  small.width = 100;
  EXPECT_THROW(render_curves(fake_run(2), small), wrn::ConfigError);
}

TEST(ConfusionPlot, TenClassesIsAValidPngWithADarkDiagonal) {
  TempDir dir;
  std::vector<std::vector<int64_t>> cm(10, std::vector<int64_t>(10, 3));
  for (int i = 0; i < 10; ++i) cm[i][i] = 970;
  cm[3][5] = 120;
  ConfusionPlotOptions opt;
  opt.title = "Confusion matrix: test set";
  opt.class_names = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  plot_confusion_matrix(dir.file("cm.png"), cm, opt);
  const RgbImage img = read_png(dir.file("cm.png"));
  EXPECT_GT(img.width, 600);
  EXPECT_GT(img.height, 600);
  EXPECT_GT(count_pixels_like(img, 8, 48, 107, 30), 5000);  // dark-blue diagonal cells
  if (const char* keep = std::getenv("WRN_KEEP_PLOTS")) {
    plot_confusion_matrix(std::string(keep) + "/cm10.png", cm, opt);
    std::vector<std::vector<int64_t>> big(100, std::vector<int64_t>(100, 1));
    for (int i = 0; i < 100; ++i) big[i][i] = 80 - (i % 40);
    plot_confusion_matrix(std::string(keep) + "/cm100.png", big, {"CIFAR-100", {}});
  }
}

TEST(ConfusionPlot, RejectsMalformedInput) {
  EXPECT_THROW(render_confusion_matrix({}), wrn::ConfigError);
  EXPECT_THROW(render_confusion_matrix({{1, 2}, {3}}), wrn::ConfigError);
  EXPECT_THROW(render_confusion_matrix({{1, -2}, {3, 4}}), wrn::ConfigError);
  EXPECT_THROW(render_confusion_matrix({{1, 2}, {3, 4}}, {"t", {"only one name"}}), wrn::ConfigError);
  EXPECT_NO_THROW(render_confusion_matrix({{0}}));           // one class, no images
  EXPECT_NO_THROW(render_confusion_matrix({{0, 0}, {0, 0}}));  // no images at all
}

// ---------------------------------------------------------------------------------------
// Progress

TEST(Progress, PlainModePrintsAtTenPercentMarksAndTheSummary) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  auto t = Progress::Clock::now();
  Progress p(200, 100, f, Progress::Mode::plain);
  EXPECT_FALSE(p.is_terminal());
  p.set_interval_seconds(0);
  p.set_clock_for_testing(t);
  p.start_epoch(3);
  for (int s = 1; s <= 100; ++s) {
    t += std::chrono::milliseconds(100);  // 128 images per 0.1 s = 1280 img/s
    p.set_clock_for_testing(t);
    p.step(128, s % 10 == 0 ? std::optional<double>(2.0) : std::nullopt);
  }
  p.end_epoch("epoch 3/200 done: test error 12.34%");
  const std::string out = slurp(f);
  std::fclose(f);
  EXPECT_EQ(out.find('\r'), std::string::npos);
  std::vector<std::string> lines;
  std::istringstream in(out);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 10u) << out;  // 10%, 20%, ..., 90% and the summary
  EXPECT_EQ(lines[0], "epoch 3/200 step 10/100 (10%) loss 2.0000 1280 img/s eta 0:00:09");
  EXPECT_EQ(lines[8], "epoch 3/200 step 90/100 (90%) loss 2.0000 1280 img/s eta 0:00:01");
  EXPECT_EQ(lines[9], "epoch 3/200 done: test error 12.34%");
}

TEST(Progress, PlainModeAlsoPrintsOnTheTimeIntervalAndShowsMissingLoss) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  auto t = Progress::Clock::now();
  Progress p(1, 1000, f, Progress::Mode::plain);
  p.set_interval_seconds(5);
  p.set_clock_for_testing(t);
  p.start_epoch(1);
  for (int s = 1; s <= 30; ++s) {  // 3% of the epoch, 6 s
    t += std::chrono::milliseconds(200);
    p.set_clock_for_testing(t);
    p.step(10);
  }
  const std::string out = slurp(f);
  std::fclose(f);
  EXPECT_EQ(out, "epoch 1/1 step 25/1000 (2%) loss - 50 img/s eta 0:03:15\n");
  EXPECT_TRUE(std::isnan(p.mean_loss()));
}

TEST(Progress, TerminalModeRedrawsOneLine) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  auto t = Progress::Clock::now();
  Progress p(2, 4, f, Progress::Mode::terminal);
  p.set_clock_for_testing(t);
  p.start_epoch(1);
  for (int s = 1; s <= 4; ++s) {
    t += std::chrono::seconds(1);
    p.set_clock_for_testing(t);
    p.step(100, 1.0 * s);
  }
  p.end_epoch("epoch 1 done");
  const std::string out = slurp(f);
  std::fclose(f);
  EXPECT_NE(out.find("\repoch 1/2 [#####...............] step 1/4  loss 1.0000  100 img/s  ETA 0:00:03"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("[####################] step 4/4  loss 2.5000"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1);  // only the summary ends a line
  EXPECT_EQ(out.substr(out.size() - 13), "epoch 1 done\n");
}

TEST(Progress, RejectsBadSizesAndFormatsDurations) {
  EXPECT_THROW(Progress(0, 10, stderr), wrn::ConfigError);
  EXPECT_THROW(Progress(1, 0, stderr), wrn::ConfigError);
  EXPECT_EQ(format_duration(0), "0:00:00");
  EXPECT_EQ(format_duration(3725.4), "1:02:05");
  EXPECT_EQ(format_duration(std::nan("")), "--:--");
}

// ---------------------------------------------------------------------------------------
// report.md

TEST(Report, ContainsTheNumbersAndThePaperReference) {
  TempDir dir;
  ReportInputs in;
  in.run_name = "wrn-28-10-c10-seed1";
  in.model_name = "wrn-28-10";
  in.num_params = 36479194;
  in.dataset = "cifar10";
  in.preset = "wrn-28-10-cifar10";
  in.device = "CUDA (NVIDIA H100)";
  in.hyperparameters = {{"lr", "0.1"}, {"batch size", "128"}, {"weight decay", "5e-4"}, {"milestones", "60,120,160"}};
  in.epochs_planned = 200;
  in.paper = PaperReference{4.00, "WRN paper Table 5"};
  in.preset_found = true;  // the recipe is the preset's: a reproduction (test_recipe_report covers the rest)
  auto run = fake_run(200);
  run.back().test_top1_err = 4.17;
  run[186].test_top1_err = 4.05;
  fill_results(in, run);
  EXPECT_EQ(in.epochs_completed, 200);
  EXPECT_EQ(in.best_epoch, 187);
  EXPECT_DOUBLE_EQ(in.best_test_error, 4.05);
  write_report(dir.file("report.md"), in);
  const std::string md = wrn::read_file(dir.file("report.md"));
  for (const char* needle :
       {"# Run report: wrn-28-10-c10-seed1", "| Model | wrn-28-10 |", "36,479,194 (36.5M)", "Preset `wrn-28-10-cifar10`",
        "| batch size | 128 |", "| milestones | 60,120,160 |", "**Final test error (top-1):** 4.17% (epoch 200)",
        "paper: 4.00% (WRN paper Table 5)", "ours − paper = +0.17 points", "**Best test error (top-1):** 4.05% (epoch 187)",
        "**Epochs:** 200 of 200", "![Training curves](curves.png)", "images/s"})
    EXPECT_NE(md.find(needle), std::string::npos) << "missing: " << needle << "\n" << md;
  // Wall time: 200 epochs of 30..32 s.
  double seconds = 0;
  for (const auto& m : run) seconds += m.seconds;
  EXPECT_NE(md.find(fmt::format("({:.0f} s)", seconds)), std::string::npos) << md;
  EXPECT_NE(md.find(wrn::train::format_duration(seconds)), std::string::npos);
}

TEST(Report, WithoutPaperOrResultsSaysNotAvailable) {
  ReportInputs in;
  in.model_name = "resnet-20";
  const std::string md = render_report(in);
  EXPECT_EQ(md.find("paper:"), std::string::npos);
  EXPECT_NE(md.find("**Final test error (top-1):** n/a"), std::string::npos) << md;
  EXPECT_NE(md.find("No preset"), std::string::npos);
  in.hyperparameters = {{"a|b", "x\ny"}};
  const std::string md2 = render_report(in);
  EXPECT_NE(md2.find("| a\\|b | x y |"), std::string::npos) << md2;
}

// ---------------------------------------------------------------------------------------
// The sinks: rewind_to drops what a run killed before its checkpoint wrote beyond it.

TEST(RunSinks, RewindCutsTheLogsBackAndStartsOneEventFile) {
  TempDir dir;
  const auto run = dir.path().string();
  const auto history = fake_run(3);
  write_metrics(dir.file("metrics.jsonl"), history);
  {
    std::ofstream torn(dir.file("metrics.jsonl"), std::ios::app);
    torn << "{\"epoch\": 4, \"lr\"";  // a crash inside an append
  }
  std::vector<StepMetrics> steps;
  for (int s = 10; s <= 40; s += 10) steps.push_back(StepMetrics{s, 1 + s / 20, 1.0 / s, 0.1, 100.0});
  write_step_metrics(dir.file("steps.jsonl"), steps);
  { TensorBoardWriter old(run); }  // an earlier start's event file
  std::vector<std::unique_ptr<RunSink>> sinks;
  sinks.push_back(make_metrics_log_sink(run));
  sinks.push_back(make_step_log_sink(run, /*append=*/true));
  sinks.push_back(make_tensorboard_sink(run));
  // The checkpoint was taken after epoch 2 and global step 20.
  const std::vector<EpochMetrics> kept(history.begin(), history.begin() + 2);
  for (auto& s : sinks) s->rewind_to(RunPosition{2, 20}, kept);

  EXPECT_EQ(read_metrics(dir.file("metrics.jsonl")), kept);
  const auto steps_kept = read_step_metrics(dir.file("steps.jsonl"));
  ASSERT_EQ(steps_kept.size(), 2u);
  EXPECT_EQ(steps_kept.back().step, 20);
  std::vector<std::string> events;
  for (const auto& e : fs::directory_iterator(run))
    if (e.path().filename().string().rfind("events.out.tfevents.", 0) == 0) events.push_back(e.path().string());
  ASSERT_EQ(events.size(), 1u);  // the earlier file is gone
  int step_points = 0, epoch_points = 0;
  for (const auto& ev : read_tensorboard_events(events[0]))
    for (const auto& [tag, value] : ev.values) {
      step_points += tag == "step/loss";
      epoch_points += tag == "test/top1_err";
    }
  EXPECT_EQ(step_points, 2);   // steps 10 and 20 replayed
  EXPECT_EQ(epoch_points, 2);  // epochs 1 and 2

  // Then the run goes on: every sink gets the new step and epoch once.
  StepMetrics logged{30, 3, 0.5, 0.1, 100.0};
  StepEvent step;
  step.epoch = 3;
  step.images = 128;
  step.logged = &logged;
  for (auto& s : sinks) s->on_step(step);
  for (auto& s : sinks) s->on_epoch(history[2], "data 1.0%");
  sinks.clear();  // closes the files
  EXPECT_EQ(read_metrics(dir.file("metrics.jsonl")), history);
  EXPECT_EQ(read_step_metrics(dir.file("steps.jsonl")).back(), logged);
}

TEST(RunSinks, ProgressSinkPrintsTheEpochLineWithTheEnginesNotes) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    auto sink = make_progress_sink(3, 10, f);
    sink->on_epoch_start(1, 0);
    StepEvent e;
    e.epoch = 1;
    e.images = 64;
    e.loss = 1.5;
    sink->on_step(e);
    sink->on_epoch(fake_run(1)[0], "data 2.0%");
    sink->on_epoch_start(2, 4);  // resumed after 4 steps of epoch 2, then destroyed mid-epoch
  }
  const auto out = slurp(f);
  std::fclose(f);
  EXPECT_NE(out.find("epoch 1/3  lr "), std::string::npos) << out;
  EXPECT_NE(out.find("img/s  data 2.0%"), std::string::npos) << out;
  EXPECT_EQ(out.back(), '\n') << out;
}
