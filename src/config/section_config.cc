// Parser for Proxmox section config files (PVE::SectionConfig::parse_config),
// stricter than PVE: what PVE skips with a warning is an error here.
#include "ctdump/section_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "config/text_util.h"

namespace ctdump {
namespace {

using config::IsSpace;
using config::Trim;
using config::Where;

// [A-Za-z][A-Za-z0-9\-_.]*
bool IsValidId(std::string_view id) {
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  auto rest = [&](char c) {
    return alpha(c) || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  };
  return !id.empty() && alpha(id[0]) && std::all_of(id.begin() + 1, id.end(), rest);
}

// "<type>: <id>" at column 0.
Result<Section> ParseHeader(std::string_view line) {
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    return InvalidArgumentError(fmt::format(
        "unable to parse line '{}', expected '<type>: <id>' or an indented option", line));
  }
  std::string_view type = line.substr(0, colon);
  std::string_view id = Trim(line.substr(colon + 1));
  if (!IsValidId(type)) return InvalidArgumentError(fmt::format("invalid section type '{}'", type));
  if (!IsValidId(id)) return InvalidArgumentError(fmt::format("invalid section id '{}'", id));
  return Section{std::string(type), std::string(id), {}};
}

// "<indent>key [value]"; a missing value means "1".
Status AddOption(std::string_view line, Section& section) {
  line = Trim(line);
  size_t end = 0;
  while (end < line.size() && !IsSpace(line[end])) ++end;
  std::string key(line.substr(0, end));
  std::string_view value = Trim(line.substr(end));
  if (section.Get(key)) {
    return InvalidArgumentError(
        fmt::format("duplicate option '{}' in section '{}'", key, section.id));
  }
  section.options.emplace_back(key, value.empty() ? "1" : std::string(value));
  return Status::OK();
}

}  // namespace

std::optional<std::string> Section::Get(std::string_view key) const {
  for (const auto& [k, v] : options) {
    if (k == key) return v;
  }
  return std::nullopt;
}

Result<std::vector<Section>> ParseSectionConfig(std::string_view text,
                                                const std::string& filename) {
  std::vector<Section> sections;
  std::set<std::string> ids;
  bool in_section = false;
  std::vector<std::string_view> lines = config::SplitLines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    std::string where = Where(filename, i + 1);
    if (config::StartsWith(config::TrimLeft(line), "#")) continue;
    if (Trim(line).empty()) {
      in_section = false;
    } else if (IsSpace(line[0])) {
      if (!in_section) {
        return InvalidArgumentError(
            fmt::format("{}: option '{}' outside a section", where, Trim(line)));
      }
      RETURN_IF_ERROR(AddOption(line, sections.back()).WithContext(where));
    } else {
      Result<Section> header = ParseHeader(line);
      if (!header.ok()) return header.status().WithContext(where);
      if (!ids.insert(header->id).second) {
        return InvalidArgumentError(fmt::format("{}: duplicate id '{}'", where, header->id));
      }
      sections.push_back(std::move(*header));
      in_section = true;
    }
  }
  return sections;
}

}  // namespace ctdump
