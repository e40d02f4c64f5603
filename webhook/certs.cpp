#include "webhook/certs.hpp"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>

namespace gtoken::webhook {

namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using NamePtr = std::unique_ptr<X509_NAME, Deleter<X509_NAME, X509_NAME_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;

void general_names_free(GENERAL_NAMES* names) {
  GENERAL_NAMES_free(names);
}
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES, general_names_free>>;

BioPtr memory_bio(std::string_view text) {
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) throw CertError("out of memory");
  return bio;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

X509Ptr read_certificate(std::string_view pem) {
  if (pem.empty()) return nullptr;
  BioPtr bio = memory_bio(pem);
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

KeyPtr read_key(std::string_view pem) {
  if (pem.empty()) return nullptr;
  BioPtr bio = memory_bio(pem);
  return KeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

std::string certificate_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1)
    throw CertError("cannot encode certificate");
  return bio_text(bio.get());
}

std::string key_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    throw CertError("cannot encode private key");
  }
  return bio_text(bio.get());
}

KeyPtr new_p256_key() {
  KeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) throw CertError("cannot generate a P-256 key");
  return key;
}

std::time_t to_time_t(TimePoint t) {
  return std::chrono::system_clock::to_time_t(t);
}

TimePoint from_asn1_time(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) return TimePoint{};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

// 128 random bits, top bit cleared so the DER INTEGER stays positive and
// 16 bytes long; never zero.
void set_random_serial(X509* cert) {
  unsigned char bytes[16];
  do {
    if (RAND_bytes(bytes, sizeof bytes) != 1) throw CertError("no randomness for a serial");
    bytes[0] &= 0x7f;
  } while (bytes[0] == 0);
  BnPtr bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert))) {
    throw CertError("cannot set serial");
  }
}

void add_extension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    throw CertError("cannot add extension " + std::string(OBJ_nid2sn(nid)));
  }
}

// Version, serial, validity, subject and key of a new certificate.
X509Ptr new_certificate(const std::string& common_name, EVP_PKEY* key, TimePoint not_before,
                        TimePoint not_after) {
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) throw CertError("out of memory");
  set_random_serial(cert.get());
  if (!ASN1_TIME_set(X509_getm_notBefore(cert.get()), to_time_t(not_before)) ||
      !ASN1_TIME_set(X509_getm_notAfter(cert.get()), to_time_t(not_after))) {
    throw CertError("cannot set validity");
  }
  NamePtr name(X509_NAME_new());
  if (!name ||
      X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1 ||
      X509_set_subject_name(cert.get(), name.get()) != 1) {
    throw CertError("cannot set subject");
  }
  if (X509_set_pubkey(cert.get(), key) != 1) throw CertError("cannot set public key");
  return cert;
}

std::string hex(const unsigned char* data, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 15];
  }
  return out;
}

std::string ip_text(const ASN1_OCTET_STRING* ip) {
  char buf[INET6_ADDRSTRLEN] = {0};
  const int length = ASN1_STRING_length(ip);
  const unsigned char* data = ASN1_STRING_get0_data(ip);
  if (length == 4 && inet_ntop(AF_INET, data, buf, sizeof buf)) return buf;
  if (length == 16 && inet_ntop(AF_INET6, data, buf, sizeof buf)) return buf;
  return {};
}

}  // namespace

bool is_valid_dns_name(std::string_view name) {
  if (name.starts_with("*.")) name.remove_prefix(2);
  if (name.empty() || name.size() > 253) return false;
  std::size_t label = 0;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      if (label == 0 || label > 63 || name[i - 1] == '-' || name[i - label] == '-') return false;
      label = 0;
      continue;
    }
    const char c = name[i];
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
    ++label;
  }
  return true;
}

bool is_valid_ip_address(std::string_view ip) {
  const std::string text(ip);
  unsigned char buf[16];
  return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

std::vector<std::string> service_dns_names(const std::string& service, const std::string& ns) {
  return {service + "." + ns + ".svc", service + "." + ns + ".svc.cluster.local",
          service + "." + ns, service};
}

CertKeyPem create_ca(const std::string& common_name, TimePoint now, std::chrono::seconds validity) {
  if (validity.count() <= 0) throw CertError("CA validity must be positive");
  KeyPtr key = new_p256_key();
  X509Ptr cert = new_certificate(common_name, key.get(), now - kNotBeforeBackdate, now + validity);
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) != 1) {
    throw CertError("cannot set issuer");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  add_extension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
  add_extension(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
  add_extension(cert.get(), &ctx, NID_subject_key_identifier, "hash");
  add_extension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) throw CertError("cannot sign CA");
  return {certificate_pem(cert.get()), key_pem(key.get())};
}

CertKeyPem issue_serving_certificate(const CertKeyPem& ca, const ServingCertRequest& request,
                                     TimePoint now) {
  if (request.validity.count() <= 0) throw CertError("certificate validity must be positive");
  if (request.dns_names.empty()) throw CertError("a serving certificate needs a DNS name");
  std::string san;
  for (const auto& name : request.dns_names) {
    if (!is_valid_dns_name(name)) throw CertError("invalid DNS name: " + name);
    san += (san.empty() ? "DNS:" : ",DNS:") + name;
  }
  for (const auto& ip : request.ip_addresses) {
    if (!is_valid_ip_address(ip)) throw CertError("invalid IP address: " + ip);
    san += ",IP:" + ip;
  }
  X509Ptr ca_cert = read_certificate(ca.cert_pem);
  KeyPtr ca_key = read_key(ca.key_pem);
  if (!ca_cert || !ca_key || EVP_PKEY_eq(X509_get0_pubkey(ca_cert.get()), ca_key.get()) != 1) {
    throw CertError("unusable CA certificate or key");
  }
  TimePoint not_after = now + request.validity;
  const TimePoint ca_not_after = from_asn1_time(X509_get0_notAfter(ca_cert.get()));
  if (ca_not_after < not_after) not_after = ca_not_after;
  if (not_after <= now) throw CertError("the CA has expired");

  KeyPtr key = new_p256_key();
  X509Ptr cert =
      new_certificate(request.dns_names.front(), key.get(), now - kNotBeforeBackdate, not_after);
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get())) != 1) {
    throw CertError("cannot set issuer");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca_cert.get(), cert.get(), nullptr, nullptr, 0);
  add_extension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
  // ECDSA keys sign; keyEncipherment is for RSA key transport.
  add_extension(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature");
  add_extension(cert.get(), &ctx, NID_ext_key_usage, "serverAuth");
  add_extension(cert.get(), &ctx, NID_subject_key_identifier, "hash");
  add_extension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");
  add_extension(cert.get(), &ctx, NID_subject_alt_name, san);
  if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) <= 0) {
    throw CertError("cannot sign certificate");
  }
  return {certificate_pem(cert.get()), key_pem(key.get())};
}

std::optional<CertFacts> inspect_certificate(std::string_view pem) {
  X509Ptr cert = read_certificate(pem);
  if (!cert) return std::nullopt;
  CertFacts facts;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  if (X509_digest(cert.get(), EVP_sha256(), digest, &digest_size) != 1) return std::nullopt;
  facts.fingerprint = hex(digest, digest_size);
  if (BnPtr serial{ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr)}) {
    if (char* text = BN_bn2hex(serial.get())) {
      facts.serial_hex = text;
      OPENSSL_free(text);
    }
  }
  char cn[256] = {0};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof cn) >
      0) {
    facts.common_name = cn;
  }
  facts.not_before = from_asn1_time(X509_get0_notBefore(cert.get()));
  facts.not_after = from_asn1_time(X509_get0_notAfter(cert.get()));
  facts.is_ca = X509_check_ca(cert.get()) != 0;
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  if (names) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
      if (name->type == GEN_DNS) {
        const ASN1_IA5STRING* dns = name->d.dNSName;
        facts.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                     static_cast<std::size_t>(ASN1_STRING_length(dns)));
      } else if (name->type == GEN_IPADD) {
        facts.ip_addresses.push_back(ip_text(name->d.iPAddress));
      }
    }
  }
  return facts;
}

std::vector<std::string> split_certificates(std::string_view bundle_pem) {
  std::vector<std::string> out;
  constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----";
  constexpr std::string_view kEnd = "-----END CERTIFICATE-----";
  std::size_t pos = 0;
  while ((pos = bundle_pem.find(kBegin, pos)) != std::string_view::npos) {
    const std::size_t end = bundle_pem.find(kEnd, pos);
    if (end == std::string_view::npos) break;
    const std::string_view block = bundle_pem.substr(pos, end + kEnd.size() - pos);
    if (X509Ptr cert = read_certificate(block)) out.push_back(certificate_pem(cert.get()));
    pos = end + kEnd.size();
  }
  return out;
}

bool key_matches_certificate(std::string_view cert_pem, std::string_view key_pem_text) {
  X509Ptr cert = read_certificate(cert_pem);
  KeyPtr key = read_key(key_pem_text);
  return cert && key && EVP_PKEY_eq(X509_get0_pubkey(cert.get()), key.get()) == 1;
}

bool certificate_verifies(std::string_view cert_pem, std::string_view ca_bundle_pem, TimePoint at) {
  X509Ptr cert = read_certificate(cert_pem);
  if (!cert) return false;
  StorePtr store(X509_STORE_new());
  if (!store) return false;
  int anchors = 0;
  for (const std::string& ca_pem : split_certificates(ca_bundle_pem)) {
    X509Ptr ca = read_certificate(ca_pem);
    if (ca && X509_STORE_add_cert(store.get(), ca.get()) == 1) ++anchors;
  }
  if (anchors == 0) return false;
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) != 1) return false;
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, to_time_t(at));
  X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
  return X509_verify_cert(ctx.get()) == 1;
}

}  // namespace gtoken::webhook
