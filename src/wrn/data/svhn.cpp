// SVHN cropped-digits reader (MATLAB .mat files through matio).
#include <matio.h>
#include <torch/types.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <mutex>

#include "wrn/core/error.h"
#include "wrn/data/file_bytes.h"
#include "wrn/data/readers.h"

namespace wrn::data {

namespace {

namespace fs = std::filesystem;

// matio reports problems through a log function (the default one prints to stderr); keep
// the last message so the FileError can say what matio saw.
thread_local std::string matio_last_message;
std::mutex matio_mutex;  // matio's logging state is global; reads are serialized

void matio_log(int /*level*/, char* message) {
  if (message != nullptr) matio_last_message = message;
}

void init_matio_logging() {
  static std::once_flag once;
  std::call_once(once, [] { Mat_LogInitFunc("wrn", matio_log); });
}

std::string matio_detail() {
  return matio_last_message.empty() ? "" : fmt::format(" (matio: {})", matio_last_message);
}

struct MatCloser {
  void operator()(mat_t* mat) const { Mat_Close(mat); }
};
struct VarFreer {
  void operator()(matvar_t* var) const { Mat_VarFree(var); }
};
using MatFile = std::unique_ptr<mat_t, MatCloser>;
using MatVar = std::unique_ptr<matvar_t, VarFreer>;

size_t element_count(const matvar_t* var) {
  size_t count = 1;
  for (int i = 0; i < var->rank; ++i) count *= var->dims[i];
  return count;
}

std::string dims_string(const matvar_t* var) {
  std::string s = "[";
  for (int i = 0; i < var->rank; ++i) s += (i ? "," : "") + std::to_string(var->dims[i]);
  return s + "]";
}

MatVar read_var(mat_t* mat, const char* name, const std::string& path) {
  matio_last_message.clear();
  MatVar var(Mat_VarRead(mat, name));
  WRN_CHECK_FILE(var != nullptr, "{}: cannot read variable '{}' (missing, truncated or corrupt){}",
                 path, name, matio_detail());
  WRN_CHECK_FILE(!var->isComplex && var->data != nullptr && var->rank >= 2,
                 "{}: variable '{}' is not a real numeric array", path, name);
  const size_t elem = Mat_SizeOfClass(var->class_type);
  WRN_CHECK_FILE(elem > 0 && var->nbytes == element_count(var.get()) * elem,
                 "{}: variable '{}' has {} bytes of data for dims {} (truncated or corrupt){}",
                 path, name, var->nbytes, dims_string(var.get()), matio_detail());
  return var;
}

// One label as a double, whatever numeric class `y` is stored in.
double label_at(const matvar_t* y, size_t i) {
  switch (y->class_type) {
    case MAT_C_DOUBLE: return static_cast<const double*>(y->data)[i];
    case MAT_C_SINGLE: return static_cast<const float*>(y->data)[i];
    case MAT_C_UINT8: return static_cast<const uint8_t*>(y->data)[i];
    case MAT_C_INT8: return static_cast<const int8_t*>(y->data)[i];
    case MAT_C_UINT16: return static_cast<const uint16_t*>(y->data)[i];
    case MAT_C_INT16: return static_cast<const int16_t*>(y->data)[i];
    case MAT_C_UINT32: return static_cast<const uint32_t*>(y->data)[i];
    case MAT_C_INT32: return static_cast<const int32_t*>(y->data)[i];
    case MAT_C_UINT64: return static_cast<double>(static_cast<const uint64_t*>(y->data)[i]);
    case MAT_C_INT64: return static_cast<double>(static_cast<const int64_t*>(y->data)[i]);
    default: return -1;
  }
}

Dataset load_svhn_file(const std::string& path) {
  WRN_CHECK_FILE(detail::is_regular_file(path), "{}: file not found", path);
  init_matio_logging();
  std::lock_guard<std::mutex> lock(matio_mutex);
  matio_last_message.clear();
  MatFile mat(Mat_Open(path.c_str(), MAT_ACC_RDONLY));
  WRN_CHECK_FILE(mat != nullptr, "{}: not a readable MATLAB .mat file{}", path, matio_detail());

  MatVar x = read_var(mat.get(), "X", path);
  WRN_CHECK_FILE(x->class_type == MAT_C_UINT8 && x->rank == 4 && x->dims[2] == 3,
                 "{}: X must be uint8 [H,W,3,N], found class {} dims {}", path,
                 static_cast<int>(x->class_type), dims_string(x.get()));
  const auto h = static_cast<int64_t>(x->dims[0]);
  const auto w = static_cast<int64_t>(x->dims[1]);
  const auto n = static_cast<int64_t>(x->dims[3]);

  MatVar y = read_var(mat.get(), "y", path);
  WRN_CHECK_FILE(y->rank == 2 && element_count(y.get()) == static_cast<size_t>(n) &&
                     (y->dims[0] == 1 || y->dims[1] == 1),
                 "{}: y must be [N,1] with N = {} (the images in X), found dims {}", path, n,
                 dims_string(y.get()));
  WRN_CHECK_FILE(y->class_type >= MAT_C_DOUBLE && y->class_type <= MAT_C_UINT64,
                 "{}: y must be numeric (double or an integer type), found class {}", path,
                 static_cast<int>(y->class_type));

  Dataset set;
  set.name = "svhn";
  set.labels = torch::empty({n}, torch::kInt64);
  auto* labels = set.labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const double v = label_at(y.get(), static_cast<size_t>(i));
    WRN_CHECK_FILE(v >= 0 && v <= 10 && v == std::floor(v),
                   "{}: label {} of item {} is not a digit class in [0, 10] (10 means 0)", path, v,
                   i);
    labels[i] = static_cast<int64_t>(v) % 10;
  }
  // MATLAB stores X column-major: memory order is [N][C][W][H]; swap to [N, C, H, W].
  set.images = torch::from_blob(x->data, {n, 3, w, h}, torch::kUInt8)
                   .permute({0, 1, 3, 2})
                   .contiguous();
  return set;
}

}  // namespace

Dataset load_svhn(const std::string& dir, const std::string& split) {
  WRN_CHECK(split == "train" || split == "test" || split == "extra" || split == "train+extra",
            "svhn: unknown split '{}' (expected train, test, extra or train+extra)", split);
  std::vector<std::string> parts = {split};
  if (split == "train+extra") parts = {"train", "extra"};
  std::vector<torch::Tensor> images, labels;
  for (const auto& part : parts) {
    Dataset one = load_svhn_file((fs::path(dir) / (part + "_32x32.mat")).string());
    if (!images.empty()) {
      WRN_CHECK_FILE(one.images.sizes().slice(1) == images[0].sizes().slice(1),
                     "{}: image size differs from the train file's",
                     (fs::path(dir) / (part + "_32x32.mat")).string());
    }
    images.push_back(one.images);
    labels.push_back(one.labels);
  }
  Dataset set;
  set.name = "svhn";
  set.images = images.size() == 1 ? images[0] : torch::cat(images);
  set.labels = labels.size() == 1 ? labels[0] : torch::cat(labels);
  set.class_names = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  return set;
}

}  // namespace wrn::data
