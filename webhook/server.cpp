// The only webhook translation unit that includes Beast, Asio and OpenSSL SSL
// headers: each such unit costs half a minute of compile time.
#include "webhook/server.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <vector>

#include "kube/status.hpp"

namespace gtoken::webhook {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

// TLS 1.2 suites: forward secrecy and AEAD only, for the ECDSA key we issue.
// TLS 1.3 suites are OpenSSL's defaults (all AEAD).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384";

std::shared_ptr<ssl::context> make_context(const std::string& cert_pem,
                                           const std::string& key_pem) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) {
    throw std::runtime_error("cannot configure TLS");
  }
  SSL_CTX_set_options(
      native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // An idle kept-alive connection (the apiserver keeps a pool of them) holds
  // no record buffers (about 34 KB each otherwise).
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  error_code ec;
  ctx->use_certificate_chain(asio::buffer(cert_pem), ec);
  if (ec) throw std::runtime_error("unusable serving certificate: " + ec.message());
  ctx->use_private_key(asio::buffer(key_pem), ssl::context::pem, ec);
  // The message of a key error names no key material.
  if (ec) throw std::runtime_error("unusable serving key");
  if (SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    throw std::runtime_error("the serving key does not match the certificate");
  }
  return ctx;
}

struct Shared {
  ServerOptions options;
  RequestHandler handler;
  std::atomic<std::size_t> connections{0};
  std::atomic<std::size_t> body_bytes_in_flight{0};

  // Takes `n` bytes of the in-flight budget; false when they do not fit.
  bool reserve(std::size_t n) {
    std::size_t now = body_bytes_in_flight.load();
    do {
      if (now + n > options.max_body_bytes_in_flight) return false;
    } while (!body_bytes_in_flight.compare_exchange_weak(now, now + n));
    return true;
  }
  void release(std::size_t n) { body_bytes_in_flight -= n; }
};

using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using PlainStream = beast::tcp_stream;

// One connection (TLS or plain): handshake, then requests until the client
// closes, a deadline passes, or an answer says close. While a request waits
// for its answer no read is pending: one request at a time per connection.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  Session(tcp::socket&& socket, std::shared_ptr<ssl::context> ctx,
          std::shared_ptr<Shared> shared) requires kTls : ctx_(std::move(ctx)),
                                                          shared_(std::move(shared)),
                                                          stream_(std::move(socket), *ctx_) {
    ++shared_->connections;
  }
  Session(tcp::socket&& socket, std::shared_ptr<Shared> shared) requires(!kTls)
      : shared_(std::move(shared)), stream_(std::move(socket)) {
    ++shared_->connections;
  }
  ~Session() {
    release();
    --shared_->connections;
  }

  void start() {
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (kTls) {
        self->handshake();
      } else {
        self->wait_request();
      }
    });
  }

  // From any thread: the answer to the request in progress.
  void post_answer(HttpResponseData data, bool keep_alive) {
    asio::post(stream_.get_executor(),
               [self = this->shared_from_this(), data = std::move(data), keep_alive]() mutable {
                 self->send(std::move(data), keep_alive);
               });
  }

 private:
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  void handshake() {
    if constexpr (kTls) {
      lowest().expires_after(shared_->options.handshake_timeout);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](error_code ec) {
                                if (ec) return self->close();  // TLS garbage, timeout, no suite
                                self->wait_request();
                              });
    }
  }

  // Idle phase: wait for the first byte of the next request with the long
  // keep-alive deadline; the header then has its own, shorter one.
  void wait_request() {
    if (buffer_.size() > 0) return read_header();
    lowest().expires_after(first_request_ ? shared_->options.read_timeout
                                          : shared_->options.idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = this->shared_from_this()](error_code ec, std::size_t n) {
                              if (ec) return self->shutdown();
                              self->buffer_.commit(n);
                              self->read_header();
                            });
  }

  void read_header() {
    first_request_ = false;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(shared_->options.header_limit));
    parser_->body_limit(shared_->options.body_limit);
    lowest().expires_after(shared_->options.read_timeout);
    error_code ec;
    parse_buffered(ec);
    // An error past the header is the body's (parse_buffered reads on into it).
    if (ec && parser_->is_header_done()) return on_body(ec);
    if (ec || parser_->is_header_done()) return on_header(ec);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](error_code ec, std::size_t) { self->on_header(ec); });
  }

  // Feeds the parser what the buffer already holds, as Beast's read loop
  // does, without an asynchronous operation: a pod review usually arrives
  // whole in the first read, and is then parsed and answered with no further
  // round through the event loop. The header's checks still run before a
  // large body is read (what is parsed here is at most one read's worth).
  void parse_buffered(error_code& ec) {
    parser_->eager(true);
    while (buffer_.size() > 0 && !parser_->is_done()) {
      const std::size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
        return;
      }
      if (ec || used == 0) return;
    }
  }

  void on_header(error_code ec) {
    if (ec == beast::error::timeout || ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == ssl::error::stream_truncated || ec == asio::error::connection_reset ||
        ec == asio::error::operation_aborted) {
      return close();
    }
    // A Content-Length over the body limit fails the header already.
    if (ec == http::error::body_limit) return too_large();
    if (ec) {  // not HTTP, or a header over the limit
      return reply_error(400, "BadRequest", "malformed HTTP request");
    }
    const auto length = parser_->content_length();
    if (length && *length > shared_->options.body_limit) return too_large();
    // A large body takes its share of the budget before a byte of it is read;
    // chunked bodies are counted at the limit.
    const std::size_t announced =
        length ? static_cast<std::size_t>(*length)
               : (parser_->chunked() ? shared_->options.body_limit : std::size_t{0});
    if (announced > shared_->options.small_body) {
      if (!shared_->reserve(announced)) {
        return reply_error(429, "TooManyRequests", "too many large request bodies at once");
      }
      reserved_ = announced;
    }
    if (!parser_->is_done()) parse_buffered(ec);
    if (ec || parser_->is_done()) return on_body(ec);
    // A small body is read within the header's deadline (it has mostly
    // arrived with it); a large one gets a deadline of its own.
    if (announced > shared_->options.small_body) {
      lowest().expires_after(shared_->options.read_timeout);
    }
    http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](error_code ec, std::size_t) { self->on_body(ec); });
  }

  void on_body(error_code ec) {
    if (ec == http::error::body_limit) return too_large();
    if (ec == http::error::bad_chunk || ec == http::error::bad_chunk_extension) {
      return reply_error(400, "BadRequest", "malformed HTTP body");
    }
    if (ec) return close();
    process();
  }

  void too_large() {
    HttpRequestData request = request_data();
    request.body_too_large = true;
    request.body.clear();
    answer(std::move(request), /*keep_alive=*/false);
  }

  void process() {
    const bool keep_alive = parser_->get().keep_alive();
    HttpRequestData request = request_data();
    request.body = std::move(parser_->get().body());
    parser_.reset();  // the body now lives in `request` only
    answer(std::move(request), keep_alive);
  }

  HttpRequestData request_data() const {
    const auto& msg = parser_->get();
    HttpRequestData r;
    r.method = std::string(msg.method_string());
    r.target = std::string(msg.target());
    r.content_type = std::string(msg[http::field::content_type]);
    return r;
  }

  // The handler's answer comes back through a Reply: at most once, from any
  // thread; a Reply dropped unanswered sends a 500. An answer given on this
  // connection's thread while the handler still runs (a cache hit, the usual
  // case) is kept and sent once the handler returns; any other is posted to
  // the connection's strand.
  struct Reply {
    std::shared_ptr<Session> session;
    bool keep_alive;
    std::atomic<bool> done{false};
    Reply(std::shared_ptr<Session> s, bool k) : session(std::move(s)), keep_alive(k) {}
    ~Reply() {
      if (done.load()) return;  // the usual case: no 500 body built for nothing
      deliver(
          {500, "application/json", kube::failure_status_body(500, "InternalError", "no answer")});
    }
    void deliver(HttpResponseData data) {
      if (done.exchange(true)) return;
      if (session->handling_on_.load() == std::this_thread::get_id()) {
        session->inline_answer_ = std::move(data);
        return;
      }
      session->post_answer(std::move(data), keep_alive);
    }
  };

  void answer(HttpRequestData request, bool keep_alive) {
    auto reply = std::make_shared<Reply>(this->shared_from_this(), keep_alive);
    handling_on_ = std::this_thread::get_id();
    try {
      shared_->handler(std::move(request),
                       [reply](HttpResponseData data) { reply->deliver(std::move(data)); });
    } catch (...) {
      reply->deliver({500, "application/json",
                      kube::failure_status_body(500, "InternalError", "handler failed")});
    }
    handling_on_ = std::thread::id();
    if (inline_answer_) {
      HttpResponseData data = std::move(*inline_answer_);
      inline_answer_.reset();
      send(std::move(data), keep_alive);
    }
  }

  void reply_error(int code, const char* reason, const char* message) {
    send({code, "application/json", kube::failure_status_body(code, reason, message)}, false);
  }

  void release() {
    if (reserved_ == 0) return;
    shared_->release(reserved_);
    reserved_ = 0;
  }

  void send(HttpResponseData data, bool keep_alive) {
    release();
    // The status line and header written by hand (what Beast's serializer
    // writes for this response, in the same order) and sent with the body in
    // one write: every field is ours, so there is nothing to serialize.
    head_.clear();
    head_.append("HTTP/1.1 ").append(std::to_string(data.status)).append(" ");
    const auto reason = http::obsolete_reason(http::int_to_status(static_cast<unsigned>(data.status)));
    head_.append(reason.data(), reason.size());
    head_.append("\r\nContent-Type: ").append(data.content_type).append("\r\n");
    if (!keep_alive) head_.append("Connection: close\r\n");
    head_.append("Content-Length: ").append(std::to_string(data.body.size())).append("\r\n\r\n");
    body_ = std::move(data.body);
    lowest().expires_after(shared_->options.write_timeout);
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(head_), asio::buffer(body_)};
    asio::async_write(stream_, buffers,
                      [self = this->shared_from_this(), keep_alive](error_code ec, std::size_t) {
                        std::string().swap(self->body_);
                        if (ec) return self->close();
                        if (!keep_alive) return self->shutdown();
                        self->wait_request();
                      });
  }

  void shutdown() {
    if constexpr (kTls) {
      lowest().expires_after(std::chrono::seconds(2));
      // A peer that just drops the TCP connection makes this fail with
      // stream_truncated; nothing is lost, so every result means "close".
      stream_.async_shutdown([self = this->shared_from_this()](error_code) { self->close(); });
    } else {
      close();
    }
  }

  void close() {
    error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close();
  }

  std::shared_ptr<ssl::context> ctx_;  // outlives stream_: declared first
  std::shared_ptr<Shared> shared_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  // The answer being written: its status line and header, and its body.
  std::string head_;
  std::string body_;
  bool first_request_ = true;
  std::size_t reserved_ = 0;
  // The thread running the handler for this connection, while it runs; the
  // answer it gives there (see Reply), sent when the handler returns.
  std::atomic<std::thread::id> handling_on_{};
  std::optional<HttpResponseData> inline_answer_;
};

}  // namespace

struct HttpsServer::Impl {
  explicit Impl(int threads) : ioc(std::max(1, threads)) {}

  std::shared_ptr<Shared> shared;
  // The hint is the thread count: with one thread Asio skips the locking
  // and wake-ups of a shared queue.
  asio::io_context ioc;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::atomic<unsigned short> port{0};

  mutable std::mutex ctx_mu;
  std::shared_ptr<ssl::context> ctx;

  std::shared_ptr<ssl::context> current() const {
    std::lock_guard lock(ctx_mu);
    return ctx;
  }

  void log(const std::string& what) const {
    if (shared->options.log) shared->options.log->info(what);
  }

  // A connection's handlers must not run at once: with one thread they never
  // do, with more a strand per connection serializes them.
  asio::any_io_executor connection_executor() {
    if (shared->options.threads <= 1) return ioc.get_executor();
    return asio::make_strand(ioc);
  }

  void accept() {
    acceptor->async_accept(connection_executor(), [this](error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;  // stopping
      if (!ec) {
        auto ctx = shared->options.tls ? current() : nullptr;
        const bool room = shared->connections.load() < shared->options.max_connections;
        if (room && !shared->options.tls) {
          std::make_shared<Session<PlainStream>>(std::move(socket), shared)->start();
        } else if (room && ctx) {
          std::make_shared<Session<TlsStream>>(std::move(socket), std::move(ctx), shared)->start();
        } else {
          error_code ignored;
          socket.close(ignored);
        }
      } else if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space) {
        // Out of file descriptors: back off a little instead of spinning.
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      accept();
    });
  }
};

HttpsServer::HttpsServer(ServerOptions options, RequestHandler handler)
    : impl_(std::make_unique<Impl>(options.threads)) {
  impl_->shared = std::make_shared<Shared>();
  impl_->shared->options = std::move(options);
  impl_->shared->handler = std::move(handler);
}

HttpsServer::~HttpsServer() {
  stop();
}

void HttpsServer::set_certificate(const std::string& cert_chain_pem, const std::string& key_pem) {
  auto ctx = make_context(cert_chain_pem, key_pem);
  std::lock_guard lock(impl_->ctx_mu);
  impl_->ctx = std::move(ctx);
}

bool HttpsServer::has_certificate() const {
  return impl_->current() != nullptr;
}

void HttpsServer::start() {
  const ServerOptions& o = impl_->shared->options;
  error_code ec;
  const auto address = asio::ip::make_address(o.bind_address, ec);
  if (ec) throw std::runtime_error("invalid bind address: " + o.bind_address);
  const tcp::endpoint endpoint(address, o.port);
  auto& acceptor = impl_->acceptor.emplace(impl_->ioc);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on " + o.bind_address + ":" + std::to_string(o.port) +
                             ": " + ec.message());
  }
  impl_->port = acceptor.local_endpoint().port();
  impl_->accept();
  const int n = std::max(1, o.threads);
  for (int i = 0; i < n; ++i) {
    impl_->threads.emplace_back([this] {
      for (;;) {
        try {
          impl_->ioc.run();
          return;
        } catch (const std::exception& e) {
          // A handler threw past its own guards: log, keep serving.
          impl_->log(std::string("webhook server thread: ") + e.what());
        }
      }
    });
  }
  impl_->log("webhook server listening on " + o.bind_address + ":" +
             std::to_string(impl_->port.load()));
}

void HttpsServer::stop() {
  if (!impl_ || impl_->threads.empty()) return;
  asio::post(impl_->ioc, [this] {
    error_code ignored;
    if (impl_->acceptor) impl_->acceptor->close(ignored);
  });
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
}

unsigned short HttpsServer::port() const {
  return impl_->port.load();
}

std::size_t HttpsServer::open_connections() const {
  return impl_->shared->connections.load();
}

}  // namespace gtoken::webhook
