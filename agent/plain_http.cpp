#include "agent/plain_http.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "agent/errno_text.hpp"
#include "kube/errors.hpp"
#include "kube/names.hpp"

namespace gtoken::agent {

namespace {

using Clock = std::chrono::steady_clock;
using kube::NetworkError;

constexpr size_t kMaxHeaderBytes = 16 << 10;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

bool safe_text(std::string_view s, bool allow_space) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f || (!allow_space && c == ' ')) {
      if (!(allow_space && c == '\t')) {
        return false;
      }
    }
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// Milliseconds left until `deadline` (at least 0), for poll().
int ms_left(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) {
    return 0;
  }
  return left.count() > 1000000 ? 1000000 : static_cast<int>(left.count());
}

// Waits for `events` on fd until the deadline; false on timeout.
bool wait_fd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, ms_left(deadline));
    if (n > 0) {
      return true;
    }
    if (n == 0) {
      return false;
    }
    if (errno != EINTR) {
      throw NetworkError(std::string("poll: ") + errno_text(errno));
    }
  }
}

std::string where(const std::string& host, const std::string& port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
}

// Connects a non-blocking socket to one address; returns the fd or -1 with
// *err set.
int connect_one(const sockaddr* addr, socklen_t len, Clock::time_point deadline,
                std::string* err) {
  int fd = ::socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = std::string("socket: ") + errno_text(errno);
    return -1;
  }
  if (::connect(fd, addr, len) != 0) {
    if (errno != EINPROGRESS) {
      *err = errno_text(errno);
      ::close(fd);
      return -1;
    }
    bool ready = false;
    try {
      ready = wait_fd(fd, POLLOUT, deadline);
    } catch (const std::exception& ex) {
      *err = ex.what();
      ::close(fd);
      return -1;
    }
    if (!ready) {
      *err = "timed out";
      ::close(fd);
      return -1;
    }
    int so_error = 0;
    socklen_t sl = sizeof so_error;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &sl) != 0 || so_error != 0) {
      *err = errno_text(so_error ? so_error : errno);
      ::close(fd);
      return -1;
    }
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

int connect_to(const std::string& host, const std::string& port, Clock::time_point deadline) {
  std::string err = "no address";
  // IP literals (the usual case: 169.254.169.254, 127.0.0.1) need no resolver.
  sockaddr_in v4{};
  sockaddr_in6 v6{};
  char* end = nullptr;
  errno = 0;
  unsigned long p = std::strtoul(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || errno != 0 || p == 0 || p > 65535) {
    throw NetworkError("connect " + where(host, port) + ": bad port");
  }
  if (::inet_pton(AF_INET, host.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(static_cast<uint16_t>(p));
    int fd = connect_one(reinterpret_cast<sockaddr*>(&v4), sizeof v4, deadline, &err);
    if (fd >= 0) {
      return fd;
    }
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(static_cast<uint16_t>(p));
    int fd = connect_one(reinterpret_cast<sockaddr*>(&v6), sizeof v6, deadline, &err);
    if (fd >= 0) {
      return fd;
    }
  } else {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
    addrinfo* res = nullptr;
    int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0) {
      throw NetworkError("resolve " + host + ": " + ::gai_strerror(rc));
    }
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
      int fd = connect_one(ai->ai_addr, ai->ai_addrlen, deadline, &err);
      if (fd >= 0) {
        ::freeaddrinfo(res);
        return fd;
      }
      if (Clock::now() >= deadline) {
        break;
      }
    }
    ::freeaddrinfo(res);
  }
  throw NetworkError("connect " + where(host, port) + ": " + err);
}

void send_all(int fd, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_fd(fd, POLLOUT, deadline)) {
        throw NetworkError("write: timed out");
      }
      continue;
    }
    throw NetworkError(std::string("write: ") + errno_text(errno));
  }
}

// Parses what has arrived so far. nullopt: more bytes are needed (and may
// come unless `eof`). Throws NetworkError when malformed.
std::optional<kube::HttpResponse> parse_prefix(std::string_view raw, bool eof) {
  size_t pos = 0;
  for (;;) {
    const size_t head_end = raw.find("\r\n\r\n", pos);
    if (head_end == std::string_view::npos) {
      if (raw.size() - pos > kMaxHeaderBytes) {
        throw NetworkError("response headers larger than 16 KiB");
      }
      if (eof) {
        throw NetworkError(raw.size() == pos ? "connection closed before a response"
                                             : "connection closed in the response headers");
      }
      return std::nullopt;
    }
    if (head_end - pos > kMaxHeaderBytes) {
      throw NetworkError("response headers larger than 16 KiB");
    }
    std::string_view head = raw.substr(pos, head_end - pos);
    size_t line_end = head.find("\r\n");
    std::string_view status_line = head.substr(0, line_end);
    // HTTP/1.x SP 3DIGIT [SP reason]
    if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." ||
        status_line[8] != ' ' || (status_line.size() > 12 && status_line[12] != ' ')) {
      throw NetworkError("malformed HTTP status line");
    }
    int status = 0;
    for (size_t i = 9; i < 12; ++i) {
      if (status_line[i] < '0' || status_line[i] > '9') {
        throw NetworkError("malformed HTTP status line");
      }
      status = status * 10 + (status_line[i] - '0');
    }
    if (status < 100) {
      throw NetworkError("malformed HTTP status line");
    }
    kube::HttpResponse resp;
    resp.status = status;
    std::string_view rest = line_end == std::string_view::npos ? std::string_view{}
                                                               : head.substr(line_end + 2);
    while (!rest.empty()) {
      size_t e = rest.find("\r\n");
      std::string_view line = rest.substr(0, e);
      rest = e == std::string_view::npos ? std::string_view{} : rest.substr(e + 2);
      size_t colon = line.find(':');
      if (colon == 0 || colon == std::string_view::npos) {
        throw NetworkError("malformed HTTP header line");
      }
      std::string name = lower(line.substr(0, colon));
      std::string value(trim_ows(line.substr(colon + 1)));
      auto [it, inserted] = resp.headers.emplace(name, value);
      if (!inserted) {
        if (name == "content-length" && it->second != value) {
          throw NetworkError("conflicting Content-Length headers");
        }
        if (name != "content-length") {
          it->second += ", " + value;
        }
      }
    }
    const size_t body_at = head_end + 4;
    if (status < 200) {
      pos = body_at;  // an interim 1xx response: the real one follows
      continue;
    }
    std::string_view body = raw.substr(body_at);
    if (status == 204 || status == 304) {
      return resp;
    }
    const std::string te = lower(resp.header("transfer-encoding"));
    if (!te.empty()) {
      if (te != "chunked") {
        throw NetworkError("unsupported Transfer-Encoding");
      }
      size_t p = 0;
      std::string out;
      for (;;) {
        size_t e = body.find("\r\n", p);
        if (e == std::string_view::npos) {
          break;  // incomplete
        }
        std::string_view size_line = body.substr(p, e - p);
        size_line = size_line.substr(0, size_line.find(';'));
        size_line = trim_ows(size_line);
        if (size_line.empty() || size_line.size() > 8) {
          throw NetworkError("malformed chunk size");
        }
        size_t n = 0;
        for (char c : size_line) {
          int d = c >= '0' && c <= '9'   ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                         : -1;
          if (d < 0) {
            throw NetworkError("malformed chunk size");
          }
          n = n * 16 + static_cast<size_t>(d);
        }
        if (n == 0) {
          // Trailers (ignored) end with an empty line.
          size_t t = e + 2;
          if (body.substr(t, 2) == "\r\n") {
            resp.body = std::move(out);
            return resp;
          }
          if (body.find("\r\n\r\n", t) != std::string_view::npos) {
            resp.body = std::move(out);
            return resp;
          }
          break;
        }
        if (body.size() < e + 2 + n + 2) {
          break;  // incomplete
        }
        if (body.substr(e + 2 + n, 2) != "\r\n") {
          throw NetworkError("malformed chunk");
        }
        out.append(body.substr(e + 2, n));
        p = e + 2 + n + 2;
      }
      if (eof) {
        throw NetworkError("connection closed in a chunked body");
      }
      return std::nullopt;
    }
    const std::string cl = resp.header("content-length");
    if (!cl.empty()) {
      if (cl.size() > 12 || cl.find_first_not_of("0123456789") != std::string::npos) {
        throw NetworkError("malformed Content-Length");
      }
      const size_t n = std::stoull(cl);
      if (body.size() >= n) {
        resp.body = std::string(body.substr(0, n));
        return resp;
      }
      if (eof) {
        throw NetworkError("connection closed after " + std::to_string(body.size()) + " of " +
                           std::to_string(n) + " body bytes");
      }
      return std::nullopt;
    }
    if (!eof) {
      return std::nullopt;  // body until the close
    }
    resp.body = std::string(body);
    return resp;
  }
}

}  // namespace

PlainHttpOptions parse_plain_http_origin(std::string_view origin) {
  std::string_view s = origin;
  if (s.substr(0, 7) == "http://") {
    s.remove_prefix(7);
  } else if (s.find("://") != std::string_view::npos) {
    throw std::invalid_argument("not an http:// URL: " + std::string(origin));
  }
  s = s.substr(0, s.find('/'));
  PlainHttpOptions o;
  std::string_view host = s;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos) {
      throw std::invalid_argument("malformed host: " + std::string(origin));
    }
    host = s.substr(1, close - 1);
    std::string_view after = s.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        throw std::invalid_argument("malformed host: " + std::string(origin));
      }
      port = after.substr(1);
    }
  } else if (size_t colon = s.rfind(':'); colon != std::string_view::npos) {
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      throw std::invalid_argument("IPv6 hosts need brackets: " + std::string(origin));
    }
  }
  if (host.empty() || !safe_text(host, false) || host.find_first_of("@?#") != std::string::npos) {
    throw std::invalid_argument("malformed host: " + std::string(origin));
  }
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos ||
        std::stoul(std::string(port)) == 0 || std::stoul(std::string(port)) > 65535) {
      throw std::invalid_argument("malformed port: " + std::string(origin));
    }
    o.port = std::string(port);
  }
  o.host = std::string(host);
  return o;
}

PlainHttpClient::PlainHttpClient(PlainHttpOptions opts) : opts_(std::move(opts)) {
  host_header_ = opts_.host.find(':') != std::string::npos ? "[" + opts_.host + "]" : opts_.host;
  if (opts_.port != "80") {
    host_header_ += ":" + opts_.port;
  }
}

kube::HttpResponse PlainHttpClient::request(const kube::HttpRequest& req) const {
  // Validate everything before a byte goes out.
  if (req.method.empty() || req.method.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") !=
                                std::string::npos) {
    throw kube::InvalidRequest("bad HTTP method");
  }
  if (req.target.empty() || req.target.front() != '/' || !safe_text(req.target, false)) {
    throw kube::InvalidRequest("request target must be an origin-form path of visible ASCII");
  }
  std::string out;
  out.reserve(256 + req.body.size());
  out.append(req.method).append(" ").append(req.target).append(" HTTP/1.1\r\n");
  out.append("Host: ").append(host_header_).append("\r\n");
  out.append("User-Agent: ").append(opts_.user_agent).append("\r\n");
  out.append("Connection: close\r\n");
  for (const auto& [name, value] : req.headers) {
    if (name.empty() || !safe_text(name, false) || name.find(':') != std::string::npos ||
        !safe_text(value, true)) {
      // Never quote the value: it may be a bearer token.
      throw kube::InvalidRequest("header " + (safe_text(name, false) ? name : "?") +
                                 " holds a control character");
    }
    out.append(name).append(": ").append(value).append("\r\n");
  }
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT" ||
      req.method == "PATCH") {
    out.append("Content-Length: ").append(std::to_string(req.body.size())).append("\r\n");
  }
  out.append("\r\n").append(req.body);

  const auto start = Clock::now();
  const auto timeout = req.timeout.count() > 0 ? req.timeout : opts_.request_timeout;
  const auto deadline = start + timeout;
  const auto connect_deadline = std::min(deadline, start + opts_.connect_timeout);
  Fd fd(connect_to(opts_.host, opts_.port, connect_deadline));
  send_all(fd.get(), out, deadline);

  std::string in;
  char buf[8192];
  for (;;) {
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n > 0) {
      in.append(buf, static_cast<size_t>(n));
      if (in.size() > opts_.max_response_bytes) {
        throw NetworkError("response larger than " + std::to_string(opts_.max_response_bytes) +
                           " bytes");
      }
      if (auto r = parse_prefix(in, false)) {
        return std::move(*r);
      }
      continue;
    }
    if (n == 0) {
      return std::move(*parse_prefix(in, true));
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_fd(fd.get(), POLLIN, deadline)) {
        throw NetworkError("timed out after " +
                           std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                              timeout)
                                              .count()) +
                           " ms waiting for " + where(opts_.host, opts_.port));
      }
      continue;
    }
    throw NetworkError(std::string("read: ") + errno_text(errno));
  }
}

kube::HttpResponse parse_http_response(std::string_view raw) {
  return std::move(*parse_prefix(raw, true));
}

std::string url_encode(std::string_view s) {
  // Query values need the path segment's escaping: all but RFC 3986's
  // unreserved bytes (kube/names, in the base library the agent links).
  return kube::encode_path_segment(s);
}

}  // namespace gtoken::agent
