// Test helpers for the config parsers: an in-memory ConfigFiles, a temporary
// directory, and the input mutator of the randomized "never crashes" tests.
#ifndef CTDUMP_CONFIG_CONFIG_TEST_UTIL_H_
#define CTDUMP_CONFIG_CONFIG_TEST_UTIL_H_

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "ctdump/container_config.h"

namespace ctdump::testing_util {

// Files and directories held in memory. A directory exists if it was added
// with AddDir or contains a file.
class MemoryFiles : public ConfigFiles {
 public:
  void Add(const std::string& path, const std::string& text) { files_[path] = text; }
  void AddDir(const std::string& path) { dirs_.insert(path); }

  Result<std::string> Read(const std::string& path) const override {
    auto it = files_.find(path);
    if (it != files_.end()) return it->second;
    if (IsDir(path)) return InvalidArgumentError("\"" + path + "\" is not a regular file");
    return NotFoundError("Failed to open \"" + path + "\": No such file or directory");
  }
  Result<bool> IsDirectory(const std::string& path) const override {
    if (files_.count(path)) return false;
    if (IsDir(path)) return true;
    return NotFoundError("Failed to stat \"" + path + "\": No such file or directory");
  }
  Result<std::vector<std::string>> List(const std::string& path) const override {
    if (!IsDir(path)) return NotFoundError("Failed to open \"" + path + "\"");
    std::set<std::string> names;
    std::string prefix = path == "/" ? "/" : path + "/";
    auto collect = [&](const std::string& p) {
      if (p.rfind(prefix, 0) != 0 || p.size() == prefix.size()) return;
      names.insert(p.substr(prefix.size(), p.find('/', prefix.size()) - prefix.size()));
    };
    for (const auto& [p, text] : files_) collect(p);
    for (const std::string& d : dirs_) collect(d);
    // Reverse order: the reader must sort.
    return std::vector<std::string>(names.rbegin(), names.rend());
  }

 private:
  bool IsDir(const std::string& path) const {
    if (dirs_.count(path)) return true;
    std::string prefix = path == "/" ? "/" : path + "/";
    for (const auto& [p, text] : files_) {
      if (p.rfind(prefix, 0) == 0) return true;
    }
    return false;
  }

  std::map<std::string, std::string> files_;
  std::set<std::string> dirs_;
};

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string dir = base && *base ? base : "/tmp";
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    std::string tmpl = dir + "/ctdump-config-test.XXXXXX";
    path_ = mkdtemp(tmpl.data()) ? tmpl : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

  // Writes `text` to path()/rel, creating parent directories. A `rel` ending
  // in '/' creates just the directory.
  void Write(const std::string& rel, const std::string& text) const {
    std::filesystem::path p = path_ + "/" + rel;
    if (rel.back() == '/') {
      std::filesystem::create_directories(p);
      return;
    }
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
  }

 private:
  std::string path_;
};

// Replaces every "$D" in `s` with `dir`.
inline std::string Expand(std::string s, const std::string& dir) {
  for (size_t pos = s.find("$D"); pos != std::string::npos; pos = s.find("$D", pos + dir.size())) {
    s.replace(pos, 2, dir);
  }
  return s;
}

// Applies 1-4 random edits: insert a token or a random byte, delete a range,
// duplicate a line, or flip a byte.
inline std::string Mutate(std::string s, std::mt19937& rng,
                          const std::vector<std::string>& tokens) {
  int edits = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < edits; ++i) {
    size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
    switch (rng() % 6) {
      case 0:
      case 1:
        s.insert(pos, tokens[rng() % tokens.size()]);
        break;
      case 2:
        s.insert(pos, 1, static_cast<char>(rng() % 256));
        break;
      case 3:
        if (pos < s.size()) s.erase(pos, 1 + rng() % 8);
        break;
      case 4: {
        size_t start = s.rfind('\n', pos == 0 ? 0 : pos - 1);
        start = start == std::string::npos ? 0 : start + 1;
        size_t end = s.find('\n', pos);
        end = end == std::string::npos ? s.size() : end + 1;
        s.insert(end, s.substr(start, end - start));
        break;
      }
      default:
        if (pos < s.size()) s[pos] = static_cast<char>(s[pos] ^ (1 << (rng() % 8)));
        break;
    }
  }
  return s;
}

}  // namespace ctdump::testing_util

#endif  // CTDUMP_CONFIG_CONFIG_TEST_UTIL_H_
