// MNIST-family IDX reader.
#include <torch/types.h>

#include <cstring>
#include <vector>

#include "wrn/core/error.h"
#include "wrn/data/file_bytes.h"
#include "wrn/data/readers.h"

namespace wrn::data {

namespace {

constexpr uint32_t kImagesMagic = 0x00000803;  // unsigned byte, 3 dimensions
constexpr uint32_t kLabelsMagic = 0x00000801;  // unsigned byte, 1 dimension
constexpr uint32_t kMaxSide = 1 << 16;

}  // namespace

const std::vector<std::string>& fashion_mnist_classes() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                                 "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};
  return names;
}

namespace {

// Reads a header of up to `want` bytes (fewer at the end of a short file).
std::string read_header(detail::ByteStream& in, size_t want) {
  std::string header(want, '\0');
  header.resize(in.read(header.data(), want));
  return header;
}

// The data after the header, exactly `expected` bytes, into `dst`; the stream must end there.
// Streaming into the final buffer bounds the memory of a .gz to what the header declares.
void read_payload(detail::ByteStream& in, void* dst, uint64_t expected, uint64_t header_size,
                  const std::string& what) {
  const size_t got = expected > 0 ? in.read(dst, expected) : 0;
  WRN_CHECK_FILE(got == expected, "{}: {} bytes, expected {} for {} (truncated or corrupt)", in.path(),
                 header_size + got, header_size + expected, what);
  WRN_CHECK_FILE(in.at_end(), "{}: more than the {} bytes expected for {} (corrupt, or not this IDX file)",
                 in.path(), header_size + expected, what);
}

}  // namespace

Dataset load_idx_pair(const std::string& images_path, const std::string& labels_path,
                      const std::string& name, const std::vector<std::string>& class_names) {
  detail::ByteStream images_in(images_path);
  const std::string images = read_header(images_in, 16);
  // The magic first (a wrong file says so), then the rest of the header.
  const uint32_t images_magic = images.size() >= 4 ? detail::read_be32(images, 0) : 0;
  WRN_CHECK_FILE(images.size() < 4 || images_magic == kImagesMagic,
                 "{}: not an IDX image file (magic 0x{:08x}, expected 0x{:08x})", images_path,
                 images_magic, kImagesMagic);
  WRN_CHECK_FILE(images.size() >= 16, "{}: truncated IDX file ({} bytes, the header alone is 16)",
                 images_path, images.size());
  const uint32_t n = detail::read_be32(images, 4);
  const uint32_t rows = detail::read_be32(images, 8);
  const uint32_t cols = detail::read_be32(images, 12);
  WRN_CHECK_FILE(rows > 0 && cols > 0 && rows <= kMaxSide && cols <= kMaxSide,
                 "{}: implausible image size {}x{} in the IDX header", images_path, rows, cols);
  // Checked before anything is allocated: n * rows * cols fits in 64 bits (each below 2^32,
  // rows * cols at most 2^32).
  detail::check_declared_images(images_path, n);
  const uint64_t data_bytes = uint64_t{n} * rows * cols;
  detail::check_declared_bytes(images_path, fmt::format("the IDX header ({} images of {}x{})", n, rows, cols),
                               data_bytes);

  Dataset set;
  set.name = name;
  set.class_names = class_names;
  set.images = torch::empty({int64_t{n}, 1, int64_t{rows}, int64_t{cols}}, torch::kUInt8);
  // No read into an empty tensor: data_ptr() of an empty tensor may be null.
  read_payload(images_in, data_bytes > 0 ? set.images.data_ptr<uint8_t>() : nullptr, data_bytes, 16,
               fmt::format("{} images of {}x{}", n, rows, cols));

  detail::ByteStream labels_in(labels_path);
  const std::string labels = read_header(labels_in, 8);
  const uint32_t labels_magic = labels.size() >= 4 ? detail::read_be32(labels, 0) : 0;
  WRN_CHECK_FILE(labels.size() < 4 || labels_magic == kLabelsMagic,
                 "{}: not an IDX label file (magic 0x{:08x}, expected 0x{:08x})", labels_path,
                 labels_magic, kLabelsMagic);
  WRN_CHECK_FILE(labels.size() >= 8, "{}: truncated IDX file ({} bytes, the header alone is 8)",
                 labels_path, labels.size());
  const uint32_t label_count = detail::read_be32(labels, 4);
  WRN_CHECK_FILE(label_count == n, "{}: {} labels, but {} has {} images", labels_path, label_count,
                 images_path, n);
  std::vector<unsigned char> in(n);
  read_payload(labels_in, in.data(), n, 8, fmt::format("{} labels", n));

  set.labels = torch::empty({int64_t{n}}, torch::kInt64);
  auto* out = set.labels.data_ptr<int64_t>();
  for (uint32_t i = 0; i < n; ++i) {
    WRN_CHECK_FILE(in[i] < class_names.size(), "{}: label {} of item {} is out of range [0, {})",
                   labels_path, int{in[i]}, i, class_names.size());
    out[i] = in[i];
  }
  return set;
}

Dataset load_mnist(const std::string& dir, const std::string& split, bool fashion) {
  const std::string name = fashion ? "fashion-mnist" : "mnist";
  WRN_CHECK(split == "train" || split == "test", "{}: unknown split '{}' (expected train or test)",
            name, split);
  const std::string prefix = split == "train" ? "train" : "t10k";
  const std::string images = detail::find_plain_or_gz(dir, prefix + "-images-idx3-ubyte");
  const std::string labels = detail::find_plain_or_gz(dir, prefix + "-labels-idx1-ubyte");
  static const std::vector<std::string> digits = {"0", "1", "2", "3", "4",
                                                  "5", "6", "7", "8", "9"};
  return load_idx_pair(images, labels, name, fashion ? fashion_mnist_classes() : digits);
}

}  // namespace wrn::data
