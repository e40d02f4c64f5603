// TrustWriter over a scripted IAM (operator/aws_io.hpp's functions): the
// role's document kept in memory, interference injected between calls.
#include <doctest/doctest.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "aws/iam.hpp"
#include "kube/clock.hpp"
#include "operator/trust_writer.hpp"

using json = nlohmann::json;
using gtoken::TrustSync;
using Outcome = gtoken::TrustSync::Outcome;

namespace {

const std::string kArn = "arn:aws:iam::123456789012:role/gtoken/app";
const std::string kAud = "gtoken/sts/assume-role-with-web-identity";
const std::string kForeign =
    R"({"Sid":"Ops","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"})";

std::string doc(const std::string& statements) {
  return "{ \"Version\" : \"2012-10-17\",\n  \"Statement\" : [ " + statements + " ] }";
}

gtoken::aws::IamCallError iam_error(int http, const std::string& code) {
  return gtoken::aws::IamCallError(http, {"Sender", code, "m", "r"}, "IAM said " + code);
}

// One role in memory, plus hooks run before an answer.
struct FakeIam {
  std::mutex mu;
  bool exists = true;
  std::string path = "/gtoken/";
  std::string document = doc(kForeign);
  int gets = 0, updates = 0;
  std::function<void(int get_number)> after_get;  // may edit `document`
  std::function<void()> on_update;                // may throw
  std::vector<std::string> providers;
  std::map<std::string, std::vector<std::string>> client_ids;

  gtoken::AwsIo io() {
    gtoken::AwsIo io;
    io.get_role = [this](const std::string& name) {
      std::lock_guard<std::mutex> l(mu);
      ++gets;
      if (!exists) throw iam_error(404, "NoSuchEntity");
      gtoken::aws::IamRole r{name, "AROA", kArn, path, "", document};
      if (after_get) after_get(gets);
      return r;
    };
    io.update_assume_role_policy = [this](const std::string&, const std::string& d) {
      std::lock_guard<std::mutex> l(mu);
      if (on_update) on_update();
      ++updates;
      document = d;
    };
    io.list_oidc_providers = [this] { return providers; };
    io.get_oidc_provider = [this](const std::string& arn) {
      gtoken::aws::IamOidcProvider p;
      p.client_ids = client_ids.at(arn);
      return p;
    };
    io.create_oidc_provider = [this](const std::string& url, const std::vector<std::string>& ids) {
      std::string arn = "arn:aws:iam::123456789012:oidc-provider/" + url.substr(8);
      providers.push_back(arn);
      client_ids[arn] = ids;
      return arn;
    };
    io.add_client_id_to_oidc_provider = [this](const std::string& arn, const std::string& id) {
      client_ids.at(arn).push_back(id);
    };
    return io;
  }
};

struct Fixture {
  FakeIam iam;
  std::vector<gtoken::aws::TrustGrant> grants = {gtoken::aws::google_grant("111", kAud)};
  std::shared_ptr<kube::FakeClock> clock = std::make_shared<kube::FakeClock>();
  gtoken::TrustWriterOptions options;
  gtoken::TrustWriter writer() {
    return gtoken::TrustWriter(
        iam.io(), [this](const std::string&) { return grants; }, options, clock,
        [] { return 0.5; });
  }
};

int sid_count(const std::string& document, const std::string& prefix) {
  int n = 0;
  const json parsed = json::parse(document);
  for (const auto& s : parsed["Statement"]) {
    if (s.value("Sid", "").rfind(prefix, 0) == 0) ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("a write merges gtoken's statement, keeps the foreign one byte for byte, reads back") {
  Fixture f;
  auto w = f.writer();
  TrustSync s = w.sync(kArn);
  CHECK(s.outcome == Outcome::Written);
  CHECK(f.iam.updates == 1);
  CHECK(f.iam.document.find(kForeign) != std::string::npos);
  CHECK(sid_count(f.iam.document, "GtokenManaged") == 1);
  CHECK(f.iam.document.find("111") != std::string::npos);
  CHECK_FALSE(s.sids.empty());
  // again: nothing to write
  CHECK(w.sync(kArn).outcome == Outcome::Unchanged);
  CHECK(f.iam.updates == 1);
  // the last grant goes: only gtoken's statement goes with it
  f.grants.clear();
  CHECK(w.sync(kArn).outcome == Outcome::Written);
  CHECK(f.iam.document.find(kForeign) != std::string::npos);
  CHECK(f.iam.document.find("111") == std::string::npos);
  CHECK(w.stats().writes == 2);
}

TEST_CASE("an edit made between the read and the write is not written over") {
  Fixture f;
  const std::string late =
      R"({"Sid":"LateEdit","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:TagSession"})";
  f.iam.after_get = [&](int n) {
    if (n == 1) f.iam.document = doc(kForeign + " , " + late);
  };
  auto w = f.writer();
  TrustSync s = w.sync(kArn);
  CHECK(s.outcome == Outcome::Written);
  CHECK(f.iam.document.find(late) != std::string::npos);
  CHECK(f.iam.document.find(kForeign) != std::string::npos);
  CHECK(sid_count(f.iam.document, "GtokenManaged") == 1);
  CHECK(w.stats().conflicts == 1);
}

TEST_CASE("a writer that keeps changing the role ends in Conflict after the retries, backing off") {
  Fixture f;
  f.options.conflict_retries = 3;
  int edits = 0;
  f.iam.after_get = [&](int) {
    f.iam.document = doc(kForeign + R"( , {"Sid":"E)" + std::to_string(++edits) +
                         R"(","Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:TagSession"})");
  };
  auto start = f.clock->now();
  auto w = f.writer();
  TrustSync s = w.sync(kArn);
  CHECK(s.outcome == Outcome::Conflict);
  CHECK(f.iam.updates == 0);
  CHECK(f.clock->now() > start);  // it slept between attempts
}

TEST_CASE("outside the allowed path, a missing role, a limit: nothing written, said why") {
  SUBCASE("path") {
    Fixture f;
    f.options.role_path = "/gtoken/";
    f.iam.path = "/team/";
    auto w = f.writer();
    TrustSync s = w.sync(kArn);
    CHECK(s.outcome == Outcome::OutsidePath);
    CHECK(s.message.find("/gtoken/") != std::string::npos);
    CHECK(s.role.trust_policy == doc(kForeign));  // for verify
    CHECK(f.iam.updates == 0);
  }
  SUBCASE("missing") {
    Fixture f;
    f.iam.exists = false;
    auto w = f.writer();
    CHECK(w.sync(kArn).outcome == Outcome::RoleNotFound);
  }
  SUBCASE("planner's size limit") {
    Fixture f;
    f.options.size_limit = 200;
    auto w = f.writer();
    TrustSync s = w.sync(kArn);
    CHECK(s.outcome == Outcome::TooLarge);
    CHECK(s.message.find("200") != std::string::npos);
    CHECK(f.iam.updates == 0);
  }
  SUBCASE("IAM's LimitExceeded") {
    Fixture f;
    f.iam.on_update = [] { throw iam_error(409, "LimitExceeded"); };
    auto w = f.writer();
    CHECK(w.sync(kArn).outcome == Outcome::TooLarge);
  }
  SUBCASE("throttling is the caller's to retry") {
    Fixture f;
    f.iam.on_update = [] { throw iam_error(400, "Throttling"); };
    auto w = f.writer();
    CHECK_THROWS_AS(w.sync(kArn), gtoken::aws::IamCallError);
    f.iam.on_update = nullptr;
    CHECK(w.sync(kArn).outcome == Outcome::Written);
  }
  SUBCASE("not a role ARN") {
    Fixture f;
    auto w = f.writer();
    CHECK_THROWS_AS(w.sync("arn:aws:iam::1:user/x"), std::invalid_argument);
  }
}

TEST_CASE("the leader check runs before every write and can stop it") {
  Fixture f;
  f.options.before_write = [] { throw std::runtime_error("not the leader"); };
  auto w = f.writer();
  CHECK_THROWS_AS(w.sync(kArn), std::runtime_error);
  CHECK(f.iam.updates == 0);
}

TEST_CASE("concurrent syncs of one role: writes serialized, one write for one change") {
  Fixture f;
  auto w = f.writer();
  std::vector<std::thread> threads;
  std::atomic<int> written{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (w.sync(kArn).outcome == Outcome::Written) ++written;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(f.iam.updates == 1);
  CHECK(written == 1);
  CHECK(sid_count(f.iam.document, "GtokenManaged") == 1);
}

TEST_CASE("the OIDC provider: created with the client id, or given it; never removed") {
  Fixture f;
  auto w = f.writer();
  const std::string issuer = "https://issuer.example.com/c1";
  std::string arn = w.ensure_oidc_provider("aws", "123456789012", issuer, "sts.amazonaws.com");
  CHECK(arn == "arn:aws:iam::123456789012:oidc-provider/issuer.example.com/c1");
  CHECK(f.iam.client_ids[arn] == std::vector<std::string>{"sts.amazonaws.com"});
  CHECK(w.ensure_oidc_provider("aws", "123456789012", issuer, "other") == arn);
  CHECK(f.iam.client_ids[arn] == std::vector<std::string>{"sts.amazonaws.com", "other"});
  CHECK(w.ensure_oidc_provider("aws", "123456789012", issuer, "other") == arn);
  CHECK(f.iam.client_ids[arn].size() == 2);
  CHECK(f.iam.providers.size() == 1);
}
