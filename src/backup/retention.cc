#include "backup/retention.h"

#include <fmt/format.h>

#include <algorithm>

namespace ctdump::backup {
namespace {

constexpr size_t kMaxTemplate = 1024;

// Renders, or only checks when vars is null.
Result<std::string> Render(const std::string& t, const NotesVars* vars) {
  if (t.size() > kMaxTemplate)
    return InvalidArgumentError(
        fmt::format("notes-template is longer than {} characters", kMaxTemplate));
  std::string out;
  for (size_t i = 0; i < t.size();) {
    if (t[i] == '\\' && i + 1 < t.size() && (t[i + 1] == 'n' || t[i + 1] == '\\')) {
      out += t[i + 1] == 'n' ? '\n' : '\\';
      i += 2;
    } else if (t.compare(i, 2, "{{") == 0) {
      size_t end = t.find("}}", i + 2);
      if (end == std::string::npos)
        return InvalidArgumentError(fmt::format("notes-template: unterminated '{{{{' at {}", i));
      std::string var = t.substr(i + 2, end - i - 2);
      const std::string* v = nullptr;
      if (vars) {
        if (var == "cluster")
          v = &vars->cluster;
        else if (var == "guestname")
          v = &vars->guestname;
        else if (var == "node")
          v = &vars->node;
        else if (var == "vmid")
          v = &vars->vmid;
      }
      bool known = var == "cluster" || var == "guestname" || var == "node" || var == "vmid";
      if (!known)
        return InvalidArgumentError(fmt::format("notes-template: unknown variable '{}'", var));
      if (v) out += *v;
      i = end + 2;
    } else {
      out += t[i++];
    }
  }
  return out;
}

}  // namespace

Result<std::string> RenderNotesTemplate(const std::string& tmpl, const NotesVars& vars) {
  return Render(tmpl, &vars);
}

Status ValidateNotesTemplate(const std::string& tmpl) { return Render(tmpl, nullptr).status(); }

Result<int> PruneGuest(Provider& provider, const std::string& vmid, const PruneOptions& opts,
                       const std::optional<BackupEntry>& current, bool dry_run, Observer* log) {
  if (opts.KeepsEverything()) return 0;
  if (!provider.HasFeature("list_backups") || !provider.HasFeature("delete_backup"))
    return FailedPreconditionError(
        fmt::format("storage '{}' cannot prune: its provider lacks list_backups/delete_backup",
                    provider.storage_id()));
  ASSIGN_OR_RETURN(auto list, provider.ListBackups(vmid));
  std::erase_if(list, [&](const BackupEntry& b) { return b.vmid != vmid || b.vmtype != "lxc"; });
  if (current && std::none_of(list.begin(), list.end(),
                              [&](const BackupEntry& b) { return b.volname == current->volname; }))
    list.push_back(*current);
  std::vector<PruneItem> items;
  for (const auto& b : list) items.push_back({b.ctime, b.is_protected});
  std::vector<PruneMark> marks = MarkBackups(items, opts);
  int removed = 0;
  for (size_t i = 0; i < list.size(); ++i) {
    if (marks[i] != PruneMark::kRemove) continue;
    if (current && list[i].volname == current->volname) continue;
    std::string volid = fmt::format("{}:{}", provider.storage_id(), list[i].volname);
    if (dry_run) {
      log->Log(LogLevel::kInfo, fmt::format("would remove '{}'", volid));
    } else {
      log->Log(LogLevel::kInfo, fmt::format("removing backup '{}'", volid));
      Status d = provider.DeleteBackup(list[i].volname);
      // Already gone (a concurrent prune or delete): that is what we wanted.
      if (!d.ok() && d.code() != Code::kNotFound)
        return d.WithContext(fmt::format("unable to remove backup '{}'", volid));
    }
    ++removed;
  }
  return removed;
}

}  // namespace ctdump::backup
