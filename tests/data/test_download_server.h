// A tiny HTTP/1.1 server on 127.0.0.1 (ephemeral port) for the downloader's tests: no
// network beyond loopback. One thread serves one connection at a time ("Connection:
// close"), answers GET with 200, `Range: bytes=N-` with 206 (or 416 past the end), 404 for
// unknown paths, and can drop a connection halfway or answer an error status to test
// resuming and retries. It records every request. It stops when destroyed, and in any case
// after `lifetime` or `max_connections`, so a failing test cannot leave it running.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace wrn::test {

class LoopbackServer {
 public:
  struct Request {
    std::string method;
    std::string path;
    std::string range;  // the Range header's value, "" when absent
  };

  explicit LoopbackServer(std::chrono::seconds lifetime = std::chrono::seconds(20), int max_connections = 200);
  ~LoopbackServer();
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  // "http://127.0.0.1:PORT"
  std::string base_url() const;

  // Serves `body` at `path` ("/name").
  void serve(const std::string& path, const std::string& body);
  // The next `times` responses for `path` send the headers of the full response but only
  // `bytes` of the body, then close the connection.
  void drop_after(const std::string& path, size_t bytes, int times = 1);
  // The next `times` responses for `path` are `status` with a short body.
  void fail_with(const std::string& path, int status, int times = 1);
  // `path` ignores Range headers (answers 200 with the whole body).
  void ignore_range(const std::string& path);

  int request_count() const;
  std::vector<Request> requests() const;

 private:
  struct Route {
    std::string body;
    size_t drop_bytes = 0;
    int drops_left = 0;
    int fail_status = 0;
    int fails_left = 0;
    bool ignore_range = false;
  };

  void run();
  void handle(int fd);

  int listen_fd_ = -1;
  int port_ = 0;
  std::chrono::steady_clock::time_point deadline_;
  int max_connections_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::map<std::string, Route> routes_;
  std::vector<Request> requests_;
  std::thread thread_;
};

}  // namespace wrn::test
