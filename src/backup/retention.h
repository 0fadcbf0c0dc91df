// What happens to a backup after it is written, as vzdump does it: notes from
// --notes-template, the protected flag, and retention (--prune-backups /
// the storage's prune-backups), through the provider's optional methods.
#ifndef CTDUMP_BACKUP_RETENTION_H_
#define CTDUMP_BACKUP_RETENTION_H_

#include <cstdint>
#include <optional>
#include <string>

#include "ctdump/observer.h"
#include "ctdump/provider.h"
#include "ctdump/prune.h"
#include "ctdump/status.h"

namespace ctdump::backup {

struct NotesVars {
  std::string cluster;    // no cluster on a plain LXC host: empty
  std::string guestname;  // container hostname, or "CT<vmid>"
  std::string node;       // this host's short name
  std::string vmid;
};

// PVE's notes templates: {{cluster}}, {{guestname}}, {{node}}, {{vmid}};
// "\n" becomes a newline and "\\" a backslash. Unknown variables and a
// template longer than 1024 characters are errors naming them.
Result<std::string> RenderNotesTemplate(const std::string& tmpl, const NotesVars& vars);

// Checks a template without rendering it (for option validation).
Status ValidateNotesTemplate(const std::string& tmpl);

// Marks the backups of `vmid` on `provider` by `opts` and deletes those
// marked for removal (none with dry_run). `current` is the backup just
// written, counted even if the provider does not list it yet and never
// removed. Logs each removal; returns the number removed (or to remove).
Result<int> PruneGuest(Provider& provider, const std::string& vmid, const PruneOptions& opts,
                       const std::optional<BackupEntry>& current, bool dry_run, Observer* log);

}  // namespace ctdump::backup

#endif  // CTDUMP_BACKUP_RETENTION_H_
