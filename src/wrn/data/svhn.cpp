// SVHN cropped-digits reader (MATLAB .mat files through matio).
#include <matio.h>
#include <torch/types.h>
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

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

// ---- MAT5 structure check, before matio reads any data.
// matio 1.5.23 trusts the file: it mallocs whatever a variable's dims declare, ignores short
// fread()s (a truncated variable is returned with uninitialized data) and stops inflating a
// compressed variable where its data ends, so zlib's adler-32 trailer is never checked (a
// flipped byte gives wrong pixels, no error). So we walk the file's data elements ourselves
// first: each numeric array's declared size is checked against read_limits(), its data must
// be wholly inside the file, and each miCOMPRESSED element is inflated to its end (into a
// small scratch buffer, never held) so zlib verifies the stream and its check. This inflates
// a compressed file twice (matio inflates it again); the price of knowing it is intact.

constexpr uint32_t kMiMatrix = 14;
constexpr uint32_t kMiCompressed = 15;

// Bytes per element of a MAT5 data type (miINT8 .. miUINT64), 0 for non-numeric types.
size_t mi_type_size(uint32_t type) {
  switch (type) {
    case 1: case 2: return 1;           // miINT8, miUINT8
    case 3: case 4: return 2;           // miINT16, miUINT16
    case 5: case 6: case 7: return 4;   // miINT32, miUINT32, miSINGLE
    case 9: case 12: case 13: return 8; // miDOUBLE, miINT64, miUINT64
    default: return 0;
  }
}

// Bytes per element of a numeric array class (mxDOUBLE_CLASS .. mxUINT64_CLASS), else 0.
size_t mx_class_size(uint32_t cls) {
  switch (cls) {
    case 6: case 14: case 15: return 8;  // double, int64, uint64
    case 7: case 12: case 13: return 4;  // single, int32, uint32
    case 10: case 11: return 2;          // int16, uint16
    case 8: case 9: return 1;            // int8, uint8
    default: return 0;
  }
}

const char* mx_class_name(uint32_t cls) {
  static const char* names[] = {"cell",   "struct", "object", "char",   "sparse", "double",
                                "single", "int8",   "uint8",  "int16",  "uint16", "int32",
                                "uint32", "int64",  "uint64", "function-handle", "opaque"};
  return cls >= 1 && cls <= 17 ? names[cls - 1] : "unknown-class";
}

struct MatVarInfo {
  uint32_t class_id = 0;
  std::vector<uint64_t> dims;
};

// The bytes of one top-level data element: the file region [begin, end) as is, or inflated
// (miCOMPRESSED). Every read is exact or throws a FileError naming the file: a short read is
// never silent.
class ElementSource {
 public:
  ElementSource(std::FILE* file, const std::string& path, uint64_t begin, uint64_t end,
                uint64_t file_size, bool compressed)
      : file_(file), path_(path), offset_(begin - 8), in_pos_(begin),
        in_end_(std::min(end, file_size)), file_size_(file_size), compressed_(compressed),
        in_(compressed ? size_t{1} << 16 : 0), scratch_(size_t{1} << 16) {
    seek(in_pos_);
    if (compressed_) {
      std::memset(&z_, 0, sizeof(z_));
      WRN_CHECK_FILE(inflateInit(&z_) == Z_OK, "{}: zlib initialization failed", path_);
      z_ready_ = true;
    }
  }
  ~ElementSource() {
    if (z_ready_) inflateEnd(&z_);
  }
  ElementSource(const ElementSource&) = delete;
  ElementSource& operator=(const ElementSource&) = delete;

  // Exactly `n` bytes into `dst`, or a FileError saying what was cut short.
  void read_exact(void* dst, size_t n, const std::string& what) {
    auto* out = static_cast<unsigned char*>(dst);
    size_t done = 0;
    while (done < n) {
      const size_t got = read_some(out + done, n - done);
      WRN_CHECK_FILE(got > 0, "{}: {} is truncated ({} of {} bytes present)", path_, what, done, n);
      done += got;
    }
  }

  // Skips `n` bytes: a seek for a plain element (its end was checked against the file size),
  // inflated into scratch space for a compressed one.
  void skip(uint64_t n, const std::string& what) {
    if (!compressed_) {
      WRN_CHECK_FILE(n <= in_end_ - in_pos_,
                     "{}: {} is truncated (needs {} bytes at offset {}, the file has {})", path_,
                     what, n, in_pos_, file_size_);
      in_pos_ += n;
      produced_ += n;
      seek(in_pos_);
      return;
    }
    while (n > 0) {
      const size_t chunk = static_cast<size_t>(std::min<uint64_t>(n, scratch_.size()));
      read_exact(scratch_.data(), chunk, what);
      n -= chunk;
    }
  }

  // Compressed: inflates the rest and requires the zlib stream's end (where zlib checks the
  // adler-32 of everything inflated) inside the element, at most `limit` bytes in all.
  void finish(uint64_t limit, const std::string& what) {
    while (!stream_end_) {
      const size_t got = read_some(scratch_.data(), scratch_.size());
      WRN_CHECK_FILE(got > 0 || stream_end_,
                     "{}: {} is truncated (the compressed stream ends early)", path_, what);
      WRN_CHECK_FILE(produced_ <= limit, "{}: {} inflates to more than the {} bytes it declares",
                     path_, what, limit);
    }
  }

  uint64_t produced() const { return produced_; }

 private:
  void seek(uint64_t pos) {
    WRN_CHECK_FILE(fseeko(file_, static_cast<off_t>(pos), SEEK_SET) == 0,
                   "{}: cannot seek to offset {}", path_, pos);
  }

  // Reads the file region into `dst`, at most `n` bytes; 0 at its end.
  size_t read_file(unsigned char* dst, size_t n) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(n, in_end_ - in_pos_));
    if (want == 0) return 0;
    const size_t got = std::fread(dst, 1, want, file_);
    WRN_CHECK_FILE(!std::ferror(file_), "{}: read error at offset {}", path_, in_pos_);
    in_pos_ += got;
    return got;
  }

  // Up to `n` bytes of the element's content; 0 only at its end (or the file's).
  size_t read_some(unsigned char* dst, size_t n) {
    if (!compressed_) {
      const size_t got = read_file(dst, n);
      produced_ += got;
      return got;
    }
    const auto want = static_cast<uInt>(std::min<size_t>(n, size_t{1} << 30));
    z_.next_out = dst;
    z_.avail_out = want;
    while (z_.avail_out == want && !stream_end_) {
      if (z_.avail_in == 0) {
        const size_t got = read_file(in_.data(), in_.size());
        if (got == 0) return 0;  // the input ends before the zlib stream does
        z_.next_in = in_.data();
        z_.avail_in = static_cast<uInt>(got);
      }
      const int rc = inflate(&z_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        stream_end_ = true;
      } else {
        WRN_CHECK_FILE(rc == Z_OK || rc == Z_BUF_ERROR,
                       "{}: the compressed element at offset {} is corrupt (zlib: {})", path_,
                       offset_, z_.msg != nullptr ? z_.msg : zError(rc));
      }
    }
    const size_t got = want - z_.avail_out;
    produced_ += got;
    return got;
  }

  std::FILE* file_;
  const std::string& path_;
  uint64_t offset_;  // of the element's tag, for messages
  uint64_t in_pos_, in_end_, file_size_;
  bool compressed_;
  std::vector<unsigned char> in_, scratch_;
  z_stream z_{};
  bool z_ready_ = false;
  bool stream_end_ = false;
  uint64_t produced_ = 0;
};

uint32_t get_u32(const unsigned char* p, bool swap) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return swap ? __builtin_bswap32(v) : v;
}

uint64_t saturating_mul(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

std::string dims_string(const std::vector<uint64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

// Reads one sub-element tag: its type and byte count; `small` when the data (at most 4
// bytes) is packed into the tag itself, which is then in `small_data`.
struct SubTag {
  uint32_t type = 0;
  uint32_t bytes = 0;
  bool small = false;
  unsigned char small_data[4] = {0, 0, 0, 0};
};

SubTag read_subtag(ElementSource& src, bool swap, const std::string& what) {
  unsigned char raw[8];
  src.read_exact(raw, 8, what);
  SubTag tag;
  const uint32_t first = get_u32(raw, swap);
  if ((first >> 16) != 0) {
    tag.small = true;
    tag.type = first & 0xffff;
    tag.bytes = first >> 16;
    std::memcpy(tag.small_data, raw + 4, 4);
  } else {
    tag.type = first;
    tag.bytes = get_u32(raw + 4, swap);
  }
  return tag;
}

uint64_t padded8(uint64_t n) { return (n + 7) / 8 * 8; }

// Checks one miMATRIX element's header and the extent of its real data; records a numeric
// array in `vars`. The matrix's content ends `content_end` bytes into `src`.
void check_matrix(ElementSource& src, bool swap, uint64_t content_end, uint64_t offset,
                  const std::string& path, std::map<std::string, MatVarInfo>& vars) {
  const std::string where = fmt::format("the variable at offset {}", offset);
  const SubTag flags_tag = read_subtag(src, swap, where);
  WRN_CHECK_FILE(!flags_tag.small && flags_tag.type == 6 && flags_tag.bytes == 8,
                 "{}: {} has no array-flags sub-element", path, where);
  unsigned char flags[8];
  src.read_exact(flags, 8, where);
  const uint32_t flag_word = get_u32(flags, swap);
  MatVarInfo info;
  info.class_id = flag_word & 0xff;
  const bool complex = (flag_word & 0x0800) != 0;
  const size_t class_size = mx_class_size(info.class_id);
  // Numeric arrays only (SVHN's X and y): matio reads a cell, struct or object array's
  // elements, a sparse array's index vectors and a function handle's or opaque object's
  // parts by counts that this walk does not bound (fuzzing: a function handle declaring
  // 2^42 elements made matio ask for 38 TB).
  WRN_CHECK_FILE(class_size > 0, "{}: {} is a {} array; this reader takes numeric arrays only (SVHN's X and y)", path,
                 where, mx_class_name(info.class_id));

  const SubTag dims_tag = read_subtag(src, swap, where);
  WRN_CHECK_FILE(!dims_tag.small && dims_tag.type == 5 && dims_tag.bytes % 4 == 0 &&
                     dims_tag.bytes >= 8 && dims_tag.bytes <= 4 * 32,
                 "{}: {} has a bad dimensions sub-element", path, where);
  std::vector<unsigned char> raw_dims(padded8(dims_tag.bytes));
  src.read_exact(raw_dims.data(), raw_dims.size(), where);
  uint64_t count = 1;
  for (uint32_t i = 0; i < dims_tag.bytes / 4; ++i) {
    info.dims.push_back(get_u32(raw_dims.data() + 4 * i, swap));
    count = saturating_mul(count, info.dims.back());
  }

  const SubTag name_tag = read_subtag(src, swap, where);
  // A small element packs at most 4 bytes into its tag (fuzzing found a name of 0xffff
  // "small" bytes read past the 4).
  WRN_CHECK_FILE(name_tag.type == 1 && name_tag.bytes <= (name_tag.small ? 4u : 4096u),
                 "{}: {} has a bad name sub-element", path, where);
  std::string name;
  if (name_tag.small) {
    name.assign(reinterpret_cast<const char*>(name_tag.small_data), name_tag.bytes);
  } else {
    name.resize(padded8(name_tag.bytes));
    src.read_exact(name.data(), name.size(), where);
    name.resize(name_tag.bytes);
  }
  const std::string var = fmt::format("variable '{}'", name);

  // Before anything is allocated: matio mallocs this many bytes for the variable.
  detail::check_declared_bytes(
      path, fmt::format("{} ({}{} {})", var, complex ? "complex " : "", mx_class_name(info.class_id),
                        dims_string(info.dims)),
      saturating_mul(count, complex ? 2 * class_size : class_size));
  if (complex) return;  // not an array this reader uses: matio judges it

  const SubTag real_tag = read_subtag(src, swap, var);
  const size_t stored_size = mi_type_size(real_tag.type);
  WRN_CHECK_FILE(stored_size > 0 && real_tag.bytes == saturating_mul(count, stored_size),
                 "{}: {} stores {} bytes of type {} for {} elements (dims {}): truncated or corrupt",
                 path, var, real_tag.bytes, real_tag.type, count, dims_string(info.dims));
  // The padding after the data is not required: the data itself must all be there.
  const uint64_t data_bytes = real_tag.small ? 0 : real_tag.bytes;
  WRN_CHECK_FILE(src.produced() + data_bytes <= content_end,
                 "{}: {}'s data ({} bytes) runs past the end of its element", path, var,
                 real_tag.bytes);
  src.skip(data_bytes, var + "'s data");
  vars.emplace(name, info);  // the first of a name wins, as in matio
}

// Walks every top-level data element of the MAT5 file (see the comment above ElementSource);
// returns the numeric arrays by name.
std::map<std::string, MatVarInfo> check_mat5_structure(const std::string& path) {
  std::error_code ec;
  const uint64_t file_size = fs::file_size(path, ec);
  WRN_CHECK_FILE(!ec, "{}: cannot stat ({})", path, ec.message());
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  WRN_CHECK_FILE(file != nullptr, "{}: cannot open ({})", path, std::strerror(errno));
  unsigned char header[128];
  WRN_CHECK_FILE(file_size >= 128 && std::fread(header, 1, 128, file.get()) == 128,
                 "{}: not a MATLAB .mat file (shorter than the 128-byte header)", path);
  bool swap = false;
  if (header[126] == 'M' && header[127] == 'I') {
    swap = true;
  } else {
    WRN_CHECK_FILE(header[126] == 'I' && header[127] == 'M',
                   "{}: not a MATLAB 5 .mat file (no endian indicator in the header)", path);
  }
  const uint32_t version = swap ? (header[124] << 8 | header[125]) : (header[125] << 8 | header[124]);
  WRN_CHECK_FILE(version == 0x0100,
                 "{}: not a MATLAB 5/7 .mat file (header version 0x{:04x}; v7.3 HDF5 files are "
                 "not read)",
                 path, version);

  std::map<std::string, MatVarInfo> vars;
  uint64_t pos = 128;
  while (pos < file_size) {
    WRN_CHECK_FILE(file_size - pos >= 8, "{}: truncated data element at offset {} ({} bytes left)",
                   path, pos, file_size - pos);
    unsigned char raw[8];
    WRN_CHECK_FILE(fseeko(file.get(), static_cast<off_t>(pos), SEEK_SET) == 0 &&
                       std::fread(raw, 1, 8, file.get()) == 8,
                   "{}: cannot read the data element at offset {}", path, pos);
    const uint32_t type = get_u32(raw, swap);
    const uint64_t bytes = get_u32(raw + 4, swap);
    const uint64_t end = pos + 8 + bytes;
    const std::string what = fmt::format("the data element at offset {}", pos);
    if (type == kMiMatrix || type == kMiCompressed) {
      const bool compressed = type == kMiCompressed;
      ElementSource src(file.get(), path, pos + 8, end, file_size, compressed);
      uint64_t length = bytes;
      uint32_t inner = kMiMatrix;
      if (compressed) {
        unsigned char tag[8];
        src.read_exact(tag, 8, what);
        inner = get_u32(tag, swap);
        length = get_u32(tag + 4, swap);
      }
      // Inflated, the matrix's content follows the 8-byte inner tag.
      if (inner == kMiMatrix) check_matrix(src, swap, compressed ? length + 8 : length, pos, path, vars);
      if (compressed) src.finish(length + 8, what);
    }
    // Checked after the header so that a small file declaring a huge array says so.
    WRN_CHECK_FILE(end <= file_size,
                   "{}: truncated: {} declares {} bytes, the file ends {} bytes after its tag",
                   path, what, bytes, file_size - pos - 8);
    pos = end;
  }
  return vars;
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
  WRN_CHECK_FILE(detail::is_regular_file(path), "{}: {}", path, detail::why_not_a_data_file(path));
  const auto vars = check_mat5_structure(path);
  const auto x_info = vars.find("X");
  if (x_info != vars.end() && x_info->second.dims.size() == 4) {
    detail::check_declared_images(path, x_info->second.dims[3]);
  }
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
