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

// "<type>: <id>" at column 0.
Result<Section> ParseHeader(std::string_view line, const SectionConfigOptions& options) {
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    return InvalidArgumentError(fmt::format(
        "unable to parse line '{}', expected '<type>: <id>' or an indented option", line));
  }
  std::string_view type = line.substr(0, colon);
  std::string_view id = Trim(line.substr(colon + 1));
  if (!IsPveSectionId(type)) {
    return InvalidArgumentError(fmt::format("invalid section type '{}'", type));
  }
  if (!options.valid_id(id))
    return InvalidArgumentError(fmt::format("invalid section id '{}'", id));
  return Section{std::string(type), std::string(id), {}};
}

// "<indent>key [value]"; a missing value means "1" unless options require one.
Status AddOption(std::string_view line, size_t line_no, const SectionConfigOptions& options,
                 LocatedSection& located) {
  Section& section = located.section;
  line = Trim(line);
  size_t end = 0;
  while (end < line.size() && !IsSpace(line[end])) ++end;
  std::string key(line.substr(0, end));
  std::string_view value = Trim(line.substr(end));
  if (value.empty() && options.require_value) {
    return InvalidArgumentError(fmt::format("option '{}' without a value", key));
  }
  bool repeatable = options.repeatable && options.repeatable(section.type, key);
  if (!repeatable && section.Get(key)) {
    return InvalidArgumentError(
        fmt::format("duplicate option '{}' in section '{}'", key, section.id));
  }
  section.options.emplace_back(key, value.empty() ? "1" : std::string(value));
  located.option_lines.push_back(line_no);
  return Status::OK();
}

}  // namespace

bool IsPveSectionId(std::string_view id) {
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  auto rest = [&](char c) {
    return alpha(c) || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  };
  return !id.empty() && alpha(id[0]) && std::all_of(id.begin() + 1, id.end(), rest);
}

std::optional<std::string> Section::Get(std::string_view key) const {
  for (const auto& [k, v] : options) {
    if (k == key) return v;
  }
  return std::nullopt;
}

ParsedSectionConfig ParseSectionConfigLines(std::string_view text, const std::string& filename,
                                            const SectionConfigOptions& options) {
  ParsedSectionConfig out;
  // kSkipping: under a broken header, whose options are not reported again.
  enum class State { kOutside, kInSection, kSkipping } state = State::kOutside;
  std::vector<std::string_view> lines = config::SplitLines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    size_t line_no = i + 1;
    auto fail = [&](std::optional<size_t> section, const std::string& why) {
      out.errors.push_back(
          {line_no, section,
           InvalidArgumentError(fmt::format("{}: {}", Where(filename, line_no), why))});
    };
    if (config::StartsWith(config::TrimLeft(line), "#")) continue;
    if (Trim(line).empty()) {
      state = State::kOutside;
    } else if (IsSpace(line[0])) {
      if (state == State::kOutside) {
        fail(std::nullopt, fmt::format("option '{}' outside a section", Trim(line)));
      } else if (state == State::kInSection) {
        Status s = AddOption(line, line_no, options, out.sections.back());
        if (!s.ok()) fail(out.sections.size() - 1, s.message());
      }
    } else if (Result<Section> header = ParseHeader(line, options); header.ok()) {
      out.sections.push_back({std::move(*header), line_no, {}});
      state = State::kInSection;
    } else {
      fail(std::nullopt, header.status().message());
      state = State::kSkipping;
    }
  }
  return out;
}

std::optional<bool> ParsePveBool(std::string_view value) { return config::ParsePveBool(value); }

Result<std::vector<Section>> ParseSectionConfig(std::string_view text,
                                                const std::string& filename) {
  ParsedSectionConfig parsed = ParseSectionConfigLines(text, filename);
  const SectionConfigError* first_error = parsed.errors.empty() ? nullptr : &parsed.errors.front();
  std::vector<Section> sections;
  std::set<std::string> ids;
  for (LocatedSection& s : parsed.sections) {
    if (first_error && first_error->line < s.line) return first_error->status;
    if (!ids.insert(s.section.id).second) {
      return InvalidArgumentError(
          fmt::format("{}: duplicate id '{}'", Where(filename, s.line), s.section.id));
    }
    sections.push_back(std::move(s.section));
  }
  if (first_error) return first_error->status;
  return sections;
}

}  // namespace ctdump
