#include "cli/datastore_storage.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <ctime>
#include <vector>

#include "datastore/manifest.h"
#include "registry/registry.h"
#include "sys/file.h"

namespace ctdump::cli {

Result<std::unique_ptr<datastore::Datastore>> OpenDatastoreStorage(const Context& ctx,
                                                                   const std::string& id) {
  ASSIGN_OR_RETURN(auto storages, registry::LoadStorageConfig(ctx.paths.config_dir));
  return registry::OpenDatastore(storages, id);
}

Result<DatastoreVolume> OpenDatastoreVolume(const Context& ctx, const std::string& volid) {
  ASSIGN_OR_RETURN(auto parts, SplitVolumeId(volid));
  DatastoreVolume v;
  ASSIGN_OR_RETURN(v.ds, OpenDatastoreStorage(ctx, parts.first));
  v.volname = parts.second;
  RETURN_IF_ERROR(datastore::ParseVolume(v.volname).status());
  return v;
}

namespace {

bool IsBlank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}
bool IsComment(std::string_view line) {
  size_t i = line.find_first_not_of(" \t");
  return i != std::string_view::npos && line[i] == '#';
}

// An indented "key value" line: its key, value (trimmed) and indentation.
struct OptionLine {
  std::string indent, key, value;
};
std::optional<OptionLine> ParseOption(std::string_view line) {
  if (line.empty() || (line[0] != ' ' && line[0] != '\t') || IsComment(line) || IsBlank(line))
    return std::nullopt;
  OptionLine o;
  size_t k = line.find_first_not_of(" \t");
  o.indent = std::string(line.substr(0, k));
  size_t end = line.find_first_of(" \t\r", k);
  o.key = std::string(line.substr(k, end == std::string_view::npos ? line.npos : end - k));
  if (end != std::string_view::npos) {
    std::string_view v = line.substr(end);
    size_t a = v.find_first_not_of(" \t"), b = v.find_last_not_of(" \t\r");
    if (a != std::string_view::npos) o.value = std::string(v.substr(a, b - a + 1));
  }
  return o;
}

std::vector<std::string> SplitList(const std::string& v) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= v.size()) {
    size_t c = v.find(',', start);
    if (c == std::string::npos) c = v.size();
    std::string p = v.substr(start, c - start);
    size_t a = p.find_first_not_of(" \t"), b = p.find_last_not_of(" \t");
    if (a != std::string::npos) out.push_back(p.substr(a, b - a + 1));
    start = c + 1;
  }
  return out;
}

}  // namespace

Result<std::string> RotateKeyInConfigText(std::string_view text, const std::string& id,
                                          const std::string& new_key) {
  if (new_key.empty() || new_key.find_first_of(", \t\r\n") != std::string::npos)
    return InvalidArgumentError(fmt::format(
        "'{}' cannot be a key path in storage.cfg (no commas or white space)", new_key));
  std::vector<std::string> lines;
  for (size_t start = 0; start <= text.size();) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    lines.emplace_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  // The header "<type>: <id>" at column 0.
  size_t header = lines.size();
  std::string type;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (l.empty() || l[0] == ' ' || l[0] == '\t' || l[0] == '#') continue;
    size_t colon = l.find(':');
    if (colon == std::string::npos) continue;
    size_t a = l.find_first_not_of(" \t", colon + 1), b = l.find_last_not_of(" \t\r");
    if (a == std::string::npos || l.substr(a, b - a + 1) != id) continue;
    header = i;
    type = l.substr(0, colon);
    break;
  }
  if (header == lines.size()) return NotFoundError(fmt::format("storage '{}' does not exist", id));
  if (type != "datastore")
    return InvalidArgumentError(fmt::format(
        "storage '{}' is of type '{}', not a datastore: only a datastore has encryption keys", id,
        type));
  size_t end = header + 1;  // one past the section's last line
  size_t key_line = 0, old_line = 0, last_option = header;
  std::string indent = "\t";
  for (; end < lines.size(); ++end) {
    const std::string& l = lines[end];
    if (IsComment(l)) continue;
    if (IsBlank(l) || (l[0] != ' ' && l[0] != '\t')) break;
    auto o = ParseOption(l);
    if (!o) continue;
    last_option = end;
    indent = o->indent;
    if (o->key == "encryption-key") key_line = end;
    if (o->key == "encryption-key-old") old_line = end;
  }
  std::optional<std::string> current;
  if (key_line) current = ParseOption(lines[key_line])->value;
  std::vector<std::string> old;
  if (old_line) old = SplitList(ParseOption(lines[old_line])->value);
  if (current && *current == new_key)
    return InvalidArgumentError(
        fmt::format("'{}' is the current key of storage '{}' already", new_key, id));
  for (const auto& o : old)
    if (o == new_key)
      return InvalidArgumentError(fmt::format(
          "'{}' is an old key of storage '{}' (encryption-key-old): a rotation needs a new key",
          new_key, id));
  if (current) old.insert(old.begin(), *current);
  std::string old_value;
  for (const auto& o : old) old_value += (old_value.empty() ? "" : ",") + o;
  const std::string key_text = indent + "encryption-key " + new_key;
  if (key_line) {
    lines[key_line] = key_text;
  } else {
    lines.insert(lines.begin() + static_cast<long>(last_option) + 1, key_text);
    key_line = last_option + 1;
    if (old_line > last_option) ++old_line;
  }
  if (!old.empty()) {
    const std::string old_text = indent + "encryption-key-old " + old_value;
    if (old_line)
      lines[old_line] = old_text;
    else
      lines.insert(lines.begin() + static_cast<long>(key_line) + 1, old_text);
  }
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) out += lines[i] + (i + 1 < lines.size() ? "\n" : "");
  return out;
}

std::string DefaultRotatedKeyPath(const std::string& current, int64_t now) {
  std::string base = current;
  if (base.ends_with(".key")) base.resize(base.size() - 4);
  std::time_t t = static_cast<std::time_t>(now);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return fmt::format("{}-{:04}{:02}{:02}T{:02}{:02}{:02}Z.key", base, tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

Result<crypt::Fingerprint> RotateStorageKey(const std::string& config_dir, const KeyRotation& r) {
  ASSIGN_OR_RETURN(registry::StorageConfig config, registry::LoadStorageConfig(config_dir));
  ASSIGN_OR_RETURN(const Section* section, registry::FindStorage(config, r.storage));
  (void)section;
  ASSIGN_OR_RETURN(std::string text, sys::ReadFile(config.path));
  // Checked before anything is written.
  ASSIGN_OR_RETURN(std::string rotated, RotateKeyInConfigText(text, r.storage, r.new_key));
  ASSIGN_OR_RETURN(crypt::Key key, crypt::Key::Generate());
  RETURN_IF_ERROR(key.SaveFile(r.new_key, r.kdf, r.passphrase));  // fsync'ed
  if (r.after_step) r.after_step("key-written");
  struct stat st {};
  mode_t mode = ::stat(config.path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0644;
  Status s = sys::WriteFileAtomic(config.path, rotated, mode);
  if (!s.ok())
    return s.WithContext(fmt::format(
        "the new key was written to \"{}\", but {} could not be updated (the storage still uses "
        "its old key)",
        r.new_key, config.path));
  if (r.after_step) r.after_step("config-written");
  return key.fingerprint();
}

Status CheckWrappedKey(const datastore::Manifest& m, const std::string& what) {
  if (!m.key_fingerprint)
    return FailedPreconditionError(
        fmt::format("backup '{}' is not encrypted: there is no key to recover", what));
  if (!m.wrapped_key)
    return FailedPreconditionError(fmt::format(
        "backup '{}' holds no key wrapped to a master key (its storage had no master-pubkey when "
        "it was made)",
        what));
  if (!datastore::HexDecode(*m.wrapped_key))
    return DataLossError(
        fmt::format("backup '{}': the wrapped key in its manifest is damaged", what));
  return Status::OK();
}

Result<crypt::Key> RecoverKeyWithMasterKey(const datastore::Manifest& m, const std::string& what,
                                           const crypt::MasterPrivateKey& master,
                                           const std::string& master_path) {
  RETURN_IF_ERROR(CheckWrappedKey(m, what));
  if (m.master_fingerprint && *m.master_fingerprint != master.FingerprintString())
    return InvalidArgumentError(
        fmt::format("backup '{}' holds its key wrapped to master key {}, not to \"{}\" ({})", what,
                    *m.master_fingerprint, master_path, master.FingerprintString()));
  ASSIGN_OR_RETURN(crypt::Key key, master.Unwrap(*datastore::HexDecode(*m.wrapped_key)));
  if (crypt::FingerprintString(key.fingerprint()) != *m.key_fingerprint)
    return DataLossError(fmt::format(
        "the key recovered from backup '{}' has fingerprint {}, but the backup is encrypted with "
        "{}",
        what, crypt::FingerprintString(key.fingerprint()), *m.key_fingerprint));
  return key;
}

}  // namespace ctdump::cli
