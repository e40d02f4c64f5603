#pragma once
// AWS Signature Version 4 for a request sent with an Authorization header
// (what botocore's SigV4Auth does): canonical request, string to sign, the
// HMAC key chain, and the headers to add. Pure: the time comes in.

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aws/credentials.hpp"
#include "aws/percent_encoding.hpp"

namespace gtoken::aws {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct SigningScope {
  std::string region;   // e.g. us-east-1 (IAM's signing region in the aws partition)
  std::string service;  // e.g. iam, sts
};

struct RequestToSign {
  std::string method;   // GET, POST, ... (signed upper-cased, as botocore does)
  std::string host;     // the Host header: lower-case, the scheme's default port left out
  std::string path;     // the request target's path as sent ("/" when empty)
  QueryParams query;    // decoded; encoded and sorted for the signature
  Headers headers;      // the others sent; Host, X-Amz-Date, X-Amz-Security-Token and
                        // Authorization given here are replaced by the signer's
  std::string payload;  // the body as sent
};

struct SignedRequest {
  std::string amz_date;           // X-Amz-Date, YYYYMMDDTHHMMSSZ
  std::string canonical_request;  // for debugging: never contains the secret
  std::string string_to_sign;
  std::string signature;      // lower-case hex
  std::string authorization;  // the Authorization header's value
  // The headers to send besides the request's own: X-Amz-Date,
  // X-Amz-Security-Token (session credentials only), Authorization.
  Headers added_headers;
};

SignedRequest sign_v4(const RequestToSign& request, const Credentials& credentials,
                      const SigningScope& scope, std::chrono::system_clock::time_point now);

// The pieces, exposed for their tests.
std::string amz_date(std::chrono::system_clock::time_point t);
// RFC 3986 dot segments and empty segments removed (a trailing '/' kept),
// then percent-encoded with '/' kept.
std::string canonical_uri(std::string_view path);
// Each name and value encoded, sorted by name then value, "&"-joined.
std::string canonical_query(const QueryParams& query);
// kSigning = HMAC chain of "AWS4"+secret over date, region, service, "aws4_request".
std::string signing_key(std::string_view secret, std::string_view date, std::string_view region,
                        std::string_view service);
// Lower-case names, values with runs of whitespace folded to one space and
// trimmed, repeated names joined by ','; headers a proxy may change
// (User-Agent, Expect, Connection, ...) left out, as botocore does.
struct CanonicalHeaders {
  std::string lines;           // "name:value\n" per header, sorted by name
  std::string signed_headers;  // "name1;name2"
};
CanonicalHeaders canonical_headers(const Headers& headers);

}  // namespace gtoken::aws
