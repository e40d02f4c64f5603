// The benchmark's yardstick: the least a TLS webhook can do per admission.
// One thread, epoll, OpenSSL; HTTP/1.1 keep-alive; for each POST it parses
// the body as JSON, reads request.uid and answers a fixed patch (a projected
// token volume, its mount and two env vars, as the EKS webhook's patch for a
// one-container pod). Not a server for anything else: no timeouts, no
// chunked bodies, no limits beyond 1 MiB a request.
//
//   min_webhook PORT CERT.pem KEY.pem

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cctype>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>

namespace {

constexpr const char* kPatch =
    R"([{"op":"add","path":"/spec/volumes/-","value":{"name":"aws-iam-token","projected":{"sources":[{"serviceAccountToken":{"audience":"sts.amazonaws.com","expirationSeconds":86400,"path":"token"}}]}}},)"
    R"({"op":"add","path":"/spec/containers/0/volumeMounts","value":[{"mountPath":"/var/run/secrets/eks.amazonaws.com/serviceaccount","name":"aws-iam-token","readOnly":true}]},)"
    R"({"op":"add","path":"/spec/containers/0/env","value":[{"name":"AWS_ROLE_ARN","value":"arn:aws:iam::123456789012:role/bench"},)"
    R"({"name":"AWS_WEB_IDENTITY_TOKEN_FILE","value":"/var/run/secrets/eks.amazonaws.com/serviceaccount/token"}]}])";

std::string base64(const std::string& in) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    if (i + 2 < in.size()) v |= static_cast<unsigned char>(in[i + 2]);
    out += a[(v >> 18) & 63];
    out += a[(v >> 12) & 63];
    out += i + 1 < in.size() ? a[(v >> 6) & 63] : '=';
    out += i + 2 < in.size() ? a[v & 63] : '=';
  }
  return out;
}

struct Conn {
  SSL* ssl = nullptr;
  std::string in;
  std::string out;
  ~Conn() {
    if (ssl != nullptr) SSL_free(ssl);
  }
};

// The body's AdmissionReview answered; nullopt-like empty string when the
// body is not one.
std::string answer(const std::string& body, const std::string& patch_b64) {
  const auto review = nlohmann::json::parse(body, nullptr, false);
  std::string uid;
  if (review.is_object() && review.contains("request") && review["request"].is_object()) {
    uid = review["request"].value("uid", "");
  }
  return R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":)" +
         nlohmann::json(uid).dump() + R"(,"allowed":true,"patchType":"JSONPatch","patch":")" +
         patch_b64 + "\"}}";
}

// Every complete request in c.in answered into c.out.
void serve(Conn& c, const std::string& patch_b64) {
  for (;;) {
    const auto end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) return;
    std::size_t length = 0;
    for (std::size_t at = 0; at < end;) {
      const auto eol = c.in.find("\r\n", at);
      std::string line = c.in.substr(at, eol - at);
      for (auto& ch : line) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (line.rfind("content-length:", 0) == 0) length = std::strtoul(line.c_str() + 15, nullptr, 10);
      at = eol + 2;
    }
    if (c.in.size() < end + 4 + length) return;
    const std::string body = c.in.substr(end + 4, length);
    c.in.erase(0, end + 4 + length);
    const std::string reply = answer(body, patch_b64);
    c.out += "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
             std::to_string(reply.size()) + "\r\n\r\n" + reply;
  }
}

// False when the connection is done.
bool flush(Conn& c) {
  while (!c.out.empty()) {
    const int n = SSL_write(c.ssl, c.out.data(), static_cast<int>(c.out.size()));
    if (n <= 0) return SSL_get_error(c.ssl, n) == SSL_ERROR_WANT_WRITE;
    c.out.erase(0, static_cast<std::size_t>(n));
  }
  return true;
}

bool on_readable(Conn& c, const std::string& patch_b64) {
  char buf[16384];
  for (;;) {
    const int n = SSL_read(c.ssl, buf, sizeof buf);
    if (n > 0) {
      c.in.append(buf, static_cast<std::size_t>(n));
      if (c.in.size() > (1 << 20)) return false;
      continue;
    }
    const int e = SSL_get_error(c.ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
    return false;
  }
  serve(c, patch_b64);
  return flush(c);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: min_webhook PORT CERT.pem KEY.pem\n");
    return 2;
  }
  const std::string patch_b64 = base64(kPatch);
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (SSL_CTX_use_certificate_chain_file(ctx, argv[2]) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, argv[3], SSL_FILETYPE_PEM) != 1) {
    ERR_print_errors_fp(stderr);
    return 1;
  }
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  const int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(std::atoi(argv[1])));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listener, 512) != 0) {
    std::perror("bind/listen");
    return 1;
  }
  const int ep = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listener;
  epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  std::unordered_map<int, std::unique_ptr<Conn>> conns;
  epoll_event events[128];
  for (;;) {
    const int n = epoll_wait(ep, events, 128, -1);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listener) {
        for (int s; (s = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
          setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          auto c = std::make_unique<Conn>();
          c->ssl = SSL_new(ctx);
          SSL_set_fd(c->ssl, s);
          SSL_set_accept_state(c->ssl);
          epoll_event cev{};
          cev.events = EPOLLIN | EPOLLOUT | EPOLLET;
          cev.data.fd = s;
          epoll_ctl(ep, EPOLL_CTL_ADD, s, &cev);
          conns[s] = std::move(c);
        }
        continue;
      }
      auto it = conns.find(fd);
      if (it == conns.end()) continue;
      Conn& c = *it->second;
      bool alive = (events[i].events & (EPOLLHUP | EPOLLERR)) == 0;
      if (alive && (events[i].events & EPOLLOUT)) alive = flush(c);
      if (alive && (events[i].events & EPOLLIN)) alive = on_readable(c, patch_b64);
      if (!alive) {
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
        conns.erase(it);
        close(fd);
      }
    }
  }
}
