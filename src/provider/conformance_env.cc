#include "provider/conformance_env.h"

#include <archive.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "base/test_util.h"
#include "sys/file.h"

namespace ctdump::provider::conformance {
namespace {

constexpr int64_t kMtime = 1600000000;
constexpr uint32_t kUser = 1000, kGroup = 1001;  // a container user's file
constexpr char kNonAscii[] =
    "data/Gr\xc3\xbc\xc3\x9f"
    "e-\xe6\x97\xa5\xe6\x9c\xac.txt";
// What the standard exclusion "/tmp/?*" keeps out of the backup.
constexpr char kExcluded[] = "tmp/junk";

}  // namespace

Env::Env(const ProviderFactory& factory) : factory_(factory) {}

Env::~Env() {
  if (!base.empty()) {
    EXPECT_OK(sys::RemoveTree(base));
  }
}

void Env::SetUp() {
  auto dir = sys::MakeTempDir("/var/tmp/ctdump-provider-conformance.");
  ASSERT_OK(dir);
  base = *dir;
  ASSERT_EQ(::chmod(base.c_str(), 0755), 0);  // container root must traverse it
  storage = base + "/storage";
  ASSERT_EQ(::mkdir(storage.c_str(), 0755), 0);
  log_file = base + "/task.log";
  ASSERT_OK(sys::WriteFileAtomic(log_file, "INFO: starting new backup job\n"));
}

std::unique_ptr<Provider> Env::Open() {
  auto p = factory_(storage, &obs);
  EXPECT_TRUE(p.ok()) << "opening the provider failed: " << p.status().ToString();
  if (!p.ok()) return nullptr;
  EXPECT_NE(*p, nullptr);
  return std::move(*p);
}

void Env::MakeTree(uint32_t id_base, IdMap id_map) {
  tree = base + "/rootfs";
  this->id_base = id_base;
  map = std::move(id_map);
  auto add = [this](const std::string& rel, char type, mode_t mode, const std::string& data = "",
                    uid_t uid = 0, gid_t gid = 0) {
    std::string p = rel.empty() ? tree : tree + "/" + rel;
    if (type == 'd') {
      ASSERT_EQ(::mkdir(p.c_str(), mode), 0) << p << ": " << std::strerror(errno);
    } else if (type == 'l') {
      ASSERT_EQ(::symlink(data.c_str(), p.c_str()), 0) << p << ": " << std::strerror(errno);
    } else if (type == 'h') {
      ASSERT_EQ(::link((tree + "/" + data).c_str(), p.c_str()), 0) << p;
    } else {
      ASSERT_OK(sys::WriteFileAtomic(p, data, mode));
    }
    if (type != 'h') {
      ASSERT_EQ(::lchown(p.c_str(), uid + this->id_base, gid + this->id_base), 0) << p;
    }
    if (type == 'd' || type == 'f') {
      ASSERT_EQ(::chmod(p.c_str(), mode), 0) << p;
    }
  };
  add("", 'd', 0755);
  add("etc", 'd', 0755);
  add("etc/hostname", 'f', 0644, "ct-conformance\n");
  add("etc/data-link", 'l', 0777, "../data/file");
  add("usr", 'd', 0755);
  add("usr/sbin", 'd', 0755);
  add("usr/sbin/init", 'f', 0755, "#!/bin/sh\nexit 0\n");
  add("sbin", 'l', 0777, "usr/sbin");
  add("data", 'd', 0750, "", kUser, kGroup);
  add("data/file", 'f', 0640, ::ctdump::testing::PatternBytes(kDataSize, 7), kUser, kGroup);
  add("data/hardlink", 'h', 0, "data/file");
  add(kNonAscii, 'f', 0600, "non-ASCII name\n");
  add("empty", 'd', 0700);
  add("tmp", 'd', 01777);
  add(kExcluded, 'f', 0644, "excluded by /tmp/?*\n");
  // Distinct times, set last (creating entries changes their directory's).
  int64_t t = kMtime;
  for (const auto& e : std::filesystem::recursive_directory_iterator(tree)) {
    struct timespec ts[2] = {{t, 0}, {t, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, e.path().c_str(), ts, AT_SYMLINK_NOFOLLOW), 0);
    t += 60;
  }
  struct timespec ts[2] = {{t, 0}, {t, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, tree.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0);
}

BackupContainerRequest Env::Request(const std::string& vmid) const {
  BackupContainerRequest r;
  r.vmid = vmid;
  r.guest_config = kGuestConfig;
  r.exclude_patterns = {"/tmp/?*"};
  r.info.directory = tree;
  r.info.sources = {"./"};
  r.info.backup_user_id = map.root_uid();  // privileged: 0, host root
  r.info.firewall_config = kFirewall;
  return r;
}

void BackupGuest(Env& env, Provider& p, const std::string& vmid, int64_t start, BackupOutcome* out,
                 const std::optional<std::string>& notes, bool protect) {
  SCOPED_TRACE(fmt::format("backup of '{}' at {}", vmid, start));
  auto archive = p.BackupInit(vmid, start);
  ASSERT_OK(archive);
  ASSERT_TRUE(IsValidArchiveName(*archive))
      << "illegal characters in archive name '" << *archive << "'";
  auto mechanism = p.BackupGetMechanism(vmid);
  ASSERT_OK(mechanism);
  ASSERT_EQ(*mechanism, "directory");
  BackupContainerRequest req = env.Request(vmid);
  auto state = p.BackupContainerPrepare(vmid, req.info);
  ASSERT_OK(state);
  req.worker_state = *state;
  const int warnings_before = env.obs.warnings;
  Status s = p.BackupContainer(env.map, req);
  ASSERT_TRUE(s.ok()) << "backup_container: " << s.ToString() << "\n" << env.obs.All();
  EXPECT_EQ(env.obs.warnings, warnings_before) << "a backup of a readable tree logged warnings:\n"
                                               << env.obs.All();
  if (notes) {
    EXPECT_OK(p.UpdateAttribute(*archive, "notes", *notes));
  }
  if (protect) {
    EXPECT_OK(p.UpdateAttribute(*archive, "protected", true));
  }
  auto size = p.BackupCleanup(vmid, true, true, "");
  ASSERT_OK(size);
  if (*size) {
    EXPECT_GE(**size, kDataSize) << "archive-size is smaller than the data backed up";
    EXPECT_LE(**size, 2 * kDataSize + (1 << 20)) << "archive-size is implausibly large";
  }
  EXPECT_OK(p.BackupHandleLogFile(vmid, env.log_file));
  out->volname = *archive;
  out->size = *size;
}

void BackupJob(Env& env, const std::string& vmid, int64_t start, BackupOutcome* out,
               const std::optional<std::string>& notes, bool protect) {
  auto p = env.Open();
  ASSERT_NE(p, nullptr);
  ASSERT_OK(p->JobInit(start));
  ASSERT_NO_FATAL_FAILURE(BackupGuest(env, *p, vmid, start, out, notes, protect));
  EXPECT_OK(p->JobCleanup());
  EXPECT_OK(p->Shutdown());
}

std::vector<BackupEntry> List(Env& env, const std::optional<std::string>& vmid) {
  auto p = env.Open();
  if (!p) return {};
  auto list = p->ListBackups(vmid);
  EXPECT_TRUE(list.ok()) << "list_backups: " << list.status().ToString();
  EXPECT_OK(p->Shutdown());
  return list.ok() ? *list : std::vector<BackupEntry>();
}

std::vector<std::string> Volnames(const std::vector<BackupEntry>& list) {
  std::vector<std::string> out;
  for (const auto& e : list) out.push_back(e.volname);
  std::sort(out.begin(), out.end());
  return out;
}

const BackupEntry* Find(const std::vector<BackupEntry>& list, const std::string& volname) {
  for (const auto& e : list)
    if (e.volname == volname) return &e;
  return nullptr;
}

void Restore(Env& env, const std::string& volname, Tree* out,
             std::optional<RestoreMechanism> wanted) {
  SCOPED_TRACE("restore of '" + volname + "'" +
               (wanted ? std::string(" through ") + RestoreMechanismName(*wanted) : ""));
  auto p = env.Open();
  ASSERT_NE(p, nullptr);
  if (wanted) p->RequestRestoreMechanism(wanted);
  auto mechanism = p->RestoreGetMechanism(volname);
  ASSERT_OK(mechanism);
  if (wanted) {
    ASSERT_EQ(RestoreMechanismName(*mechanism), std::string(RestoreMechanismName(*wanted)))
        << "the provider answered another mechanism than the one asked for";
  }
  if (p->StreamsRestore() && !p->external()) {
    std::string stream;
    Status s = p->StreamRestore(
        volname,
        [&stream](const void* data, size_t size) {
          stream.append(static_cast<const char*>(data), size);
          return Status::OK();
        },
        [] { return false; });
    EXPECT_OK(s);
    if (s.ok())
      ReadTar(
          "the restore stream",
          [&stream](struct archive* a) {
            return archive_read_open_memory(a, stream.data(), stream.size());
          },
          out);
  } else {
    auto source = p->RestoreContainerInit(volname, *mechanism);
    EXPECT_OK(source);
    if (source.ok() && *mechanism == RestoreMechanism::kTar) {
      EXPECT_TRUE(sys::OpenRegularFile(*source).ok()) << "tar-path \"" << *source << "\"";
      ReadTar(
          *source,
          [&source](struct archive* a) {
            return archive_read_open_filename(a, source->c_str(), 65536);
          },
          out);
    } else if (source.ok()) {
      EXPECT_TRUE(sys::IsDirectory(*source)) << "archive-directory \"" << *source << "\"";
      ScanDirectory(*source, out);
    }
  }
  EXPECT_OK(p->RestoreContainerCleanup(volname));
  EXPECT_OK(p->Shutdown());
}

void ExpectSameTree(Env& env, Tree got) {
  Tree want;
  ASSERT_NO_FATAL_FAILURE(ScanDirectory(env.tree, &want, env.id_base));
  want.entries.erase(kExcluded);
  std::erase_if(got.entries, [](const auto& kv) { return kv.first.rfind("etc/vzdump", 0) == 0; });
  for (const auto& [path, text] : want.entries) {
    auto it = got.entries.find(path);
    if (it == got.entries.end())
      ADD_FAILURE() << "missing after restore: " << path << " (" << text << ")";
    else
      EXPECT_EQ(it->second, text) << "differs after restore: " << path;
  }
  for (const auto& [path, text] : got.entries)
    if (!want.entries.count(path))
      ADD_FAILURE() << "not in the backup, but restored: " << path << " (" << text << ")";
  EXPECT_EQ(got.hardlinks, want.hardlinks) << "hardlinks differ";
}

}  // namespace ctdump::provider::conformance
