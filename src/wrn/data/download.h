// Fetching the data sets from their publishers: verified, resumable, idempotent.
//
// A manifest lists the files of a data set ({url, filename, md5, extract}). Downloading
// a manifest into a directory:
//   - skips a file already present whose MD5 matches (a second run sends no request);
//   - downloads into `<file>.part` and, when a .part exists, resumes it with an HTTP
//     `Range: bytes=N-` request (a server that ignores the range restarts the file);
//   - retries transient failures (connection lost, timeout, HTTP 5xx/408/429), resuming;
//   - verifies the MD5, and renames the .part into place only when it matches; on a
//     mismatch the .part is deleted and wrn::FileError names the file, expected and actual MD5;
//   - unpacks archives marked `extract` (.tar.gz, .tgz, .tar) into the directory,
//     refusing absolute paths, `..` components and anything but regular files and
//     directories, then writes a marker (`.<archive>.extracted`, with the MD5 and the size
//     of every unpacked file) so that a later run neither downloads nor unpacks again
//     while those files are intact, even if the archive itself was deleted.
// Files that are not archives (IDX .gz, SVHN .mat) are kept as they are: the readers read them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace wrn::data {

// One file of a data set as its publisher serves it.
struct RemoteFile {
  std::string url;       // absolute URL (http, https, or file:// for a local mirror)
  std::string filename;  // the name it gets in the target directory; a plain name, no '/'
  std::string md5;       // 32 hex digits (either case)
  bool extract = false;  // a .tar.gz/.tgz/.tar to unpack into the directory once verified
};

// The files of one named data set.
struct DatasetManifest {
  std::string name;  // "cifar10", "cifar100", "svhn", "fashion-mnist", "mnist"
  std::vector<RemoteFile> files;
};

// The names `wrn download` knows, in display order.
std::vector<std::string> downloadable_datasets();

// The manifest of a named data set, with the publishers' addresses and MD5 sums.
// Throws wrn::ConfigError for an unknown name (with a did-you-mean hint).
DatasetManifest dataset_manifest(const std::string& name);

// Bytes received so far for one file (including what a resumed .part already held).
struct DownloadProgress {
  std::string filename;
  int64_t received = 0;
  int64_t total = -1;  // -1 while unknown
};

// How downloads run. Defaults suit the CLI; tests shorten the timeouts and delays.
struct DownloadOptions {
  // Base URL replacing each official address's directory: the file is fetched from
  // mirror + "/" + filename. Empty: the environment variable WRN_DOWNLOAD_MIRROR when
  // set and non-empty, otherwise the official URLs.
  std::string mirror;
  int retries = 3;              // further attempts after a transient failure (0: one attempt)
  int retry_delay_ms = 1000;    // wait before retry k is k * retry_delay_ms
  int connect_timeout_s = 30;   // give up connecting after this long
  int stall_timeout_s = 60;     // give up when no byte arrives for this long
  std::function<void(const DownloadProgress&)> on_progress;  // called often during a transfer
  std::function<void(const std::string&)> on_message;        // one human-readable line per event
};

// What happened to one file.
enum class FileAction {
  kAlreadyPresent,    // present with the right MD5 (or already unpacked): nothing fetched
  kDownloaded,        // fetched from the start
  kResumed,           // an existing .part was completed with a range request
};

struct FileReport {
  std::string filename;
  std::string path;           // where the verified file lies (it may be absent when only
                              // its unpacked content was found)
  FileAction action = FileAction::kAlreadyPresent;
  bool extracted = false;     // unpacked during this run
  int attempts = 0;           // transfer attempts made (0 when nothing was fetched)
  int64_t bytes_fetched = 0;  // body bytes received during this run
};

struct DownloadReport {
  std::vector<FileReport> files;
};

// Downloads, verifies and (where marked) unpacks `files` into `dir`, creating it.
// Requires: each file has a non-empty url, a plain filename and a 32-hex-digit md5
// (else wrn::ConfigError). Throws wrn::FileError naming the URL and the HTTP status or
// network error when a transfer fails for good, the file and both MD5 sums on a
// mismatch, and the archive and entry when unpacking is refused or fails. Files already
// verified before the failure stay in place, and a partial transfer stays as .part for
// the next run to resume.
DownloadReport download_files(const std::vector<RemoteFile>& files, const std::string& dir,
                              const DownloadOptions& options = {});

// download_files() for a named data set (see dataset_manifest()).
DownloadReport download_dataset(const std::string& name, const std::string& dir,
                                const DownloadOptions& options = {});

// Unpacks the archive at `archive` (tar, optionally gzip-compressed) into `dir` and
// returns the paths of the regular files written, relative to `dir`. Each file is
// written to a temporary name and renamed into place. Throws wrn::FileError naming the
// archive and the entry for an absolute path, a `..` component, a link or device entry,
// or a corrupt archive.
std::vector<std::string> extract_archive(const std::string& archive, const std::string& dir);

// The URL `file` is fetched from under `options` (mirror / WRN_DOWNLOAD_MIRROR applied).
std::string effective_url(const RemoteFile& file, const DownloadOptions& options);

}  // namespace wrn::data
