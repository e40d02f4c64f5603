// The only translation unit of the kube library that includes Beast, Asio and
// OpenSSL headers: they take most of a build's time on this project.
//
// Each pooled connection owns its own io_context. A request borrows one
// connection, starts async operations with a deadline on the tcp_stream, and
// runs that io_context on the calling thread. This gives per-operation
// timeouts (which synchronous Beast calls lack) without a shared event loop,
// and requests on different connections never contend.
#include "kube/http.hpp"

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>
#include <stdexcept>

#include "kube/errors.hpp"

namespace kube {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

void CancelToken::cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  if (canceller_) canceller_();
}

void CancelToken::set_canceller(std::function<void()> f) {
  std::lock_guard lock(mu_);
  canceller_ = std::move(f);
  if (cancelled_ && canceller_) canceller_();
}

void CancelToken::clear_canceller() {
  std::lock_guard lock(mu_);
  canceller_ = nullptr;
}

std::string url_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

namespace {

struct Origin {
  bool tls = false;
  std::string host;
  std::string port;
};

Origin parse_origin(const std::string& url) {
  Origin o;
  std::string rest;
  if (url.rfind("https://", 0) == 0) {
    o.tls = true;
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else {
    throw std::invalid_argument("URL must start with http:// or https://: " + url);
  }
  rest = rest.substr(0, rest.find('/'));
  if (rest.empty()) throw std::invalid_argument("URL has no host: " + url);
  if (rest.front() == '[') {  // [v6]:port
    auto close = rest.find(']');
    if (close == std::string::npos) throw std::invalid_argument("bad IPv6 host in URL: " + url);
    o.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') o.port = rest.substr(close + 2);
  } else {
    auto colon = rest.rfind(':');
    if (colon != std::string::npos) {
      o.host = rest.substr(0, colon);
      o.port = rest.substr(colon + 1);
    } else {
      o.host = rest;
    }
  }
  if (o.port.empty()) o.port = o.tls ? "443" : "80";
  return o;
}

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

void add_ca_pem(ssl::context& ctx, const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!bio) throw std::runtime_error("out of memory reading CA bundle");
  X509_STORE* store = SSL_CTX_get_cert_store(ctx.native_handle());
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, cert);
    X509_free(cert);
    ++added;
  }
  ERR_clear_error();  // the loop ends with a "no start line" error by design
  BIO_free(bio);
  if (added == 0) throw std::invalid_argument("CA data holds no PEM certificate");
}

}  // namespace

struct HttpClient::Impl {
  struct Conn {
    asio::io_context ioc;
    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
    beast::flat_buffer buffer;

    beast::tcp_stream& tcp() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
  };

  Origin origin;
  std::optional<ssl::context> ctx;
  std::mutex mu;
  std::vector<std::unique_ptr<Conn>> idle;

  // Runs the io_context until the started operation completes.
  template <class Start>
  static error_code run(Conn& c, Start&& start) {
    error_code result;
    start([&result](error_code ec, auto&&...) { result = ec; });
    c.ioc.restart();
    c.ioc.run();
    return result;
  }

  // Calls f with the concrete stream type.
  template <class F>
  static auto with_stream(Conn& c, F&& f) {
    if (c.secure) return f(*c.secure);
    return f(*c.plain);
  }
};

HttpClient::HttpClient(HttpOptions opts) : opts_(std::move(opts)), impl_(std::make_unique<Impl>()) {
  impl_->origin = parse_origin(opts_.base_url);
  if (!impl_->origin.tls) return;
  auto& ctx = impl_->ctx.emplace(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  if (opts_.tls.insecure_skip_verify) {
    ctx.set_verify_mode(ssl::verify_none);
  } else {
    ctx.set_verify_mode(ssl::verify_peer);
    if (opts_.tls.ca_pem.empty()) {
      ctx.set_default_verify_paths();
    } else {
      add_ca_pem(ctx, opts_.tls.ca_pem);
    }
  }
  if (!opts_.tls.client_cert_pem.empty()) {
    error_code ec;
    ctx.use_certificate_chain(asio::buffer(opts_.tls.client_cert_pem), ec);
    if (ec) throw std::invalid_argument("client certificate is not valid PEM: " + ec.message());
    ctx.use_private_key(asio::buffer(opts_.tls.client_key_pem), ssl::context::pem, ec);
    if (ec) throw std::invalid_argument("client key is not valid PEM: " + ec.message());
  }
}

HttpClient::~HttpClient() = default;

namespace {

using Conn = HttpClient::Impl::Conn;

std::unique_ptr<Conn> connect(HttpClient::Impl& impl, const HttpOptions& opts) {
  auto c = std::make_unique<Conn>();
  const Origin& o = impl.origin;
  tcp::resolver resolver(c->ioc);
  error_code ec;
  auto endpoints = resolver.resolve(o.host, o.port, ec);
  if (ec) throw NetworkError("resolve " + o.host + ": " + ec.message());
  if (o.tls) {
    c->secure.emplace(c->ioc, *impl.ctx);
  } else {
    c->plain.emplace(c->ioc);
  }
  auto& tcp_stream = c->tcp();
  tcp_stream.expires_after(opts.connect_timeout);
  ec = HttpClient::Impl::run(*c, [&](auto handler) { tcp_stream.async_connect(endpoints, handler); });
  if (ec) {
    throw NetworkError("connect " + o.host + ":" + o.port + ": " +
                       (ec == beast::error::timeout ? std::string("timed out") : ec.message()));
  }
  tcp_stream.socket().set_option(tcp::no_delay(true));
  if (o.tls) {
    SSL* ssl_handle = c->secure->native_handle();
    std::string name = opts.tls.server_name.empty() ? o.host : opts.tls.server_name;
    if (!is_ip_literal(name)) SSL_set_tlsext_host_name(ssl_handle, name.c_str());
    if (!opts.tls.insecure_skip_verify) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl_handle);
      if (is_ip_literal(name)) {
        X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
      } else {
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0);
      }
    }
    ec = HttpClient::Impl::run(*c, [&](auto handler) {
      c->secure->async_handshake(ssl::stream_base::client, handler);
    });
    if (ec) {
      std::string detail = ec.message();
      long vr = SSL_get_verify_result(ssl_handle);
      if (vr != X509_V_OK) detail += " (" + std::string(X509_verify_cert_error_string(vr)) + ")";
      throw NetworkError("TLS handshake with " + o.host + ":" + o.port + ": " + detail);
    }
  }
  return c;
}

http::request<http::string_body> build_request(const HttpRequest& req, const HttpOptions& opts,
                                               const Origin& o) {
  http::request<http::string_body> r;
  r.method_string(req.method);
  r.target(req.target);
  r.version(11);
  bool default_port = (o.tls && o.port == "443") || (!o.tls && o.port == "80");
  std::string host = o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host;
  r.set(http::field::host, default_port ? host : host + ":" + o.port);
  r.set(http::field::user_agent, opts.user_agent);
  if (opts.bearer_token) {
    std::string token = opts.bearer_token();
    if (!token.empty()) r.set(http::field::authorization, "Bearer " + token);
  }
  for (const auto& [k, v] : req.headers) r.set(k, v);
  r.body() = req.body;
  r.prepare_payload();
  return r;
}

void copy_headers(const http::fields& f, HttpResponse& out) {
  for (const auto& h : f) {
    std::string name(h.name_string());
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    out.headers[name] = std::string(h.value());
  }
}

std::string describe(const error_code& ec) {
  return ec == beast::error::timeout ? std::string("timed out") : ec.message();
}

}  // namespace

HttpResponse HttpClient::request(const HttpRequest& req) {
  auto timeout = req.timeout.count() > 0 ? req.timeout : opts_.request_timeout;
  auto r = build_request(req, opts_, impl_->origin);
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<Conn> c;
    bool reused = false;
    {
      std::lock_guard lock(impl_->mu);
      if (!impl_->idle.empty()) {
        c = std::move(impl_->idle.back());
        impl_->idle.pop_back();
        reused = true;
      }
    }
    if (!c) {
      c = connect(*impl_, opts_);
      ++opened_;
    }
    c->tcp().expires_after(timeout);
    error_code ec = Impl::with_stream(
        *c, [&](auto& s) { return Impl::run(*c, [&](auto h) { http::async_write(s, r, h); }); });
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::uint64_t{1} << 30);
    if (!ec) {
      c->buffer.clear();
      ec = Impl::with_stream(*c, [&](auto& s) {
        return Impl::run(*c, [&](auto h) { http::async_read(s, c->buffer, parser, h); });
      });
    }
    if (ec) {
      // A pooled connection the server closed while idle fails at once with
      // EOF/reset before any response byte: the request was never processed,
      // so one retry on a fresh connection is safe for every method.
      bool stale = reused && attempt == 0 && !parser.got_some() &&
                   (ec == http::error::end_of_stream || ec == asio::error::eof ||
                    ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
                    ec == ssl::error::stream_truncated);
      if (stale) continue;
      throw NetworkError(req.method + " " + req.target + ": " + describe(ec));
    }
    auto res = parser.release();
    HttpResponse out;
    out.status = static_cast<int>(res.result_int());
    copy_headers(res.base(), out);
    out.body = std::move(res.body());
    if (res.keep_alive()) {
      std::lock_guard lock(impl_->mu);
      if (impl_->idle.size() < opts_.max_idle_connections) impl_->idle.push_back(std::move(c));
    }
    return out;
  }
}

HttpResponse HttpClient::stream_lines(const HttpRequest& req,
                                      const std::function<bool(std::string_view)>& on_line,
                                      std::chrono::milliseconds idle_timeout, CancelToken* cancel) {
  if (cancel && cancel->cancelled()) return HttpResponse{};
  // Streams get a connection of their own: they can last minutes and are
  // closed (not pooled) when done, so a half-read stream never leaks into
  // another request.
  auto c = connect(*impl_, opts_);
  ++opened_;
  auto r = build_request(req, opts_, impl_->origin);
  Conn* raw = c.get();
  if (cancel) {
    cancel->set_canceller([raw] {
      asio::post(raw->ioc, [raw] {
        error_code ignored;
        raw->tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
        raw->tcp().cancel();
      });
    });
  }
  struct Clear {
    CancelToken* t;
    ~Clear() {
      if (t) t->clear_canceller();
    }
  } clear{cancel};
  auto cancelled = [&] { return cancel && cancel->cancelled(); };

  c->tcp().expires_after(opts_.request_timeout);
  error_code ec = Impl::with_stream(
      *c, [&](auto& s) { return Impl::run(*c, [&](auto h) { http::async_write(s, r, h); }); });
  if (ec) {
    if (cancelled()) return HttpResponse{};
    throw NetworkError(req.method + " " + req.target + ": " + describe(ec));
  }
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  ec = Impl::with_stream(*c, [&](auto& s) {
    return Impl::run(*c, [&](auto h) { http::async_read_header(s, c->buffer, parser, h); });
  });
  if (ec) {
    if (cancelled()) return HttpResponse{};
    throw NetworkError(req.method + " " + req.target + ": " + describe(ec));
  }
  HttpResponse out;
  out.status = static_cast<int>(parser.get().result_int());
  copy_headers(parser.get().base(), out);
  bool ok = out.status >= 200 && out.status < 300;

  std::string pending;
  char chunk[64 * 1024];
  while (!parser.is_done()) {
    if (cancelled()) return out;
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof chunk;
    c->tcp().expires_after(ok ? idle_timeout : opts_.request_timeout);
    ec = Impl::with_stream(*c, [&](auto& s) {
      return Impl::run(*c, [&](auto h) { http::async_read_some(s, c->buffer, parser, h); });
    });
    if (ec == http::error::need_buffer) ec = {};
    size_t n = sizeof chunk - parser.get().body().size;
    if (ec) {
      if (cancelled()) return out;
      // The server ending a watch by closing the connection is a normal end.
      if (ec == http::error::end_of_stream || ec == asio::error::eof ||
          ec == http::error::partial_message) {
        break;
      }
      throw NetworkError("stream " + req.target + ": " + describe(ec));
    }
    if (!ok) {
      out.body.append(chunk, n);
      continue;
    }
    pending.append(chunk, n);
    size_t start = 0;
    for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string_view line(pending.data() + start, nl - start);
      if (line.empty()) continue;
      if (!on_line(line)) return out;
    }
    pending.erase(0, start);
  }
  if (ok && !pending.empty()) on_line(pending);
  return out;
}

}  // namespace kube
