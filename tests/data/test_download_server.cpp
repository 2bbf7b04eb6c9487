#include "test_download_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <sstream>
#include <stdexcept>

namespace wrn::test {
namespace {

bool send_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 206: return "Partial Content";
    case 404: return "Not Found";
    case 416: return "Range Not Satisfiable";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

}  // namespace

LoopbackServer::LoopbackServer(std::chrono::seconds lifetime, int max_connections)
    : deadline_(std::chrono::steady_clock::now() + lifetime), max_connections_(max_connections) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listen_fd_ < 0) throw std::runtime_error("test server: socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;  // ephemeral
  socklen_t len = sizeof(addr);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(listen_fd_, 16) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("test server: cannot listen on 127.0.0.1");
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { run(); });
}

LoopbackServer::~LoopbackServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
}

std::string LoopbackServer::base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

void LoopbackServer::serve(const std::string& path, const std::string& body) {
  std::lock_guard<std::mutex> lock(mutex_);
  routes_[path].body = body;
}

void LoopbackServer::drop_after(const std::string& path, size_t bytes, int times) {
  std::lock_guard<std::mutex> lock(mutex_);
  routes_[path].drop_bytes = bytes;
  routes_[path].drops_left = times;
}

void LoopbackServer::fail_with(const std::string& path, int status, int times) {
  std::lock_guard<std::mutex> lock(mutex_);
  routes_[path].fail_status = status;
  routes_[path].fails_left = times;
}

void LoopbackServer::ignore_range(const std::string& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  routes_[path].ignore_range = true;
}

int LoopbackServer::request_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(requests_.size());
}

std::vector<LoopbackServer::Request> LoopbackServer::requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_;
}

void LoopbackServer::run() {
  int connections = 0;
  while (!stop_ && connections < max_connections_ && std::chrono::steady_clock::now() < deadline_) {
    pollfd pfd{listen_fd_, POLLIN, 0};
    if (::poll(&pfd, 1, 20) <= 0) continue;
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    ++connections;
    timeval tv{2, 0};  // a client that sends nothing cannot hold the server
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    handle(fd);
    ::close(fd);
  }
}

void LoopbackServer::handle(int fd) {
  std::string head;
  char buf[4096];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return;
    head.append(buf, static_cast<size_t>(n));
  }
  std::istringstream in(head);
  Request request;
  std::string version, line;
  in >> request.method >> request.path >> version;
  std::getline(in, line);
  while (std::getline(in, line) && line != "\r") {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (lower(line.substr(0, colon)) == "range") {
      request.range = line.substr(colon + 1);
      while (!request.range.empty() && (request.range.front() == ' ')) request.range.erase(0, 1);
      while (!request.range.empty() && (request.range.back() == '\r' || request.range.back() == ' '))
        request.range.pop_back();
    }
  }

  int status = 200;
  std::string body;
  std::string extra_headers;
  size_t send_bytes = std::string::npos;  // how much of the body to send before closing
  {
    std::lock_guard<std::mutex> lock(mutex_);
    requests_.push_back(request);
    auto it = routes_.find(request.path);
    if (request.method != "GET" || it == routes_.end()) {
      status = 404;
      body = "not found\n";
    } else if (it->second.fails_left > 0) {
      --it->second.fails_left;
      status = it->second.fail_status;
      body = "failure injected by the test\n";
    } else {
      Route& route = it->second;
      const size_t size = route.body.size();
      size_t start = 0;
      if (!route.ignore_range && request.range.rfind("bytes=", 0) == 0 && request.range.back() == '-') {
        start = std::stoull(request.range.substr(6));
        if (start >= size) {
          status = 416;
          extra_headers = "Content-Range: bytes */" + std::to_string(size) + "\r\n";
        } else {
          status = 206;
          extra_headers = "Content-Range: bytes " + std::to_string(start) + "-" + std::to_string(size - 1) + "/" +
                          std::to_string(size) + "\r\n";
        }
      }
      if (status != 416) body = route.body.substr(start);
      if (route.drops_left > 0) {
        --route.drops_left;
        send_bytes = std::min(route.drop_bytes, body.size());
      }
    }
  }
  std::string response = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\n" +
                         "Content-Length: " + std::to_string(body.size()) + "\r\n" +
                         "Content-Type: application/octet-stream\r\nConnection: close\r\n" + extra_headers + "\r\n";
  if (!send_all(fd, response.data(), response.size())) return;
  send_all(fd, body.data(), std::min(send_bytes, body.size()));
  ::shutdown(fd, SHUT_WR);
}

}  // namespace wrn::test
