#pragma once
// A small HTTP/1.1 client over Boost.Beast + OpenSSL (http:// and https://).
//
// The Beast/Asio headers stay in http.cpp: everything else includes only this
// header. One HttpClient talks to one origin (scheme://host:port), keeps a
// pool of keep-alive connections, and is safe to use from many threads: each
// request borrows a connection, so concurrent requests run in parallel.
//
// Nothing unsafe is written: a target that is not an origin-form path of
// visible ASCII, or a header name/value (the bearer token included) with CR,
// LF, NUL or another control byte, throws kube::InvalidRequest before a byte
// goes out (see docs/security.md).

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kube {

struct TlsOptions {
  std::string ca_pem;           // trusted CAs; empty = system default store
  // Where ca_pem came from, if a file: re-read when its mtime or size
  // changes (checked at most every HttpOptions::ca_reload_interval); new
  // connections then use the new CAs, pooled ones stay as they are.
  std::string ca_file;
  std::string client_cert_pem;  // optional client certificate (mTLS)
  std::string client_key_pem;
  bool insecure_skip_verify = false;  // only for explicit opt-in (kubeconfig)
  std::string server_name;            // override SNI / verified name
};

struct HttpOptions {
  std::string base_url;  // "https://127.0.0.1:6443" or "http://127.0.0.1:8080" (path ignored)
  TlsOptions tls;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{30000};  // whole request unless overridden
  size_t max_idle_connections = 8;
  // Cap on a response body read into memory (request(), and the error body
  // of stream_lines()); larger is a NetworkError. A list of 10k pods is
  // about 30 MiB. Watch streams are not capped (they are read line by line).
  size_t max_body_bytes = size_t{64} << 20;
  std::chrono::milliseconds ca_reload_interval{5000};  // see TlsOptions::ca_file
  // Called for every request; return "" for none. Lets in-cluster config
  // re-read a rotated token and the operator refresh an OAuth token.
  std::function<std::string()> bearer_token;
  // Called once when the server answers 401: returns true when the
  // credential changed (e.g. the token file was rotated), and the request is
  // then sent once more with the new token. A 401 means the request was
  // refused before it was processed, so this is safe for every method.
  std::function<bool()> on_unauthorized;
  std::string user_agent = "gtoken/0.1";
};

struct HttpRequest {
  std::string method = "GET";
  std::string target = "/";  // path + query, already escaped
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{0};  // 0 = HttpOptions::request_timeout
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // keys lower-cased
  std::string body;
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// Lets another thread stop a streaming request: cancel() closes the socket,
// the reading thread gets a clean return (not an error).
class CancelToken {
 public:
  void cancel();
  bool cancelled() const { return cancelled_.load(); }
  // Internal: the active stream registers how to interrupt itself.
  void set_canceller(std::function<void()> f);
  void clear_canceller();

 private:
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  std::function<void()> canceller_;
};

class HttpClient {
 public:
  explicit HttpClient(HttpOptions opts);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Throws NetworkError on connect/TLS/timeout/IO failures, InvalidRequest
  // (before any I/O) for a target or header it will not write.
  //
  // Pooled connections: one the server has already closed (readable or at
  // EOF while idle) is dropped before use. If a reused connection still
  // fails before any response byte (the server closed it while we wrote),
  // the request is sent again once on a fresh connection for GET, HEAD, PUT
  // and DELETE only: the server may have processed a POST or PATCH before
  // closing, and repeating one could create or apply twice.
  HttpResponse request(const HttpRequest& req);

  // Streams a response body line by line (for watch). If the status is not
  // 2xx the whole body is read into the returned response and no line is
  // delivered. on_line returning false stops the stream. `idle_timeout`
  // bounds the time between two reads. Returns normally when the server ends
  // the stream or the token is cancelled; throws NetworkError otherwise.
  HttpResponse stream_lines(const HttpRequest& req,
                            const std::function<bool(std::string_view)>& on_line,
                            std::chrono::milliseconds idle_timeout,
                            CancelToken* cancel = nullptr);

  const HttpOptions& options() const { return opts_; }
  // Number of TCP connections opened so far (tests check keep-alive reuse).
  size_t connections_opened() const { return opened_.load(); }

  struct Impl;  // implementation detail (http.cpp)

 private:
  HttpResponse request_once(const HttpRequest& req);
  HttpResponse stream_once(const HttpRequest& req,
                           const std::function<bool(std::string_view)>& on_line,
                           std::chrono::milliseconds idle_timeout, CancelToken* cancel);
  HttpOptions opts_;
  std::unique_ptr<Impl> impl_;
  std::atomic<size_t> opened_{0};
};

// Percent-encodes a query parameter value.
std::string url_encode(std::string_view s);

}  // namespace kube
