#include "operator/policy_writer.hpp"

#include "operator/policy.hpp"

namespace gtoken {

PolicyWriter::PolicyWriter(Read read, Write write, IsConflict is_conflict, Options options,
                           std::shared_ptr<kube::Clock> clock, kube::Random random)
    : read_(std::move(read)),
      write_(std::move(write)),
      is_conflict_(std::move(is_conflict)),
      options_(std::move(options)),
      clock_(std::move(clock)),
      random_(std::move(random)) {}

std::shared_ptr<PolicyWriter::Gsa> PolicyWriter::state(const std::string& gsa) {
  std::lock_guard lock(mu_);
  auto& s = gsas_[gsa];
  if (!s) s = std::make_shared<Gsa>();
  return s;
}

void PolicyWriter::forget(const std::string& gsa) {
  auto st = state(gsa);
  std::lock_guard lock(st->mu);
  st->policy = nullptr;
}

PolicyWriter::Stats PolicyWriter::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void PolicyWriter::apply(const std::string& gsa, const std::string& role,
                         const std::string& member, bool add) {
  auto st = state(gsa);
  Change change{role, member, add, false, nullptr};
  std::unique_lock lock(st->mu);
  // Fast path: a fresh cached policy already says so.
  if (!st->policy.is_null() && clock_->now() - st->read_at < options_.cache_ttl &&
      has_member(st->policy, role, member) == add) {
    std::lock_guard s(mu_);
    ++stats_.cache_hits;
    return;
  }
  st->pending.push_back(&change);
  st->cv.wait(lock, [&] { return change.done || !st->busy; });
  if (change.done) {
    if (change.error) std::rethrow_exception(change.error);
    return;
  }
  // Nobody is writing: this caller writes for everyone queued so far.
  st->busy = true;
  std::vector<Change*> batch;
  batch.swap(st->pending);
  lock.unlock();
  std::exception_ptr error;
  try {
    commit(gsa, *st, batch);
  } catch (...) {
    error = std::current_exception();
  }
  lock.lock();
  for (Change* c : batch) {
    c->done = true;
    c->error = error;
  }
  st->busy = false;
  st->cv.notify_all();
  lock.unlock();
  if (error) std::rethrow_exception(error);
}

void PolicyWriter::commit(const std::string& gsa, Gsa& st, const std::vector<Change*>& batch) {
  json policy;
  bool fresh = false;
  {
    std::lock_guard lock(st.mu);
    if (!st.policy.is_null() && clock_->now() - st.read_at < options_.cache_ttl) {
      policy = st.policy;
    }
  }
  auto reread = [&] {
    policy = read_(gsa);
    fresh = true;
    std::lock_guard lock(st.mu);
    st.policy = policy;
    st.read_at = clock_->now();
    std::lock_guard s(mu_);
    ++stats_.reads;
  };
  if (policy.is_null()) reread();
  for (int attempt = 0;; ++attempt) {
    // Removals first, then additions: when one binding lets go of a member
    // that another takes up in the same batch, the member stays.
    json edited = policy;
    bool changed = false;
    for (bool add : {false, true}) {
      for (const Change* c : batch) {
        if (c->add != add) continue;
        auto e = add ? add_member(std::move(edited), c->role, c->member)
                     : remove_member(std::move(edited), c->role, c->member);
        edited = std::move(e.policy);
        changed |= e.changed;
      }
    }
    if (!changed) return;
    try {
      options_.before_write();
      json written = write_(gsa, edited);
      {
        std::lock_guard lock(st.mu);
        st.policy = written.is_object() && written.contains("etag") ? written : json(nullptr);
        st.read_at = clock_->now();
      }
      {
        std::lock_guard s(mu_);
        ++stats_.writes;
      }
      if (options_.on_write) options_.on_write(gsa, batch.size());
      return;
    } catch (const std::exception& e) {
      if (!is_conflict_(e)) throw;
      {
        std::lock_guard s(mu_);
        ++stats_.conflicts;
      }
      // A stale cached etag is expected to fail once: read again at once.
      // A real concurrent change: back off, then re-read and retry the
      // whole read-modify-write.
      if (fresh) {
        if (attempt + 1 >= options_.conflict_retries) throw;
        clock_->sleep_for(kube::backoff_delay(options_.backoff, static_cast<unsigned>(attempt),
                                              random_()));
      }
      reread();
    }
  }
}

}  // namespace gtoken
