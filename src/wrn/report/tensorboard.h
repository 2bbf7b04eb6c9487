// A TensorBoard event-file writer, without TensorFlow or protobuf: the few Event/Summary
// fields are encoded by hand (tests/report/report_readers.h reads them back).
//
// File format: a sequence of TFRecords, each
//   uint64 length (little-endian) | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)
// with CRC-32C (Castagnoli) and mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8. Each record's
// data is a serialized tensorflow.Event: wall_time=1 (double), step=2 (int64),
// file_version=3 (string), summary=5 (Summary{ repeated Value value=1 }, Value{ tag=1 string,
// simple_value=2 float }). The first record carries file_version "brain.Event:2".
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "wrn/report/metrics_log.h"

namespace wrn::train {

// CRC-32C (Castagnoli) of `size` bytes, and the TFRecord mask applied to it.
uint32_t crc32c(const void* data, size_t size);
uint32_t masked_crc32c(const void* data, size_t size);

// Appends TensorBoard scalar events to one events.out.tfevents.<seconds>.<host> file.
// Guarantees: the file-version record is written (and flushed) by the constructor; every
// write_* call leaves complete records in the file after flush(). Throws wrn::FileError when
// the file cannot be created or written. Not copyable.
class TensorBoardWriter {
 public:
  // Creates a new event file in `run_dir` (which must exist).
  explicit TensorBoardWriter(const std::string& run_dir);
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  // One Event holding one scalar. `wall_time` < 0 means now.
  void add_scalar(const std::string& tag, double value, int64_t step, double wall_time = -1);
  // One Event holding several scalars at the same step.
  void add_scalars(const std::vector<std::pair<std::string, double>>& values, int64_t step, double wall_time = -1);
  // The epoch's scalars at step = m.epoch, tags train/loss, train/top1_err, test/loss,
  // test/top1_err, test/top5_err, lr, images_per_second; then flush().
  void write_epoch(const EpochMetrics& m);
  // Flushes the records to the operating system (and fsyncs them).
  void flush();

  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& data);
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace wrn::train
