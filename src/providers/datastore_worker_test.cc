// The datastore worker's stream from a real tree: file data spliced into a
// pipe (the way ctdump runs it) and read and written into a plain file give
// the same bytes, and every file's data arrives whole.
#include "providers/datastore_worker.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "datastore/codec.h"
#include "datastore/datastore_test_util.h"
#include "datastore/entry_format.h"
#include "sys/file.h"
#include "sys/unique_fd.h"

namespace ctdump::providers {
namespace {

using datastore::testing::RandomBytes;

class DatastoreWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = sys::MakeTempDir("/tmp/ctdump-worker-test.");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_ = *dir;
    tree_ = dir_ + "/tree";
    ASSERT_TRUE(sys::MakeDirs(tree_ + "/sub").ok());
  }
  void TearDown() override { EXPECT_TRUE(sys::RemoveTree(dir_).ok()); }

  void Write(const std::string& rel, const std::string& data) {
    ASSERT_TRUE(sys::WriteFileAtomic(tree_ + "/" + rel, data, 0644).ok());
    want_[rel] = data;
  }

  // A sparse file: `data` at each offset, holes between; the worker sends
  // the data regions only, back to back (block-aligned here: holes are
  // found by block).
  void WriteSparse(const std::string& rel, uint64_t size,
                   const std::map<uint64_t, std::string>& data) {
    sys::UniqueFd fd(
        ::open((tree_ + "/" + rel).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    ASSERT_TRUE(fd.valid());
    ASSERT_EQ(::ftruncate(fd.get(), static_cast<off_t>(size)), 0);
    std::string stored;
    for (const auto& [off, d] : data) {
      ASSERT_EQ(::pwrite(fd.get(), d.data(), d.size(), static_cast<off_t>(off)),
                static_cast<ssize_t>(d.size()));
      stored += d;
    }
    ASSERT_EQ(::fsync(fd.get()), 0);
    want_[rel] = stored;
  }

  // Runs the worker with its stream going to `out` (a pipe's write end or
  // a file); returns its exit status.
  int RunWorker(int out, int err = -1,
                const std::function<void(DatastoreWorkerConfig&)>& tweak = nullptr, int in = -1) {
    pid_t pid = ::fork();
    if (pid == 0) {
      int null = ::open("/dev/null", O_RDWR);
      ::dup2(in >= 0 ? in : null, 0);
      ::dup2(err >= 0 ? err : null, 2);
      ::dup2(out, 1);
      DatastoreWorkerConfig c;
      c.directory = tree_;
      c.sources = {"./"};
      if (tweak) tweak(c);
      ::_exit(RunDatastoreWorker(c));
    }
    int status = -1;
    ::waitpid(pid, &status, 0);
    return status;
  }

  std::string StreamThroughPipe() {
    int p[2];
    EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
    sys::UniqueFd r(p[0]), w(p[1]);
    std::string out;
    // Read beside the worker: the pipe holds far less than the stream.
    std::thread reader([&] {
      char buf[1 << 16];
      for (ssize_t n; (n = ::read(r.get(), buf, sizeof(buf))) > 0;)
        out.append(buf, static_cast<size_t>(n));
    });
    int status = RunWorker(w.get());
    w.Reset();
    reader.join();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    return out;
  }

  // The stream through a pipe, given up after `seconds` (the worker is
  // killed; *in_time false); keeps at most `keep` bytes, counts all.
  std::string StreamWithin(double seconds, size_t keep, uint64_t* total, bool* in_time) {
    int p[2];
    EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
    sys::UniqueFd r(p[0]), w(p[1]);
    pid_t pid = ::fork();
    if (pid == 0) {
      int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 0);
      ::dup2(null, 2);
      ::dup2(w.get(), 1);
      DatastoreWorkerConfig c;
      c.directory = tree_;
      c.sources = {"./"};
      ::_exit(RunDatastoreWorker(c));
    }
    w.Reset();
    std::string out;
    *total = 0;
    std::thread reader([&] {
      char buf[1 << 16];
      for (ssize_t n; (n = ::read(r.get(), buf, sizeof(buf))) > 0;) {
        *total += static_cast<uint64_t>(n);
        if (out.size() < keep) out.append(buf, std::min(static_cast<size_t>(n), keep - out.size()));
      }
    });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    int status = -1;
    *in_time = true;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        *in_time = false;
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    reader.join();
    if (*in_time) {
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    }
    return out;
  }

  std::string StreamThroughFile() {
    std::string path = dir_ + "/stream";
    sys::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    EXPECT_TRUE(fd.valid());
    int status = RunWorker(fd.get());
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    auto data = sys::ReadFile(path);
    EXPECT_TRUE(data.ok());
    return data.ok() ? *data : std::string();
  }

  // Every regular file's data, by path, from a worker stream.
  static std::map<std::string, std::string> Files(const std::string& stream) {
    std::map<std::string, std::string> files;
    std::string current;
    size_t pos = 0;
    bool ended = false;
    while (pos + 5 <= stream.size()) {
      uint8_t type = static_cast<uint8_t>(stream[pos]);
      uint32_t len = 0;
      for (int i = 0; i < 4; ++i)
        len |= static_cast<uint32_t>(static_cast<uint8_t>(stream[pos + 1 + i])) << (8 * i);
      EXPECT_LE(len, datastore::kMaxFrameSize);
      std::string_view payload(stream.data() + pos + 5,
                               std::min<size_t>(len, stream.size() - pos - 5));
      pos += 5 + len;
      if (type == datastore::kFrameEntry) {
        datastore::Entry e;
        auto n = datastore::DecodeEntry(payload, &e, "worker stream");
        EXPECT_TRUE(n.ok()) << n.status().ToString();
        current = e.is_regular() ? e.path : "";
        if (!current.empty()) files[current];
      } else if (type == datastore::kFrameData) {
        EXPECT_FALSE(current.empty()) << "data outside a file";
        files[current].append(payload);
      } else {
        EXPECT_EQ(type, datastore::kFrameEnd);
        ended = true;
      }
    }
    EXPECT_TRUE(ended && pos == stream.size()) << "stream not ended cleanly";
    return files;
  }

  // Every entry of a worker stream, by path.
  static std::map<std::string, datastore::Entry> Entries(const std::string& stream) {
    std::map<std::string, datastore::Entry> entries;
    for (size_t pos = 0; pos + 5 <= stream.size();) {
      uint32_t len = 0;
      for (int i = 0; i < 4; ++i)
        len |= static_cast<uint32_t>(static_cast<uint8_t>(stream[pos + 1 + i])) << (8 * i);
      if (static_cast<uint8_t>(stream[pos]) == datastore::kFrameEntry) {
        datastore::Entry e;
        auto n = datastore::DecodeEntry(std::string_view(stream).substr(pos + 5, len), &e,
                                        "worker stream");
        EXPECT_TRUE(n.ok()) << n.status().ToString();
        entries[e.path] = e;
      }
      pos += 5 + len;
    }
    return entries;
  }

  std::string dir_, tree_;
  std::map<std::string, std::string> want_;
};

// A 1 TiB all-hole file and a 1 TiB file with a little data are streamed
// without reading their holes (the all-hole one as one empty region); a
// file of written zeros stays data.
TEST_F(DatastoreWorkerTest, HugeSparseFilesAreNotReadAndZerosStayData) {
  constexpr uint64_t kTiB = uint64_t{1} << 40;
  WriteSparse("allhole", kTiB, {});
  WriteSparse("tail", kTiB, {{kTiB / 2, "mid"}, {kTiB - 3, "end"}});
  Write("zeros", std::string(1 << 20, '\0'));
  uint64_t total = 0;
  bool in_time = false;
  std::string stream = StreamWithin(10.0, 16 << 20, &total, &in_time);
  ASSERT_TRUE(in_time) << "still streaming after 10 s: " << total << " bytes";
  ASSERT_LT(total, (1u << 20) + (64u << 10));
  auto entries = Entries(stream);
  EXPECT_EQ(entries["allhole"].size, kTiB);
  EXPECT_EQ(entries["allhole"].data_length, 0u);
  EXPECT_EQ(entries["allhole"].sparse, (std::vector<std::pair<uint64_t, uint64_t>>{{0, 0}}));
  EXPECT_EQ(entries["tail"].size, kTiB);
  EXPECT_EQ(entries["tail"].data_length, entries["tail"].sparse.size() * 4096u);
  EXPECT_TRUE(entries["zeros"].sparse.empty());
  EXPECT_EQ(entries["zeros"].data_length, 1u << 20);
  auto files = Files(stream);
  EXPECT_EQ(files["allhole"], "");
  EXPECT_EQ(files["zeros"], std::string(1 << 20, '\0'));
  EXPECT_NE(files["tail"].find("mid"), std::string::npos);
  EXPECT_NE(files["tail"].find("end"), std::string::npos);
}

// A file with an ACL mask keeps its own mode (group bits = the mask), as
// GNU tar stores it, not the ACL's group:: bits; the ACL is kept whole.
TEST_F(DatastoreWorkerTest, AclMaskedFileKeepsItsMode) {
  Write("masked", "m");
  ASSERT_EQ(std::system(("setfacl -m g:2345:rw '" + tree_ + "/masked'").c_str()), 0);
  struct stat st;
  ASSERT_EQ(::stat((tree_ + "/masked").c_str(), &st), 0);
  ASSERT_EQ(st.st_mode & 07777, 0664u);
  auto entries = Entries(StreamThroughFile());
  ASSERT_TRUE(entries.count("masked"));
  EXPECT_EQ(entries["masked"].mode, st.st_mode);
  EXPECT_NE(entries["masked"].acl_access.find("group::r--"), std::string::npos)
      << entries["masked"].acl_access;
  EXPECT_NE(entries["masked"].acl_access.find("mask::rw-"), std::string::npos)
      << entries["masked"].acl_access;
}

TEST_F(DatastoreWorkerTest, SplicedAndCopiedStreamsAreTheSame) {
  Write("big", RandomBytes((3 << 20) + 5, 1));  // three full frames and a bit, spliced
  Write("exact", RandomBytes(1 << 20, 2));      // exactly one frame
  Write("mid", RandomBytes(64 << 10, 3));       // the smallest spliced size
  Write("sub/small", RandomBytes(5000, 4));     // through the buffer
  Write("sub/empty", "");
  WriteSparse("sparse", 8 << 20,
              {{4096, RandomBytes(4096, 5)}, {1 << 20, RandomBytes((1 << 20) + 8192, 6)}});
  std::string piped = StreamThroughPipe();
  std::string copied = StreamThroughFile();
  ASSERT_FALSE(piped.empty());
  EXPECT_TRUE(piped == copied) << "the spliced stream differs (" << piped.size() << " vs "
                               << copied.size() << " bytes)";
  auto files = Files(piped);
  ASSERT_EQ(files.size(), want_.size());
  for (const auto& [rel, data] : want_) {
    ASSERT_TRUE(files.count(rel)) << rel;
    EXPECT_TRUE(files[rel] == data)
        << rel << ": " << files[rel].size() << " bytes, want " << data.size();
  }
}

// The progress lines ("P ..." on stderr) name the entry being archived, as
// tar's do: the terminal's bar shows it.
TEST_F(DatastoreWorkerTest, ProgressNamesTheCurrentPath) {
  Write("sub/only", RandomBytes(5000, 7));
  const std::string err_path = dir_ + "/stderr";
  sys::UniqueFd err(::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  sys::UniqueFd out(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  ASSERT_TRUE(err.valid() && out.valid());
  int status = RunWorker(out.get(), err.get());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  auto text = sys::ReadFile(err_path);
  ASSERT_TRUE(text.ok());
  // The last one (forced at the end) names the last entry.
  std::string last;
  size_t start = 0;
  for (size_t nl; (nl = text->find('\n', start)) != std::string::npos; start = nl + 1)
    if (text->compare(start, 2, "P ") == 0) last = text->substr(start, nl - start);
  EXPECT_TRUE(last.ends_with(" /sub/only")) << *text;
}

// Suspend mode's frozen pass takes unchanged files from the live pass, but
// reads again every file whose ctime is at or after racy_after_ns: the
// container may have written it after the live pass read it, within the
// kernel's coarse ctime tick.
TEST_F(DatastoreWorkerTest, RacyCtimesAreReadAgainAfterALivePass) {
  Write("old", "old data");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  Write("sub/new", "new data");
  // The live pass's records, in walk order, as the parent's metadata stream.
  const std::string first = StreamThroughFile();
  std::string meta(datastore::kMetaMagic, sizeof(datastore::kMetaMagic));
  for (size_t pos = 0; pos + 5 <= first.size();) {
    uint32_t len = 0;
    for (int i = 0; i < 4; ++i)
      len |= static_cast<uint32_t>(static_cast<uint8_t>(first[pos + 1 + i])) << (8 * i);
    if (static_cast<uint8_t>(first[pos]) == datastore::kFrameEntry)
      meta.append(first, pos + 5, len);
    pos += 5 + len;
  }
  const std::string meta_path = dir_ + "/parent-meta";
  ASSERT_TRUE(sys::WriteFileAtomic(meta_path, meta, 0600).ok());
  struct stat st;
  ASSERT_EQ(::stat((tree_ + "/sub/new").c_str(), &st), 0);
  const int64_t new_ctime = int64_t{st.st_ctim.tv_sec} * 1000000000 + st.st_ctim.tv_nsec;

  auto second = [&](std::optional<int64_t> racy_after) {
    sys::UniqueFd in(::open(meta_path.c_str(), O_RDONLY | O_CLOEXEC));
    sys::UniqueFd out(
        ::open((dir_ + "/second").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    EXPECT_TRUE(in.valid() && out.valid());
    int status = RunWorker(
        out.get(), -1,
        [&](DatastoreWorkerConfig& c) {
          c.has_parent = true;
          c.racy_after_ns = racy_after;
        },
        in.get());
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    auto data = sys::ReadFile(dir_ + "/second");
    return Entries(data.ok() ? *data : std::string());
  };
  auto unchanged = [](const datastore::Entry& e) {
    return (e.flags & datastore::kEntryUnchanged) != 0;
  };
  auto plain = second(std::nullopt);
  EXPECT_TRUE(unchanged(plain.at("old")));
  EXPECT_TRUE(unchanged(plain.at("sub/new")));
  auto racy = second(new_ctime);
  EXPECT_TRUE(unchanged(racy.at("old")));
  EXPECT_FALSE(unchanged(racy.at("sub/new")));
  auto all = second(0);
  EXPECT_FALSE(unchanged(all.at("old")));
  EXPECT_FALSE(unchanged(all.at("sub/new")));
}

}  // namespace
}  // namespace ctdump::providers
