#include "httpd/assets.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <functional>

#include "crypt/crypt.h"
#include "httpd/gzip.h"
#include "sys/dir_list.h"
#include "sys/file.h"

namespace ctdump::httpd {
namespace {

constexpr size_t kMaxFiles = 2000;
constexpr size_t kMaxTotalBytes = 32u << 20;
constexpr std::string_view kPlaceholder = "@ASSETS@";

bool SafeName(std::string_view n) {
  if (n.empty() || n[0] == '.') return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
      return false;
  return true;
}

// The gzip form when it saves at least a tenth (small or compressed files
// are served as they are).
std::string MaybeGzip(const std::string& content) {
  if (content.size() < 1024) return {};
  std::string z = Gzip(content);
  return !z.empty() && z.size() * 10 < content.size() * 9 ? z : std::string();
}

}  // namespace

std::string ContentTypeFor(std::string_view name) {
  static const std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
      {".webmanifest", "application/manifest+json"},
  };
  for (const auto& [ext, type] : kTypes)
    if (name.size() > ext.size() && name.substr(name.size() - ext.size()) == ext)
      return std::string(type);
  return "application/octet-stream";
}

const Asset* Assets::Find(std::string_view relative) const {
  auto it = files.find(std::string(relative));
  return it == files.end() ? nullptr : &it->second;
}

Result<Assets> LoadAssets(const std::string& dir) {
  if (!sys::IsDirectory(dir))
    return NotFoundError(fmt::format("the web console's directory '{}' does not exist", dir));
  Assets out;
  size_t total = 0;
  std::function<Status(const std::string&, const std::string&, int)> walk =
      [&](const std::string& path, const std::string& rel, int depth) -> Status {
    ASSIGN_OR_RETURN(auto entries, sys::ListDirectory(path));
    for (const auto& e : entries) {
      if (!SafeName(e.name)) continue;
      std::string p = path + "/" + e.name, r = rel.empty() ? e.name : rel + "/" + e.name;
      struct stat st;
      if (::lstat(p.c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode) && depth < 8) {
        RETURN_IF_ERROR(walk(p, r, depth + 1));
        continue;
      }
      if (!S_ISREG(st.st_mode)) continue;
      if (out.files.size() >= kMaxFiles)
        return FailedPreconditionError(
            fmt::format("the web console's directory '{}' has more than {} files", dir, kMaxFiles));
      ASSIGN_OR_RETURN(std::string content, sys::ReadRegularFile(p, kMaxTotalBytes - total));
      total += content.size();
      Asset a;
      a.content_type = ContentTypeFor(e.name);
      a.content = std::move(content);
      out.files.emplace(r, std::move(a));
    }
    return Status::OK();
  };
  RETURN_IF_ERROR(walk(dir, "", 0));
  auto index = out.files.find("index.html");
  if (index == out.files.end())
    return NotFoundError(fmt::format("the web console's '{}/index.html' does not exist", dir));
  std::string all;
  for (const auto& [name, a] : out.files) {
    all += fmt::format("{}\n{}\n", name, a.content.size());
    all += a.content;
  }
  out.tag = crypt::Sha256(all).Hex().substr(0, 12);
  out.index_html = index->second.content;
  for (size_t pos; (pos = out.index_html.find(kPlaceholder)) != std::string::npos;)
    out.index_html.replace(pos, kPlaceholder.size(), "/static/" + out.tag);
  out.files.erase(index);
  out.index_gzipped = MaybeGzip(out.index_html);
  for (auto& [name, a] : out.files) a.gzipped = MaybeGzip(a.content);
  return out;
}

}  // namespace ctdump::httpd
