// The conformance kit's containers (docs/design/third-party-providers.md
// §8.3): the prepared source container and the containers restores create.
//
// The source, ctdump-pt-<pid>, is an LXC config under the lxcpath
// (unprivileged, lxc.net.0.type = empty, never started) with the ID map
// u/g 0 <base> 131072 and a root file system the kit writes as host root with
// shifted ids (host id = base + container id): the tricky content of
// tests/realenv/lib.sh (hard links, a 64 MiB sparse file, a FIFO, setuid, a
// v3 file capability, POSIX ACLs including an entry for 70002, user xattrs,
// owners 0, 1000, 70000, 70001, odd names, deep paths, symlinks, nanosecond
// mtimes) in srv/data, a real-looking /etc and /sbin/init, the files the
// backup excludes, and two host-only files: srv/data/hostroot.txt (0600,
// host root) and srv/data/unmapped.txt (an id outside the map).
//
// Every container is listed in a throw-away restore journal
// (restore/restore_journal.h) while it exists, so `ctdump cleanup` removes
// what a SIGKILL left; the destructor removes it unless Keep() was called.
#ifndef CTDUMP_PROVIDERTEST_FIXTURE_H_
#define CTDUMP_PROVIDERTEST_FIXTURE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ctdump/idmap.h"
#include "ctdump/status.h"

namespace ctdump::providertest {

struct KitPaths {
  std::string lxcpath;
  std::string run_dir;    // restore locks
  std::string state_dir;  // journals
};

// Ids per container map: above 65535, so that 70000..70002 exist.
inline constexpr uint32_t kMapCount = 131072;

// The first multiple of 65536 above every host id used by an ID map under
// `lxcpath` and by root's ranges in /etc/subuid and /etc/subgid.
uint32_t PickIdBase(const std::string& lxcpath);

// Paths (relative to the root) of the source tree the kit treats specially.
inline constexpr char kDataDir[] = "srv/data";
inline constexpr char kHostRootFile[] = "srv/data/hostroot.txt";
inline constexpr char kHostRootContent[] = "host-secret\n";
inline constexpr char kUnmappedFile[] = "srv/data/unmapped.txt";
inline constexpr char kChangedFile[] = "srv/data/hello.txt";
inline constexpr char kFirewallConfig[] =
    "[OPTIONS]\nenable: 1\n\n[RULES]\nIN ACCEPT -p tcp -dport 22\n";
// The backup's --exclude-path options, and the entries they exclude (each
// with everything below it).
std::vector<std::string> ExcludeOptions();
std::vector<std::string> ExcludedPaths();

// A container of the kit: its directory under the lxcpath, journaled.
class KitContainer {
 public:
  // Journals `name` (throw-away) before anything of it exists.
  static Result<std::unique_ptr<KitContainer>> Journal(const KitPaths& paths, std::string name);
  ~KitContainer();
  KitContainer(const KitContainer&) = delete;
  KitContainer& operator=(const KitContainer&) = delete;

  const std::string& name() const { return name_; }
  std::string dir() const;     // <lxcpath>/<name>
  std::string rootfs() const;  // <lxcpath>/<name>/rootfs

  // Removes the directory, the journal and the lock files; idempotent.
  Status Destroy();
  // Leaves everything (and the journal) for inspection.
  void Keep() { keep_ = true; }

 private:
  KitContainer(const KitPaths& paths, std::string name) : paths_(paths), name_(std::move(name)) {}
  KitPaths paths_;
  std::string name_;
  bool keep_ = false;
  bool gone_ = false;
};

// Creates the source container `name` with map u/g 0 `base` kMapCount.
Result<std::unique_ptr<KitContainer>> CreateSourceContainer(const KitPaths& paths,
                                                            const std::string& name, uint32_t base);

// The map of a kit container with `base`.
IdMap KitMap(uint32_t base);

// Changes one file (kChangedFile) for the incremental backup, keeping
// nanosecond mtimes on it and its directory.
Status ChangeOneFile(const std::string& rootfs, uint32_t base);

}  // namespace ctdump::providertest

#endif  // CTDUMP_PROVIDERTEST_FIXTURE_H_
