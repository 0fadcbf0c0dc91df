// ContainerConfig helpers and the real-file-system ConfigFiles.
#include "ctdump/container_config.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace ctdump {
namespace {

// Closes a file descriptor on scope exit.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

class RealConfigFiles : public ConfigFiles {
 public:
  Result<std::string> Read(const std::string& path) const override {
    // O_NONBLOCK: a FIFO must not block us; it is then rejected as not regular.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return ErrnoError(errno, fmt::format("Failed to open \"{}\"", path));
    FdCloser closer(fd);
    struct stat st;
    if (::fstat(fd, &st) != 0) return ErrnoError(errno, fmt::format("Failed to stat \"{}\"", path));
    if (!S_ISREG(st.st_mode)) {
      return InvalidArgumentError(fmt::format("\"{}\" is not a regular file", path));
    }
    std::string data;
    char buf[16384];
    while (true) {
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoError(errno, fmt::format("Failed to read \"{}\"", path));
      if (n == 0) return data;
      data.append(buf, static_cast<size_t>(n));
      if (data.size() > kMaxFileSize) {
        return InvalidArgumentError(
            fmt::format("\"{}\" is larger than {} bytes, not a config file", path, kMaxFileSize));
      }
    }
  }

  Result<bool> IsDirectory(const std::string& path) const override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      return ErrnoError(errno, fmt::format("Failed to stat \"{}\"", path));
    }
    return S_ISDIR(st.st_mode);
  }

  Result<std::vector<std::string>> List(const std::string& path) const override {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) return ErrnoError(errno, fmt::format("Failed to open \"{}\"", path));
    std::vector<std::string> names;
    errno = 0;
    while (struct dirent* ent = ::readdir(dir)) {
      std::string name = ent->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    int err = errno;
    ::closedir(dir);
    if (err != 0) return ErrnoError(err, fmt::format("Failed to read directory \"{}\"", path));
    return names;
  }
};

}  // namespace

const ConfigFiles& ConfigFiles::Real() {
  static const RealConfigFiles* const kReal = new RealConfigFiles();
  return *kReal;
}

Result<IdMap> ContainerConfig::GetIdMap() const { return IdMap::Parse(idmap_values, unprivileged); }

Result<ContainerConfig> ReadLxcConfig(const std::string& path, const std::string& name) {
  return ReadLxcConfig(path, name, ConfigFiles::Real());
}

Result<ContainerConfig> ReadPctConfig(const std::string& path, const std::string& name,
                                      const ConfigFiles& files) {
  ASSIGN_OR_RETURN(std::string text, files.Read(path));
  return ParsePctConfig(text, name, path);
}

}  // namespace ctdump
