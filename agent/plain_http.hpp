#pragma once
// A tiny blocking HTTP/1.1 client over POSIX sockets, for plain http:// only:
// the metadata server (and an http:// --iam-endpoint stand-in in tests).
// It replaces kube::HttpClient (Boost.Beast + OpenSSL) on the agent's hot
// path, so the agent in every pod maps neither.
//
// One request per connection (`Connection: close`; the agent asks about once
// every half hour). Bounded in every direction:
//   - connect within connect_timeout, the whole exchange within the request's
//     timeout (or request_timeout): one deadline, checked with poll();
//   - the response (status line, headers and body) is at most
//     max_response_bytes, the header block at most 16 KiB;
//   - no redirects: a 3xx is returned as it is;
//   - a body by Content-Length, chunked, or up to the close.
// IP literals skip the resolver; a name is resolved with getaddrinfo (the
// default metadata name never is: see metadata_address()).
//
// Nothing unsafe is written: a target or header with a control byte throws
// kube::InvalidRequest before connecting. Failures throw kube::NetworkError
// with a short text that never quotes the request's headers (a bearer token
// travels in one).

#include <chrono>
#include <string>
#include <string_view>

#include "kube/http.hpp"

namespace gtoken::agent {

struct PlainHttpOptions {
  std::string host;  // name or IP literal (IPv6 without brackets)
  std::string port = "80";
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds request_timeout{10000};
  size_t max_response_bytes = size_t{256} << 10;
  std::string user_agent = "gtoken";
};

// "http://host[:port][/path]" or "host[:port]" (IPv6 as "[::1]:8080") into
// host and port. Throws std::invalid_argument for another scheme or a
// malformed origin.
PlainHttpOptions parse_plain_http_origin(std::string_view origin);

class PlainHttpClient {
 public:
  explicit PlainHttpClient(PlainHttpOptions opts);

  // Throws kube::NetworkError (connect, timeout, I/O, malformed or oversized
  // response) or kube::InvalidRequest (before any I/O).
  kube::HttpResponse request(const kube::HttpRequest& req) const;

  const PlainHttpOptions& options() const { return opts_; }

 private:
  PlainHttpOptions opts_;
  std::string host_header_;
};

// Parses a complete response read up to the connection's close (exposed for
// tests). Throws kube::NetworkError if it is malformed or truncated.
kube::HttpResponse parse_http_response(std::string_view raw);

// Percent-encodes a query parameter value (RFC 3986 unreserved kept).
std::string url_encode(std::string_view s);

}  // namespace gtoken::agent
