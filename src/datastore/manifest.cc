#include "datastore/manifest.h"

#include <fmt/format.h>

#include "datastore/manifest_format.h"

namespace ctdump::datastore {
std::string HexEncode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::optional<std::string> HexDecode(std::string_view hex) {
  if (hex.size() % 2) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return out;
}

Digest ManifestSignature(const nlohmann::json& manifest, const crypt::Key& key) {
  nlohmann::json j = manifest;
  j.erase("signature");
  std::string data(kManifestSignaturePrefix, kManifestSignaturePrefixSize);
  data += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return key.KeyedDigest(data.data(), data.size());
}

Result<std::string> SealManifest(const Manifest& in, const crypt::Key* key) {
  Manifest m = in;
  m.version = kManifestVersion;
  m.signature.reset();
  m.private_part.reset();
  m.key_fingerprint.reset();
  if (key) {
    m.key_fingerprint = crypt::FingerprintString(key->fingerprint());
    nlohmann::json priv = {
        {"guest-config", m.guest_config},
        {"firewall-config", m.firewall_config ? nlohmann::json(*m.firewall_config) : nullptr}};
    std::string plain = priv.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    BlobOptions bo;
    bo.type = BlobType::kText;
    bo.key = key;
    ASSIGN_OR_RETURN(std::string blob, EncodeBlob(plain, ComputeDigest(key, plain), bo));
    m.private_part = HexEncode(blob);
  }
  nlohmann::json j = ManifestJson(m);
  if (key) j["signature"] = ManifestSignature(j, *key).Hex();
  return j.dump(1, '\t', false, nlohmann::json::error_handler_t::replace) + "\n";
}

Status UnsealManifest(std::string_view text, const crypt::Key& key, Manifest* m,
                      const std::string& what) {
  if (!m->signature || !m->private_part)
    return PermissionDeniedError(fmt::format("{} is not signed", what));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return DataLossError(fmt::format("{} is damaged: not a JSON object", what));
  if (ManifestSignature(j, key).Hex() != *m->signature)
    return DataLossError(
        fmt::format("{} is damaged: its signature does not match (changed without the key {})",
                    what, crypt::FingerprintString(key.fingerprint())));
  auto blob = HexDecode(*m->private_part);
  if (!blob) return DataLossError(fmt::format("{} is damaged: its private part is not hex", what));
  ASSIGN_OR_RETURN(std::string plain, DecodeBlob(*blob, BlobType::kText, &key, nullptr,
                                                 fmt::format("the private part of {}", what)));
  auto p = nlohmann::json::parse(plain, nullptr, false);
  if (!p.is_object())
    return DataLossError(fmt::format("{} is damaged: its private part is no JSON object", what));
  try {
    m->guest_config = p.at("guest-config").get<std::string>();
    m->firewall_config.reset();
    if (!p.at("firewall-config").is_null())
      m->firewall_config = p.at("firewall-config").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    return DataLossError(fmt::format("{} is damaged: bad private part ({})", what, e.what()));
  }
  m->sensitive = true;
  return Status::OK();
}

}  // namespace ctdump::datastore
