// The downloader against a loopback HTTP server serving small files in the real formats
// (a CIFAR-10 binary tar.gz, gzip'd IDX files). No network beyond 127.0.0.1.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "test_download_server.h"
#include "wrn/core/error.h"
#include "wrn/data/checksum.h"
#include "wrn/data/download.h"

namespace fs = std::filesystem;
using wrn::data::DownloadOptions;
using wrn::data::FileAction;
using wrn::data::RemoteFile;
using wrn::test::LoopbackServer;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string gzip(const std::string& data) {
  z_stream s{};
  if (deflateInit2(&s, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) throw std::runtime_error("deflate");
  std::string out(deflateBound(&s, data.size()) + 64, '\0');
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  s.avail_in = static_cast<uInt>(data.size());
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = static_cast<uInt>(out.size());
  if (deflate(&s, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("deflate");
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// IDX files as in MNIST: magic, dimensions (big-endian), then uint8 data.
std::string idx_images(uint32_t n) {
  std::string s = be32(0x00000803) + be32(n) + be32(28) + be32(28);
  uint32_t state = 12345;  // an LCG: pixels that do not compress to nothing
  for (uint32_t i = 0; i < n * 28 * 28; ++i) {
    state = state * 1664525u + 1013904223u;
    s.push_back(static_cast<char>(state >> 24));
  }
  return s;
}
std::string idx_labels(uint32_t n) {
  std::string s = be32(0x00000801) + be32(n);
  for (uint32_t i = 0; i < n; ++i) s.push_back(static_cast<char>(i % 10));
  return s;
}

// CIFAR-10 binary records: 1 label byte + 3072 pixel bytes each.
std::string cifar_records(int n, int seed) {
  std::string s;
  for (int r = 0; r < n; ++r) {
    s.push_back(static_cast<char>((r + seed) % 10));
    for (int i = 0; i < 3072; ++i) s.push_back(static_cast<char>((i + 31 * r + seed) % 251));
  }
  return s;
}

struct TarEntry {
  std::string name;
  std::string content;
  bool directory = false;
  std::string symlink_target;  // non-empty: a symbolic link
};
TarEntry file_entry(const std::string& name, const std::string& content) { return {name, content, false, ""}; }
TarEntry dir_entry(const std::string& name) { return {name, "", true, ""}; }
TarEntry link_entry(const std::string& name, const std::string& target) { return {name, "", false, target}; }

// A gzip'd pax tar archive made with libarchive, in memory.
std::string make_tar_gz(const std::vector<TarEntry>& entries) {
  std::vector<char> buffer(4 << 20);
  size_t used = 0;
  struct archive* a = archive_write_new();
  archive_write_add_filter_gzip(a);
  archive_write_set_format_pax_restricted(a);
  if (archive_write_open_memory(a, buffer.data(), buffer.size(), &used) != ARCHIVE_OK) {
    throw std::runtime_error("archive_write_open_memory");
  }
  for (const auto& e : entries) {
    struct archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.name.c_str());
    if (e.directory) {
      archive_entry_set_filetype(entry, AE_IFDIR);
      archive_entry_set_perm(entry, 0755);
    } else if (!e.symlink_target.empty()) {
      archive_entry_set_filetype(entry, AE_IFLNK);
      archive_entry_set_symlink(entry, e.symlink_target.c_str());
      archive_entry_set_perm(entry, 0777);
    } else {
      archive_entry_set_filetype(entry, AE_IFREG);
      archive_entry_set_perm(entry, 0644);
      archive_entry_set_size(entry, static_cast<la_int64_t>(e.content.size()));
    }
    archive_write_header(a, entry);
    if (!e.content.empty()) archive_write_data(a, e.content.data(), e.content.size());
    archive_entry_free(entry);
  }
  archive_write_close(a);
  archive_write_free(a);
  return std::string(buffer.data(), used);
}

class DownloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    root_ = fs::temp_directory_path() /
            ("wrn_download_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(root_);
    fs::create_directories(root_);
    dir_ = root_ / "data";
    ::unsetenv("WRN_DOWNLOAD_MIRROR");
    options_.retries = 0;
    options_.retry_delay_ms = 0;
    options_.connect_timeout_s = 2;
    options_.stall_timeout_s = 2;
    options_.on_message = [this](const std::string& line) { messages_.push_back(line); };
  }
  void TearDown() override {
    if (std::getenv("WRN_TEST_VERBOSE") != nullptr) {
      for (const auto& m : messages_) std::printf("  | %s\n", m.c_str());
    }
    ::unsetenv("WRN_DOWNLOAD_MIRROR");
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // A manifest entry served by `server` at "/<name>".
  RemoteFile remote(const LoopbackServer& server, const std::string& name, const std::string& body,
                    bool extract = false) {
    return RemoteFile{server.base_url() + "/" + name, name, wrn::data::md5_hex(body), extract};
  }

  std::string throws_file_error(const std::vector<RemoteFile>& files) {
    try {
      wrn::data::download_files(files, dir_.string(), options_);
    } catch (const wrn::FileError& e) {
      const std::string what = e.what();
      if (std::getenv("WRN_TEST_VERBOSE") != nullptr) std::printf("  ! %s\n", what.c_str());
      EXPECT_EQ(what.find('\n'), std::string::npos) << "one line: " << what;
      return what;
    }
    ADD_FAILURE() << "expected wrn::FileError";
    return "";
  }

  fs::path root_;
  fs::path dir_;
  DownloadOptions options_;
  std::vector<std::string> messages_;
};

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// ----------------------------------------------------------------------------------------
// Manifests of the named data sets (structure only: nothing is fetched).

TEST(DownloadManifest, NamedDataSetsPointAtThePublishers) {
  const std::vector<std::string> expected = {"cifar10", "cifar100", "svhn", "fashion-mnist", "mnist"};
  EXPECT_EQ(wrn::data::downloadable_datasets(), expected);
  const std::regex md5_re("^[0-9a-f]{32}$");
  std::set<std::string> all_md5;
  for (const auto& name : expected) {
    const auto m = wrn::data::dataset_manifest(name);
    EXPECT_EQ(m.name, name);
    ASSERT_FALSE(m.files.empty()) << name;
    for (const auto& f : m.files) {
      EXPECT_TRUE(std::regex_match(f.md5, md5_re)) << name << " " << f.filename;
      EXPECT_TRUE(all_md5.insert(f.md5).second) << "duplicate MD5 " << f.md5;
      // The URL ends with the file name, so a mirror serving the same names works.
      ASSERT_GE(f.url.size(), f.filename.size());
      EXPECT_EQ(f.url.substr(f.url.size() - f.filename.size()), f.filename) << f.url;
    }
  }
  const auto c10 = wrn::data::dataset_manifest("cifar10").files;
  ASSERT_EQ(c10.size(), 1u);
  EXPECT_EQ(c10[0].url, "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz");
  EXPECT_EQ(c10[0].md5, "c32a1d4ab5d03f1284b67883e8d87530");
  EXPECT_TRUE(c10[0].extract);
  const auto c100 = wrn::data::dataset_manifest("cifar100").files;
  ASSERT_EQ(c100.size(), 1u);
  EXPECT_EQ(c100[0].url, "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz");
  EXPECT_EQ(c100[0].md5, "03b5dce01913d631647c71ecec9e9cb8");
  EXPECT_TRUE(c100[0].extract);

  const auto svhn = wrn::data::dataset_manifest("svhn").files;
  ASSERT_EQ(svhn.size(), 3u);
  for (const auto& f : svhn) {
    EXPECT_EQ(f.url, "http://ufldl.stanford.edu/housenumbers/" + f.filename);
    EXPECT_FALSE(f.extract);
  }
  EXPECT_EQ(svhn[0].filename, "train_32x32.mat");
  EXPECT_EQ(svhn[1].filename, "test_32x32.mat");
  EXPECT_EQ(svhn[2].filename, "extra_32x32.mat");

  const std::vector<std::string> idx_names = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
  for (const auto& [name, base] : std::vector<std::pair<std::string, std::string>>{
           {"fashion-mnist", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"},
           {"mnist", "https://ossci-datasets.s3.amazonaws.com/mnist/"}}) {
    const auto files = wrn::data::dataset_manifest(name).files;
    ASSERT_EQ(files.size(), 4u) << name;
    for (size_t i = 0; i < files.size(); ++i) {
      EXPECT_EQ(files[i].filename, idx_names[i]);
      EXPECT_EQ(files[i].url, base + idx_names[i]);
      EXPECT_FALSE(files[i].extract);  // the IDX readers read the .gz files
    }
  }
  EXPECT_EQ(wrn::data::dataset_manifest("mnist").files[0].md5, "f68b3c2dcbeaaa9fbdd348bbdeb94873");
  EXPECT_EQ(wrn::data::dataset_manifest("fashion-mnist").files[0].md5, "8d4fb7e6c68d591d4c3dfef9ec88bf0d");
}

TEST(DownloadManifest, UnknownNameSuggestsTheClosest) {
  try {
    wrn::data::dataset_manifest("cifar-10");
    FAIL() << "expected wrn::ConfigError";
  } catch (const wrn::ConfigError& e) {
    EXPECT_TRUE(contains(e.what(), "'cifar-10'")) << e.what();
    EXPECT_TRUE(contains(e.what(), "cifar10")) << e.what();
  }
}

TEST(DownloadManifest, MirrorOptionAndEnvironment) {
  const RemoteFile f{"https://example.org/a/b/file.gz", "file.gz", std::string(32, '0'), false};
  DownloadOptions options;
  ::unsetenv("WRN_DOWNLOAD_MIRROR");
  EXPECT_EQ(wrn::data::effective_url(f, options), f.url);
  ::setenv("WRN_DOWNLOAD_MIRROR", "http://127.0.0.1:9/m/", 1);
  EXPECT_EQ(wrn::data::effective_url(f, options), "http://127.0.0.1:9/m/file.gz");
  options.mirror = "file:///srv/data";  // the option wins over the environment
  EXPECT_EQ(wrn::data::effective_url(f, options), "file:///srv/data/file.gz");
  ::setenv("WRN_DOWNLOAD_MIRROR", "", 1);
  options.mirror.clear();
  EXPECT_EQ(wrn::data::effective_url(f, options), f.url);
  ::unsetenv("WRN_DOWNLOAD_MIRROR");
}

TEST_F(DownloadTest, BadManifestEntriesAreConfigErrors) {
  EXPECT_THROW(wrn::data::download_files({{"http://127.0.0.1:9/x", "x", "1234", false}}, dir_.string(), options_),
               wrn::ConfigError);
  EXPECT_THROW(wrn::data::download_files({{"http://127.0.0.1:9/x", "../x", std::string(32, 'a'), false}},
                                         dir_.string(), options_),
               wrn::ConfigError);
}

// ----------------------------------------------------------------------------------------
// Fetching.

TEST_F(DownloadTest, NamedDataSetFetchedFromMirrorGivenInEnvironment) {
  LoopbackServer server;
  ::setenv("WRN_DOWNLOAD_MIRROR", (server.base_url() + "/mirror/").c_str(), 1);
  options_.retries = 3;  // a 404 is not retried
  try {
    wrn::data::download_dataset("mnist", dir_.string(), options_);
    FAIL() << "expected wrn::FileError";
  } catch (const wrn::FileError& e) {
    EXPECT_TRUE(contains(e.what(), server.base_url() + "/mirror/train-images-idx3-ubyte.gz: HTTP 404 Not Found"))
        << e.what();
  }
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].path, "/mirror/train-images-idx3-ubyte.gz");
  EXPECT_FALSE(fs::exists(dir_ / "train-images-idx3-ubyte.gz"));
  EXPECT_FALSE(fs::exists(dir_ / "train-images-idx3-ubyte.gz.part"));
}

TEST_F(DownloadTest, FreshDownloadExtractsThenLaterRunsAreNoOps) {
  const std::string batch1 = cifar_records(3, 1);
  const std::string test_batch = cifar_records(2, 5);
  const std::string tgz = make_tar_gz({dir_entry("cifar-10-batches-bin"),
                                       file_entry("cifar-10-batches-bin/data_batch_1.bin", batch1),
                                       file_entry("cifar-10-batches-bin/test_batch.bin", test_batch),
                                       file_entry("./cifar-10-batches-bin/batches.meta.txt", "airplane\nautomobile\n")});
  const std::string images = gzip(idx_images(4));
  const std::string labels = gzip(idx_labels(4));
  LoopbackServer server;
  server.serve("/cifar-10-binary.tar.gz", tgz);
  server.serve("/train-images-idx3-ubyte.gz", images);
  server.serve("/train-labels-idx1-ubyte.gz", labels);
  const std::vector<RemoteFile> files = {remote(server, "cifar-10-binary.tar.gz", tgz, true),
                                         remote(server, "train-images-idx3-ubyte.gz", images),
                                         remote(server, "train-labels-idx1-ubyte.gz", labels)};
  std::vector<wrn::data::DownloadProgress> progress;
  options_.on_progress = [&](const wrn::data::DownloadProgress& p) { progress.push_back(p); };

  auto report = wrn::data::download_files(files, dir_.string(), options_);
  ASSERT_EQ(report.files.size(), 3u);
  EXPECT_EQ(server.request_count(), 3);
  for (const auto& f : report.files) {
    EXPECT_EQ(f.action, FileAction::kDownloaded) << f.filename;
    EXPECT_EQ(f.attempts, 1);
    EXPECT_FALSE(fs::exists(f.path + ".part"));
  }
  EXPECT_TRUE(report.files[0].extracted);
  EXPECT_FALSE(report.files[1].extracted);
  EXPECT_EQ(report.files[0].bytes_fetched, static_cast<int64_t>(tgz.size()));
  EXPECT_EQ(slurp(dir_ / "cifar-10-binary.tar.gz"), tgz);
  EXPECT_EQ(slurp(dir_ / "cifar-10-batches-bin" / "data_batch_1.bin"), batch1);
  EXPECT_EQ(slurp(dir_ / "cifar-10-batches-bin" / "test_batch.bin"), test_batch);
  EXPECT_EQ(slurp(dir_ / "cifar-10-batches-bin" / "batches.meta.txt"), "airplane\nautomobile\n");
  EXPECT_EQ(slurp(dir_ / "train-images-idx3-ubyte.gz"), images);  // kept compressed for the IDX reader
  EXPECT_EQ(slurp(dir_ / "train-labels-idx1-ubyte.gz"), labels);
  EXPECT_TRUE(fs::exists(dir_ / ".cifar-10-binary.tar.gz.extracted"));
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back().filename, "train-labels-idx1-ubyte.gz");
  EXPECT_EQ(progress.back().received, static_cast<int64_t>(labels.size()));
  EXPECT_EQ(progress.back().total, static_cast<int64_t>(labels.size()));

  // Second run: everything verified locally, not a single request.
  report = wrn::data::download_files(files, dir_.string(), options_);
  EXPECT_EQ(server.request_count(), 3);
  for (const auto& f : report.files) {
    EXPECT_EQ(f.action, FileAction::kAlreadyPresent) << f.filename;
    EXPECT_FALSE(f.extracted);
    EXPECT_EQ(f.attempts, 0);
  }

  // An unpacked file went missing: unpack again from the verified archive, offline.
  fs::remove(dir_ / "cifar-10-batches-bin" / "data_batch_1.bin");
  report = wrn::data::download_files(files, dir_.string(), options_);
  EXPECT_EQ(server.request_count(), 3);
  EXPECT_EQ(report.files[0].action, FileAction::kAlreadyPresent);
  EXPECT_TRUE(report.files[0].extracted);
  EXPECT_EQ(slurp(dir_ / "cifar-10-batches-bin" / "data_batch_1.bin"), batch1);

  // The archive was deleted to save space: its unpacked content still counts.
  fs::remove(dir_ / "cifar-10-binary.tar.gz");
  report = wrn::data::download_files(files, dir_.string(), options_);
  EXPECT_EQ(server.request_count(), 3);
  EXPECT_EQ(report.files[0].action, FileAction::kAlreadyPresent);
  EXPECT_FALSE(report.files[0].extracted);

  // A truncated unpacked file is noticed (the marker records sizes): fetch and unpack again.
  spit(dir_ / "cifar-10-batches-bin" / "test_batch.bin", "short");
  report = wrn::data::download_files(files, dir_.string(), options_);
  EXPECT_EQ(server.request_count(), 4);
  EXPECT_EQ(report.files[0].action, FileAction::kDownloaded);
  EXPECT_TRUE(report.files[0].extracted);
  EXPECT_EQ(slurp(dir_ / "cifar-10-batches-bin" / "test_batch.bin"), test_batch);
}

TEST_F(DownloadTest, DroppedConnectionIsResumedWithARangeRequest) {
  const std::string body = gzip(idx_images(50));
  ASSERT_GT(body.size(), 1000u);
  const size_t half = body.size() / 2;
  LoopbackServer server;
  server.serve("/t10k-images-idx3-ubyte.gz", body);
  server.drop_after("/t10k-images-idx3-ubyte.gz", half);
  options_.retries = 2;
  const auto report =
      wrn::data::download_files({remote(server, "t10k-images-idx3-ubyte.gz", body)}, dir_.string(), options_);
  ASSERT_EQ(report.files.size(), 1u);
  EXPECT_EQ(report.files[0].action, FileAction::kResumed);
  EXPECT_EQ(report.files[0].attempts, 2);
  EXPECT_EQ(report.files[0].bytes_fetched, static_cast<int64_t>(body.size()));
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].range, "");
  EXPECT_EQ(requests[1].range, "bytes=" + std::to_string(half) + "-");
  EXPECT_EQ(slurp(dir_ / "t10k-images-idx3-ubyte.gz"), body);
  EXPECT_FALSE(fs::exists(dir_ / "t10k-images-idx3-ubyte.gz.part"));
  const auto said = [&](const std::string& text) {
    return std::any_of(messages_.begin(), messages_.end(), [&](const std::string& m) { return contains(m, text); });
  };
  EXPECT_TRUE(said("retrying")) << testing::PrintToString(messages_);
  EXPECT_TRUE(said("resuming from byte " + std::to_string(half))) << testing::PrintToString(messages_);
  EXPECT_TRUE(said("MD5 verified")) << testing::PrintToString(messages_);
}

TEST_F(DownloadTest, InterruptedRunLeavesAPartThatTheNextRunResumes) {
  const std::string body = gzip(idx_labels(3000));
  const size_t cut = body.size() / 3;
  LoopbackServer server;
  server.serve("/t10k-labels-idx1-ubyte.gz", body);
  server.drop_after("/t10k-labels-idx1-ubyte.gz", cut);
  const std::vector<RemoteFile> files = {remote(server, "t10k-labels-idx1-ubyte.gz", body)};
  const std::string what = throws_file_error(files);  // retries = 0
  EXPECT_TRUE(contains(what, server.base_url() + "/t10k-labels-idx1-ubyte.gz")) << what;
  EXPECT_TRUE(contains(what, "t10k-labels-idx1-ubyte.gz.part is kept")) << what;
  EXPECT_EQ(fs::file_size(dir_ / "t10k-labels-idx1-ubyte.gz.part"), cut);
  EXPECT_FALSE(fs::exists(dir_ / "t10k-labels-idx1-ubyte.gz"));

  const auto report = wrn::data::download_files(files, dir_.string(), options_);
  EXPECT_EQ(report.files[0].action, FileAction::kResumed);
  EXPECT_EQ(report.files[0].bytes_fetched, static_cast<int64_t>(body.size() - cut));
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].range, "bytes=" + std::to_string(cut) + "-");
  EXPECT_EQ(slurp(dir_ / "t10k-labels-idx1-ubyte.gz"), body);
  EXPECT_FALSE(fs::exists(dir_ / "t10k-labels-idx1-ubyte.gz.part"));
}

TEST_F(DownloadTest, ServerIgnoringTheRangeRestartsTheFile) {
  const std::string body = gzip(idx_labels(500));
  LoopbackServer server;
  server.serve("/labels.gz", body);
  server.ignore_range("/labels.gz");
  fs::create_directories(dir_);
  spit(dir_ / "labels.gz.part", std::string(40, 'x'));  // junk from an earlier run
  const auto report = wrn::data::download_files({remote(server, "labels.gz", body)}, dir_.string(), options_);
  EXPECT_EQ(report.files[0].action, FileAction::kDownloaded);
  EXPECT_EQ(server.requests().at(0).range, "bytes=40-");
  EXPECT_EQ(slurp(dir_ / "labels.gz"), body);
}

TEST_F(DownloadTest, PartLongerThanTheFileIsRestarted) {
  const std::string body = gzip(idx_labels(100));
  LoopbackServer server;
  server.serve("/labels.gz", body);
  fs::create_directories(dir_);
  spit(dir_ / "labels.gz.part", std::string(body.size() + 10, 'x'));  // the server answers 416
  const auto report = wrn::data::download_files({remote(server, "labels.gz", body)}, dir_.string(), options_);
  EXPECT_EQ(report.files[0].action, FileAction::kDownloaded);
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].range, "bytes=" + std::to_string(body.size() + 10) + "-");
  EXPECT_EQ(requests[1].range, "");
  EXPECT_EQ(slurp(dir_ / "labels.gz"), body);
}

TEST_F(DownloadTest, CompletePartFromAnInterruptedRenameIsAccepted) {
  const std::string body = gzip(idx_labels(100));
  LoopbackServer server;
  server.serve("/labels.gz", body);
  fs::create_directories(dir_);
  spit(dir_ / "labels.gz.part", body);  // the server answers 416; the .part verifies
  const auto report = wrn::data::download_files({remote(server, "labels.gz", body)}, dir_.string(), options_);
  EXPECT_EQ(report.files[0].action, FileAction::kResumed);
  EXPECT_EQ(server.request_count(), 1);
  EXPECT_EQ(slurp(dir_ / "labels.gz"), body);
}

TEST_F(DownloadTest, CorruptedFileIsRejectedAndDeleted) {
  const std::string good = gzip(idx_images(2));
  std::string bad = good;
  bad[bad.size() / 2] ^= 0x5a;
  LoopbackServer server;
  server.serve("/train-images-idx3-ubyte.gz", bad);
  const RemoteFile file = remote(server, "train-images-idx3-ubyte.gz", good);
  const std::string what = throws_file_error({file});
  EXPECT_TRUE(contains(what, (dir_ / "train-images-idx3-ubyte.gz").string())) << what;
  EXPECT_TRUE(contains(what, "expected " + wrn::data::md5_hex(good))) << what;
  EXPECT_TRUE(contains(what, "got " + wrn::data::md5_hex(bad))) << what;
  EXPECT_FALSE(fs::exists(dir_ / "train-images-idx3-ubyte.gz"));
  EXPECT_FALSE(fs::exists(dir_ / "train-images-idx3-ubyte.gz.part"));
}

TEST_F(DownloadTest, CorruptedLocalFileIsFetchedAgain) {
  const std::string body = gzip(idx_labels(10));
  LoopbackServer server;
  server.serve("/labels.gz", body);
  fs::create_directories(dir_);
  spit(dir_ / "labels.gz", "not the right content");
  const auto report = wrn::data::download_files({remote(server, "labels.gz", body)}, dir_.string(), options_);
  EXPECT_EQ(report.files[0].action, FileAction::kDownloaded);
  EXPECT_EQ(slurp(dir_ / "labels.gz"), body);
}

TEST_F(DownloadTest, NotFoundIsAClearErrorAndNotRetried) {
  LoopbackServer server;
  options_.retries = 3;
  const RemoteFile file{server.base_url() + "/missing.bin", "missing.bin", std::string(32, 'a'), false};
  const std::string what = throws_file_error({file});
  EXPECT_TRUE(contains(what, server.base_url() + "/missing.bin: HTTP 404 Not Found")) << what;
  EXPECT_EQ(server.request_count(), 1);
  EXPECT_FALSE(fs::exists(dir_ / "missing.bin"));
  EXPECT_FALSE(fs::exists(dir_ / "missing.bin.part"));
}

TEST_F(DownloadTest, ServerErrorsAreRetried) {
  const std::string body = gzip(idx_labels(10));
  LoopbackServer server;
  server.serve("/labels.gz", body);
  server.fail_with("/labels.gz", 503, 2);
  options_.retries = 2;
  const auto report = wrn::data::download_files({remote(server, "labels.gz", body)}, dir_.string(), options_);
  EXPECT_EQ(report.files[0].attempts, 3);
  EXPECT_EQ(server.request_count(), 3);
  EXPECT_EQ(slurp(dir_ / "labels.gz"), body);

  // Out of retries: the last status is reported.
  server.fail_with("/x.gz", 500, 5);
  options_.retries = 1;
  const std::string what = throws_file_error({remote(server, "x.gz", body)});
  EXPECT_TRUE(contains(what, "/x.gz: HTTP 500 Internal Server Error (after 2 attempts)")) << what;
}

TEST_F(DownloadTest, ConnectionRefusedNamesTheUrl) {
  int port = 0;
  {
    LoopbackServer server;  // take a free port, then close it
    port = std::stoi(server.base_url().substr(server.base_url().rfind(':') + 1));
  }
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/gone.bin";
  const std::string what = throws_file_error({{url, "gone.bin", std::string(32, 'b'), false}});
  EXPECT_TRUE(contains(what, url + ": network error")) << what;
}

TEST_F(DownloadTest, FileMirrorWorks) {
  const std::string body = gzip(idx_labels(20));
  const fs::path mirror = root_ / "mirror";
  fs::create_directories(mirror);
  spit(mirror / "labels.gz", body);
  options_.mirror = "file://" + mirror.string();
  const RemoteFile file{"https://unreachable.invalid/labels.gz", "labels.gz", wrn::data::md5_hex(body), false};
  auto report = wrn::data::download_files({file}, dir_.string(), options_);
  EXPECT_EQ(report.files[0].action, FileAction::kDownloaded);
  EXPECT_EQ(slurp(dir_ / "labels.gz"), body);

  // Resuming from a local mirror uses the range too.
  fs::remove(dir_ / "labels.gz");
  spit(dir_ / "labels.gz.part", body.substr(0, 7));
  report = wrn::data::download_files({file}, dir_.string(), options_);
  EXPECT_EQ(report.files[0].action, FileAction::kResumed);
  EXPECT_EQ(slurp(dir_ / "labels.gz"), body);
}

// ----------------------------------------------------------------------------------------
// Unpacking safely.

TEST_F(DownloadTest, ArchiveEscapingTheDirectoryIsRefused) {
  const std::string tgz = make_tar_gz({file_entry("ok.bin", "fine"), file_entry("../evil.bin", "escaped")});
  LoopbackServer server;
  server.serve("/evil.tar.gz", tgz);
  const std::string what = throws_file_error({remote(server, "evil.tar.gz", tgz, true)});
  EXPECT_TRUE(contains(what, "'../evil.bin'")) << what;
  EXPECT_TRUE(contains(what, "evil.tar.gz")) << what;
  EXPECT_FALSE(fs::exists(root_ / "evil.bin"));
  EXPECT_FALSE(fs::exists(dir_ / "ok.bin"));  // headers are checked before anything is written
  EXPECT_FALSE(fs::exists(dir_ / ".evil.tar.gz.extracted"));  // the next run tries again
}

TEST_F(DownloadTest, AbsolutePathsAndLinksInArchivesAreRefused) {
  fs::create_directories(dir_);
  const fs::path absolute = root_ / "abs.bin";
  spit(dir_ / "a.tar.gz", make_tar_gz({file_entry(absolute.string(), "x")}));
  spit(dir_ / "b.tar.gz", make_tar_gz({link_entry("link", "/etc/passwd")}));
  try {
    wrn::data::extract_archive((dir_ / "a.tar.gz").string(), (dir_ / "out").string());
    ADD_FAILURE() << "expected wrn::FileError";
  } catch (const wrn::FileError& e) {
    EXPECT_TRUE(contains(e.what(), "absolute path")) << e.what();
  }
  EXPECT_FALSE(fs::exists(absolute));
  try {
    wrn::data::extract_archive((dir_ / "b.tar.gz").string(), (dir_ / "out").string());
    ADD_FAILURE() << "expected wrn::FileError";
  } catch (const wrn::FileError& e) {
    EXPECT_TRUE(contains(e.what(), "'link'")) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir_ / "out" / "link"));
  spit(dir_ / "c.tar.gz", "this is not an archive at all");
  EXPECT_THROW(wrn::data::extract_archive((dir_ / "c.tar.gz").string(), (dir_ / "out").string()), wrn::FileError);
}

}  // namespace
