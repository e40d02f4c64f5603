#pragma once
// The webhook's HTTPS server: Boost.Beast + Asio + OpenSSL, kept out of this
// header (server.cpp is the only webhook file that includes them).
//
// It moves bytes and nothing else: every request is handed to one function,
// RequestHandler, whose answer (given now or later, from any thread) is
// written back. A few threads run one io_context; with more than one, each
// connection lives on its own strand. An answer given on the connection's
// thread before the handler returns is written at once, any other is posted
// back to it. Every operation has a deadline (TLS handshake, waiting for the
// next request on a kept-alive connection, reading a header with a small
// body, reading a large body, writing), each request gets a
// fresh parser with a header and a body limit, and a body over the limit is
// never read (the handler gets body_too_large and the connection is closed
// after the answer). Bodies over `small_body` count against a server-wide
// budget of body bytes in flight until they are answered; one that does not
// fit is answered 429 unread, so many large bodies at once cannot take the
// process's memory.
//
// TLS: 1.2 minimum (1.3 preferred by the client's choice), ECDHE + AEAD
// suites only. The certificate can be replaced at any time: the server holds
// a shared_ptr to the current ssl::context; each accepted connection takes the
// current one and keeps it, so open connections finish on the old certificate
// and new ones get the new. No connection is accepted before a certificate is
// set (they are closed at once).

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "kube/log.hpp"
#include "webhook/admission.hpp"

namespace gtoken::webhook {

struct HttpRequestData {
  std::string method;
  std::string target;
  std::string content_type;
  std::string body;
  // The announced or received body exceeded ServerOptions::body_limit; `body`
  // is empty and the connection closes after the answer.
  bool body_too_large = false;
};

struct HttpResponseData {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// Gives the answer to one request. Call it once, from any thread, now or
// later; further calls are ignored. Dropping it unanswered answers 500.
using Respond = std::function<void(HttpResponseData)>;

// Runs on an I/O thread and must not block there: work that may wait (a live
// read) goes elsewhere and calls `respond` when done. An exception it throws
// before responding becomes a 500.
using RequestHandler = std::function<void(HttpRequestData request, Respond respond)>;

struct ServerOptions {
  std::string bind_address = "0.0.0.0";
  unsigned short port = 10250;  // 0 = any free port (tests), see HttpsServer::port()
  int threads = 4;
  // false: plain HTTP (the metrics port); no certificate needed.
  bool tls = true;
  std::size_t body_limit = kDefaultAdmissionBodyLimit;
  // Bodies up to this size (every real pod) never wait for the budget.
  std::size_t small_body = 64 * 1024;
  // Larger bodies (announced size, or body_limit when chunked) in flight at once.
  std::size_t max_body_bytes_in_flight = 8 * kDefaultAdmissionBodyLimit;
  std::size_t header_limit = 16 * 1024;
  std::chrono::milliseconds handshake_timeout{10'000};
  // Reading one header and a body of up to small_body, or one larger body,
  // from its first byte to its last.
  std::chrono::milliseconds read_timeout{10'000};
  std::chrono::milliseconds write_timeout{10'000};
  // Waiting for the next request on a kept-alive connection. Longer than the
  // apiserver's own idle timeout (Go's transport: 90 s), so that the client,
  // not the server, closes idle connections: a server closing one just as the
  // client sends on it makes that admission call fail.
  std::chrono::milliseconds idle_timeout{120'000};
  // Beyond this, new connections are closed at once.
  std::size_t max_connections = 1024;
  // Diagnostics (bind, TLS errors are not logged per connection), at info;
  // null: none.
  kube::Logger* log = nullptr;
};

class HttpsServer {
 public:
  HttpsServer(ServerOptions options, RequestHandler handler);
  ~HttpsServer();
  HttpsServer(const HttpsServer&) = delete;
  HttpsServer& operator=(const HttpsServer&) = delete;

  // Builds a TLS context from a PEM certificate chain and key, checks that
  // they belong together, then makes it the one new connections get. Throws
  // std::runtime_error (never quoting the key) when they are unusable; the
  // current certificate then stays.
  void set_certificate(const std::string& cert_chain_pem, const std::string& key_pem);
  bool has_certificate() const;

  // Binds and starts the threads; throws std::runtime_error when the address
  // cannot be bound.
  void start();
  // Stops accepting, closes every connection, joins the threads.
  void stop();
  // The bound port (the chosen one with port 0); 0 before start().
  unsigned short port() const;
  std::size_t open_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gtoken::webhook
