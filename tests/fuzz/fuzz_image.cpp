// PNG and JPEG (libpng, libjpeg-turbo): the header alone, the whole decode, and for JPEG the
// scaled and cropped decode the streaming loader uses.
#include "fuzz_target.h"
#include "wrn/data/image_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wrn;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  data::ImageInfo info;
  try {
    info = data::read_image_info(bytes, "input");
  } catch (const wrn::Error&) {
    fuzz::expect_success_or_wrn_error([&] { data::decode_image(bytes, "input"); });
    return 0;
  }
  fuzz::expect_success_or_wrn_error([&] {
    const data::DecodedImage image = data::decode_image(bytes, "input");
    // What the header said is what the decode gives.
    if (image.height != info.height || image.width != info.width || image.channels != info.channels ||
        image.pixels.size() != size_t(image.height * image.width * image.channels))
      std::abort();
  });
  if (info.jpeg) {
    data::DecodeOptions options;
    options.jpeg_scale_denom = 2;
    const int64_t h = (info.height + 1) / 2, w = (info.width + 1) / 2;
    options.region = {h / 2, w / 3, std::max<int64_t>(1, h / 2), std::max<int64_t>(1, w / 2)};
    fuzz::expect_success_or_wrn_error([&] {
      const data::DecodedImage image = data::decode_image(bytes, "input", options);
      if (image.height != options.region.height || image.width != options.region.width) std::abort();
    });
  }
  return 0;
}
