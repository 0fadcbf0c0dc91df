#include "backup/job_options.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <tuple>

#include "registry/registry.h"
#include "sys/file.h"

namespace ctdump::backup {
namespace {

// Container c1 to storage s, everything else as the command line leaves it.
JobOptions OneContainer() {
  JobOptions j;
  j.vmids = {"c1"};
  j.storage = "s";
  return j;
}

VzdumpConf Conf(const std::string& text) {
  auto c = ParseVzdumpConf(text, "ctdump.conf");
  EXPECT_TRUE(c.ok()) << c.status().message();
  return c.ok() ? *c : VzdumpConf();
}

TEST(JobOptionsTest, DefaultsLikeVzdump) {
  JobOptions j;
  j.vmids = {"c1", "c2", "c1"};
  j.storage = "s";
  auto r = ResolveJobOptions(j, VzdumpConf(), "ctdump.conf", "/nonexistent");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->vmids, (std::vector<std::string>{"c1", "c2"}));
  EXPECT_EQ(r->mode, "snapshot");
  EXPECT_EQ(r->bwlimit_kib, 0u);
  EXPECT_EQ(r->tmpdir, "/var/tmp");
  EXPECT_EQ(r->lockwait_minutes, 180u);
  EXPECT_EQ(r->stopwait_minutes, 10u);
  EXPECT_EQ(r->exclude_patterns,
            (std::vector<std::string>{"/tmp/?*", "/var/tmp/?*", "/var/run/?*.pid"}));
}

TEST(JobOptionsTest, NodeDefaultsThenJobExcludesThenStandard) {
  JobOptions j;
  j.vmids = {"c1"};
  j.exclude_paths = {"/job"};
  auto r = ResolveJobOptions(
      j, Conf("storage: fromconf\nbwlimit: 100\nexclude-path: /node1 '/node 2'\nstopwait: 3\n"),
      "ctdump.conf", "/nonexistent");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->storage, "fromconf");
  EXPECT_EQ(r->bwlimit_kib, 100u);
  EXPECT_EQ(r->stopwait_minutes, 3u);
  EXPECT_EQ(r->exclude_patterns, (std::vector<std::string>{"/node1", "/node 2", "/job", "/tmp/?*",
                                                           "/var/tmp/?*", "/var/run/?*.pid"}));
}

TEST(JobOptionsTest, CommandLineWinsOverNode) {
  JobOptions j;
  j.vmids = {"c1"};
  j.storage = "cli";
  j.bwlimit_kib = 5;
  j.stdexcludes = false;
  auto r = ResolveJobOptions(j, Conf("storage: conf\nbwlimit: 100\nstdexcludes: 1\n"),
                             "ctdump.conf", "/x");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->storage, "cli");
  EXPECT_EQ(r->bwlimit_kib, 5u);
  EXPECT_TRUE(r->exclude_patterns.empty());
}

TEST(JobOptionsTest, ErrorsNameTheOption) {
  struct Case {
    std::string conf;
    std::string want;
  } cases[] = {
      {"storage: s\nbwlimit: fast\n",
       "ctdump.conf:2: bwlimit: 'fast' is not a non-negative integer"},
      {"storage: s\nmode: fast\n", "ctdump.conf:2: mode: unknown mode 'fast'"},
      {"storage: s\nstdexcludes: maybe\n",
       "ctdump.conf:2: stdexcludes: 'maybe' is not a boolean (0 or 1)"},
      {"storage: s\ntmpdir: relative\n", "tmpdir 'relative' must be an absolute path"},
      {"storage: s\nscript: /nonexistent/hook\n", "hook script '/nonexistent/hook' does not exist"},
      {"", "no storage given (--storage or 'storage' in ctdump.conf)"},
      {"storage: s\nexclude-path: [abc\n", ""},
  };
  for (const auto& c : cases) {
    JobOptions j;
    j.vmids = {"c1"};
    auto r = ResolveJobOptions(j, Conf(c.conf), "ctdump.conf", "/x");
    ASSERT_FALSE(r.ok()) << c.conf;
    if (!c.want.empty())
      EXPECT_EQ(r.status().message(), c.want);
    else
      EXPECT_NE(r.status().message().find("exclude-path"), std::string::npos)
          << r.status().message();
  }
}

TEST(JobOptionsTest, AllListsContainersWithConfigAndHonorsExclude) {
  char tmpl[] = "/tmp/ctdump-jobopt.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  for (const char* ct : {"b", "a", "c"}) {
    ASSERT_TRUE(sys::MakeDirs(dir + "/" + ct).ok());
    std::ofstream(dir + "/" + ct + "/config") << "lxc.uts.name = x\n";
  }
  ASSERT_TRUE(sys::MakeDirs(dir + "/notact").ok());
  JobOptions j;
  j.all = true;
  j.exclude = {"b"};
  j.storage = "s";
  auto r = ResolveJobOptions(j, VzdumpConf(), "ctdump.conf", dir);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->vmids, (std::vector<std::string>{"a", "c"}));
  j.vmids = {"a"};
  EXPECT_FALSE(ResolveJobOptions(j, VzdumpConf(), "ctdump.conf", dir).ok());
  ASSERT_TRUE(sys::RemoveTree(dir).ok());
}

TEST(JobOptionsTest, NothingToBackUp) {
  JobOptions j;
  j.storage = "s";
  auto r = ResolveJobOptions(j, VzdumpConf(), "ctdump.conf", "/x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "no container given (name one or use --all)");
}

TEST(JobOptionsTest, SplitGuestListLikePveSplitList) {
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> want;
  } cases[] = {
      {{"web,db"}, {"web", "db"}},
      {{"web db"}, {"web", "db"}},
      {{"web;db"}, {"web", "db"}},
      {{" web ,, db,"}, {"web", "db"}},
      {{"a", "b,c", "d\te"}, {"a", "b", "c", "d", "e"}},
      {{",", " "}, {}},
      {{}, {}},
  };
  for (const auto& c : cases) EXPECT_EQ(SplitGuestList(c.args), c.want) << c.args.size();
}

// A temporary lxcpath holding containers `names` (a directory with a config each).
class LxcPathTest : public ::testing::Test {
 protected:
  void Make(std::initializer_list<const char*> names) {
    char tmpl[] = "/tmp/ctdump-jobopt.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    for (const char* ct : names) {
      ASSERT_TRUE(sys::MakeDirs(dir_ + "/" + ct).ok());
      std::ofstream(dir_ + "/" + ct + "/config") << "lxc.uts.name = x\n";
    }
  }
  void TearDown() override {
    if (!dir_.empty()) {
      EXPECT_TRUE(sys::RemoveTree(dir_).ok());
    }
  }
  std::string dir_;
};

TEST_F(LxcPathTest, CommaListsInNamesAndExcludes) {
  Make({"web", "db", "mail", "dns"});
  JobOptions j;
  j.storage = "s";
  j.vmids = {"web,db", "mail db"};
  auto r = ResolveJobOptions(j, VzdumpConf(), "ctdump.conf", dir_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->vmids, (std::vector<std::string>{"web", "db", "mail"}));
  j.vmids.clear();
  j.all = true;
  j.exclude = {"web,db", "mail"};
  r = ResolveJobOptions(j, VzdumpConf(), "ctdump.conf", dir_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->vmids, (std::vector<std::string>{"dns"}));
  EXPECT_TRUE(r->selection_warnings.empty());
}

// A restore test's throw-away container left behind (SIGKILL) is not backed
// up by --all.
TEST_F(LxcPathTest, AllSkipsRestoreTestContainers) {
  Make({"web", "ctdump-rt-4242-0"});
  JobOptions j;
  j.storage = "s";
  j.all = true;
  auto r = ResolveJobOptions(j, VzdumpConf(), "ctdump.conf", dir_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->vmids, (std::vector<std::string>{"web"}));
  // Named, it is what was asked for.
  j.all = false;
  j.vmids = {"ctdump-rt-4242-0"};
  r = ResolveJobOptions(j, VzdumpConf(), "ctdump.conf", dir_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->vmids, (std::vector<std::string>{"ctdump-rt-4242-0"}));
}

TEST_F(LxcPathTest, ExcludeMatchingNothingWarns) {
  Make({"web", "db"});
  JobOptions j;
  j.storage = "s";
  j.all = true;
  j.exclude = {"web,wbe"};
  auto r = ResolveJobOptions(j, VzdumpConf(), "ctdump.conf", dir_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->vmids, (std::vector<std::string>{"db"}));
  EXPECT_EQ(r->selection_warnings,
            (std::vector<std::string>{
                fmt::format("--exclude: no container named 'wbe' in lxcpath \"{}\"", dir_)}));
}

TEST_F(LxcPathTest, EmptySelectionIsAnError) {
  Make({"web"});
  JobOptions j;
  j.storage = "s";
  j.all = true;
  j.exclude = {"web"};
  auto r = ResolveJobOptions(j, VzdumpConf(), "ctdump.conf", dir_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(r.status().message(),
            fmt::format("--all: every container in lxcpath \"{}\" is excluded: nothing to back up",
                        dir_));
  ASSERT_TRUE(sys::RemoveTree(dir_ + "/web").ok());
  j.exclude.clear();
  r = ResolveJobOptions(j, VzdumpConf(), "ctdump.conf", dir_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(r.status().message(),
            fmt::format("--all: no containers in lxcpath \"{}\": nothing to back up", dir_));
  j.all = false;
  j.vmids = {" , "};
  r = ResolveJobOptions(j, VzdumpConf(), "ctdump.conf", dir_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "no container given (name one or use --all)");
}

TEST_F(LxcPathTest, ListContainersSortedWithConfigOnly) {
  Make({"web", "db", "mail"});
  ASSERT_TRUE(sys::MakeDirs(dir_ + "/noconfig").ok());
  std::ofstream(dir_ + "/file") << "x\n";
  auto r = ListContainers(dir_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, (std::vector<std::string>{"db", "mail", "web"}));
  r = ListContainers(dir_ + "/missing");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(r.status().message(),
            fmt::format("Failed to list lxcpath \"{}/missing\": No such file or directory", dir_));
}

TEST(JobOptionsTest, CompressValuesAsVzdump) {
  struct Case {
    std::string value;
    std::string want;  // "" = error
  } cases[] = {{"1", "lzo"},     {"lzo", "lzo"}, {"0", "none"}, {"none", "none"}, {"gzip", "gzip"},
               {"zstd", "zstd"}, {"2", ""},      {"bzip2", ""}, {"", ""}};
  for (const auto& c : cases) {
    JobOptions j;
    j.vmids = {"c1"};
    j.storage = "s";
    j.compress = c.value;
    auto r = ResolveJobOptions(j, VzdumpConf(), "ctdump.conf", "/x");
    auto from_conf =
        ResolveJobOptions(OneContainer(), Conf("compress: " + c.value + "\n"), "ctdump.conf", "/x");
    if (c.want.empty()) {
      ASSERT_FALSE(r.ok()) << c.value;
      EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
      EXPECT_EQ(r.status().message().rfind("--compress: '" + c.value + "' is not one of", 0), 0u)
          << r.status().message();
      if (!c.value.empty()) {
        ASSERT_FALSE(from_conf.ok());
        EXPECT_EQ(from_conf.status().message().rfind("ctdump.conf:1: compress: '", 0), 0u)
            << from_conf.status().message();
      }
      continue;
    }
    ASSERT_TRUE(r.ok()) << c.value << ": " << r.status().message();
    EXPECT_EQ(r->compress, c.want) << c.value;
    ASSERT_TRUE(from_conf.ok()) << from_conf.status().message();
    EXPECT_EQ(from_conf->compress, c.want) << c.value;
  }
}

TEST(JobOptionsTest, MaxfilesIsDeprecatedKeepLast) {
  const std::string deprecated =
      "parameter 'maxfiles' is deprecated with PVE 7.x and will be removed in a future version, "
      "use 'prune-backups' instead";
  JobOptions j;
  j.vmids = {"c1"};
  j.storage = "s";
  auto r = ResolveJobOptions(j, Conf("maxfiles: 3\n"), "ctdump.conf", "/x");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->node_prune);
  EXPECT_EQ(r->node_prune->ToString(), "keep-last=3");
  EXPECT_EQ(r->warnings, (std::vector<std::string>{"ctdump.conf:1: maxfiles: " + deprecated}));
  r = ResolveJobOptions(j, Conf("maxfiles: 0\n"), "ctdump.conf", "/x");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->node_prune->keep_all);
  // Beside prune-backups in the same place, maxfiles is ignored (vzdump's warning).
  r = ResolveJobOptions(j, Conf("maxfiles: 3\nprune-backups: keep-daily=2\n"), "ctdump.conf", "/x");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->node_prune->ToString(), "keep-daily=2");
  EXPECT_EQ(r->warnings.back(),
            "both 'maxfiles' and 'prune-backups' defined as options in "
            "'ctdump.conf' - ignoring 'maxfiles'");
  // On the command line: --maxfiles wins over ctdump.conf, and conflicts with --prune-backups.
  j.maxfiles = 5;
  r = ResolveJobOptions(j, Conf("prune-backups: keep-daily=2\n"), "ctdump.conf", "/x");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->prune->ToString(), "keep-last=5");
  EXPECT_EQ(r->warnings, (std::vector<std::string>{"--maxfiles: " + deprecated}));
  j.prune_backups = "keep-last=1";
  r = ResolveJobOptions(j, VzdumpConf(), "ctdump.conf", "/x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "--prune-backups: option conflicts with option 'maxfiles'");
}

TEST(JobOptionsTest, IoniceRemoveQuietNode) {
  JobOptions j;
  j.vmids = {"c1"};
  j.storage = "s";
  auto r = ResolveJobOptions(j, VzdumpConf(), "ctdump.conf", "/x");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ionice, 7u);
  EXPECT_TRUE(r->remove);
  EXPECT_FALSE(r->quiet);
  EXPECT_EQ(r->node, "");
  r = ResolveJobOptions(j, Conf("ionice: 8\nremove: 0\nquiet: 1\nnode: pve1\n"), "ctdump.conf",
                        "/x");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->ionice, 8u);
  EXPECT_FALSE(r->remove);
  EXPECT_TRUE(r->quiet);
  EXPECT_EQ(r->node, "pve1");
  j.ionice = 2;
  j.remove = true;
  j.quiet = false;
  j.node = "pve2";
  r = ResolveJobOptions(j, Conf("ionice: 8\nremove: 0\nquiet: 1\nnode: pve1\n"), "ctdump.conf",
                        "/x");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ionice, 2u);
  EXPECT_TRUE(r->remove);
  EXPECT_FALSE(r->quiet);
  EXPECT_EQ(r->node, "pve2");
  struct Bad {
    std::string conf, want;
  } bad[] = {{"ionice: 9\n", "ctdump.conf:1: ionice: 9 is larger than 8"},
             {"remove: maybe\n", "ctdump.conf:1: remove: 'maybe' is not a boolean (0 or 1)"},
             {"quiet: 2\n", "ctdump.conf:1: quiet: '2' is not a boolean (0 or 1)"}};
  for (const auto& b : bad) {
    auto e = ResolveJobOptions(OneContainer(), Conf(b.conf), "ctdump.conf", "/x");
    ASSERT_FALSE(e.ok()) << b.conf;
    EXPECT_EQ(e.status().message(), b.want);
  }
}

TEST(JobOptionsTest, DumpdirOrStorageAsVzdump) {
  JobOptions j;
  j.vmids = {"c1"};
  j.dumpdir = "/srv/dump/";
  auto r = ResolveJobOptions(j, Conf("storage: s\n"), "ctdump.conf", "/x");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->dumpdir, "/srv/dump");
  EXPECT_EQ(r->storage, "");
  j.dumpdir.reset();
  r = ResolveJobOptions(j, Conf("storage: s\ndumpdir: /d\n"), "ctdump.conf", "/x");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->storage, "s");
  EXPECT_EQ(r->dumpdir, "");
  EXPECT_EQ(r->warnings, (std::vector<std::string>{"both 'storage' and 'dumpdir' defined in "
                                                   "'ctdump.conf' - ignoring 'dumpdir'"}));
  r = ResolveJobOptions(j, Conf("dumpdir: /d\n"), "ctdump.conf", "/x");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->dumpdir, "/d");
  j.storage = "s";
  j.dumpdir = "/d";
  r = ResolveJobOptions(j, VzdumpConf(), "ctdump.conf", "/x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "cannot use options 'storage' and 'dumpdir' at the same time");
  j.storage.reset();
  j.dumpdir = "relative";
  r = ResolveJobOptions(j, VzdumpConf(), "ctdump.conf", "/x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "dumpdir 'relative' must be an absolute path");
}

TEST(JobOptionsTest, SetJobOptionTextChecksValues) {
  JobOptions j;
  EXPECT_TRUE(SetJobOptionText(&j, "mode", "suspend").ok());
  EXPECT_EQ(j.mode, "suspend");
  EXPECT_TRUE(SetJobOptionText(&j, "all", "1").ok());
  EXPECT_TRUE(j.all);
  EXPECT_TRUE(SetJobOptionText(&j, "vmid", "a,b").ok());
  EXPECT_EQ(j.vmids, (std::vector<std::string>{"a,b"}));
  EXPECT_TRUE(SetJobOptionText(&j, "exclude-path", "/a '/b c'").ok());
  EXPECT_EQ(j.exclude_paths, (std::vector<std::string>{"/a", "/b c"}));
  EXPECT_TRUE(SetJobOptionText(&j, "ionice", "8").ok());
  EXPECT_EQ(j.ionice, 8u);
  EXPECT_EQ(SetJobOptionText(&j, "frob", "1").code(), Code::kNotFound);
  EXPECT_EQ(SetJobOptionText(&j, "ionice", "9").message(), "ionice: 9 is larger than 8");
  EXPECT_EQ(SetJobOptionText(&j, "remove", "2").message(), "remove: '2' is not a boolean (0 or 1)");
  EXPECT_EQ(SetJobOptionText(&j, "mode", "quick").message(), "mode: unknown mode 'quick'");
  EXPECT_EQ(SetJobOptionText(&j, "dumpdir", "x").message(),
            "dumpdir: 'x' must be an absolute path");
  EXPECT_EQ(SetJobOptionText(&j, "storage", "").message(), "storage: empty value");
  EXPECT_EQ(SetJobOptionText(&j, "exclude", ",").message(), "exclude: ',' names nothing");
}

TEST(JobOptionsTest, IgnoredConfKeysAreWarnings) {
  JobOptions j;
  j.vmids = {"c1"};
  j.storage = "s";
  auto r = ResolveJobOptions(j, Conf("notification-policy: always\n"), "ctdump.conf", "/x");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->warnings,
            (std::vector<std::string>{
                "ctdump.conf:1: 'notification-policy': deprecated since Proxmox VE 8.2 and "
                "ignored: notifications go by notification-mode and the matchers of "
                "notifications.cfg"}));
}

TEST_F(LxcPathTest, ExcludeAloneMeansAll) {
  Make({"web", "db"});
  JobOptions j;
  j.storage = "s";
  j.exclude = {"web"};
  auto r = ResolveJobOptions(j, VzdumpConf(), "ctdump.conf", dir_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->vmids, (std::vector<std::string>{"db"}));
  j.vmids = {"db"};
  r = ResolveJobOptions(j, VzdumpConf(), "ctdump.conf", dir_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

// A FIFO, /dev/zero (through a symlink) or a huge file in place of ctdump.conf
// or storage.cfg is an error naming the file, never a hang or an endless read.
TEST(ConfigFileTest, RefusesFifoDeviceAndHugeFiles) {
  char tmpl[] = "/tmp/ctdump-conffile.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  for (const std::string name : {"ctdump.conf", "storage.cfg"}) {
    std::string path = dir + "/" + name;
    auto load = [&]() -> Status {
      if (name == "ctdump.conf") return LoadNodeDefaults(dir).status();
      return registry::LoadStorageConfig(dir).status();
    };
    ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
    Status s = load();
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.message(), fmt::format("\"{}\" is not a regular file", path));
    ASSERT_EQ(::unlink(path.c_str()), 0);
    ASSERT_EQ(::symlink("/dev/zero", path.c_str()), 0);
    s = load();
    EXPECT_EQ(s.message(), fmt::format("\"{}\" is not a regular file", path));
    ASSERT_EQ(::unlink(path.c_str()), 0);
    std::ofstream(path).close();
    ASSERT_EQ(::truncate(path.c_str(), 8 << 20), 0);
    s = load();
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find(fmt::format("\"{}\" is larger than", path)), std::string::npos)
        << s.message();
    ASSERT_EQ(::unlink(path.c_str()), 0);
    // A symlink to a regular file is fine (/etc/ctdump may be managed that way).
    std::ofstream(dir + "/real") << (name == "ctdump.conf" ? "mode: stop\n" : "dir: d\n\tpath /\n");
    ASSERT_EQ(::symlink((dir + "/real").c_str(), path.c_str()), 0);
    EXPECT_TRUE(load().ok()) << load().message();
    ASSERT_EQ(::unlink(path.c_str()), 0);
  }
  ASSERT_TRUE(sys::RemoveTree(dir).ok());
}

// --- The option table -------------------------------------------------------

const JobOptionSpec* Spec(std::string_view name) {
  for (const auto& spec : JobOptionTable())
    if (spec.name == name) return &spec;
  return nullptr;
}

// Every key ctdump.conf implements (vzdump_conf.h) has exactly one row; names
// and flags are unique; a row either resolves itself or names a row that does.
TEST(JobOptionTableTest, OneRowPerOptionAndEveryConfKey) {
  std::set<std::string> conf_keys, names, flags;
  for (const auto& spec : JobOptionTable()) {
    EXPECT_TRUE(names.insert(std::string(spec.name)).second) << spec.name;
    EXPECT_TRUE(flags.insert(std::string(spec.flag)).second) << spec.name;
    if (!spec.conf_key.empty()) {
      EXPECT_TRUE(conf_keys.insert(std::string(spec.conf_key)).second) << spec.name;
      // The key is one ctdump.conf accepts.
      auto conf = ParseVzdumpConf(std::string(spec.conf_key) + ": 1\n", "ctdump.conf");
      EXPECT_TRUE(conf.ok()) << spec.name << ": " << conf.status().message();
    }
    EXPECT_TRUE(spec.set_cli) << spec.name;
    if (spec.resolved_with.empty()) {
      EXPECT_TRUE(spec.resolve) << spec.name;
      EXPECT_TRUE(spec.show) << spec.name;
    } else {
      EXPECT_FALSE(spec.resolve) << spec.name;
      const JobOptionSpec* with = Spec(spec.resolved_with);
      ASSERT_NE(with, nullptr) << spec.name << " -> " << spec.resolved_with;
      EXPECT_TRUE(with->resolve) << spec.resolved_with;
    }
    if (spec.type == OptionType::kUint) {
      EXPECT_GT(spec.max, 0u) << spec.name;
    }
  }
  EXPECT_EQ(conf_keys,
            (std::set<std::string>{"mode",        "storage",        "dumpdir",   "bwlimit",
                                   "stdexcludes", "exclude-path",   "tmpdir",    "script",
                                   "lockwait",    "stopwait",       "remove",    "prune-backups",
                                   "maxfiles",    "notes-template", "protected", "compress",
                                   "zstd",        "ionice",         "quiet",     "node"}));
}

// With nothing set but the container and the storage, every option has the
// table's default.
TEST(JobOptionTableTest, DefaultsAreTheTables) {
  auto r = ResolveJobOptions(OneContainer(), VzdumpConf(), "ctdump.conf", "/x");
  ASSERT_TRUE(r.ok()) << r.status().message();
  for (const auto& spec : JobOptionTable()) {
    if (!spec.show || spec.name == "vmid" || spec.name == "storage") continue;
    EXPECT_EQ(spec.show(*r), spec.default_value) << spec.name;
  }
}

// A value for each option that takes one from the command line and from
// ctdump.conf, and how it shows once resolved.
struct Sample {
  std::string conf, conf_shown, cli, cli_shown;
};

const std::map<std::string, Sample>& Samples() {
  static const std::map<std::string, Sample> samples = {
      {"mode", {"stop", "stop", "suspend", "suspend"}},
      {"bwlimit", {"100", "100", "5", "5"}},
      {"tmpdir", {"/conf", "/conf", "/cli", "/cli"}},
      {"script", {"/", "/", "/tmp", "/tmp"}},
      {"lockwait", {"3", "3", "4", "4"}},
      {"stopwait", {"5", "5", "6", "6"}},
      {"compress", {"1", "lzo", "gzip", "gzip"}},
      {"zstd", {"2", "2", "3", "3"}},
      {"notes-template",
       {"conf {{vmid}}", "conf {{vmid}}", "cli {{guestname}}", "cli {{guestname}}"}},
      {"protected", {"yes", "1", "0", "0"}},
      {"remove", {"off", "0", "1", "1"}},
      {"ionice", {"3", "3", "8", "8"}},
      {"quiet", {"true", "1", "0", "0"}},
      {"node", {"pve1", "pve1", "pve2", "pve2"}},
      {"stdexcludes", {"0", "0", "1", "1"}},
  };
  return samples;
}

// For every option the command line and ctdump.conf can both set: the
// command line's wins, ctdump.conf's comes next, then the default.
TEST(JobOptionTableTest, CommandLineThenConfThenDefaultForEveryKey) {
  size_t checked = 0;
  for (const auto& spec : JobOptionTable()) {
    if (spec.precedence != OptionPrecedence::kCommandLineThenConf &&
        spec.precedence != OptionPrecedence::kCommandLineThenConfThenStorage)
      continue;
    auto it = Samples().find(std::string(spec.name));
    ASSERT_NE(it, Samples().end()) << "no sample for " << spec.name;
    const Sample& sample = it->second;
    VzdumpConf conf = Conf(std::string(spec.conf_key) + ": " + sample.conf + "\n");

    auto none = ResolveJobOptions(OneContainer(), VzdumpConf(), "ctdump.conf", "/x");
    ASSERT_TRUE(none.ok()) << spec.name << ": " << none.status().message();
    EXPECT_EQ(spec.show(*none), spec.default_value) << spec.name;

    auto from_conf = ResolveJobOptions(OneContainer(), conf, "ctdump.conf", "/x");
    ASSERT_TRUE(from_conf.ok()) << spec.name << ": " << from_conf.status().message();
    EXPECT_EQ(spec.show(*from_conf), sample.conf_shown) << spec.name;

    JobOptions j = OneContainer();
    ASSERT_TRUE(spec.set_cli(&j, sample.cli).ok()) << spec.name;
    auto from_cli = ResolveJobOptions(j, conf, "ctdump.conf", "/x");
    ASSERT_TRUE(from_cli.ok()) << spec.name << ": " << from_cli.status().message();
    EXPECT_EQ(spec.show(*from_cli), sample.cli_shown) << spec.name;
    ++checked;
  }
  EXPECT_EQ(checked, Samples().size());
}

// Integers: the limit holds for ctdump.conf's values and the command line's,
// and errors name where the value came from.
TEST(JobOptionTableTest, IntegerLimitsFromEitherSource) {
  for (const auto& spec : JobOptionTable()) {
    if (spec.type != OptionType::kUint || !spec.resolve) continue;
    std::string key(spec.conf_key);
    auto at_max = ResolveJobOptions(OneContainer(), Conf(fmt::format("{}: {}\n", key, spec.max)),
                                    "ctdump.conf", "/x");
    ASSERT_TRUE(at_max.ok()) << key << ": " << at_max.status().message();
    EXPECT_EQ(spec.show(*at_max), std::to_string(spec.max)) << key;
    auto over = ResolveJobOptions(OneContainer(), Conf(fmt::format("{}: {}\n", key, spec.max + 1)),
                                  "ctdump.conf", "/x");
    ASSERT_FALSE(over.ok()) << key;
    EXPECT_EQ(over.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(over.status().message(),
              fmt::format("ctdump.conf:1: {}: {} is larger than {}", key, spec.max + 1, spec.max));
    auto text = ResolveJobOptions(OneContainer(), Conf(key + ": -1\n"), "ctdump.conf", "/x");
    ASSERT_FALSE(text.ok()) << key;
    EXPECT_EQ(text.status().message(),
              fmt::format("ctdump.conf:1: {}: '-1' is not a non-negative integer", key));
    JobOptions j = OneContainer();
    Status s = spec.set_cli(&j, std::to_string(spec.max + 1));
    EXPECT_EQ(s.message(),
              fmt::format("{}: {} is larger than {}", spec.flag, spec.max + 1, spec.max))
        << key;
  }
  JobOptions j = OneContainer();
  j.ionice = 9;  // the command line's value, set past the CLI's own check
  auto r = ResolveJobOptions(j, VzdumpConf(), "ctdump.conf", "/x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "--ionice: 9 is larger than 8");
}

// Booleans: vzdump.conf's spellings, and an error naming file and line.
TEST(JobOptionTableTest, BooleansFromConf) {
  for (const auto& spec : JobOptionTable()) {
    if (spec.type != OptionType::kBool) continue;
    std::string key(spec.conf_key);
    for (auto [text, shown] : {std::pair{"1", "1"},
                               {"yes", "1"},
                               {"on", "1"},
                               {"true", "1"},
                               {"0", "0"},
                               {"no", "0"},
                               {"off", "0"},
                               {"false", "0"}}) {
      auto r =
          ResolveJobOptions(OneContainer(), Conf(key + ": " + text + "\n"), "ctdump.conf", "/x");
      ASSERT_TRUE(r.ok()) << key << ": " << r.status().message();
      EXPECT_EQ(spec.show(*r), shown) << key << " " << text;
    }
    auto bad = ResolveJobOptions(OneContainer(), Conf("\n" + key + ": 2\n"), "ctdump.conf", "/x");
    ASSERT_FALSE(bad.ok()) << key;
    EXPECT_EQ(bad.status().message(),
              fmt::format("ctdump.conf:2: {}: '2' is not a boolean (0 or 1)", key));
  }
}

// Several wrong values: the first in the table's order is reported.
TEST(JobOptionTableTest, ErrorsInTableOrder) {
  auto r = ResolveJobOptions(OneContainer(), Conf("ionice: 9\nmode: fast\nbwlimit: x\n"),
                             "ctdump.conf", "/x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "ctdump.conf:2: mode: unknown mode 'fast'");
  JobOptions j = OneContainer();
  j.mode = "fast";
  r = ResolveJobOptions(j, Conf("mode: stop\n"), "ctdump.conf", "/x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "--mode: unknown mode 'fast'");
}

// Retention, vzdump's order: the command line's, the storage's, ctdump.conf's, keep-all.
TEST(JobOptionTableTest, RetentionCommandLineThenStorageThenConf) {
  PruneOptions storage;
  storage.keep_daily = 4;
  auto none = ResolveJobOptions(OneContainer(), VzdumpConf(), "ctdump.conf", "/x");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(EffectiveRetention(*none, std::nullopt).KeepsEverything());
  EXPECT_EQ(EffectiveRetention(*none, storage).ToString(), "keep-daily=4");
  auto conf =
      ResolveJobOptions(OneContainer(), Conf("prune-backups: keep-last=2\n"), "ctdump.conf", "/x");
  ASSERT_TRUE(conf.ok());
  EXPECT_EQ(EffectiveRetention(*conf, std::nullopt).ToString(), "keep-last=2");
  EXPECT_EQ(EffectiveRetention(*conf, storage).ToString(), "keep-daily=4");
  for (auto [name, value, want] : {std::tuple{"prune-backups", "keep-weekly=1", "keep-weekly=1"},
                                   {"maxfiles", "5", "keep-last=5"},
                                   {"maxfiles", "0", "keep-all=1"}}) {
    JobOptions j = OneContainer();
    ASSERT_TRUE(Spec(name)->set_cli(&j, value).ok());
    auto cli = ResolveJobOptions(j, Conf("prune-backups: keep-last=2\n"), "ctdump.conf", "/x");
    ASSERT_TRUE(cli.ok()) << cli.status().message();
    EXPECT_EQ(EffectiveRetention(*cli, storage).ToString(), want) << name << " " << value;
    EXPECT_EQ(Spec("prune-backups")->show(*cli), want);
  }
}

// storage / dumpdir through the table's command-line setters.
TEST(JobOptionTableTest, StorageOrDumpdir) {
  JobOptions j;
  ASSERT_TRUE(Spec("vmid")->set_cli(&j, "c1,c2").ok());
  ASSERT_TRUE(Spec("dumpdir")->set_cli(&j, "/d/").ok());
  auto r = ResolveJobOptions(j, Conf("storage: s\n"), "ctdump.conf", "/x");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(Spec("vmid")->show(*r), "c1,c2");
  EXPECT_EQ(r->dumpdir, "/d");
  EXPECT_EQ(Spec("storage")->show(*r), "");
  ASSERT_TRUE(Spec("storage")->set_cli(&j, "s").ok());
  r = ResolveJobOptions(j, VzdumpConf(), "ctdump.conf", "/x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "cannot use options 'storage' and 'dumpdir' at the same time");
}

}  // namespace
}  // namespace ctdump::backup
