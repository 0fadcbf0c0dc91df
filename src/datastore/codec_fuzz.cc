// libFuzzer target for the datastore decoders (codec.h), all on the raw
// input: DecodeBlob without and with a fixed key, ParseIndex, DecodeEntry
// over the buffer record by record, and ParseManifest; CheckBlobWithoutKey. Every decoder must
// fail cleanly (DataLoss naming `what`, or the documented key errors) or
// give a value that encodes back to the same bytes.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "datastore/codec.h"

namespace {

using ctdump::Code;
using ctdump::Status;
namespace ds = ctdump::datastore;

const std::string kWhat = "fuzz input";

void CheckError(const Status& s, bool key_errors_allowed) {
  if (s.ok() || s.message().find(kWhat) == std::string::npos) __builtin_trap();
  if (s.code() == Code::kDataLoss) return;
  if (key_errors_allowed &&
      (s.code() == Code::kPermissionDenied || s.code() == Code::kFailedPrecondition))
    return;
  __builtin_trap();
}

const ctdump::crypt::Key& FixedKey() {
  static const ctdump::crypt::Key key = [] {
    std::array<uint8_t, ctdump::crypt::kKeySize> master{};
    for (size_t i = 0; i < master.size(); ++i) master[i] = static_cast<uint8_t>(i * 13 + 5);
    return ctdump::crypt::Key::FromMaster(master);
  }();
  return key;
}

void FuzzBlob(std::string_view in) {
  auto header = ds::ParseBlobHeader(in, kWhat);
  if (!header.ok()) CheckError(header.status(), false);
  // Decode as the type the header claims (to get past the type check) and
  // as a chunk.
  ds::BlobType claimed = header.ok() ? header->type : ds::BlobType::kChunk;
  for (const ctdump::crypt::Key* key :
       {static_cast<const ctdump::crypt::Key*>(nullptr), &FixedKey()}) {
    for (ds::BlobType type : {claimed, ds::BlobType::kChunk}) {
      auto plain = ds::DecodeBlob(in, type, key, nullptr, kWhat);
      if (!plain.ok()) {
        CheckError(plain.status(), true);
        continue;
      }
      if (!header.ok() || plain->size() != header->raw_size) __builtin_trap();
      const ctdump::crypt::Key* used = header->fingerprint ? key : nullptr;
      if (ds::ComputeDigest(used, *plain) != header->digest) __builtin_trap();
      if (ds::DecodeBlob(in, type, key, &header->digest, kWhat).value() != *plain) __builtin_trap();
    }
  }
  // Without the key (verify): fails cleanly, and never refuses a blob that
  // decodes with it.
  for (ds::BlobType type : {claimed, ds::BlobType::kChunk}) {
    auto info = ds::CheckBlobWithoutKey(in, type, nullptr, kWhat);
    if (!info.ok()) {
      CheckError(info.status(), false);
      if (ds::DecodeBlob(in, type, &FixedKey(), nullptr, kWhat).ok()) __builtin_trap();
      continue;
    }
    if (info->raw_size != header->raw_size) __builtin_trap();
  }
}

void FuzzIndex(std::string_view in) {
  auto index = ds::ParseIndex(in, kWhat);
  if (!index.ok()) {
    CheckError(index.status(), false);
    return;
  }
  if (ds::EncodeIndex(*index) != in) __builtin_trap();
}

void FuzzEntries(std::string_view in) {
  size_t pos = 0;
  ds::Entry e;
  std::string again;
  while (pos < in.size()) {
    auto n = ds::DecodeEntry(in.substr(pos), &e, kWhat);
    if (!n.ok()) {
      CheckError(n.status(), false);
      return;
    }
    if (*n == 0) return;  // a partial record
    if (*n > in.size() - pos) __builtin_trap();
    again.clear();
    ds::EncodeEntry(e, &again);
    if (again != in.substr(pos, *n)) __builtin_trap();
    pos += *n;
  }
}

void FuzzManifest(std::string_view in) {
  auto m = ds::ParseManifest(in, kWhat);
  if (!m.ok()) {
    CheckError(m.status(), false);
    return;
  }
  auto again = ds::ParseManifest(ds::EncodeManifest(*m), kWhat);
  if (!again.ok()) __builtin_trap();
  if (again->vmid != m->vmid || again->backup_time != m->backup_time ||
      again->guest_config != m->guest_config || again->firewall_config != m->firewall_config ||
      again->unprivileged != m->unprivileged || again->files.size() != m->files.size() ||
      again->parent != m->parent || again->key_fingerprint != m->key_fingerprint ||
      again->chunk_min != m->chunk_min || again->chunk_avg != m->chunk_avg ||
      again->chunk_max != m->chunk_max)
    __builtin_trap();
  for (size_t i = 0; i < m->files.size(); ++i)
    if (again->files[i].name != m->files[i].name || again->files[i].size != m->files[i].size ||
        again->files[i].digest != m->files[i].digest)
      __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  FuzzBlob(in);
  FuzzIndex(in);
  FuzzEntries(in);
  FuzzManifest(in);
  return 0;
}
