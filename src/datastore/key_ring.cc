#include "datastore/key_ring.h"

#include <fmt/format.h>

namespace ctdump::datastore {

// One configured key: a file (path set) or a key given loaded.
struct KeyRing::Slot {
  std::string path;                          // empty: given loaded
  std::unique_ptr<crypt::Key> key;           // loaded
  std::optional<Status> failed;              // the load failed (not tried again)
  std::optional<crypt::Fingerprint> probed;  // from the Prober
  bool probe_failed = false;
};

struct KeyRing::State {
  std::mutex mu;
  bool has_current = false;  // slots[0] is the current key
  std::vector<Slot> slots;
  Loader loader;
  Prober prober;
  int loads = 0;

  // Loads slot `i` unless it is loaded or failed; mu held.
  void Load(size_t i, bool may_prompt) {
    Slot& s = slots[i];
    if (s.key || s.failed) return;
    auto k = loader(s.path, may_prompt);
    if (!k.ok()) {
      // Not being allowed to prompt is no failure: a later call may.
      if (may_prompt) s.failed = k.status();
      return;
    }
    ++loads;
    s.key = std::make_unique<crypt::Key>(std::move(*k));
  }
  void Probe(size_t i) {
    Slot& s = slots[i];
    if (s.key || s.probed || s.probe_failed || !prober) return;
    auto fp = prober(s.path);
    if (fp.ok())
      s.probed = *fp;
    else
      s.probe_failed = true;
  }
};

KeyRing::KeyRing() = default;
KeyRing::KeyRing(std::nullopt_t) {}

KeyRing::KeyRing(std::optional<crypt::Key> current) {
  if (!current) return;
  s_ = std::make_unique<State>();
  s_->has_current = true;
  s_->slots.emplace_back();
  s_->slots.back().key = std::make_unique<crypt::Key>(std::move(*current));
}

KeyRing::KeyRing(crypt::Key current, std::vector<crypt::Key> old)
    : KeyRing(std::optional<crypt::Key>(std::move(current))) {
  for (auto& k : old) {
    s_->slots.emplace_back();
    s_->slots.back().key = std::make_unique<crypt::Key>(std::move(k));
  }
}

KeyRing::KeyRing(std::optional<std::string> current, std::vector<std::string> old, Loader loader,
                 Prober prober) {
  if (!current && old.empty()) return;
  s_ = std::make_unique<State>();
  s_->loader = std::move(loader);
  s_->prober = std::move(prober);
  s_->has_current = current.has_value();
  if (current) {
    s_->slots.emplace_back();
    s_->slots.back().path = *current;
  }
  for (auto& p : old) {
    s_->slots.emplace_back();
    s_->slots.back().path = std::move(p);
  }
}

KeyRing::KeyRing(KeyRing&&) noexcept = default;
KeyRing& KeyRing::operator=(KeyRing&&) noexcept = default;
KeyRing::~KeyRing() = default;

bool KeyRing::has_current() const { return s_ && s_->has_current; }
bool KeyRing::empty() const { return !s_ || s_->slots.empty(); }

int KeyRing::loads() const {
  if (!s_) return 0;
  std::lock_guard<std::mutex> l(s_->mu);
  return s_->loads;
}

Result<const crypt::Key*> KeyRing::Current() {
  if (!has_current()) return static_cast<const crypt::Key*>(nullptr);
  std::lock_guard<std::mutex> l(s_->mu);
  s_->Load(0, true);
  Slot& s = s_->slots[0];
  if (s.failed) return *s.failed;
  if (!s.key)
    return FailedPreconditionError(fmt::format("encryption key '{}' could not be loaded", s.path));
  return static_cast<const crypt::Key*>(s.key.get());
}

KeyRing::Found KeyRing::Find(const crypt::Fingerprint& fp, bool may_prompt) {
  Found f;
  if (empty()) return f;
  std::lock_guard<std::mutex> l(s_->mu);
  auto& slots = s_->slots;
  for (auto& s : slots)
    if (s.key && s.key->fingerprint() == fp) return Found{Lookup::kFound, s.key.get(), ""};
  // Probe first: then only the file that holds `fp` is loaded (one prompt).
  for (size_t i = 0; i < slots.size(); ++i) s_->Probe(i);
  std::vector<size_t> order;
  for (size_t i = 0; i < slots.size(); ++i)
    if (slots[i].probed && *slots[i].probed == fp) order.push_back(i);
  for (size_t i = 0; i < slots.size(); ++i)
    if (!slots[i].probed && !slots[i].key) order.push_back(i);
  std::vector<std::string> why;
  for (size_t i : order) {
    s_->Load(i, may_prompt);
    Slot& s = slots[i];
    if (s.key && s.key->fingerprint() == fp) return Found{Lookup::kFound, s.key.get(), ""};
    if (!s.key)
      why.push_back(s.failed ? s.failed->message()
                             : fmt::format("key file '{}' needs its passphrase", s.path));
  }
  f.lookup = why.empty() ? Lookup::kForeign : Lookup::kUnavailable;
  for (size_t i = 0; i < why.size(); ++i) f.why += (i ? "; " : "") + why[i];
  return f;
}

Result<const crypt::Key*> KeyRing::Require(const crypt::Fingerprint& fp, const std::string& what,
                                           const char* verb, bool may_prompt) {
  Found f = Find(fp, may_prompt);
  const std::string fps = crypt::FingerprintString(fp);
  switch (f.lookup) {
    case Lookup::kFound:
      return f.key;
    case Lookup::kNoKeys:
      return FailedPreconditionError(fmt::format(
          "{} is {} with key {}, and no encryption key is configured", what, verb, fps));
    case Lookup::kUnavailable:
      return FailedPreconditionError(fmt::format(
          "{} is {} with key {}, which could not be loaded: {}", what, verb, fps, f.why));
    case Lookup::kForeign:
      break;
  }
  return PermissionDeniedError(fmt::format("{} is {} with key {}, not with the configured key {}",
                                           what, verb, fps, KnownFingerprints()));
}

std::string KeyRing::KnownFingerprints() {
  std::string known;
  if (empty()) return known;
  std::lock_guard<std::mutex> l(s_->mu);
  for (const auto& s : s_->slots) {
    std::optional<crypt::Fingerprint> k =
        s.key ? std::optional<crypt::Fingerprint>(s.key->fingerprint()) : s.probed;
    if (k) known += (known.empty() ? "" : ", ") + crypt::FingerprintString(*k);
  }
  return known;
}

std::optional<bool> KeyRing::Knows(const crypt::Fingerprint& fp) {
  if (empty()) return false;
  std::lock_guard<std::mutex> l(s_->mu);
  bool unknown = false;
  for (size_t i = 0; i < s_->slots.size(); ++i) {
    s_->Probe(i);
    const Slot& s = s_->slots[i];
    std::optional<crypt::Fingerprint> k =
        s.key ? std::optional<crypt::Fingerprint>(s.key->fingerprint()) : s.probed;
    if (k && *k == fp) return true;
    if (!k) unknown = true;
  }
  if (unknown) return std::nullopt;
  return false;
}

}  // namespace ctdump::datastore
