// handle_admission under hostile bodies: what a body at the size limit can
// cost. This program replaces operator new to measure the peak of the bytes
// allocated while one body is handled.

#include <doctest/doctest.h>
#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "webhook/admission.hpp"

namespace {

std::atomic<std::size_t> g_current{0};
std::atomic<std::size_t> g_peak{0};

void* counted_alloc(std::size_t n) {
  void* p = std::malloc(n == 0 ? 1 : n);
  if (!p) throw std::bad_alloc();
  const std::size_t now = g_current += malloc_usable_size(p);
  std::size_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
  return p;
}

void counted_free(void* p) noexcept {
  if (!p) return;
  g_current -= malloc_usable_size(p);
  std::free(p);
}

}  // namespace

void* operator new(std::size_t n) {
  return counted_alloc(n);
}
void* operator new[](std::size_t n) {
  return counted_alloc(n);
}
void operator delete(void* p) noexcept {
  counted_free(p);
}
void operator delete[](void* p) noexcept {
  counted_free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  counted_free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  counted_free(p);
}

namespace {

using gtoken::webhook::AdmissionError;
using gtoken::webhook::AdmissionHttpResult;
using gtoken::webhook::AdmissionRequest;
using gtoken::webhook::Decision;
using gtoken::webhook::kDefaultAdmissionBodyLimit;
using gtoken::webhook::kMaxJsonElements;
using nlohmann::json;

const gtoken::webhook::Decide kAllowAll = [](const AdmissionRequest&) { return Decision{}; };

// Handles `body` and returns the answer with the peak of extra bytes
// allocated meanwhile (the body itself is allocated before).
AdmissionHttpResult measured(const std::string& body, std::size_t& peak_extra) {
  const std::size_t base = g_current.load();
  g_peak = base;
  AdmissionHttpResult r = gtoken::webhook::handle_admission("application/json", body,
                                                            kDefaultAdmissionBodyLimit, kAllowAll);
  peak_extra = g_peak.load() - base;
  return r;
}

std::string review_with_labels_value(const std::string& value_json) {
  return R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u",)"
         R"("kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE",)"
         R"("object":{"metadata":{"labels":)" +
         value_json + "}}}}";
}

// `prefix`, then `unit` repeated (comma-separated) until the whole is about
// `size` bytes, then `suffix`.
std::string filled(const std::string& prefix, const std::string& unit, const std::string& suffix,
                   std::size_t size) {
  std::string out = prefix;
  out.reserve(size + unit.size() + suffix.size());
  bool first = true;
  while (out.size() + unit.size() + 1 + suffix.size() <= size) {
    if (!first) out += ',';
    out += unit;
    first = false;
  }
  return out + suffix;
}

}  // namespace

TEST_CASE("the body limit is the apiserver's 3 MiB") {
  CHECK(kDefaultAdmissionBodyLimit == 3 * 1024 * 1024);
  const std::string over(kDefaultAdmissionBodyLimit + 1, ' ');
  std::size_t peak = 0;
  CHECK(measured(over, peak).error == AdmissionError::BodyTooLarge);
  CHECK(peak < 64 * 1024);
}

TEST_CASE("3 MiB of [{},{},...] is refused during the syntax pass, at almost no cost") {
  const std::string body = filled("[", "{}", "]", kDefaultAdmissionBodyLimit);
  REQUIRE(body.size() <= kDefaultAdmissionBodyLimit);
  std::size_t peak = 0;
  const AdmissionHttpResult r = measured(body, peak);
  CHECK(r.status == 400);
  REQUIRE(r.error.has_value());
  CHECK(*r.error == AdmissionError::TooManyElements);
  CHECK(json::parse(r.body)["message"].get<std::string>().rfind("TooManyElements", 0) == 0);
  MESSAGE("peak extra bytes for a 3 MiB [{},...]: " << peak);
  CHECK(peak < body.size() / 2);
}

TEST_CASE("other hostile shapes at 3 MiB: numbers, keys, deep nesting") {
  std::size_t peak = 0;
  SUBCASE("an array of 1.5 million zeros") {
    const std::string body = filled("[", "0", "]", kDefaultAdmissionBodyLimit);
    CHECK(measured(body, peak).error == AdmissionError::TooManyElements);
  }
  SUBCASE("an object of short keys") {
    std::string body = "{";
    for (std::size_t i = 0; body.size() < kDefaultAdmissionBodyLimit - 32; ++i) {
      if (i) body += ',';
      body += "\"" + std::to_string(i) + "\":0";
    }
    body += "}";
    CHECK(measured(body, peak).error == AdmissionError::TooManyElements);
  }
  SUBCASE("3 MiB of [[[[...") {
    const std::string body(kDefaultAdmissionBodyLimit, '[');
    CHECK(measured(body, peak).error == AdmissionError::JsonTooDeep);
  }
  SUBCASE("a review with its elements inside a pod") {
    const std::string body =
        review_with_labels_value(filled("[", "{}", "]", kDefaultAdmissionBodyLimit - 300));
    CHECK(measured(body, peak).error == AdmissionError::TooManyElements);
  }
  MESSAGE("peak extra bytes: " << peak);
  CHECK(peak < kDefaultAdmissionBodyLimit / 2);
}

TEST_CASE("just under the element limit is decoded, and costs a few times its size") {
  // About kMaxJsonElements - 100 elements in one review ("{}," each).
  const std::size_t n = kMaxJsonElements - 100;
  std::string body = review_with_labels_value(filled("[", "{}", "]", 3 * n));
  std::size_t peak = 0;
  AdmissionHttpResult r = measured(body, peak);
  CHECK(r.status == 200);
  MESSAGE("body " << body.size() << " bytes, peak extra " << peak);
  // The most a body can cost decoded, whatever its size and shape: a few
  // times the 3 MiB limit.
  CHECK(peak < gtoken::webhook::kMaxDecodedBytes);
  CHECK(peak < 5 * kDefaultAdmissionBodyLimit);

  // Past it, refused.
  body = review_with_labels_value(filled("[", "{}", "]", 3 * kMaxJsonElements + 300));
  CHECK(measured(body, peak).error == AdmissionError::TooManyElements);
}

TEST_CASE("a real-shaped large pod (2.5 MiB of annotation) is decoded at about its size") {
  json annotations = json::object();
  for (int i = 0; i < 25; ++i) annotations["a" + std::to_string(i)] = std::string(100 * 1024, 'x');
  const std::string body = review_with_labels_value(annotations.dump());
  std::size_t peak = 0;
  const AdmissionHttpResult r = measured(body, peak);
  CHECK(r.status == 200);
  MESSAGE("body " << body.size() << " bytes, peak extra " << peak);
  CHECK(peak < 3 * body.size());
}
