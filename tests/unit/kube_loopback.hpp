#pragma once
// A tiny plain-TCP HTTP/1.1 server on 127.0.0.1, port 0, for tests of what
// kube::HttpClient puts on the wire. One thread serves connections one after
// another (the tests' clients are sequential); every byte received is kept,
// and each complete request (headers + Content-Length body) is handed to a
// handler that picks the answer.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace loopback {

struct Request {
  std::string raw;  // request line + headers + body, as received
  std::string method;
  std::string target;
  std::string body;
  std::string header(const std::string& name) const {  // case-sensitive name
    auto at = raw.find("\r\n" + name + ": ");
    if (at == std::string::npos) return "";
    at += name.size() + 4;
    return raw.substr(at, raw.find("\r\n", at) - at);
  }
};

// What to do with a request.
struct Answer {
  std::string bytes = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  bool close_after = false;  // close the connection after writing bytes
  bool drop = false;         // close without answering
};

class Server {
 public:
  using Handler = std::function<Answer(const Request&, size_t index)>;

  explicit Server(Handler h = nullptr) : handler_(std::move(h)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket");
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0) {
      throw std::runtime_error("bind/listen");
    }
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~Server() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::string wire() const {
    std::lock_guard lock(mu_);
    return wire_;
  }
  std::vector<Request> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  size_t request_count() const {
    std::lock_guard lock(mu_);
    return requests_.size();
  }
  size_t connections() const { return connections_.load(); }

  // Lines of the wire that look like an HTTP request line ("WORD target
  // HTTP/1.x"), wherever they are: a smuggled request shows up here even
  // when the server took it for part of a header or a body.
  size_t request_lines() const {
    std::string w = wire();
    size_t n = 0;
    size_t start = 0;
    while (start < w.size()) {
      size_t end = w.find('\n', start);
      std::string line =
          w.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (looks_like_request_line(line)) ++n;
      if (end == std::string::npos) break;
      start = end + 1;
    }
    return n;
  }

  static bool looks_like_request_line(const std::string& line) {
    size_t sp = line.find(' ');
    if (sp == std::string::npos || sp == 0) return false;
    for (size_t i = 0; i < sp; ++i) {
      if (line[i] < 'A' || line[i] > 'Z') return false;
    }
    return line.size() > sp + 9 && line.compare(line.size() - 9, 9, " HTTP/1.1") == 0;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      ++connections_;
      serve_connection(c);
      ::close(c);
    }
  }

  // Returns when the peer closes, the handler asks to close, or stop.
  void serve_connection(int c) {
    std::string buf;
    char chunk[16384];
    while (!stop_) {
      // Hand out every complete request in buf.
      while (true) {
        size_t end = buf.find("\r\n\r\n");
        if (end == std::string::npos) break;
        Request r;
        std::string head = buf.substr(0, end + 4);
        size_t body_len = 0;
        for (const char* name : {"\r\nContent-Length: ", "\r\ncontent-length: "}) {
          auto at = head.find(name);
          if (at != std::string::npos) body_len = std::stoul(head.substr(at + 18));
        }
        if (buf.size() < end + 4 + body_len) break;
        r.raw = buf.substr(0, end + 4 + body_len);
        r.body = buf.substr(end + 4, body_len);
        buf.erase(0, end + 4 + body_len);
        std::string line = r.raw.substr(0, r.raw.find("\r\n"));
        r.method = line.substr(0, line.find(' '));
        auto t0 = line.find(' ') + 1;
        r.target = line.substr(t0, line.rfind(' ') - t0);
        size_t index;
        {
          std::lock_guard lock(mu_);
          index = requests_.size();
          requests_.push_back(r);
        }
        Answer a = handler_ ? handler_(r, index) : Answer{};
        if (a.drop) return;
        send_all(c, a.bytes);
        if (a.close_after) return;
      }
      pollfd p{c, POLLIN, 0};
      int ready = ::poll(&p, 1, 20);
      if (ready == 0) continue;
      if (ready < 0) return;
      ssize_t n = ::recv(c, chunk, sizeof chunk, 0);
      if (n <= 0) return;
      {
        std::lock_guard lock(mu_);
        wire_.append(chunk, static_cast<size_t>(n));
      }
      buf.append(chunk, static_cast<size_t>(n));
    }
  }

  static void send_all(int c, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(c, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }

  Handler handler_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> connections_{0};
  mutable std::mutex mu_;
  std::string wire_;
  std::vector<Request> requests_;
  std::thread thread_;
};

}  // namespace loopback
