// aws/sigv4, aws/digest, aws/percent_encoding: the SigV4 pieces against the
// examples AWS publishes (the SigV4 test suite's get-vanilla, the IAM
// ListUsers walkthrough, the signing-key derivation), and the rules each
// piece follows. tests/sigv4 compares whole signatures with botocore's.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "aws/digest.hpp"
#include "aws/percent_encoding.hpp"
#include "aws/sigv4.hpp"

namespace aws = gtoken::aws;

using namespace std::chrono_literals;

namespace {

// 2015-08-30T12:36:00Z, the time of AWS's published examples.
std::chrono::system_clock::time_point example_time() {
  return std::chrono::system_clock::time_point{} + 1440938160s;
}

const aws::Credentials kExample{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};

std::string header(const aws::SignedRequest& s, std::string_view name) {
  for (const auto& [k, v] : s.added_headers) {
    if (k == name) return v;
  }
  return "<absent>";
}

}  // namespace

TEST_CASE("digests are OpenSSL's SHA-256 and HMAC-SHA256") {
  CHECK(aws::hex_lower(aws::sha256("")) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(aws::hex_lower(aws::sha256("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2
  CHECK(aws::hex_lower(aws::hmac_sha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(aws::hex_lower(std::string("\x00\x0f\xf0\xff", 4)) == "000ff0ff");
}

TEST_CASE("percent-encoding keeps only the unreserved characters") {
  CHECK(aws::percent_encode("AZaz09-_.~") == "AZaz09-_.~");
  CHECK(aws::percent_encode("a b+c*d/e") == "a%20b%2Bc%2Ad%2Fe");
  CHECK(aws::percent_encode("a b/c", /*keep_slash=*/true) == "a%20b/c");
  CHECK(aws::percent_encode("=&%?#") == "%3D%26%25%3F%23");
  CHECK(aws::percent_encode("\xC3\xA9\xE2\x82\xAC") == "%C3%A9%E2%82%AC");  // é€
  CHECK(aws::percent_encode(std::string("\0\n", 2)) == "%00%0A");
}

TEST_CASE("percent-decoding is the inverse, and '+' stays a plus") {
  CHECK(aws::percent_decode("a%20b%2Bc%2a+d") == "a b+c*+d");
  CHECK(aws::percent_decode("%7B%22Version%22%3A%222012-10-17%22%7D") ==
        R"({"Version":"2012-10-17"})");
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  CHECK(aws::percent_decode(aws::percent_encode(all)) == all);
  CHECK_FALSE(aws::percent_decode("%").has_value());
  CHECK_FALSE(aws::percent_decode("%4").has_value());
  CHECK_FALSE(aws::percent_decode("%G0").has_value());
  CHECK_FALSE(aws::percent_decode("ab%2").has_value());
}

TEST_CASE("a form keeps the given order and encodes names and values") {
  CHECK(aws::form_encode({{"Action", "GetRole"}, {"RoleName", "a+b"}, {"x y", ""}}) ==
        "Action=GetRole&RoleName=a%2Bb&x%20y=");
  CHECK(aws::form_encode({}) == "");
}

TEST_CASE("the canonical URI removes dot and empty segments, then encodes") {
  CHECK(aws::canonical_uri("") == "/");
  CHECK(aws::canonical_uri("/") == "/");
  CHECK(aws::canonical_uri("/a/./b/../c//d/") == "/a/c/d/");
  CHECK(aws::canonical_uri("/../..") == "/");
  CHECK(aws::canonical_uri("/a b/\xC3\xA9") == "/a%20b/%C3%A9");
  // the path as sent is encoded once more (every service but S3)
  CHECK(aws::canonical_uri("/a%20b") == "/a%2520b");
}

TEST_CASE("the canonical query sorts by encoded name, then value") {
  CHECK(aws::canonical_query({}) == "");
  CHECK(aws::canonical_query({{"b", "2"}, {"a", "z"}, {"a", "y"}, {"A", "x"}}) ==
        "A=x&a=y&a=z&b=2");
  // sorted after encoding: '%' (0x25) comes before letters
  CHECK(aws::canonical_query({{"b", "1"}, {" a", "v w"}}) == "%20a=v%20w&b=1");
  CHECK(aws::canonical_query({{"k", ""}}) == "k=");
}

TEST_CASE("canonical headers: lower-case, folded, joined, proxy headers left out") {
  auto c = aws::canonical_headers({{"X-B", "  two   words \t"},
                                   {"x-a", "1"},
                                   {"User-Agent", "boto"},
                                   {"X-A", "2"},
                                   {"Connection", "keep-alive"},
                                   {"Content-Type", "text/plain"}});
  CHECK(c.lines == "content-type:text/plain\nx-a:1,2\nx-b:two words\n");
  CHECK(c.signed_headers == "content-type;x-a;x-b");
}

TEST_CASE("the signing key is AWS's published derivation") {
  CHECK(aws::hex_lower(aws::signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215",
                                        "us-east-1", "iam")) ==
        "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

TEST_CASE("X-Amz-Date is the UTC basic format") {
  CHECK(aws::amz_date(example_time()) == "20150830T123600Z");
  CHECK(aws::amz_date(example_time() + 999ms) == "20150830T123600Z");
}

TEST_CASE("get-vanilla of AWS's SigV4 test suite") {
  aws::RequestToSign r{"GET", "example.amazonaws.com", "/", {}, {}, ""};
  auto s = aws::sign_v4(r, kExample, {"us-east-1", "service"}, example_time());
  CHECK(s.canonical_request ==
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(s.signature == "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  CHECK(s.authorization ==
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  CHECK(header(s, "X-Amz-Date") == "20150830T123600Z");
  CHECK(header(s, "X-Amz-Security-Token") == "<absent>");
  CHECK(header(s, "Authorization") == s.authorization);
}

TEST_CASE("IAM's ListUsers example of the SigV4 documentation") {
  aws::RequestToSign r{"GET",
                       "iam.amazonaws.com",
                       "/",
                       {{"Version", "2010-05-08"}, {"Action", "ListUsers"}},
                       {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}},
                       ""};
  auto s = aws::sign_v4(r, kExample, {"us-east-1", "iam"}, example_time());
  CHECK(aws::hex_lower(aws::sha256(s.canonical_request)) ==
        "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
  CHECK(s.signature == "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}

TEST_CASE("session credentials sign X-Amz-Security-Token; stale auth headers are replaced") {
  aws::Credentials session = kExample;
  session.session_token = "FQoGZXIvYXdzE//token+with/slashes==";
  aws::RequestToSign r{"POST",
                       "iam.amazonaws.com",
                       "/",
                       {},
                       {{"Authorization", "old"},
                        {"X-Amz-Date", "19700101T000000Z"},
                        {"Host", "evil.example"},
                        {"Content-Type", "application/x-www-form-urlencoded"}},
                       "Action=GetRole&RoleName=r&Version=2010-05-08"};
  auto s = aws::sign_v4(r, session, {"us-east-1", "iam"}, example_time());
  CHECK(header(s, "X-Amz-Security-Token") == session.session_token);
  CHECK(s.canonical_request.find("x-amz-security-token:" + session.session_token + "\n") !=
        std::string::npos);
  CHECK(s.canonical_request.find("host:iam.amazonaws.com\n") != std::string::npos);
  CHECK(s.canonical_request.find("evil") == std::string::npos);
  CHECK(s.canonical_request.find("19700101") == std::string::npos);
  CHECK(s.authorization.find("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,") !=
        std::string::npos);
  // the payload's hash ends the canonical request
  CHECK(s.canonical_request.substr(s.canonical_request.rfind('\n') + 1) ==
        aws::hex_lower(aws::sha256(r.payload)));
  // the token changes the signature; the secret never shows
  auto plain = aws::sign_v4(r, kExample, {"us-east-1", "iam"}, example_time());
  CHECK(plain.signature != s.signature);
  CHECK(s.canonical_request.find(kExample.secret_access_key) == std::string::npos);
  CHECK(s.string_to_sign.find(kExample.secret_access_key) == std::string::npos);
}

TEST_CASE("the method is signed upper-cased") {
  aws::RequestToSign lower{"get", "example.amazonaws.com", "/", {}, {}, ""};
  auto s = aws::sign_v4(lower, kExample, {"us-east-1", "service"}, example_time());
  CHECK(s.signature == "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST_CASE("a request without credentials or host is refused") {
  aws::RequestToSign r{"GET", "iam.amazonaws.com", "/", {}, {}, ""};
  CHECK_THROWS_AS(aws::sign_v4(r, {}, {"us-east-1", "iam"}, example_time()), std::invalid_argument);
  r.host.clear();
  CHECK_THROWS_AS(aws::sign_v4(r, kExample, {"us-east-1", "iam"}, example_time()),
                  std::invalid_argument);
}
