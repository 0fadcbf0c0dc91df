// Makes libarchive see a UTF-8 locale on this thread while it writes: pax
// names are UTF-8, and libarchive converts from the locale's charset. In the
// "C" locale every non-ASCII name would fail that conversion and be written
// with "hdrcharset=BINARY", which GNU tar reads correctly but warns about.
// With C.UTF-8 only names that are not valid UTF-8 get that treatment.
#ifndef CTDUMP_SYS_LOCALE_H_
#define CTDUMP_SYS_LOCALE_H_

#include <locale.h>

namespace ctdump::sys {

class ScopedUtf8Locale {
 public:
  ScopedUtf8Locale() {
    loc_ = ::newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
    if (loc_ != static_cast<locale_t>(0)) old_ = ::uselocale(loc_);
  }
  ~ScopedUtf8Locale() {
    if (loc_ == static_cast<locale_t>(0)) return;
    ::uselocale(old_);
    ::freelocale(loc_);
  }
  ScopedUtf8Locale(const ScopedUtf8Locale&) = delete;
  ScopedUtf8Locale& operator=(const ScopedUtf8Locale&) = delete;

 private:
  locale_t loc_ = static_cast<locale_t>(0);
  locale_t old_ = static_cast<locale_t>(0);
};

}  // namespace ctdump::sys

#endif  // CTDUMP_SYS_LOCALE_H_
