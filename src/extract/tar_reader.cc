#include "extract/tar_reader.h"

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "archive/pax_fix.h"
#include "extract/entry_check.h"

namespace ctdump::extract {
namespace {

// Headers that libarchive reads before an entry's own header, each with a
// body of its size field.
bool IsExtensionHeader(char type) {
  return type == 'x' || type == 'X' || type == 'g' || type == 'L' || type == 'K' || type == 'A';
}

// The GNU tar reading of the time and xattr records in `records`.
void ApplyGnuReading(const std::vector<archive::PaxRecord>& records, archive_entry* e) {
  std::map<std::string, std::string> renamed;  // libarchive's name -> GNU tar's
  for (const auto& r : records) {
    // libarchive gets only negative values with a fraction wrong.
    bool negative_fraction = r.value.starts_with('-') && r.value.find('.') != std::string::npos;
    if (negative_fraction && (r.key == "mtime" || r.key == "atime" || r.key == "ctime")) {
      auto t = archive::ParsePaxTime(r.value);
      if (!t) continue;
      if (r.key == "mtime") archive_entry_set_mtime(e, t->sec, t->nsec);
      if (r.key == "atime") archive_entry_set_atime(e, t->sec, t->nsec);
      if (r.key == "ctime") archive_entry_set_ctime(e, t->sec, t->nsec);
    } else if (r.key.starts_with("SCHILY.xattr.")) {
      std::string raw = r.key.substr(13);
      std::string name = archive::DecodeXattrKeyword(raw);
      if (name != raw) renamed[raw] = name;
    }
  }
  if (renamed.empty() || archive_entry_xattr_reset(e) == 0) return;
  std::vector<std::pair<std::string, std::string>> xattrs;
  const char* name;
  const void* value;
  size_t size;
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    auto it = renamed.find(name);
    xattrs.emplace_back(it == renamed.end() ? name : it->second,
                        std::string(static_cast<const char*>(value), size));
  }
  archive_entry_xattr_clear(e);
  for (const auto& [n, v] : xattrs) archive_entry_xattr_add_entry(e, n.c_str(), v.data(), v.size());
}

}  // namespace

void SupportTarFilters(::archive* a) {
  archive_read_support_filter_gzip(a);
  archive_read_support_filter_bzip2(a);
  archive_read_support_filter_xz(a);
  archive_read_support_filter_lzma(a);
  archive_read_support_filter_lz4(a);
  archive_read_support_filter_zstd(a);
}

void SupportTarInput(::archive* a) {
  SupportTarFilters(a);
  archive_read_support_format_tar(a);
}

Status CheckUntrustedArchive(::archive* a, const std::string& name,
                             const std::function<Status()>& cancelled) {
  UntrustedArchiveCheck check(name);
  for (;;) {
    if (cancelled) RETURN_IF_ERROR(cancelled());
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a, &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      const char* why = archive_error_string(a);
      return DataLossError(
          fmt::format("Failed to read '{}': {}", name, why ? why : "unknown error"));
    }
    const char* path = archive_entry_pathname(e);
    RETURN_IF_ERROR(check.Add(path ? path : "", archive_entry_filetype(e),
                              archive_entry_hardlink(e) != nullptr));
  }
  return check.Finish();
}

TarStream::TarStream() : decode_(archive_read_new()), tar_(archive_read_new()) {
  if (!decode_ || !tar_) return;
  SupportTarFilters(decode_);
  archive_read_support_format_raw(decode_);
  archive_read_support_format_tar(tar_);
}

TarStream::~TarStream() {
  if (tar_) archive_read_free(tar_);
  if (decode_) archive_read_free(decode_);
}

int TarStream::Open(int fd, size_t block) {
  window_.assign(kWindow, 0);
  int r = archive_read_open_fd(decode_, fd, block);
  archive_entry* raw = nullptr;
  if (r == ARCHIVE_OK) r = archive_read_next_header(decode_, &raw);
  if (r != ARCHIVE_OK && r != ARCHIVE_EOF) {
    const char* why = archive_error_string(decode_);
    archive_set_error(tar_, archive_errno(decode_), "%s", why ? why : "unknown error");
    return r;
  }
  return archive_read_open(tar_, this, nullptr, ReadBlock, nullptr);
}

ssize_t TarStream::ReadBlock(::archive* a, void* client, const void** buf) {
  auto* self = static_cast<TarStream*>(client);
  for (;;) {
    size_t size = 0;
    la_int64_t offset = 0;
    int r = archive_read_data_block(self->decode_, buf, &size, &offset);
    if (r == ARCHIVE_EOF) return 0;
    if (r < ARCHIVE_WARN) {
      const char* why = archive_error_string(self->decode_);
      archive_set_error(a, archive_errno(self->decode_), "%s", why ? why : "read error");
      return -1;
    }
    if (size == 0) continue;
    const char* p = static_cast<const char*>(*buf);
    const size_t skip = size > kWindow ? size - kWindow : 0;  // only the last kWindow bytes
    for (size_t done = skip; done < size;) {
      size_t at = static_cast<size_t>((self->end_ + done) % kWindow);
      size_t n = std::min(size - done, kWindow - at);
      std::memcpy(self->window_.data() + at, p + done, n);
      done += n;
    }
    self->end_ += size;
    return static_cast<ssize_t>(size);
  }
}

bool TarStream::Copy(uint64_t offset, size_t length, std::string* out) const {
  if (length > kWindow || offset + length > end_ || end_ - offset > kWindow) return false;
  out->resize(length);
  for (size_t done = 0; done < length;) {
    size_t at = static_cast<size_t>((offset + done) % kWindow);
    size_t n = std::min(length - done, kWindow - at);
    std::memcpy(out->data() + done, window_.data() + at, n);
    done += n;
  }
  return true;
}

void TarStream::FixEntry(archive_entry* e) {
  la_int64_t start = archive_read_header_position(tar_);
  if (start < 0) return;
  constexpr uint64_t kBlock = archive::kTarBlock;
  uint64_t pos = static_cast<uint64_t>(start);
  std::vector<archive::PaxRecord> records;
  std::string block, body;
  // The entry's header chain: extended headers, then its own header.
  for (int i = 0; i < 16; ++i) {
    if (!Copy(pos, kBlock, &block) || !archive::TarChecksumOk(block)) return;
    char type = block[156];
    if (!IsExtensionHeader(type)) break;
    auto size = archive::TarHeaderSize(block);
    if (!size || *size > kWindow) return;
    if (type == 'x' || type == 'X') {
      if (!Copy(pos + kBlock, static_cast<size_t>(*size), &body)) return;
      auto parsed = archive::ParsePaxRecords(body);
      if (!parsed) return;
      records = std::move(*parsed);
    }
    pos += kBlock + (*size + kBlock - 1) / kBlock * kBlock;
  }
  ApplyGnuReading(records, e);
}

}  // namespace ctdump::extract
