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
#include <poll.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "kube/errors.hpp"
#include "kube/names.hpp"

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
  // A query value needs the same escaping as a path segment: everything but
  // RFC 3986's unreserved bytes.
  return encode_path_segment(s);
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
  // The host goes into the Host header and the port into a resolver call.
  for (unsigned char c : o.host + o.port) {
    if (c <= 0x20 || c >= 0x7f || c == '/' || c == '?' || c == '#' || c == '@') {
      throw InvalidRequest("URL has an invalid host or port: \"" + quote_untrusted(url) + "\"");
    }
  }
  for (unsigned char c : o.port) {
    if (c < '0' || c > '9')
      throw InvalidRequest("URL has an invalid port: \"" + quote_untrusted(url) + "\"");
  }
  if (o.port.size() > 5 || std::stoul(o.port) > 65535) {
    throw InvalidRequest("URL has an invalid port: \"" + quote_untrusted(url) + "\"");
  }
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

std::shared_ptr<ssl::context> make_context(const TlsOptions& tls, const std::string& ca_pem) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  if (tls.insecure_skip_verify) {
    ctx->set_verify_mode(ssl::verify_none);
  } else {
    ctx->set_verify_mode(ssl::verify_peer);
    if (ca_pem.empty()) {
      ctx->set_default_verify_paths();
    } else {
      add_ca_pem(*ctx, ca_pem);
    }
  }
  if (!tls.client_cert_pem.empty()) {
    error_code ec;
    ctx->use_certificate_chain(asio::buffer(tls.client_cert_pem), ec);
    if (ec) throw std::invalid_argument("client certificate is not valid PEM: " + ec.message());
    ctx->use_private_key(asio::buffer(tls.client_key_pem), ssl::context::pem, ec);
    if (ec) throw std::invalid_argument("client key is not valid PEM: " + ec.message());
  }
  return ctx;
}

// The CA file's identity as far as a cheap check can tell.
struct FileStamp {
  std::filesystem::file_time_type mtime{};
  std::uintmax_t size = 0;
  bool operator==(const FileStamp&) const = default;
};

std::optional<FileStamp> stamp_of(const std::string& path) {
  std::error_code ec;
  FileStamp s;
  s.mtime = std::filesystem::last_write_time(path, ec);
  if (ec) return std::nullopt;
  s.size = std::filesystem::file_size(path, ec);
  if (ec) return std::nullopt;
  return s;
}

std::optional<std::string> read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// RFC 9110 token characters (method and header names).
bool is_tchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

// Field values may hold visible characters, space, tab and obs-text; never
// CR, LF, NUL or another control byte (RFC 9110 5.5).
bool is_field_value(std::string_view s) {
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

// Origin-form only ("/path?query"): visible ASCII, no fragment. Resource
// paths arrive percent-encoded (kube/names.hpp), so anything else here is a
// caller's bug or an attack, and is refused rather than escaped.
void check_target(std::string_view t) {
  if (t.empty() || t.front() != '/') {
    throw InvalidRequest("request target must start with '/': \"" + quote_untrusted(t) + "\"");
  }
  for (unsigned char c : t) {
    if (c <= 0x20 || c >= 0x7f || c == '#') {
      throw InvalidRequest("request target holds a byte that may not be sent: \"" +
                           quote_untrusted(t) + "\"");
    }
  }
}

void check_header(std::string_view name, std::string_view value) {
  if (!is_token(name))
    throw InvalidRequest("invalid header name \"" + quote_untrusted(name) + "\"");
  // The value is not quoted: it may be a credential.
  if (!is_field_value(value)) {
    throw InvalidRequest("header " + std::string(name) +
                         " has a value with a control character (CR, LF, NUL, ...)");
  }
}

bool is_idempotent(const std::string& method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE";
}

}  // namespace

struct HttpClient::Impl {
  struct Conn {
    asio::io_context ioc;
    std::shared_ptr<ssl::context> ctx;  // the one this connection was made with
    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
    beast::flat_buffer buffer;

    beast::tcp_stream& tcp() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
  };

  Origin origin;
  std::mutex mu;
  std::vector<std::unique_ptr<Conn>> idle;

  // TLS context, rebuilt when TlsOptions::ca_file changes.
  std::mutex ctx_mu;
  std::shared_ptr<ssl::context> ctx;
  std::string ca_pem;
  std::optional<FileStamp> ca_stamp;
  std::chrono::steady_clock::time_point ca_checked{};

  // The context for a new connection. At most every ca_reload_interval the
  // CA file's mtime and size are compared; on a change it is read, and a new
  // context is built only if the contents differ. A file that does not parse
  // (e.g. caught half-written) keeps the old context and is retried at the
  // next check.
  std::shared_ptr<ssl::context> context(const HttpOptions& opts) {
    std::lock_guard lock(ctx_mu);
    const std::string& file = opts.tls.ca_file;
    auto now = std::chrono::steady_clock::now();
    if (file.empty() || now - ca_checked < opts.ca_reload_interval) return ctx;
    ca_checked = now;
    auto stamp = stamp_of(file);
    if (!stamp || stamp == ca_stamp) return ctx;
    auto pem = read_whole(file);
    if (!pem) return ctx;
    if (*pem != ca_pem) {
      try {
        ctx = make_context(opts.tls, *pem);
      } catch (const std::exception&) {
        return ctx;
      }
      ca_pem = std::move(*pem);
    }
    ca_stamp = stamp;
    return ctx;
  }

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
  check_header("User-Agent", opts_.user_agent);
  if (!impl_->origin.tls) return;
  impl_->ca_pem = opts_.tls.ca_pem;
  if (!opts_.tls.ca_file.empty()) {
    impl_->ca_stamp = stamp_of(opts_.tls.ca_file);
    impl_->ca_checked = std::chrono::steady_clock::now();
    if (impl_->ca_pem.empty()) {
      auto pem = read_whole(opts_.tls.ca_file);
      if (!pem) throw std::invalid_argument("cannot read CA file " + opts_.tls.ca_file);
      impl_->ca_pem = std::move(*pem);
    }
  }
  impl_->ctx = make_context(opts_.tls, impl_->ca_pem);
}

HttpClient::~HttpClient() = default;

namespace {

using Conn = HttpClient::Impl::Conn;

// Resolves with the connect timeout as deadline (a blocking getaddrinfo
// could hang for as long as the system resolver likes). IP literals, the
// usual case for an apiserver, skip the resolver.
tcp::resolver::results_type resolve(Conn& c, const Origin& o, std::chrono::milliseconds timeout) {
  error_code ec;
  auto addr = asio::ip::make_address(o.host, ec);
  if (!ec) {
    return tcp::resolver::results_type::create(
        tcp::endpoint(addr, static_cast<unsigned short>(std::stoul(o.port))), o.host, o.port);
  }
  tcp::resolver resolver(c.ioc);
  asio::steady_timer deadline(c.ioc, timeout);
  bool timed_out = false;
  deadline.async_wait([&](error_code e) {
    if (!e) {
      timed_out = true;
      resolver.cancel();
    }
  });
  tcp::resolver::results_type results;
  resolver.async_resolve(o.host, o.port, [&](error_code e, tcp::resolver::results_type r) {
    ec = e;
    results = std::move(r);
    deadline.cancel();
  });
  c.ioc.restart();
  c.ioc.run();
  if (timed_out) {
    throw NetworkError("resolve " + o.host + ": timed out after " +
                       std::to_string(timeout.count()) + " ms");
  }
  if (ec) throw NetworkError("resolve " + o.host + ": " + ec.message());
  return results;
}

std::unique_ptr<Conn> connect(HttpClient::Impl& impl, const HttpOptions& opts) {
  auto c = std::make_unique<Conn>();
  const Origin& o = impl.origin;
  auto endpoints = resolve(*c, o, opts.connect_timeout);
  if (o.tls) {
    c->ctx = impl.context(opts);
    c->secure.emplace(c->ioc, *c->ctx);
  } else {
    c->plain.emplace(c->ioc);
  }
  auto& tcp_stream = c->tcp();
  tcp_stream.expires_after(opts.connect_timeout);
  error_code ec = HttpClient::Impl::run(
      *c, [&](auto handler) { tcp_stream.async_connect(endpoints, handler); });
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
    ec = HttpClient::Impl::run(
        *c, [&](auto handler) { c->secure->async_handshake(ssl::stream_base::client, handler); });
    if (ec) {
      std::string detail = ec.message();
      long vr = SSL_get_verify_result(ssl_handle);
      if (vr != X509_V_OK) detail += " (" + std::string(X509_verify_cert_error_string(vr)) + ")";
      throw NetworkError("TLS handshake with " + o.host + ":" + o.port + ": " + detail);
    }
  }
  return c;
}

// Checks everything that goes on the wire before a byte is written.
http::request<http::string_body> build_request(const HttpRequest& req, const HttpOptions& opts,
                                               const Origin& o) {
  if (!is_token(req.method))
    throw InvalidRequest("invalid method \"" + quote_untrusted(req.method) + "\"");
  check_target(req.target);
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
    if (!token.empty()) {
      check_header("Authorization", token);
      r.set(http::field::authorization, "Bearer " + token);
    }
  }
  for (const auto& [k, v] : req.headers) {
    check_header(k, v);
    r.set(k, v);
  }
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

std::string describe(const error_code& ec, const HttpOptions& opts) {
  if (ec == beast::error::timeout) return "timed out";
  if (ec == http::error::body_limit) {
    size_t cap = opts.max_body_bytes;
    return "response body larger than " +
           (cap % (size_t{1} << 20) == 0 ? std::to_string(cap >> 20) + " MiB"
                                         : std::to_string(cap) + " bytes") +
           " (HttpOptions::max_body_bytes)";
  }
  return ec.message();
}

// An idle pooled connection is readable only if the server closed it (EOF,
// a TLS close_notify) or sent something unasked: either way it is not used.
bool looks_closed(Conn& c) {
  pollfd p{c.tcp().socket().native_handle(), POLLIN, 0};
  return ::poll(&p, 1, 0) != 0;
}

}  // namespace

HttpResponse HttpClient::request(const HttpRequest& req) {
  HttpResponse res = request_once(req);
  if (res.status == 401 && opts_.on_unauthorized && opts_.on_unauthorized()) {
    res = request_once(req);
  }
  return res;
}

HttpResponse HttpClient::request_once(const HttpRequest& req) {
  auto timeout = req.timeout.count() > 0 ? req.timeout : opts_.request_timeout;
  auto r = build_request(req, opts_, impl_->origin);
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<Conn> c;
    bool reused = false;
    while (true) {
      std::unique_ptr<Conn> candidate;
      {
        std::lock_guard lock(impl_->mu);
        if (impl_->idle.empty()) break;
        candidate = std::move(impl_->idle.back());
        impl_->idle.pop_back();
      }
      if (!looks_closed(*candidate)) {
        c = std::move(candidate);
        reused = true;
        break;
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
    parser.body_limit(opts_.max_body_bytes);
    if (req.method == "HEAD") parser.skip(true);
    if (!ec) {
      c->buffer.clear();
      ec = Impl::with_stream(*c, [&](auto& s) {
        return Impl::run(*c, [&](auto h) { http::async_read(s, c->buffer, parser, h); });
      });
    }
    if (ec) {
      // The server closed a pooled connection between our check and our
      // write: EOF/reset before any response byte. Only idempotent methods
      // are sent again (see http.hpp).
      bool stale = reused && attempt == 0 && !parser.got_some() && is_idempotent(req.method) &&
                   (ec == http::error::end_of_stream || ec == asio::error::eof ||
                    ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
                    ec == ssl::error::stream_truncated);
      if (stale) continue;
      throw NetworkError(req.method + " " + req.target + ": " + describe(ec, opts_));
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
  // No line is delivered for a non-2xx answer, so a 401 can be retried.
  HttpResponse res = stream_once(req, on_line, idle_timeout, cancel);
  if (res.status == 401 && opts_.on_unauthorized && opts_.on_unauthorized()) {
    res = stream_once(req, on_line, idle_timeout, cancel);
  }
  return res;
}

HttpResponse HttpClient::stream_once(const HttpRequest& req,
                                     const std::function<bool(std::string_view)>& on_line,
                                     std::chrono::milliseconds idle_timeout, CancelToken* cancel) {
  if (cancel && cancel->cancelled()) return HttpResponse{};
  auto r = build_request(req, opts_, impl_->origin);
  // Streams get a connection of their own: they can last minutes and are
  // closed (not pooled) when done, so a half-read stream never leaks into
  // another request.
  auto c = connect(*impl_, opts_);
  ++opened_;
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
    throw NetworkError(req.method + " " + req.target + ": " + describe(ec, opts_));
  }
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  ec = Impl::with_stream(*c, [&](auto& s) {
    return Impl::run(*c, [&](auto h) { http::async_read_header(s, c->buffer, parser, h); });
  });
  if (ec) {
    if (cancelled()) return HttpResponse{};
    throw NetworkError(req.method + " " + req.target + ": " + describe(ec, opts_));
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
      throw NetworkError("stream " + req.target + ": " + describe(ec, opts_));
    }
    if (!ok) {
      if (out.body.size() + n > opts_.max_body_bytes) {
        throw NetworkError(req.method + " " + req.target + ": HTTP " + std::to_string(out.status) +
                           " " + describe(http::error::body_limit, opts_));
      }
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
