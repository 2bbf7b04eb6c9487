#include "data_test_util.h"

#include <png.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <jpeglib.h>
#include <sstream>

namespace wrn::data::testing {

namespace fs = std::filesystem;

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  path_ = (fs::temp_directory_path() /
           ("wrn_data_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++)))
              .string();
  fs::remove_all(path_);
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string TempDir::file(const std::string& name) const {
  const fs::path p = fs::path(path_) / name;
  fs::create_directories(p.parent_path());
  return p.string();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

void write_gzip(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), int(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void truncate_file(const std::string& path, size_t keep_bytes) {
  std::string bytes = read_all(path);
  ASSERT_LT(keep_bytes, bytes.size());
  write_bytes(path, bytes.substr(0, keep_bytes));
}

std::string be32(uint32_t v) {
  std::string s(4, '\0');
  s[0] = char(v >> 24);
  s[1] = char(v >> 16);
  s[2] = char(v >> 8);
  s[3] = char(v);
  return s;
}

std::string idx_images(const torch::Tensor& images) {
  auto x = images.contiguous();
  std::string s = be32(0x803) + be32(uint32_t(x.size(0))) + be32(uint32_t(x.size(1))) +
                  be32(uint32_t(x.size(2)));
  if (x.numel() > 0) s.append(reinterpret_cast<const char*>(x.data_ptr<uint8_t>()), size_t(x.numel()));
  return s;
}

std::string idx_labels(const torch::Tensor& labels) {
  auto y = labels.contiguous();
  std::string s = be32(0x801) + be32(uint32_t(y.size(0)));
  if (y.numel() > 0) s.append(reinterpret_cast<const char*>(y.data_ptr<uint8_t>()), size_t(y.numel()));
  return s;
}

void write_png(const std::string& path, const torch::Tensor& chw) {
  auto hwc = chw.permute({1, 2, 0}).contiguous();
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = uint32_t(chw.size(2));
  image.height = uint32_t(chw.size(1));
  image.format = chw.size(0) == 4 ? PNG_FORMAT_RGBA : chw.size(0) == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  ASSERT_TRUE(png_image_write_to_file(&image, path.c_str(), 0, hwc.data_ptr<uint8_t>(), 0, nullptr))
      << image.message;
}

void write_jpeg(const std::string& path, const torch::Tensor& chw, int quality) {
  JpegWriteOptions o;
  o.quality = quality;
  write_jpeg(path, chw, o);
}

void write_jpeg(const std::string& path, const torch::Tensor& chw, const JpegWriteOptions& options) {
  auto hwc = chw.permute({1, 2, 0}).contiguous();
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  jpeg_compress_struct info;
  jpeg_error_mgr err;
  info.err = jpeg_std_error(&err);
  jpeg_create_compress(&info);
  jpeg_stdio_dest(&info, f);
  const int channels = int(chw.size(0));
  info.image_width = JDIMENSION(chw.size(2));
  info.image_height = JDIMENSION(chw.size(1));
  info.input_components = channels;
  info.in_color_space = channels == 4 ? JCS_CMYK : channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(&info);
  if (channels == 4) jpeg_set_colorspace(&info, options.ycck ? JCS_YCCK : JCS_CMYK);
  jpeg_set_quality(&info, options.quality, TRUE);
  if (options.progressive) jpeg_simple_progression(&info);
  if (options.no_subsampling)
    for (int i = 0; i < info.num_components; ++i) info.comp_info[i].h_samp_factor = info.comp_info[i].v_samp_factor = 1;
  jpeg_start_compress(&info, TRUE);
  const size_t stride = size_t(chw.size(2)) * size_t(channels);
  while (info.next_scanline < info.image_height) {
    JSAMPROW row = hwc.data_ptr<uint8_t>() + info.next_scanline * stride;
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  std::fclose(f);
}

void expect_file_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "expected wrn::FileError, nothing was thrown";
  } catch (const wrn::FileError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << "not one line: " << message;
    for (const auto& part : parts)
      EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected wrn::FileError, got: " << e.what();
  }
}

}  // namespace wrn::data::testing
