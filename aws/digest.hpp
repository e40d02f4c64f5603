#pragma once
// SHA-256 and HMAC-SHA256 on OpenSSL, as SigV4 uses them: raw digests in,
// raw digests out, hex only where the protocol wants hex.

#include <string>
#include <string_view>

namespace gtoken::aws {

// The 32-byte SHA-256 digest of `data`.
std::string sha256(std::string_view data);
// The 32-byte HMAC-SHA256 of `data` under `key`.
std::string hmac_sha256(std::string_view key, std::string_view data);
// Lower-case hex of raw bytes.
std::string hex_lower(std::string_view bytes);

}  // namespace gtoken::aws
