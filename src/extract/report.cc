#include "extract/report.h"

#include <fmt/format.h>
#include <sys/wait.h>

#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <cstdio>

#include "sys/subprocess.h"

namespace ctdump::extract {
namespace {

std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Unescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      ++i;
      out += text[i] == 'n' ? '\n' : text[i];
    } else {
      out += text[i];
    }
  }
  return out;
}

bool ParseStats(std::string_view text, ExtractStats* stats) {
  uint64_t* fields[] = {&stats->entries,
                        &stats->bytes,
                        &stats->skipped_existing,
                        &stats->unmapped_ids,
                        &stats->stripped_privileges,
                        &stats->unmapped_acl_entries};
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (size_t i = 0; i < std::size(fields); ++i) {
    if (i > 0) {
      if (p == end || *p != ' ') return false;
      ++p;
    }
    auto [next, ec] = std::from_chars(p, end, *fields[i]);
    if (ec != std::errc()) return false;
    p = next;
  }
  return p == end;
}

}  // namespace

std::string EncodeReport(char kind, std::string_view text) {
  return fmt::format("{} {}\n", kind, Escape(text));
}

std::string EncodeStats(const ExtractStats& s) {
  return EncodeReport(
      'S', fmt::format("{} {} {} {} {} {}", s.entries, s.bytes, s.skipped_existing, s.unmapped_ids,
                       s.stripped_privileges, s.unmapped_acl_entries));
}

std::optional<ReportLine> DecodeReport(std::string_view line) {
  if (line.size() < 2 || line[1] != ' ') return std::nullopt;
  char kind = line[0];
  if (kind != 'W' && kind != 'U' && kind != 'E' && kind != 'S' && kind != 'P') return std::nullopt;
  return ReportLine{kind, Unescape(line.substr(2))};
}

void ReportCollector::Feed(std::string_view data) {
  for (;;) {
    size_t nl = data.find('\n');
    if (nl == std::string_view::npos) {
      partial_.append(data.substr(0, kMaxReportLine - std::min(partial_.size(), kMaxReportLine)));
      return;
    }
    partial_.append(
        data.substr(0, std::min(nl, kMaxReportLine - std::min(partial_.size(), kMaxReportLine))));
    data.remove_prefix(nl + 1);
    std::string line = std::move(partial_);
    partial_.clear();
    HandleLine(line);
  }
}

void ReportCollector::Finish() {
  if (!partial_.empty()) {
    std::string line = std::move(partial_);
    partial_.clear();
    HandleLine(line);
  }
  if (warnings_ > kMaxLoggedWarnings && observer_) {
    observer_->Log(LogLevel::kWarn, fmt::format("{} more extraction warnings not shown",
                                                warnings_ - kMaxLoggedWarnings));
  }
}

void ReportCollector::Warn(std::string message) {
  if (++warnings_ <= kMaxLoggedWarnings && observer_) observer_->Log(LogLevel::kWarn, message);
}

void ReportCollector::HandleLine(std::string_view line) {
  auto r = DecodeReport(line);
  if (!r) {
    if (!line.empty()) {
      Warn(fmt::format("extraction: {}", line));
      last_other_ = std::string(line);
    }
    return;
  }
  switch (r->kind) {
    case 'W':
      Warn(std::move(r->text));
      break;
    case 'E':
      errors_.push_back(std::move(r->text));
      break;
    case 'U':
      if (examples_.size() < kMaxUnmappedExamples) examples_.push_back(std::move(r->text));
      break;
    case 'P': {
      // Progress that does not parse is dropped: it never fails a restore.
      uint64_t e = 0, b = 0;
      if (std::sscanf(r->text.c_str(), "%" SCNu64 " %" SCNu64, &e, &b) == 2) {
        entries_ = e;
        bytes_ = b;
      }
      break;
    }
    case 'S': {
      ExtractStats s;
      if (ParseStats(r->text, &s)) {
        stats_ = s;
      } else {
        Warn(fmt::format("extraction: malformed statistics '{}'", r->text));
      }
      break;
    }
  }
}

std::optional<ExtractStats> ReportCollector::stats() const {
  if (!stats_) return std::nullopt;
  ExtractStats s = *stats_;
  s.unmapped_examples = examples_;
  return s;
}

Status ChildStatus(int wait_status, const std::vector<std::string>& errors, std::string_view what,
                   std::string_view other) {
  if (errors.empty()) {
    if (sys::ExitedOk(wait_status)) return Status::OK();
    std::string why;
    if (!other.empty()) why = fmt::format(" after '{}'", other);
    if (other.find("Out of memory") != std::string_view::npos)
      why += " (the extraction's memory is limited; a crafted or damaged archive?)";
    return IOError(fmt::format("extracting {} failed: the extraction process {}{}", what,
                               sys::DescribeWaitStatus(wait_status), why));
  }
  std::string message = errors.front();
  if (errors.size() > 1) message += fmt::format(" (and {} more errors)", errors.size() - 1);
  int code = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
  switch (code) {
    case kExitRefused:
      return InvalidArgumentError(std::move(message));
    case kExitCorrupt:
      return DataLossError(std::move(message));
    default:
      return IOError(std::move(message));
  }
}

}  // namespace ctdump::extract
