#include "wrn/data/download.h"

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"
#include "wrn/core/text.h"
#include "wrn/data/checksum.h"

namespace wrn::data {
namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------
// Manifests: the publishers' own addresses and the MD5 sums they (or torchvision) list.
// ---------------------------------------------------------------------------------------
namespace {

std::vector<DatasetManifest> all_manifests() {
  const std::string kriz = "https://www.cs.toronto.edu/~kriz/";
  const std::string svhn = "http://ufldl.stanford.edu/housenumbers/";
  const std::string fashion = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/";
  const std::string mnist = "https://ossci-datasets.s3.amazonaws.com/mnist/";
  auto file = [](const std::string& base, const std::string& name, const std::string& md5, bool extract = false) {
    return RemoteFile{base + name, name, md5, extract};
  };
  return {
      {"cifar10", {file(kriz, "cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530", true)}},
      {"cifar100", {file(kriz, "cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8", true)}},
      {"svhn",
       {file(svhn, "train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373"),
        file(svhn, "test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3"),
        file(svhn, "extra_32x32.mat", "a93ce644f1a588dc4d68dda5feec44a7")}},
      {"fashion-mnist",
       {file(fashion, "train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        file(fashion, "train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        file(fashion, "t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        file(fashion, "t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310")}},
      {"mnist",
       {file(mnist, "train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        file(mnist, "train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        file(mnist, "t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        file(mnist, "t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c")}},
  };
}

bool is_md5_hex(const std::string& s) {
  return s.size() == 32 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c) != 0; });
}

void message(const DownloadOptions& options, const std::string& line) {
  if (options.on_message) options.on_message(line);
}

}  // namespace

std::vector<std::string> downloadable_datasets() {
  std::vector<std::string> names;
  for (const auto& m : all_manifests()) names.push_back(m.name);
  return names;
}

DatasetManifest dataset_manifest(const std::string& name) {
  for (auto& m : all_manifests()) {
    if (m.name == name) return m;
  }
  const auto names = downloadable_datasets();
  throw ConfigError(fmt::format("unknown data set '{}' to download{}; expected one of: {}", name,
                                did_you_mean(name, names), join(names, ", ")));
}

std::string effective_url(const RemoteFile& file, const DownloadOptions& options) {
  std::string mirror = options.mirror;
  if (mirror.empty()) {
    const char* env = std::getenv("WRN_DOWNLOAD_MIRROR");
    if (env != nullptr) mirror = env;
  }
  if (mirror.empty()) return file.url;
  while (!mirror.empty() && mirror.back() == '/') mirror.pop_back();
  return mirror + "/" + file.filename;
}

// ---------------------------------------------------------------------------------------
// One HTTP(S)/file transfer into a .part file with libcurl.
// ---------------------------------------------------------------------------------------
namespace {

// A failed attempt; `transient` ones are retried (and resumed).
struct TransferError {
  std::string message;
  bool transient;
};

enum class TransferOutcome {
  kComplete,             // the body was received in full
  kRangeNotSatisfiable,  // HTTP 416: the .part already holds at least the whole file
};

struct Transfer {
  CURL* curl = nullptr;
  std::string part_path;
  std::string filename;
  const DownloadOptions* options = nullptr;
  int64_t offset = 0;          // bytes already in the .part (the range start), 0: no range
  bool decided = false;        // the response status has been looked at
  bool appended = false;       // the body continues the existing .part
  bool bad_status = false;     // the response is not a 200/206: its body is not saved
  bool range_mismatch = false; // a 206 starting elsewhere than requested
  bool write_failed = false;
  int write_errno = 0;
  int64_t content_range_start = -1;
  int64_t base = 0;            // bytes of the file before this body
  int64_t received = 0;        // body bytes received
  std::FILE* out = nullptr;
};

std::once_flag curl_init_once;

void init_curl() {
  std::call_once(curl_init_once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw Error("cannot initialise libcurl");
  });
}

bool starts_with_nocase(const std::string& s, const char* prefix) {
  const size_t n = std::strlen(prefix);
  if (s.size() < n) return false;
  for (size_t i = 0; i < n; ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  }
  return true;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::string line(data, size * count);
  if (starts_with_nocase(line, "HTTP/")) {
    t->content_range_start = -1;  // a new response (after a redirect) starts
  } else if (starts_with_nocase(line, "Content-Range:")) {
    // "Content-Range: bytes 100-199/200"
    const auto pos = line.find("bytes");
    if (pos != std::string::npos) {
      char* end = nullptr;
      const char* p = line.c_str() + pos + 5;
      const long long start = std::strtoll(p, &end, 10);
      if (end != p && *end == '-') t->content_range_start = start;
    }
  }
  return size * count;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  if (!t->decided) {
    t->decided = true;
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    // Status 0: a non-HTTP scheme (file://), which honours the range it was given.
    const bool partial = status == 206 || (status == 0 && t->offset > 0);
    if (status == 206 && t->content_range_start != t->offset) {
      t->range_mismatch = true;
      return 0;
    }
    if (!partial && status != 200 && status != 0) {
      t->bad_status = true;
      return 0;
    }
    t->appended = partial;
    t->base = partial ? t->offset : 0;  // a 200 answers with the whole file: start over
    t->out = std::fopen(t->part_path.c_str(), partial ? "ab" : "wb");
    if (t->out == nullptr) {
      t->write_failed = true;
      t->write_errno = errno;
      return 0;
    }
  }
  if (std::fwrite(data, 1, bytes, t->out) != bytes) {
    t->write_failed = true;
    t->write_errno = errno;
    return 0;
  }
  t->received += static_cast<int64_t>(bytes);
  if (t->options->on_progress) {
    curl_off_t length = -1;
    curl_easy_getinfo(t->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    DownloadProgress progress;
    progress.filename = t->filename;
    progress.received = t->base + t->received;
    progress.total = length >= 0 ? t->base + static_cast<int64_t>(length) : -1;
    t->options->on_progress(progress);
  }
  return bytes;
}

std::string http_reason(long status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 410: return "Gone";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
  }
}

bool transient_status(long status) { return status >= 500 || status == 408 || status == 429; }

bool transient_curl_error(CURLcode code) {
  switch (code) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_FILE_COULDNT_READ_FILE:
    case CURLE_REMOTE_FILE_NOT_FOUND:
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_LOGIN_DENIED:
      return false;
    default:
      return true;
  }
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

// Fetches `url` into `part_path`, continuing from `offset` bytes with a range request
// when offset > 0. Sets `appended` when the body continued the existing bytes.
TransferOutcome transfer(const std::string& url, const std::string& part_path, const std::string& filename,
                         int64_t offset, const DownloadOptions& options, bool& appended, int64_t& fetched) {
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) throw TransferError{"cannot create a libcurl handle", false};
  Transfer t;
  t.curl = curl.get();
  t.part_path = part_path;
  t.filename = filename;
  t.options = &options;
  t.offset = offset;
  char errbuf[CURL_ERROR_SIZE] = {0};
  const std::string range = std::to_string(offset) + "-";
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,file");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_USERAGENT, "wrn-download/0.1 (libcurl)");
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(options.connect_timeout_s));
  // A stalled transfer (under 1 byte/s for stall_timeout_s) is a timeout, not a hang.
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options.stall_timeout_s));
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  // Set the Range header directly rather than CURLOPT_RESUME_FROM: that one turns a
  // server's 200 (range ignored) into an error, where restarting the file is right.
  if (offset > 0) curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());

  const CURLcode rc = curl_easy_perform(c);
  fetched += t.received;
  if (t.out != nullptr) {
    const bool flushed = std::fflush(t.out) == 0 && ::fsync(fileno(t.out)) == 0;
    if (!flushed && !t.write_failed) {
      t.write_failed = true;
      t.write_errno = errno;
    }
    std::fclose(t.out);
  }
  appended = t.appended;
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);

  if (t.write_failed) {
    throw TransferError{fmt::format("{}: cannot write: {}", part_path, std::strerror(t.write_errno)), false};
  }
  if (t.range_mismatch) {
    // Not what was asked: drop the partial file and fetch it whole on the next attempt.
    std::remove(part_path.c_str());
    throw TransferError{fmt::format("{}: the server answered the range request for bytes {}- from byte {}", url,
                                    offset, t.content_range_start),
                        true};
  }
  const bool http = status != 0;
  if (t.bad_status || (rc == CURLE_OK && http && status != 200 && status != 206)) {
    if (status == 416 && offset > 0) return TransferOutcome::kRangeNotSatisfiable;
    const std::string reason = http_reason(status);
    throw TransferError{fmt::format("{}: HTTP {}{}", url, status, reason.empty() ? "" : " " + reason),
                        transient_status(status)};
  }
  if (rc == CURLE_BAD_DOWNLOAD_RESUME && offset > 0) return TransferOutcome::kRangeNotSatisfiable;  // file://
  if (rc != CURLE_OK) {
    const std::string detail = errbuf[0] != '\0' ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
    const char* kind = rc == CURLE_OPERATION_TIMEDOUT ? "timed out" : "network error";
    throw TransferError{fmt::format("{}: {}: {}", url, kind, detail), transient_curl_error(rc)};
  }
  if (!t.decided && offset == 0) {
    // An empty body: the file is empty. (With offset > 0 the .part is left for the MD5 check.)
    std::FILE* f = std::fopen(part_path.c_str(), "wb");
    if (f == nullptr) throw TransferError{fmt::format("{}: cannot write: {}", part_path, std::strerror(errno)), false};
    std::fclose(f);
  }
  return TransferOutcome::kComplete;
}

int64_t size_or_zero(const fs::path& p) {
  std::error_code ec;
  const auto size = fs::file_size(p, ec);
  return ec ? 0 : static_cast<int64_t>(size);
}

// Downloads one file into dir (see download.h for the rules) and reports what happened.
FileReport fetch_file(const RemoteFile& file, const std::string& md5, const fs::path& dir,
                      const DownloadOptions& options) {
  const fs::path final_path = dir / file.filename;
  const fs::path part_path = dir / (file.filename + ".part");
  FileReport report;
  report.filename = file.filename;
  report.path = final_path.string();

  if (fs::exists(final_path)) {
    const std::string actual = md5_file(final_path.string());
    if (actual == md5) {
      message(options, fmt::format("{}: already present, MD5 verified", file.filename));
      return report;
    }
    message(options, fmt::format("{}: present but its MD5 is {} (expected {}); fetching it again", file.filename,
                                 actual, md5));
  }

  const std::string url = effective_url(file, options);
  const int attempts_allowed = std::max(0, options.retries) + 1;
  bool restarted_after_416 = false;
  bool resumed = false;
  for (int attempt = 1;; ++attempt) {
    const int64_t offset = size_or_zero(part_path);
    if (offset > 0) {
      message(options, fmt::format("{}: resuming from byte {} ({})", file.filename, offset, url));
    } else {
      message(options, fmt::format("{}: fetching {}", file.filename, url));
    }
    report.attempts = attempt;
    try {
      bool appended = false;
      const auto outcome = transfer(url, part_path.string(), file.filename, offset, options, appended,
                                    report.bytes_fetched);
      if (outcome == TransferOutcome::kRangeNotSatisfiable) {
        // The .part holds at least the whole file: it is either complete (a run stopped
        // before renaming it) or junk. Restart once when it does not verify.
        if (md5_file(part_path.string()) == md5) {
          resumed = true;
          break;
        }
        WRN_CHECK_FILE(!restarted_after_416, "{}: HTTP 416 Range Not Satisfiable for a fresh download", url);
        restarted_after_416 = true;
        std::remove(part_path.string().c_str());
        message(options, fmt::format("{}: the partial file is longer than the file served; restarting",
                                     file.filename));
        --attempt;  // not a failure of the server
        continue;
      }
      resumed = resumed || appended;
      break;
    } catch (const TransferError& e) {
      const bool kept = size_or_zero(part_path) > 0;
      if (!e.transient || attempt >= attempts_allowed) {
        std::vector<std::string> notes;
        if (attempt > 1) notes.push_back(fmt::format("after {} attempts", attempt));
        if (kept) notes.push_back(fmt::format("the partial download {} is kept and the next run resumes it",
                                              part_path.string()));
        throw FileError(notes.empty() ? e.message : fmt::format("{} ({})", e.message, join(notes, "; ")));
      }
      const int delay_ms = std::max(0, options.retry_delay_ms) * attempt;
      message(options, fmt::format("{}; retrying in {:.1f} s (attempt {} of {})", e.message, delay_ms / 1000.0,
                                   attempt + 1, attempts_allowed));
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    }
  }

  const std::string actual = md5_file(part_path.string());
  if (actual != md5) {
    std::remove(part_path.string().c_str());
    throw FileError(fmt::format("{}: MD5 mismatch for the file downloaded from {}: expected {}, got {}; the "
                                "download was deleted",
                                final_path.string(), url, md5, actual));
  }
  std::error_code ec;
  fs::rename(part_path, final_path, ec);
  WRN_CHECK_FILE(!ec, "{}: cannot rename the verified download into place: {}", final_path.string(), ec.message());
  report.action = resumed ? FileAction::kResumed : FileAction::kDownloaded;
  message(options, fmt::format("{}: {} bytes, MD5 verified", file.filename, size_or_zero(final_path)));
  return report;
}

// ---------------------------------------------------------------------------------------
// Unpacking and its marker.
// ---------------------------------------------------------------------------------------

fs::path marker_path(const fs::path& dir, const std::string& archive_name) {
  return dir / ("." + archive_name + ".extracted");
}

// True when the marker records `md5` and every file it lists is present with its size.
bool marker_valid(const fs::path& marker, const std::string& md5, const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_regular_file(marker, ec)) return false;
  std::istringstream in(read_file(marker.string()));
  std::string line;
  if (!std::getline(in, line) || trim(line) != md5) return false;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto tab = line.find('\t');
    if (tab == std::string::npos) return false;
    const int64_t size = std::strtoll(line.substr(0, tab).c_str(), nullptr, 10);
    const fs::path p = dir / line.substr(tab + 1);
    if (!fs::is_regular_file(p, ec) || size_or_zero(p) != size) return false;
  }
  return true;
}

void write_marker(const fs::path& marker, const std::string& md5, const fs::path& dir,
                  const std::vector<std::string>& files) {
  std::string content = md5 + "\n";
  for (const auto& f : files) content += std::to_string(size_or_zero(dir / f)) + "\t" + f + "\n";
  write_file_atomically(marker.string(), content);
}

struct ArchiveDeleter {
  void operator()(struct archive* a) const { archive_read_free(a); }
};

std::string archive_message(struct archive* a) {
  const char* s = archive_error_string(a);
  return s != nullptr ? s : "unknown error";
}

// The entry's path relative to the destination, or "" for the destination itself.
// Throws for absolute paths and `..` components.
std::string safe_relative_path(const std::string& archive, const std::string& name) {
  WRN_CHECK_FILE(!name.empty() && name[0] != '/', "{}: refusing to unpack entry '{}': absolute path", archive, name);
  std::vector<std::string> parts;
  for (const auto& part : split(name, '/')) {
    WRN_CHECK_FILE(part != "..", "{}: refusing to unpack entry '{}': '..' in its path", archive, name);
    if (!part.empty() && part != ".") parts.push_back(part);
  }
  return join(parts, "/");
}

using ArchivePtr = std::unique_ptr<struct archive, ArchiveDeleter>;

ArchivePtr open_archive(const std::string& archive_path) {
  ArchivePtr a(archive_read_new());
  WRN_CHECK_FILE(a != nullptr, "{}: cannot create an archive reader", archive_path);
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  WRN_CHECK_FILE(archive_read_open_filename(a.get(), archive_path.c_str(), 1 << 16) == ARCHIVE_OK,
                 "{}: cannot open as a tar archive: {}", archive_path, archive_message(a.get()));
  return a;
}

// Checks one entry's path and type; returns its path relative to the destination.
std::string checked_entry(const std::string& archive_path, struct archive_entry* entry) {
  const char* raw_name = archive_entry_pathname(entry);
  const std::string name = raw_name != nullptr ? raw_name : "";
  const std::string rel = safe_relative_path(archive_path, name);
  const auto type = archive_entry_filetype(entry);
  WRN_CHECK_FILE(type == AE_IFDIR || (type == AE_IFREG && archive_entry_hardlink(entry) == nullptr && !rel.empty()),
                 "{}: refusing to unpack entry '{}': not a regular file or directory (links and devices are "
                 "not unpacked)",
                 archive_path, name);
  return rel;
}

}  // namespace

std::vector<std::string> extract_archive(const std::string& archive_path, const std::string& dir) {
  // First pass: headers only, so that a refused archive leaves nothing behind.
  {
    ArchivePtr a = open_archive(archive_path);
    for (;;) {
      struct archive_entry* entry = nullptr;
      const int r = archive_read_next_header(a.get(), &entry);
      if (r == ARCHIVE_EOF) break;
      WRN_CHECK_FILE(r >= ARCHIVE_WARN, "{}: corrupt archive: {}", archive_path, archive_message(a.get()));
      checked_entry(archive_path, entry);
    }
  }
  ArchivePtr a = open_archive(archive_path);
  std::error_code ec;
  fs::create_directories(dir, ec);
  WRN_CHECK_FILE(!ec, "{}: cannot create directory: {}", dir, ec.message());

  std::vector<std::string> written;
  std::vector<char> buffer(1 << 16);
  for (;;) {
    struct archive_entry* entry = nullptr;
    const int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    WRN_CHECK_FILE(r >= ARCHIVE_WARN, "{}: corrupt archive: {}", archive_path, archive_message(a.get()));
    const std::string rel = checked_entry(archive_path, entry);
    const std::string name = archive_entry_pathname(entry);
    if (archive_entry_filetype(entry) == AE_IFDIR) {
      if (!rel.empty()) fs::create_directories(fs::path(dir) / rel, ec);
      WRN_CHECK_FILE(!ec, "{}: cannot create directory for entry '{}': {}", archive_path, name, ec.message());
      continue;
    }
    const fs::path target = fs::path(dir) / rel;
    fs::create_directories(target.parent_path(), ec);
    WRN_CHECK_FILE(!ec, "{}: cannot create directory for entry '{}': {}", archive_path, name, ec.message());
    const std::string tmp = target.string() + ".part";
    std::FILE* out = std::fopen(tmp.c_str(), "wb");
    WRN_CHECK_FILE(out != nullptr, "{}: cannot write: {}", tmp, std::strerror(errno));
    bool ok = true;
    std::string error;
    for (;;) {
      const la_ssize_t n = archive_read_data(a.get(), buffer.data(), buffer.size());
      if (n == 0) break;
      if (n < 0) {
        ok = false;
        error = fmt::format("{}: corrupt data in entry '{}': {}", archive_path, name, archive_message(a.get()));
        break;
      }
      if (std::fwrite(buffer.data(), 1, static_cast<size_t>(n), out) != static_cast<size_t>(n)) {
        ok = false;
        error = fmt::format("{}: cannot write: {}", tmp, std::strerror(errno));
        break;
      }
    }
    if (std::fclose(out) != 0 && ok) {
      ok = false;
      error = fmt::format("{}: cannot write: {}", tmp, std::strerror(errno));
    }
    if (!ok) {
      std::remove(tmp.c_str());
      throw FileError(error);
    }
    fs::rename(tmp, target, ec);
    WRN_CHECK_FILE(!ec, "{}: cannot rename into place: {}", target.string(), ec.message());
    written.push_back(rel);
  }
  return written;
}

DownloadReport download_files(const std::vector<RemoteFile>& files, const std::string& dir,
                              const DownloadOptions& options) {
  for (const auto& f : files) {
    WRN_CHECK(!f.url.empty(), "download manifest: file '{}' has no URL", f.filename);
    WRN_CHECK(!f.filename.empty() && f.filename != "." && f.filename != ".." &&
                  f.filename.find('/') == std::string::npos,
              "download manifest: '{}' is not a plain file name (for {})", f.filename, f.url);
    WRN_CHECK(is_md5_hex(f.md5), "download manifest: MD5 of '{}' must be 32 hex digits, got '{}'", f.filename, f.md5);
  }
  init_curl();
  std::error_code ec;
  fs::create_directories(dir, ec);
  WRN_CHECK_FILE(!ec && fs::is_directory(dir), "{}: cannot create the download directory: {}", dir,
                 ec ? ec.message() : "not a directory");

  DownloadReport result;
  for (const auto& f : files) {
    const std::string md5 = to_lower(f.md5);
    const fs::path marker = marker_path(dir, f.filename);
    if (f.extract && marker_valid(marker, md5, dir)) {
      message(options, fmt::format("{}: already downloaded and unpacked", f.filename));
      FileReport report;
      report.filename = f.filename;
      report.path = (fs::path(dir) / f.filename).string();
      result.files.push_back(report);
      continue;
    }
    FileReport report = fetch_file(f, md5, dir, options);
    if (f.extract) {
      message(options, fmt::format("{}: unpacking into {}", f.filename, dir));
      const auto written = extract_archive(report.path, dir);
      write_marker(marker, md5, dir, written);
      report.extracted = true;
      message(options, fmt::format("{}: unpacked {} file{}", f.filename, written.size(),
                                   written.size() == 1 ? "" : "s"));
    }
    result.files.push_back(report);
  }
  return result;
}

DownloadReport download_dataset(const std::string& name, const std::string& dir, const DownloadOptions& options) {
  return download_files(dataset_manifest(name).files, dir, options);
}

}  // namespace wrn::data
