// Owners for libarchive's objects: one unique_ptr type per kind of object,
// each freeing it with its own libarchive call. A read archive must be freed
// by archive_read_free and a write archive by archive_write_free (which
// closes it first, writing the end of the archive if it was not closed);
// the two types keep that straight.
//
// In namespace ctdump::archive the bare name `archive` is this namespace: say
// `::archive*` (or `struct archive*`) for libarchive's type where this header
// is included.
#ifndef CTDUMP_ARCHIVE_ARCHIVE_HANDLE_H_
#define CTDUMP_ARCHIVE_ARCHIVE_HANDLE_H_

#include <archive.h>
#include <archive_entry.h>

#include <memory>

namespace ctdump::archive {

struct ReadFree {
  void operator()(::archive* a) const { archive_read_free(a); }
};
struct WriteFree {
  void operator()(::archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(::archive_entry* e) const { archive_entry_free(e); }
};
struct LinkResolverFree {
  void operator()(::archive_entry_linkresolver* r) const { archive_entry_linkresolver_free(r); }
};

// From archive_read_new() or archive_read_disk_new().
using ReadHandle = std::unique_ptr<::archive, ReadFree>;
// From archive_write_new() or archive_write_disk_new().
using WriteHandle = std::unique_ptr<::archive, WriteFree>;
// From archive_entry_new() or archive_entry_clone().
using EntryHandle = std::unique_ptr<::archive_entry, EntryFree>;
// From archive_entry_linkresolver_new().
using LinkResolverHandle = std::unique_ptr<::archive_entry_linkresolver, LinkResolverFree>;

}  // namespace ctdump::archive

#endif  // CTDUMP_ARCHIVE_ARCHIVE_HANDLE_H_
