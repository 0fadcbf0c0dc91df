// Needs root (label "root"): extracts real archives into a directory owned
// by a container's root (map u/g 0 100000 65536) through a user namespace,
// and checks the result from the host.
#include "extract/extract_test_fixture.h"

namespace ctdump::extract {
namespace {

TEST_F(ExtractTest, GnuTarArchiveKeepsMetadataWithShiftedOwners) {
  std::string src = dir_ + "/src";
  ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
  MakeTree(src);
  std::string tar = dir_ + "/backup.tar";
  Shell("tar --numeric-owner --xattrs --xattrs-include='*' --acls --sparse -cpf " + tar + " -C " +
        src + " .");
  ExtractOptions o;
  o.untrusted = true;
  auto stats = Extract(tar, o);
  ASSERT_TRUE(stats.ok()) << stats.status().message() << "\n" << log_.All();
  CheckTree(root_);
  EXPECT_GE(stats->entries, 20u);
  EXPECT_EQ(stats->skipped_existing, 0u);
  EXPECT_EQ(stats->unmapped_ids, 0u);
  EXPECT_TRUE(log_.Has("INFO: checking archive..")) << log_.All();
  EXPECT_FALSE(log_.Has("WARN")) << log_.All();
  EXPECT_EQ(log_.last_progress.bytes, static_cast<uint64_t>(Lstat(tar).st_size));
  // The restore's progress counts the files it wrote (it said "0 files").
  EXPECT_EQ(log_.last_progress.phase, "restore");
  EXPECT_EQ(log_.last_progress.files, stats->entries);
  EXPECT_EQ(log_.last_progress.total_bytes, static_cast<uint64_t>(Lstat(tar).st_size));
  ExpectNothingOutside();
}

TEST_F(ExtractTest, CompressionIsDetectedFromContent) {
  std::string tar = dir_ + "/plain.tar";
  WriteTar(tar, RootfsMembers());
  struct Case {
    const char* name;
    const char* compress;  // shell filter
  } cases[] = {
      {"zstd-named.tar.gz", "zstd -q -c"},
      {"gzip-named.tar.zst", "gzip -c"},
      {"xz-named.tar", "xz -c"},
      {"none-named.tar.xz", "cat"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::string file = dir_ + "/" + c.name;
    Shell(std::string(c.compress) + " < " + tar + " > " + file);
    std::string root = dir_ + "/root-" + c.name;
    MakeRoot(root);
    auto stats = ExtractTarFile(file, root, map_, {}, &log_);
    ASSERT_TRUE(stats.ok()) << stats.status().message();
    EXPECT_EQ(stats->entries, 11u);
    EXPECT_EQ(ReadAll(root + "/etc/f5"), "x");
    EXPECT_EQ(Lstat(root + "/etc/f5").st_uid, 100000u);
  }
}

struct Malicious {
  const char* test;
  std::vector<Member> members;
  const char* entry;  // named in the error
  const char* why;
};

TEST_F(ExtractTest, HostileMembersFailNamingTheEntry) {
  const std::string outside = outside_;
  std::vector<Malicious> cases = {
      {"absolute", {File("./ok", "1"), File(outside + "/abs", "x")}, "/abs", "absolute path"},
      {"dotdot", {File("../escape", "x")}, "../escape", "path contains '..'"},
      {"inner dotdot", {File("a/../../escape", "x")}, "a/../../escape", "path contains '..'"},
      {"hardlink absolute",
       {Hardlink("h", "/etc/shadow")},
       "h",
       "hardlink target '/etc/shadow' is absolute"},
      {"hardlink dotdot", {Hardlink("h", "../x")}, "h", "hardlink target '../x' contains '..'"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.test);
    std::string tar = dir_ + "/evil.tar";
    WriteTar(tar, c.members);
    auto stats = Extract(tar);
    ASSERT_FALSE(stats.ok());
    EXPECT_EQ(stats.status().code(), Code::kInvalidArgument);
    const std::string& msg = stats.status().message();
    EXPECT_NE(msg.find("refusing entry '"), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.entry), std::string::npos) << msg;
    EXPECT_NE(msg.find("' in '" + tar + "': " + c.why), std::string::npos) << msg;
    ExpectNothingOutside();
  }
}

TEST_F(ExtractTest, SymlinkThenMemberThroughItStaysInside) {
  struct stat etc_passwd = Lstat("/etc/passwd");
  std::string before = ReadAll("/etc/passwd");
  std::string tar = dir_ + "/evil.tar";
  WriteTar(tar, {Symlink("link", outside_), File("link/passwd", "owned"), Symlink("etc", "/etc"),
                 File("etc/passwd", "owned")});
  auto stats = Extract(tar);
  ASSERT_FALSE(stats.ok());
  const std::string& msg = stats.status().message();
  // Both members fail; files are written on worker threads, so either may be
  // the one named first (file_writers.h: the order of errors may differ).
  EXPECT_TRUE(msg.find("link/passwd") != std::string::npos ||
              msg.find("etc/passwd") != std::string::npos)
      << msg;
  EXPECT_NE(msg.find("(and 1 more errors)"), std::string::npos) << msg;
  EXPECT_NE(msg.find(tar), std::string::npos) << msg;
  EXPECT_EQ(ReadAll("/etc/passwd"), before);
  EXPECT_EQ(Lstat("/etc/passwd").st_mtime, etc_passwd.st_mtime);
  ExpectNothingOutside();
  // The symlink itself is harmless and was written, pointing where it said.
  EXPECT_TRUE(S_ISLNK(Lstat(root_ + "/link").st_mode));
}

TEST_F(ExtractTest, HardlinkThroughSymlinkCannotReachOutside) {
  std::string elsewhere = dir_ + "/elsewhere";
  Shell("mkdir " + elsewhere + " && echo secret > " + elsewhere +
        "/secret && chown -R 100000:100000 " + elsewhere);
  std::string tar = dir_ + "/evil.tar";
  WriteTar(tar, {Symlink("link", elsewhere), Hardlink("h", "link/secret")});
  auto stats = Extract(tar);
  ASSERT_FALSE(stats.ok());
  EXPECT_NE(stats.status().message().find("'./h'"), std::string::npos) << stats.status().message();
  EXPECT_EQ(Lstat(elsewhere + "/secret").st_nlink, 1u);
  EXPECT_FALSE(sys::PathExists(root_ + "/h"));
}

TEST_F(ExtractTest, DirectoryReplacedBySymlinkStaysInside) {
  std::string tar = dir_ + "/evil.tar";
  WriteTar(tar, {Dir("d"), Symlink("d", outside_), File("d/f", "x")});
  // Without force the existing directory is kept and d/f lands in it.
  auto kept = Extract(tar);
  ASSERT_TRUE(kept.ok()) << kept.status().message();
  EXPECT_EQ(kept->skipped_existing, 1u);
  EXPECT_TRUE(S_ISDIR(Lstat(root_ + "/d").st_mode));
  EXPECT_EQ(ReadAll(root_ + "/d/f"), "x");
  ExpectNothingOutside();

  // With force the symlink replaces the (empty) directory; then the member
  // through it is refused.
  ASSERT_TRUE(sys::RemoveTree(root_).ok());
  MakeRoot(root_);
  ExtractOptions force;
  force.force = true;
  auto forced = Extract(tar, force);
  ASSERT_FALSE(forced.ok());
  EXPECT_NE(forced.status().message().find("'./d/f'"), std::string::npos)
      << forced.status().message();
  ExpectNothingOutside();
}

TEST_F(ExtractTest, ExistingFilesAreKeptUnlessForce) {
  Shell("mkdir -p " + root_ + "/etc && echo old > " + root_ +
        "/etc/hostname && chown -R 100000:100000 " + root_);
  std::string tar = dir_ + "/a.tar";
  WriteTar(tar, {Dir("./etc/"), File("./etc/hostname", "new\n"), File("./etc/other", "other\n")});
  auto kept = Extract(tar);
  ASSERT_TRUE(kept.ok()) << kept.status().message();
  EXPECT_EQ(kept->skipped_existing, 1u);
  EXPECT_EQ(kept->entries, 2u);
  EXPECT_EQ(ReadAll(root_ + "/etc/hostname"), "old\n");
  EXPECT_EQ(ReadAll(root_ + "/etc/other"), "other\n");

  ExtractOptions force;
  force.force = true;
  auto forced = Extract(tar, force);
  ASSERT_TRUE(forced.ok()) << forced.status().message();
  EXPECT_EQ(forced->skipped_existing, 0u);
  EXPECT_EQ(ReadAll(root_ + "/etc/hostname"), "new\n");
  EXPECT_EQ(Lstat(root_ + "/etc/hostname").st_uid, 100000u);
}

// borg's archives (ctdump-provider-borg) hold a mount point's tree before the
// root's: "mnt/data/..." comes before "mnt/" itself.  The parent is created
// implicitly first; its own entry, when it comes, still sets its owner, mode
// and mtime.
TEST_F(ExtractTest, DirectoryEntryAfterItsChildrenSetsItsAttributes) {
  std::string tar = dir_ + "/mp-first.tar";
  Member mnt = Dir("./mnt/");
  mnt.perm = 0710;
  mnt.uid = 7;
  mnt.gid = 8;
  WriteTar(tar, {Dir("./mnt/data/"), File("./mnt/data/on-mp.txt", "mp\n"), Dir("./"), mnt,
                 File("./etc-file", "x")});
  auto stats = Extract(tar);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  struct stat st = Lstat(root_ + "/mnt");
  EXPECT_EQ(st.st_mode & 07777, 0710u);
  EXPECT_EQ(st.st_uid, 100007u);
  EXPECT_EQ(st.st_gid, 100008u);
  EXPECT_EQ(st.st_mtime, kMtime);
  EXPECT_EQ(ReadAll(root_ + "/mnt/data/on-mp.txt"), "mp\n");
  ExpectNothingOutside();
}

TEST_F(ExtractTest, UntrustedChecks) {
  ExtractOptions o;
  o.untrusted = true;
  std::string tar = dir_ + "/u.tar";

  auto members = RootfsMembers();
  members.pop_back();  // 10 members
  WriteTar(tar, members);
  auto ok = Extract(tar, o);
  EXPECT_TRUE(ok.ok()) << ok.status().message();

  members.pop_back();  // 9
  WriteTar(tar, members);
  auto few = Extract(tar, o);
  ASSERT_FALSE(few.ok());
  EXPECT_EQ(few.status().message(), "less than 10 members in archive '" + tar + "'");

  members = RootfsMembers();
  members.erase(members.begin() + 1);  // no ./sbin
  members.push_back(File("./usr/sbin/x", "x"));
  WriteTar(tar, members);
  auto no_sbin = Extract(tar, o);
  ASSERT_FALSE(no_sbin.ok());
  EXPECT_EQ(no_sbin.status().message(),
            "no 'sbin' directory (or link) found in archive '" + tar + "'");

  // A trusted extraction does not care.
  EXPECT_TRUE(Extract(tar).ok());

  // External archives are never extracted as host root.
  WriteTar(tar, RootfsMembers());
  auto privileged = ExtractTarFile(tar, root_, IdMap(), o, &log_);
  ASSERT_FALSE(privileged.ok());
  EXPECT_EQ(privileged.status().code(), Code::kPermissionDenied);
}

TEST_F(ExtractTest, UntrustedMultiVolumeMemberIsRefused) {
  // GNU tar's second volume starts with an 'M' (continuation) member.
  Shell("set -e; cd " + dir_ +
        " && head -c 30000 /dev/urandom > big && tar -c -M -L 20 -f v1.tar -f v2.tar big");
  ExtractOptions o;
  o.untrusted = true;
  auto r = Extract(dir_ + "/v2.tar", o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "found multi-volume member in archive");
  // Trusted, the untyped member is refused by the child as well.
  auto trusted = Extract(dir_ + "/v2.tar");
  ASSERT_FALSE(trusted.ok());
  EXPECT_NE(trusted.status().message().find("refusing entry 'big'"), std::string::npos)
      << trusted.status().message();
  EXPECT_FALSE(sys::PathExists(root_ + "/big"));
}

TEST_F(ExtractTest, UnrepresentableOwnersFallBackAndAreReported) {
  std::string tar = dir_ + "/priv.tar";
  Member acl = File("./acl", "x", 0640);
  acl.acl = "user::rw-,user:1000:r--,user:100042:r--,group::r--,mask::r--,other::---";
  WriteTar(
      tar,
      {Dir("./"), File("./ok", "ok", 0644, 1000, 1000), File("./huge", "x", 04755, 4000000000LL, 0),
       File("./shifted", "x", 02755, 100042, 100042), File("./group", "x", 0640, 0, 70000), acl});
  auto stats = Extract(tar);
  ASSERT_TRUE(stats.ok()) << stats.status().message() << "\n" << log_.All();
  EXPECT_EQ(stats->unmapped_ids, 4u);
  EXPECT_EQ(stats->unmapped_examples,
            (std::vector<std::string>{"./huge", "./shifted", "./group", "./acl"}));
  struct stat st = Lstat(root_ + "/ok");
  EXPECT_EQ(st.st_uid, 101000u);
  st = Lstat(root_ + "/huge");
  EXPECT_EQ(st.st_uid, 165534u);
  EXPECT_EQ(st.st_gid, 100000u);
  EXPECT_EQ(st.st_mode & 07777, 0755u) << "setuid dropped with the owner";
  st = Lstat(root_ + "/shifted");
  EXPECT_EQ(st.st_uid, 165534u);
  EXPECT_EQ(st.st_gid, 165534u);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_EQ(Lstat(root_ + "/group").st_gid, 165534u);
  // The ACL entry too goes to nobody (docs/restore.md), not away.
  EXPECT_EQ(AclNamed(Xattr(root_ + "/acl", "system.posix_acl_access")),
            (std::vector<std::pair<int, uint32_t>>{{2, 101000}, {2, 165534}}));
  EXPECT_EQ(stats->unmapped_acl_entries, 1u);
  EXPECT_FALSE(log_.Has("WARN")) << log_.All();
}

// GNU tar stores an ACL twice (SCHILY.acl.access and, with
// --xattrs-include='*', the raw xattr): both ways an unmapped entry goes to
// 65534 and merges with an entry already there.
TEST_F(ExtractTest, UnrepresentableAclEntriesFromGnuTarGoToNobody) {
  std::string src = dir_ + "/src";
  ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
  Shell("set -e; cd " + src +
        "; mkdir sbin; echo x > f; setfacl -m u:70000:r,u:65534:w,g:80000:x,u:7:r f");
  for (const char* xattrs : {"", " --xattrs --xattrs-include='*'"}) {
    std::string tar = dir_ + "/acl.tar";
    Shell("tar --numeric-owner --acls" + std::string(xattrs) + " -cpf " + tar + " -C " + src +
          " .");
    std::string root = dir_ + "/r" + std::to_string(std::strlen(xattrs));
    MakeRoot(root);
    auto stats = ExtractTarFile(tar, root, map_, {}, &log_);
    ASSERT_TRUE(stats.ok()) << stats.status().message() << "\n" << log_.All();
    EXPECT_EQ(AclNamed(Xattr(root + "/f", "system.posix_acl_access")),
              (std::vector<std::pair<int, uint32_t>>{{2, 100007}, {2, 165534}, {8, 165534}}))
        << xattrs;
    std::string text;
    FILE* p = ::popen(("getfacl -n --omit-header " + root + "/f").c_str(), "r");
    char buf[256];
    while (p && std::fgets(buf, sizeof(buf), p)) text += buf;
    if (p) ::pclose(p);
    EXPECT_NE(text.find("user:165534:rw-"), std::string::npos) << text;
    EXPECT_NE(text.find("group:165534:--x"), std::string::npos) << text;
    EXPECT_EQ(stats->unmapped_ids, 1u);
    EXPECT_EQ(stats->unmapped_acl_entries, 2u) << xattrs;
  }
  EXPECT_FALSE(log_.Has("WARN")) << log_.All();
}

TEST_F(ExtractTest, DevContentIsSkipped) {
  std::string tar = dir_ + "/dev.tar";
  WriteTar(tar, {Dir("./dev/"), CharDevice("./dev/null", makedev(1, 3)), Dir("./dev/pts/"),
                 File("./dev/x", "x"), File("./devices", "kept")});
  auto stats = Extract(tar);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(stats->entries, 2u);
  EXPECT_TRUE(S_ISDIR(Lstat(root_ + "/dev").st_mode));
  EXPECT_EQ(Shell("test -z \"$(ls -A " + root_ + "/dev)\""), 0);
  EXPECT_EQ(ReadAll(root_ + "/devices"), "kept");
}

TEST_F(ExtractTest, DeviceOutsideDevFailsButOthersAreWritten) {
  std::string tar = dir_ + "/dev.tar";
  WriteTar(tar, {CharDevice("./null", makedev(1, 3)), File("./after", "after")});
  auto stats = Extract(tar);
  ASSERT_FALSE(stats.ok());
  EXPECT_NE(stats.status().message().find("'./null'"), std::string::npos)
      << stats.status().message();
  EXPECT_EQ(ReadAll(root_ + "/after"), "after") << "tar goes on after a failed member";
}

TEST_F(ExtractTest, BandwidthLimitIsHonored) {
  std::string tar = dir_ + "/bw.tar";
  WriteTar(tar, {File("./blob", std::string(2 << 20, 'b'))});
  ExtractOptions o;
  o.bwlimit = 8 << 20;  // ~0.25 s for the 2 MiB archive; not asserted
  auto stats = Extract(tar, o);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(Lstat(root_ + "/blob").st_size, 2 << 20);
}

TEST_F(ExtractTest, SignalCancelsExtraction) {
  std::string tar = dir_ + "/slow.tar";
  WriteTar(tar, {File("./blob", std::string(4 << 20, 'b'))});
  sys::InstallInterruptHandlers();
  sys::ResetInterruptForTest();
  Shell("(sleep 0.3; kill -TERM " + std::to_string(::getpid()) + ") &");
  ExtractOptions o;
  o.bwlimit = 256 << 10;  // 16 s for the whole archive
  auto start = std::chrono::steady_clock::now();
  auto stats = Extract(tar, o);
  auto took = std::chrono::steady_clock::now() - start;
  sys::ResetInterruptForTest();
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.status().code(), Code::kCancelled) << stats.status().message();
  EXPECT_NE(stats.status().message().find(tar), std::string::npos);
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST_F(ExtractTest, TruncatedAndCorruptArchivesNameTheArchive) {
  std::string tar = dir_ + "/full.tar";
  std::string noise(100000, '\0');
  for (size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<char>((i * 2654435761u) >> 13);
  WriteTar(tar, {File("./a", noise), File("./b", "b")});
  std::string cut = dir_ + "/cut.tar";
  Shell("head -c 50000 " + tar + " > " + cut);
  auto truncated = Extract(cut);
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.status().code(), Code::kDataLoss) << truncated.status().message();
  EXPECT_NE(truncated.status().message().find(cut), std::string::npos)
      << truncated.status().message();

  std::string zcut = dir_ + "/cut.tar.zst";
  Shell("zstd -q -c " + tar + " | head -c 200 > " + zcut);
  auto ztruncated = Extract(zcut);
  ASSERT_FALSE(ztruncated.ok());
  EXPECT_NE(ztruncated.status().message().find(zcut), std::string::npos)
      << ztruncated.status().message();

  std::string garbage = dir_ + "/garbage.tar";
  Shell("head -c 10000 /dev/urandom > " + garbage);
  auto bad = Extract(garbage);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kDataLoss);
  EXPECT_NE(bad.status().message().find(garbage), std::string::npos) << bad.status().message();

  ExtractOptions o;
  o.untrusted = true;
  auto bad_untrusted = Extract(garbage, o);
  ASSERT_FALSE(bad_untrusted.ok());
  EXPECT_NE(bad_untrusted.status().message().find(garbage), std::string::npos);
}

TEST_F(ExtractTest, InputsAreChecked) {
  auto dir = Extract(dir_);
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().message(), "not a regular file '" + dir_ + "'");
  std::string fifo = dir_ + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto f = Extract(fifo);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().message(), "not a regular file '" + fifo + "'");
  auto missing = Extract(dir_ + "/missing.tar");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);

  // A root container root cannot reach is the child's error, naming it.
  std::string tar = dir_ + "/a.tar";
  WriteTar(tar, RootfsMembers());
  std::string hidden = dir_ + "/hidden";
  ASSERT_EQ(::mkdir(hidden.c_str(), 0700), 0);
  std::string unreachable = hidden + "/root";
  MakeRoot(unreachable);
  auto r = ExtractTarFile(tar, unreachable, map_, {}, &log_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("Failed to enter target root '" + unreachable + "'"),
            std::string::npos)
      << r.status().message();
}

TEST_F(ExtractTest, NamesAreKeptByteForByte) {
  std::string src = dir_ + "/src";
  ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
  Shell("cd " + src + " && touch \"$(printf 'caf\\303\\251')\" \"$(printf 'raw\\377\\376')\" " +
        "\"$(printf 'new\\nline')\"");
  for (const char* format : {"gnu", "posix"}) {
    SCOPED_TRACE(format);
    std::string tar = dir_ + "/names-" + format + ".tar";
    Shell(std::string("tar --format=") + format + " -cf " + tar + " -C " + src + " .");
    std::string root = dir_ + "/root-" + format;
    MakeRoot(root);
    auto stats = ExtractTarFile(tar, root, map_, {}, &log_);
    ASSERT_TRUE(stats.ok()) << stats.status().message();
    EXPECT_TRUE(sys::PathExists(root + "/caf\xc3\xa9"));
    EXPECT_TRUE(sys::PathExists(root + "/raw\xff\xfe"));
    EXPECT_TRUE(sys::PathExists(root + "/new\nline"));
  }
}

TEST_F(ExtractTest, PrivilegedTargetKeepsIds) {
  std::string tar = dir_ + "/p.tar";
  WriteTar(tar, {File("./f", "x", 04755, 4000000000LL, 42)});
  auto stats = ExtractTarFile(tar, root_, IdMap(), {}, &log_);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  struct stat st = Lstat(root_ + "/f");
  EXPECT_EQ(st.st_uid, 4000000000u);
  EXPECT_EQ(st.st_gid, 42u);
  EXPECT_EQ(stats->unmapped_ids, 0u);
}

// restore-file: host root writes the stored owners, so a setuid-root file
// or a file capability from a backup would work on the host.
TEST_F(ExtractTest, StripPrivilegesRemovesSetidBitsAndCapabilities) {
  std::string src = dir_ + "/src";
  ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
  MakeTree(src);
  Shell("set -e; cd " + src +
        "; mkdir shared; chmod 2775 shared; printf g > sgid; chmod 2755 sgid");
  std::string tar = dir_ + "/backup.tar";
  Shell("tar --numeric-owner --xattrs --xattrs-include='*' --acls -cpf " + tar + " -C " + src +
        " .");
  ExtractOptions o;
  o.strip_privileges = true;
  auto stats = ExtractTarFile(tar, root_, IdMap(), o, &log_);
  ASSERT_TRUE(stats.ok()) << stats.status().message() << "\n" << log_.All();
  EXPECT_EQ(Lstat(root_ + "/usr/bin/su").st_mode & 07777, 0755u);
  EXPECT_EQ(Lstat(root_ + "/usr/bin/su").st_uid, 0u);
  EXPECT_EQ(Lstat(root_ + "/sgid").st_mode & 07777, 0755u);
  EXPECT_EQ(Lstat(root_ + "/shared").st_mode & 07777, 02775u) << "a directory keeps setgid";
  EXPECT_EQ(Xattr(root_ + "/usr/bin/ping", "security.capability"), "");
  EXPECT_EQ(ReadAll(root_ + "/usr/bin/ping"), "ping");
  EXPECT_EQ(Xattr(root_ + "/etc/xattr", "user.test"), "value");
  // su (and its hardlink's header), sgid, ping.
  EXPECT_EQ(stats->stripped_privileges, 4u);

  // Kept when asked.
  std::string again = dir_ + "/again";
  MakeRoot(again);
  stats = ExtractTarFile(tar, again, IdMap(), {}, &log_);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(Lstat(again + "/usr/bin/su").st_mode & 07777, 04755u);
  EXPECT_NE(Xattr(again + "/usr/bin/ping", "security.capability"), "");
  EXPECT_EQ(stats->stripped_privileges, 0u);
}

TEST_F(ExtractTest, RealRootfsTarball) {
  const std::string rootfs = "/var/cache/ctdump/rootfs-bookworm-minbase.tar";
  if (!sys::PathExists(rootfs)) GTEST_SKIP() << rootfs << " not present";
  std::string zst = dir_ + "/rootfs.tar.zst";
  Shell("zstd -q -1 -T0 -c " + rootfs + " > " + zst);
  ExtractOptions o;
  o.untrusted = true;
  auto start = std::chrono::steady_clock::now();
  auto stats = Extract(zst, o);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(stats.ok()) << stats.status().message() << "\n" << log_.All();
  std::cout << "extracted " << stats->entries << " entries, " << stats->bytes << " bytes in "
            << secs << " s\n";
  EXPECT_GT(stats->entries, 6000u);
  struct stat st = Lstat(root_ + "/etc/shadow");
  EXPECT_EQ(st.st_uid, 100000u);
  EXPECT_EQ(st.st_gid, 100042u);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(Lstat(root_ + "/usr/bin/su").st_mode & 07777, 04755u);
  EXPECT_FALSE(log_.Has("WARN")) << log_.All();
}

}  // namespace
}  // namespace ctdump::extract
