#include "api/format.h"

#include <algorithm>
#include <cstddef>

namespace ctdump::api {
namespace {

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsWord(char c) { return IsAlnum(c) || c == '_'; }
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool AllOf(std::string_view s, bool (*ok)(char)) { return std::all_of(s.begin(), s.end(), ok); }

// [a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?
bool IsLabel(std::string_view s) {
  if (s.empty() || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  return AllOf(s, [](char c) { return IsAlnum(c) || c == '-'; });
}

std::optional<std::string> Node(std::string_view v) {
  if (IsLabel(v)) return std::nullopt;
  return "value does not look like a valid node name\n";
}

std::optional<std::string> StorageId(std::string_view v) {
  bool ok = v.size() >= 2 && IsAlpha(v.front()) && IsAlnum(v.back()) &&
            AllOf(v, [](char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; });
  if (ok) return std::nullopt;
  return "storage ID '" + std::string(v) + "' contains illegal characters\n";
}

std::optional<std::string> ConfigId(std::string_view v) {
  if (v.size() >= 2 && IsAlpha(v.front()) &&
      AllOf(v.substr(1), [](char c) { return IsWord(c) || c == '-'; }))
    return std::nullopt;
  return "invalid configuration ID '" + std::string(v) + "'\n";
}

std::optional<std::string> Vmid(std::string_view v) {
  if (v.size() >= 3 && v.size() <= 9 && v.front() != '0' && AllOf(v, IsDigit)) return std::nullopt;
  return "value does not look like a valid VM ID\n";
}

std::optional<std::string> Guest(std::string_view v) {
  bool ok = !v.empty() && v.size() <= 64 && v.front() != '.' && v.front() != '-' &&
            AllOf(v, [](char c) { return IsAlnum(c) || c == '_' || c == '.' || c == '-'; });
  if (ok) return std::nullopt;
  return "invalid container name '" + std::string(v) + "'\n";
}

// PVE: ^(\w+)([\-+.][\w]+)*@(\w[\-\w]*\.){1,5}([A-Za-z]){2,63}$, written out.
bool IsEmail(std::string_view v) {
  size_t at = v.find('@');
  if (at == std::string_view::npos) return false;
  std::string_view local = v.substr(0, at), domain = v.substr(at + 1);
  // local: \w+ ([-+.]\w+)*
  if (local.empty() || !IsWord(local.front()) || !IsWord(local.back())) return false;
  for (size_t i = 1; i < local.size(); ++i) {
    char c = local[i];
    bool sep = c == '-' || c == '+' || c == '.';
    if (!IsWord(c) && !sep) return false;
    if (sep && !IsWord(local[i - 1])) return false;
  }
  // domain: 1..5 labels "\w[-\w]*" each followed by '.', then [A-Za-z]{2,63}.
  size_t dot = domain.rfind('.');
  if (dot == std::string_view::npos) return false;
  std::string_view tld = domain.substr(dot + 1);
  if (tld.size() < 2 || tld.size() > 63 || !AllOf(tld, IsAlpha)) return false;
  std::string_view labels = domain.substr(0, dot + 1);
  int count = 0;
  size_t start = 0;
  while (start < labels.size()) {
    size_t end = labels.find('.', start);
    std::string_view label = labels.substr(start, end - start);
    if (label.empty() || !IsWord(label.front()) ||
        !AllOf(label, [](char c) { return IsWord(c) || c == '-'; }))
      return false;
    ++count;
    start = end + 1;
  }
  return count >= 1 && count <= 5;
}

std::optional<std::string> Email(std::string_view v) {
  if (IsEmail(v)) return std::nullopt;
  return "value does not look like a valid email address\n";
}

std::optional<std::string> EmailOrUsername(std::string_view v) {
  if (IsEmail(v) || (!v.empty() && std::none_of(v.begin(), v.end(), IsSpace))) return std::nullopt;
  return "value does not look like a valid email address or user name\n";
}

struct Entry {
  std::string_view name;
  std::optional<std::string> (*check)(std::string_view);
};

// Sorted by name.
constexpr Entry kFormats[] = {
    {"ctdump-guest", Guest},    {"email", Email},   {"email-or-username", EmailOrUsername},
    {"pve-configid", ConfigId}, {"pve-node", Node}, {"pve-storage-id", StorageId},
    {"pve-vmid", Vmid},
};

const Entry* Find(std::string_view name) {
  for (const Entry& e : kFormats)
    if (e.name == name) return &e;
  return nullptr;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

std::vector<std::string_view> FormatNames() {
  std::vector<std::string_view> names;
  for (const Entry& e : kFormats) names.push_back(e.name);
  return names;
}

std::vector<std::string_view> SplitList(std::string_view value) {
  std::vector<std::string_view> items;
  size_t i = 0;
  auto is_sep = [](char c) { return c == ',' || c == ';' || c == '\0' || IsSpace(c); };
  while (i < value.size()) {
    while (i < value.size() && is_sep(value[i])) ++i;
    size_t start = i;
    while (i < value.size() && !is_sep(value[i])) ++i;
    if (i > start) items.push_back(value.substr(start, i - start));
  }
  return items;
}

bool IsKnownFormat(std::string_view format) {
  if (Find(format)) return true;
  if (EndsWith(format, "-list") || EndsWith(format, "-opt"))
    return Find(format.substr(0, format.rfind('-'))) != nullptr;
  return false;
}

std::optional<std::string> CheckFormat(std::string_view format, std::string_view value) {
  if (const Entry* e = Find(format)) return e->check(value);
  if (EndsWith(format, "-list")) {
    const Entry* e = Find(format.substr(0, format.size() - 5));
    if (e) {
      for (std::string_view item : SplitList(value))
        if (auto err = e->check(item)) return err;
      return std::nullopt;
    }
  } else if (EndsWith(format, "-opt")) {
    const Entry* e = Find(format.substr(0, format.size() - 4));
    if (e) return value.empty() ? std::nullopt : e->check(value);
  }
  return "undefined format '" + std::string(format) + "'\n";
}

}  // namespace ctdump::api
