#include "providers/datastore_worker.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>
#include <thread>

#include "archive/pax_fix.h"
#include "archive/tree_walker.h"
#include "datastore/codec.h"
#include "datastore/entry_format.h"
#include "sys/file.h"
#include "sys/token_bucket.h"
#include "userns/worker_relay.h"

namespace ctdump::providers {
namespace {

using datastore::Entry;
using Clock = std::chrono::steady_clock;

// Buffered frames to fd 1.
class FrameWriter {
 public:
  explicit FrameWriter(int fd) : fd_(fd) {
    buf_.reserve(kFlushAt + datastore::kMaxFrameSize + 5);
    struct stat st;
    splice_ = ::fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
  }

  // Whether SpliceData can move file pages straight into the stream.
  bool can_splice() const { return splice_; }
  static constexpr size_t kSpliceAt = 64 << 10;  // below: a read into the buffer is cheaper

  Status Frame(uint8_t type, std::string_view payload) {
    char h[5];
    Header(type, payload.size(), h);
    buf_.append(h, 5);
    buf_.append(payload);
    return buf_.size() >= kFlushAt ? Flush() : Status::OK();
  }

  Status Data(const char* p, size_t n) {
    while (n > 0) {
      size_t k = std::min(n, datastore::kMaxFrameSize);
      if (k < kDirectAt) {
        RETURN_IF_ERROR(Frame(datastore::kFrameData, std::string_view(p, k)));
      } else {
        // Large blocks go out with writev, not through the buffer: one copy
        // less of every byte of file data.
        char h[5];
        Header(datastore::kFrameData, k, h);
        struct iovec iov[3] = {{buf_.data(), buf_.size()}, {h, 5}, {const_cast<char*>(p), k}};
        RETURN_IF_ERROR(WriteVec(iov, 3));
        buf_.clear();
      }
      p += k;
      n -= k;
    }
    return Status::OK();
  }

  Status Flush() {
    Status s = sys::WriteAll(fd_, buf_, "the worker stream");
    buf_.clear();
    return s;
  }

  // Sends `length` bytes of `file` from `offset` as data frames, moving the
  // page-cache pages into the stream pipe with splice(2): no copy in the
  // worker (ctdump's read is the only one). If the file ends early, the
  // frame under way is completed with zeros and the rest of the range is
  // reported in `*shrunk`. `moved(n)` sees every piece. A file system that
  // cannot splice turns splicing off and reads instead.
  template <typename Moved>
  Status SpliceData(int file, uint64_t offset, uint64_t length, const std::string& rel,
                    uint64_t* shrunk, std::vector<char>& scratch, Moved&& moved) {
    while (length > 0) {
      size_t k = static_cast<size_t>(std::min<uint64_t>(length, datastore::kMaxFrameSize));
      char h[5];
      Header(datastore::kFrameData, k, h);
      buf_.append(h, 5);
      RETURN_IF_ERROR(Flush());
      size_t done = 0;
      bool ended = false;
      while (done < k) {
        loff_t off = static_cast<loff_t>(offset + done);
        ssize_t n = splice_ ? ::splice(file, &off, fd_, nullptr, k - done, SPLICE_F_MORE) : -1;
        if (n < 0 && splice_ && (errno == EINVAL || errno == ENOSYS)) splice_ = false;
        if (n < 0 && !splice_) {  // read and write instead, for this frame and on
          size_t want = std::min(k - done, scratch.size());
          n = ::pread(file, scratch.data(), want, static_cast<off_t>(offset + done));
          if (n > 0)
            RETURN_IF_ERROR(
                sys::WriteAll(fd_, std::string_view(scratch.data(), n), "the worker stream"));
        }
        if (n < 0) {
          if (errno == EINTR) continue;
          return ErrnoError(errno, fmt::format("Failed to read \"/{}\"", rel));
        }
        if (n == 0) {
          ended = true;
          break;
        }
        done += static_cast<size_t>(n);
        moved(static_cast<size_t>(n));
      }
      if (ended) {
        // The frame was announced whole: complete it with zeros.
        std::memset(scratch.data(), 0, std::min(scratch.size(), k - done));
        for (size_t left = k - done; left > 0;) {
          size_t z = std::min(left, scratch.size());
          RETURN_IF_ERROR(
              sys::WriteAll(fd_, std::string_view(scratch.data(), z), "the worker stream"));
          left -= z;
        }
        *shrunk += length - done;
        return Status::OK();
      }
      offset += k;
      length -= k;
    }
    return Status::OK();
  }

 private:
  static constexpr size_t kFlushAt = 1 << 20;
  static constexpr size_t kDirectAt = 64 << 10;

  static void Header(uint8_t type, size_t size, char h[5]) {
    h[0] = static_cast<char>(type);
    uint32_t n = static_cast<uint32_t>(size);
    for (int i = 0; i < 4; ++i) h[1 + i] = static_cast<char>(n >> (8 * i));
  }

  Status WriteVec(struct iovec* iov, int count) {
    while (count > 0) {
      ssize_t w = ::writev(fd_, iov, count);
      if (w < 0) {
        if (errno == EINTR) continue;
        return ErrnoError(errno, "Failed to write the worker stream");
      }
      size_t left = static_cast<size_t>(w);
      while (count > 0 && left >= iov->iov_len) {
        left -= iov->iov_len;
        ++iov;
        --count;
      }
      if (count > 0) {
        iov->iov_base = static_cast<char*>(iov->iov_base) + left;
        iov->iov_len -= left;
      }
    }
    return Status::OK();
  }
  int fd_;
  std::string buf_;
  bool splice_ = false;
};

// The parent's records from fd 0, in walk order. Sources are walked one
// after another, so the stream is a sequence of ordered segments; a record
// that does not sort after its predecessor starts the next segment.
class ParentCursor {
 public:
  explicit ParentCursor(int fd) : fd_(fd) {}

  // The parent's record of `path` in the current segment, or nullptr.
  Result<const Entry*> Find(const std::string& path) {
    RETURN_IF_ERROR(Fill());
    while (has_ && !boundary_ && archive::WalkOrderLess(cur_.path, path)) {
      RETURN_IF_ERROR(Advance());
    }
    if (has_ && !boundary_ && cur_.path == path) return &cur_;
    return nullptr;
  }

  // Skips to the next segment (the walk starts its next source).
  Status NextSegment() {
    RETURN_IF_ERROR(Fill());
    while (has_ && !boundary_) RETURN_IF_ERROR(Advance());
    boundary_ = false;
    return Status::OK();
  }

 private:
  Status Fill() {
    if (started_) return Status::OK();
    started_ = true;
    // The magic first.
    while (buf_.size() < sizeof(datastore::kMetaMagic)) {
      ASSIGN_OR_RETURN(bool more, ReadMore());
      if (!more) return Status::OK();  // no parent data
    }
    if (std::memcmp(buf_.data(), datastore::kMetaMagic, sizeof(datastore::kMetaMagic)) != 0)
      return DataLossError("the parent's metadata stream has a bad magic");
    pos_ = sizeof(datastore::kMetaMagic);
    return Advance();
  }

  // Reads the next record into cur_ (has_ false at the end).
  Status Advance() {
    std::string prev = has_ ? cur_.path : std::string();
    bool had = has_;
    for (;;) {
      ASSIGN_OR_RETURN(size_t used, datastore::DecodeEntry(std::string_view(buf_).substr(pos_),
                                                           &cur_, "the parent's metadata stream"));
      if (used > 0) {
        pos_ += used;
        has_ = true;
        if (had && !archive::WalkOrderLess(prev, cur_.path)) boundary_ = true;
        return Status::OK();
      }
      ASSIGN_OR_RETURN(bool more, ReadMore());
      if (!more) {
        has_ = false;
        return Status::OK();
      }
    }
  }

  Result<bool> ReadMore() {
    if (eof_) return false;
    if (pos_ > 0) {
      buf_.erase(0, pos_);
      pos_ = 0;
    }
    char tmp[1 << 16];
    for (;;) {
      ssize_t n = ::read(fd_, tmp, sizeof(tmp));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoError(errno, "Failed to read the parent's metadata stream");
      if (n == 0) {
        eof_ = true;
        return false;
      }
      buf_.append(tmp, static_cast<size_t>(n));
      return true;
    }
  }

  int fd_;
  std::string buf_;
  size_t pos_ = 0;
  bool started_ = false, eof_ = false, has_ = false, boundary_ = false;
  Entry cur_;
};

class Visitor : public archive::EntryVisitor {
 public:
  Visitor(const DatastoreWorkerConfig& c, userns::LineObserver* obs)
      : c_(c), obs_(obs), out_(1), parent_(0), buf_(1 << 20) {
    for (const auto& s : c.sources) {
      auto rel = archive::NormalizeSource(s);
      if (rel.ok()) source_rels_.insert(*rel);
    }
    if (c.bwlimit && *c.bwlimit > 0) bucket_.emplace(*c.bwlimit, Clock::now());
  }

  bool IsUnchanged(const std::string& rel, const struct stat& st) override {
    if (!c_.has_parent || c_.tree_is_copy) return false;
    auto p = parent_.Find(rel);
    if (!p.ok()) {
      parent_error_ = p.status();
      return false;
    }
    const Entry* e = *p;
    if (!e || !e->is_regular()) return false;
    if (e->size != static_cast<uint64_t>(st.st_size) || e->ino != st.st_ino ||
        e->mtime_sec != st.st_mtim.tv_sec || e->mtime_nsec != st.st_mtim.tv_nsec ||
        e->ctime_sec != st.st_ctim.tv_sec || e->ctime_nsec != st.st_ctim.tv_nsec ||
        e->mode != st.st_mode || e->uid != st.st_uid || e->gid != st.st_gid)
      return false;
    if (c_.racy_after_ns &&
        int64_t{st.st_ctim.tv_sec} * 1000000000 + st.st_ctim.tv_nsec >= *c_.racy_after_ns)
      return false;
    unchanged_ = *e;
    return true;
  }

  Status SkippedUnchanged(const std::string& rel, const struct stat& st) override {
    unchanged_.flags |= datastore::kEntryUnchanged;
    current_ = rel;
    record_.clear();
    datastore::EncodeEntry(unchanged_, &record_);
    ++entries_;
    bytes_ += unchanged_.size;
    Progress(false);
    return out_.Frame(datastore::kFrameEntry, record_);
  }

  Status Visit(archive_entry* ae, const std::string& rel, int fd) override {
    if (!parent_error_.ok()) return parent_error_;
    if (c_.has_parent && source_rels_.count(rel) && !first_source_seen_.empty() &&
        !first_source_seen_.count(rel))
      RETURN_IF_ERROR(parent_.NextSegment());
    if (source_rels_.count(rel)) first_source_seen_.insert(rel);
    current_ = rel;  // for the terminal's progress bar, as for tar (TreeWriter)
    Entry e = ToEntry(ae, rel);
    if (fd >= 0 && c_.has_parent && c_.tree_is_copy) {
      ASSIGN_OR_RETURN(const Entry* p, parent_.Find(rel));
      if (p && SameContent(*p, e)) {
        e.flags |= datastore::kEntryUnchanged;
        e.data_offset = p->data_offset;
        e.data_length = p->data_length;
        fd = -1;
        bytes_ += e.size;
      }
    }
    record_.clear();
    datastore::EncodeEntry(e, &record_);
    ++entries_;
    RETURN_IF_ERROR(out_.Frame(datastore::kFrameEntry, record_));
    if (fd >= 0 && e.data_length > 0) RETURN_IF_ERROR(SendData(fd, e, rel));
    Progress(false);
    return Status::OK();
  }

  Status End() {
    if (!parent_error_.ok()) return parent_error_;
    RETURN_IF_ERROR(out_.Frame(datastore::kFrameEnd, {}));
    Progress(true);
    return out_.Flush();
  }

 private:
  Entry ToEntry(archive_entry* ae, const std::string& rel) {
    Entry e;
    e.path = rel;
    // The file's mode, as GNU tar stores it: libarchive's entry has the
    // ACL's group:: bits where the file has its mask (archive/pax_fix.h).
    e.mode = archive_entry_filetype(ae) | archive::HeaderPerm(ae);
    e.uid = static_cast<uint32_t>(archive_entry_uid(ae));
    e.gid = static_cast<uint32_t>(archive_entry_gid(ae));
    e.mtime_sec = archive_entry_mtime(ae);
    e.mtime_nsec = static_cast<uint32_t>(archive_entry_mtime_nsec(ae));
    e.ctime_sec = archive_entry_ctime(ae);
    e.ctime_nsec = static_cast<uint32_t>(archive_entry_ctime_nsec(ae));
    e.ino = static_cast<uint64_t>(archive_entry_ino64(ae));
    if (const char* h = archive_entry_hardlink(ae)) {
      e.flags |= datastore::kEntryHardlink;
      std::string_view t = h;
      if (t.starts_with("./")) t.remove_prefix(2);
      e.link = t;
      return e;
    }
    if (const char* s = archive_entry_symlink(ae)) e.link = s;
    if (S_ISCHR(e.mode) || S_ISBLK(e.mode)) e.rdev = archive_entry_rdev(ae);
    archive_entry_xattr_reset(ae);
    const char* name;
    const void* value;
    size_t size;
    while (archive_entry_xattr_next(ae, &name, &value, &size) == ARCHIVE_OK)
      e.xattrs.emplace_back(name, std::string(static_cast<const char*>(value), size));
    e.acl_access = AclText(ae, ARCHIVE_ENTRY_ACL_TYPE_ACCESS);
    e.acl_default = AclText(ae, ARCHIVE_ENTRY_ACL_TYPE_DEFAULT);
    if (S_ISREG(e.mode)) {
      e.size = static_cast<uint64_t>(archive_entry_size(ae));
      uint64_t end = 0, stored = 0;
      if (archive_entry_sparse_reset(ae) > 0) {
        la_int64_t off, len;
        bool all_hole = true;  // only empty regions: libarchive's (0, 0)
        while (archive_entry_sparse_next(ae, &off, &len) == ARCHIVE_OK) {
          uint64_t o = static_cast<uint64_t>(off), l = static_cast<uint64_t>(len);
          if (l == 0) continue;
          all_hole = false;
          // Never trust a map beyond the size or out of order.
          if (o < end || l > e.size || o > e.size - l) continue;
          e.sparse.emplace_back(o, l);
          end = o + l;
          stored += l;
        }
        // An all-hole file is one empty region, no stored bytes (an empty
        // map would mean a dense file, read whole).
        if (all_hole && e.size > 0) e.sparse.emplace_back(0, 0);
        if (e.sparse.size() == 1 && e.sparse[0].first == 0 && e.sparse[0].second == e.size)
          e.sparse.clear();
      }
      e.data_length = e.sparse.empty() ? e.size : stored;
    }
    return e;
  }

  // For a copied tree: the parent's record `p` describes the same content
  // as the fresh entry `e` by everything but inode and ctime.
  static bool SameContent(const Entry& p, const Entry& e) {
    return p.is_regular() && e.is_regular() && p.size == e.size && p.mode == e.mode &&
           p.uid == e.uid && p.gid == e.gid && p.mtime_sec == e.mtime_sec &&
           p.mtime_nsec == e.mtime_nsec && p.xattrs == e.xattrs && p.acl_access == e.acl_access &&
           p.acl_default == e.acl_default && p.sparse == e.sparse && p.data_length == e.data_length;
  }

  static std::string AclText(archive_entry* ae, int type) {
    if (archive_entry_acl_count(ae, type) <= 0) return {};
    la_ssize_t len = 0;
    char* text = archive_entry_acl_to_text(ae, &len, type | ARCHIVE_ENTRY_ACL_STYLE_EXTRA_ID);
    if (!text) return {};
    std::string out(text, static_cast<size_t>(len));
    std::free(text);
    return out;
  }

  Status SendData(int fd, const Entry& e, const std::string& rel) {
    std::vector<std::pair<uint64_t, uint64_t>> regions = e.sparse;
    if (regions.empty()) regions.emplace_back(0, e.size);
    uint64_t shrunk = 0;
    for (auto [off, len] : regions) {
      uint64_t missing = 0;
      auto read = [&](size_t n) {
        Throttle(n);
        bytes_ += n;
        Progress(false);
      };
      if (out_.can_splice() && len >= FrameWriter::kSpliceAt) {
        RETURN_IF_ERROR(out_.SpliceData(fd, off, len, rel, &missing, buf_, read));
      } else {
        RETURN_IF_ERROR(archive::ReadRange(fd, off, len, buf_, rel, &missing,
                                           [&](const char* d, size_t n) -> Status {
                                             read(n);
                                             return out_.Data(d, n);
                                           }));
      }
      // A file that shrank while read: its announced length is padded.
      for (uint64_t left = missing; left > 0;) {
        size_t k = static_cast<size_t>(std::min<uint64_t>(left, buf_.size()));
        std::memset(buf_.data(), 0, k);
        RETURN_IF_ERROR(out_.Data(buf_.data(), k));
        left -= k;
      }
      shrunk += missing;
    }
    if (shrunk > 0)
      obs_->Log(LogLevel::kWarn,
                fmt::format("'/{}': file shrank by {} bytes; padding with zeros", rel, shrunk));
    return Status::OK();
  }

  void Throttle(uint64_t n) {
    if (!bucket_) return;
    for (;;) {
      auto now = Clock::now();
      auto delay = bucket_->Delay(n, now);
      if (delay.count() == 0) break;
      std::this_thread::sleep_for(delay);
    }
    bucket_->Consume(n);
  }

  void Progress(bool force) {
    auto now = Clock::now();
    if (!force && now - last_progress_ < std::chrono::milliseconds(250)) return;
    last_progress_ = now;
    ctdump::Progress p;
    p.bytes = bytes_;
    p.files = entries_;
    p.current = "/" + current_;
    obs_->OnProgress(p);
  }

  const DatastoreWorkerConfig& c_;
  userns::LineObserver* obs_;
  FrameWriter out_;
  ParentCursor parent_;
  std::vector<char> buf_;
  std::set<std::string> source_rels_;
  std::set<std::string> first_source_seen_;
  std::optional<sys::TokenBucket> bucket_;
  std::string current_;  // the entry being written, relative
  Entry unchanged_;
  Status parent_error_;
  std::string record_;
  uint64_t entries_ = 0, bytes_ = 0;
  Clock::time_point last_progress_{};
};

}  // namespace

int RunDatastoreWorker(const DatastoreWorkerConfig& config) {
  userns::LineObserver obs(2);
  Visitor v(config, &obs);
  archive::WalkOptions wo;
  wo.exclude_patterns = config.exclude_patterns;
  wo.skip_lost_and_found = config.skip_lost_and_found;
  // Without a parent every regular file is read: the walk may read ahead
  // of itself while the page cache is cold.
  wo.prefetch = !config.has_parent;
  Status s = archive::WalkTree(config.directory, config.sources, wo, &v, &obs);
  if (s.ok()) s = v.End();
  if (!s.ok()) {
    obs.SendError(s);
    return 1;
  }
  return 0;
}

}  // namespace ctdump::providers
