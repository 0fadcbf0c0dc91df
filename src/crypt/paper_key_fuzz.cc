// libFuzzer target for ParsePaperKey: the input is a paper key as typed or
// scanned. Errors must be InvalidArgument or DataLoss naming the source; an
// accepted page gives a key file that parses, and printing that key file and
// reading the page back gives the same text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "crypt/key_format.h"
#include "crypt/paper_key.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using ctdump::Code;
  using namespace ctdump::crypt;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string what = "fuzz-input";
  ctdump::Result<std::string> key_file = ParsePaperKey(text, what);
  if (!key_file.ok()) {
    Code code = key_file.status().code();
    if (code != Code::kInvalidArgument && code != Code::kDataLoss) __builtin_trap();
    if (key_file.status().message().find("\"fuzz-input\"") != 0) __builtin_trap();
    return 0;
  }
  if (!ParseKeyFileText(*key_file, what).ok()) __builtin_trap();
  ctdump::Result<std::string> page = FormatPaperKey(*key_file, what, PaperFormat::kText);
  if (!page.ok()) __builtin_trap();
  ctdump::Result<std::string> back = ParsePaperKey(*page, what);
  if (!back.ok() || *back != *key_file) __builtin_trap();
  return 0;
}
