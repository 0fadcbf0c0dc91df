#include "registry/registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cerrno>
#include <cstdlib>

#include "provider/external_provider.h"
#include "providers/datastore_provider.h"
#include "providers/dir_provider.h"
#include "sys/file.h"

namespace ctdump::registry {

Result<StorageConfig> LoadStorageConfig(const std::string& config_dir) {
  StorageConfig config;
  config.path = config_dir + "/storage.cfg";
  // Refuses a FIFO, device or directory in its place (no hang, no endless read).
  auto text = sys::ReadRegularFile(config.path, kMaxStorageConfigSize);
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound) return config;
    return text.status();
  }
  ASSIGN_OR_RETURN(std::vector<Section> sections, ParseSectionConfig(*text, config.path));
  static_cast<std::vector<Section>&>(config) = std::move(sections);
  config.exists = true;
  return config;
}

namespace {

// Says which of a backup job's settings a storage of another type ignores.
void LogIgnored(const BackupJobSettings& job, const std::string& type, Observer* observer) {
  if (job.force_full && type != "datastore")
    observer->Log(LogLevel::kInfo,
                  "--force-full is ignored: only datastore storages back up incrementally");
  if ((job.compress || job.zstd_threads) && type != "dir")
    observer->Log(LogLevel::kInfo, "compress/zstd options are ignored for provider storages");
}

Result<std::unique_ptr<providers::DirProvider>> CreateDir(const Section& s,
                                                          const BackupJobSettings& job,
                                                          Observer* observer) {
  ASSIGN_OR_RETURN(auto p, providers::DirProvider::Create(s, observer));
  if (job.compress) RETURN_IF_ERROR(p->OverrideCompression(*job.compress));
  if (job.zstd_threads) p->set_zstd_threads(static_cast<int>(*job.zstd_threads));
  return p;
}

Result<std::unique_ptr<Provider>> CreateProvider(const Section& s, const BackupJobSettings& job,
                                                 Observer* observer, std::string* dump_dir) {
  if (s.type == "provider") {
    ASSIGN_OR_RETURN(auto p, provider::ExternalProvider::Create(s, observer));
    return std::unique_ptr<Provider>(std::move(p));
  }
  if (s.type == "dir") {
    ASSIGN_OR_RETURN(auto p, CreateDir(s, job, observer));
    if (dump_dir) *dump_dir = p->dump_dir();
    return std::unique_ptr<Provider>(std::move(p));
  }
  if (s.type == "datastore") {
    ASSIGN_OR_RETURN(auto p, providers::DatastoreProvider::Create(s, observer));
    p->set_force_full(job.force_full);
    return std::unique_ptr<Provider>(std::move(p));
  }
  return InvalidArgumentError(fmt::format("storage '{}' has unknown type '{}'", s.id, s.type));
}

// The provider of section `s`; `dump_dir`, if given, receives a dir
// storage's directory of files.
Result<std::unique_ptr<Provider>> Create(const Section& s, const BackupJobSettings& job,
                                         Observer* observer, std::string* dump_dir) {
  auto p = CreateProvider(s, job, observer, dump_dir);
  if (p.ok()) LogIgnored(job, s.type, observer);
  return p;
}

}  // namespace

Result<const Section*> FindStorage(const std::vector<Section>& storages, const std::string& id) {
  // ParseSectionConfig refuses duplicate ids: the first is the only one.
  for (const auto& s : storages)
    if (s.id == id) return &s;
  return NotFoundError(fmt::format("storage '{}' does not exist", id));
}

Result<const Section*> FindStorage(const StorageConfig& config, const std::string& id) {
  auto found = FindStorage(static_cast<const std::vector<Section>&>(config), id);
  if (found.ok()) return found;
  std::string where;
  if (!config.exists) {
    // The first command on a fresh host: say what is missing and how it looks.
    // One line: log lines escape newlines.
    where = fmt::format(
        ": no storage.cfg at {}; create it, e.g. with the line \"dir: {}\" and below it the "
        "indented line \"path /var/lib/vz\"",
        config.path, IsPveSectionId(id) ? id : "local");
  } else if (config.empty()) {
    where = fmt::format(": {} has no storages", config.path);
  } else {
    std::vector<std::string> ids;
    for (const auto& s : config) ids.push_back(s.id);
    where = fmt::format(" in {} (it has: {})", config.path, fmt::join(ids, ", "));
  }
  return NotFoundError(found.status().message() + where);
}

Result<std::unique_ptr<Provider>> OpenStorage(const std::vector<Section>& storages,
                                              const std::string& id, Observer* observer) {
  ASSIGN_OR_RETURN(const Section* s, FindStorage(storages, id));
  return Create(*s, BackupJobSettings(), observer, nullptr);
}

Result<std::unique_ptr<Provider>> OpenStorage(const StorageConfig& config, const std::string& id,
                                              Observer* observer) {
  ASSIGN_OR_RETURN(const Section* s, FindStorage(config, id));
  return Create(*s, BackupJobSettings(), observer, nullptr);
}

Result<std::unique_ptr<Provider>> OpenStorage(const std::string& config_dir, const std::string& id,
                                              Observer* observer) {
  ASSIGN_OR_RETURN(auto storages, LoadStorageConfig(config_dir));
  return OpenStorage(storages, id, observer);
}

namespace {

Result<std::unique_ptr<datastore::Datastore>> OpenDatastoreOf(const Section& s, bool may_prompt) {
  if (s.type != "datastore")
    return InvalidArgumentError(
        fmt::format("storage '{}' is of type '{}', not a datastore", s.id, s.type));
  return providers::OpenDatastore(s, may_prompt);
}

}  // namespace

Result<std::unique_ptr<datastore::Datastore>> OpenDatastore(const std::vector<Section>& storages,
                                                            const std::string& id,
                                                            bool may_prompt) {
  ASSIGN_OR_RETURN(const Section* s, FindStorage(storages, id));
  return OpenDatastoreOf(*s, may_prompt);
}

Result<std::unique_ptr<datastore::Datastore>> OpenDatastore(const StorageConfig& config,
                                                            const std::string& id,
                                                            bool may_prompt) {
  ASSIGN_OR_RETURN(const Section* s, FindStorage(config, id));
  return OpenDatastoreOf(*s, may_prompt);
}

Result<StorageSettings> ParseStorageSettings(const Section& section) {
  StorageSettings settings;
  if (auto v = section.Get("prune-backups")) {
    auto po = ParsePruneOptions(*v);
    if (!po.ok())
      return po.status().WithContext(fmt::format("storage '{}': prune-backups", section.id));
    settings.prune = *po;
  }
  if (auto v = section.Get("max-protected-backups")) {
    char* end = nullptr;
    errno = 0;
    long long n = std::strtoll(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0' || errno != 0 || n < -1)
      return InvalidArgumentError(fmt::format(
          "storage '{}': max-protected-backups '{}' is not an integer >= -1", section.id, *v));
    settings.max_protected = n;
  }
  return settings;
}

Result<BackupStorage> OpenBackupStorage(const std::string& config_dir, const std::string& id,
                                        const BackupJobSettings& job, Observer* observer) {
  auto context = [&id](const Status& s) {
    return s.WithContext(fmt::format("could not get storage information for '{}'", id));
  };
  auto storages = LoadStorageConfig(config_dir);
  if (!storages.ok()) return context(storages.status());
  auto found = FindStorage(*storages, id);
  if (!found.ok()) return context(found.status());
  const Section* sec = *found;
  BackupStorage storage;
  ASSIGN_OR_RETURN(storage.settings, ParseStorageSettings(*sec));
  auto p = Create(*sec, job, observer, &storage.dump_dir);
  if (!p.ok()) return context(p.status());
  storage.provider = std::move(*p);
  return storage;
}

Result<BackupStorage> OpenDumpDir(const std::string& dir, const BackupJobSettings& job,
                                  Observer* observer) {
  if (!sys::IsDirectory(dir)) return NotFoundError(fmt::format("dumpdir '{}' does not exist", dir));
  Section sec{"dir", "", {{"path", dir}}};
  ASSIGN_OR_RETURN(auto p, CreateDir(sec, job, observer));
  LogIgnored(job, sec.type, observer);
  p->set_dump_dir(dir);
  BackupStorage storage;
  storage.dump_dir = dir;
  storage.provider = std::move(p);
  return storage;
}

}  // namespace ctdump::registry
