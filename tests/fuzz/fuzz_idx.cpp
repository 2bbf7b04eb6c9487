// IDX (MNIST / Fashion-MNIST), plain or gzip: the input is an images file and a labels file
// (split_pair); each part that starts with gzip's magic is read as a .gz file.
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wrn;
  fuzz::set_small_read_limits();
  const auto [images, labels] = fuzz::split_pair(data, size);
  const auto name = [](const std::string& part, const char* base) {
    const bool gz = part.size() >= 2 && uint8_t(part[0]) == 0x1f && uint8_t(part[1]) == 0x8b;
    return fuzz::scratch_file(std::string(base) + (gz ? ".gz" : ""));
  };
  const std::string images_path = name(images, "t10k-images-idx3-ubyte");
  const std::string labels_path = name(labels, "t10k-labels-idx1-ubyte");
  fuzz::write_file(images_path, images);
  fuzz::write_file(labels_path, labels);
  fuzz::expect_success_or_wrn_error([&] {
    const data::Dataset set = data::load_idx_pair(images_path, labels_path, "fashion-mnist",
                                                  data::fashion_mnist_classes());
    if (set.images.size(0) != set.labels.size(0)) std::abort();
  });
  std::filesystem::remove(images_path);
  std::filesystem::remove(labels_path);
  return 0;
}
