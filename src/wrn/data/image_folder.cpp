// Image-folder reader: <root>/<class>/<image files>, decoded on a thread pool and resized
// into one uint8 [N, C, H, W] tensor.
#include <torch/types.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>

#include "wrn/core/error.h"
#include "wrn/core/threads.h"
#include "wrn/data/augment.h"
#include "wrn/data/image_codec.h"
#include "wrn/data/image_list.h"
#include "wrn/data/readers.h"

namespace wrn::data {

namespace {

// Decodes images[begin, end) into `out` on `threads` threads. Decoding uses only libpng /
// libjpeg (no LibTorch), so the workers never start nested intra-op thread pools.
void decode_range(const std::vector<std::string>& paths, size_t begin, size_t end, int threads,
                  std::vector<DecodedImage>& out) {
  out.assign(end - begin, DecodedImage{});
  std::vector<std::exception_ptr> errors(end - begin);
  std::atomic<size_t> next{begin};
  auto work = [&] {
    for (size_t i = next++; i < end; i = next++) {
      try {
        out[i - begin] = read_image(paths[i]);
      } catch (...) {
        errors[i - begin] = std::current_exception();
      }
    }
  };
  const int n = std::max(1, std::min<int>(threads, static_cast<int>(end - begin)));
  std::vector<std::thread> pool;
  for (int t = 1; t < n; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  // The first failure by path order, so the message does not depend on thread timing.
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace

Dataset load_image_folder(const std::string& root, const ImageFolderOptions& options) {
  WRN_CHECK(options.height >= 0 && options.width >= 0 && (options.height > 0) == (options.width > 0),
            "image folder: height and width must both be set (> 0) or both 0, got {}x{}",
            options.height, options.width);
  WRN_CHECK(options.channels == 0 || options.channels == 1 || options.channels == 3,
            "image folder: channels must be 0 (auto), 1 or 3, got {}", options.channels);
  // Which files, in label order (image_list.h): no decoding yet.
  const ImageList list = list_image_folder(root, options.class_names);
  const std::vector<std::string>& paths = list.paths;
  const std::vector<std::string>& classes = list.class_names;

  const int threads = options.threads > 0 ? options.threads : hardware_threads();
  const auto n = static_cast<int64_t>(paths.size());
  const size_t chunk = static_cast<size_t>(std::max(64, 16 * threads));
  int64_t height = options.height, width = options.width;
  torch::Tensor images;  // [N, 3, H, W]; reduced to 1 channel at the end when all were grey
  bool all_grey = true;
  std::vector<DecodedImage> decoded;
  for (size_t begin = 0; begin < paths.size(); begin += chunk) {
    const size_t end = std::min(paths.size(), begin + chunk);
    decode_range(paths, begin, end, threads, decoded);
    if (!images.defined()) {
      if (height == 0) {
        height = decoded[0].height;
        width = decoded[0].width;
      }
      images = torch::empty({n, 3, height, width}, torch::kUInt8);
    }
    // Resizing runs here, on the calling thread, with LibTorch's own intra-op threads.
    for (size_t i = begin; i < end; ++i) {
      const DecodedImage& image = decoded[i - begin];
      all_grey = all_grey && image.channels == 1;
      auto chw = image_to_tensor(image, 3).unsqueeze(0);
      images[static_cast<int64_t>(i)].copy_(
          (options.keep_aspect ? resize_cover_crop(chw, height, width) : resize_batch(chw, height, width))[0]);
    }
  }
  int64_t channels = options.channels == 0 ? (all_grey ? 1 : 3) : options.channels;
  if (channels == 1) {
    // Grey stored as replicated RGB: any channel is the grey value; colour images get luma.
    images = all_grey ? images.narrow(1, 0, 1).contiguous() : convert_channels(images, 1);
  }
  Dataset set;
  set.name = "folder:" + root;
  set.images = images;
  set.labels = torch::tensor(list.labels, torch::kInt64);
  set.class_names = classes;
  return set;
}

}  // namespace wrn::data
