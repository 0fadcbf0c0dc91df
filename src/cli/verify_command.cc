#include "cli/verify_command.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "ctdump/units.h"
#include "registry/registry.h"
#include "restore/archive_check.h"

namespace ctdump::cli {
namespace {

int Fail(const CommandContext& c, const Status& s) {
  c.out->Log(LogLevel::kErr, s.message());
  return 1;
}

// The backups to check: all of the storage's, or `volume` if it exists.
Result<std::vector<std::string>> Selected(Provider& p, const std::string& storage,
                                          const std::optional<std::string>& volume) {
  ASSIGN_OR_RETURN(auto list, p.ListBackups(std::nullopt));
  std::vector<std::string> names;
  for (const auto& b : list)
    if (!volume || b.volname == *volume) names.push_back(b.volname);
  if (volume && names.empty())
    return NotFoundError(
        fmt::format("backup '{}' does not exist on storage '{}'", *volume, storage));
  return names;
}

int VerifyArchives(const CommandContext& c, Provider& p, const std::string& storage,
                   const std::optional<std::string>& volume) {
  auto names = Selected(p, storage, volume);
  if (!names.ok()) return Fail(c, names.status());
  c.out->Log(LogLevel::kInfo,
             volume ? fmt::format("verifying backup '{}:{}' by reading it whole", storage, *volume)
                    : fmt::format("verifying {} backup(s) of storage '{}' by reading each whole",
                                  names->size(), storage));
  auto start = std::chrono::steady_clock::now();
  size_t damaged = 0;
  uint64_t bytes = 0;
  for (const auto& name : *names) {
    auto check = restore::CheckBackup(p, name, c.out);
    if (!check.ok() && check.status().code() == Code::kCancelled) return Fail(c, check.status());
    if (!check.ok()) {
      ++damaged;
      c.out->Log(LogLevel::kErr, fmt::format("backup '{}:{}' is damaged: {}", storage, name,
                                             check.status().message()));
      continue;
    }
    bytes += check->read_bytes;
    c.out->Log(LogLevel::kInfo,
               fmt::format("backup '{}:{}' is intact: {} entries, {} of data", storage, name,
                           check->entries, HumanBytes(check->data_bytes)));
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  c.out->Log(LogLevel::kInfo,
             fmt::format("verified {} backup(s), {} read in {:.1f} s; {}", names->size(),
                         HumanBytes(bytes), secs,
                         damaged ? fmt::format("{} damaged", damaged) : "no problems found"));
  return damaged ? 1 : 0;
}

}  // namespace

int RunVerifyStorage(const CommandContext& c, const std::string& storage,
                     const std::optional<std::string>& volume) {
  auto storages = registry::LoadStorageConfig(c.config_dir);
  if (!storages.ok()) return Fail(c, storages.status());
  auto section = std::find_if(storages->begin(), storages->end(),
                              [&](const Section& s) { return s.id == storage; });
  if (section != storages->end() && section->type == "datastore")
    return RunVerify(c, storage, volume);
  auto p = registry::OpenStorage(*storages, storage, c.out);
  if (!p.ok()) return Fail(c, p.status());
  int rc = VerifyArchives(c, **p, storage, volume);
  Status sh = (*p)->Shutdown();
  if (!sh.ok()) c.out->Log(LogLevel::kWarn, sh.message());
  return rc;
}

}  // namespace ctdump::cli
