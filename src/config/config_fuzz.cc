// libFuzzer targets for the config parsers. Built once per parser with one of
// CTDUMP_FUZZ_LXC, CTDUMP_FUZZ_PCT, CTDUMP_FUZZ_SECTION, CTDUMP_FUZZ_VZDUMP
// defined (see CMakeLists.txt). Each target traps on a malformed error (wrong
// code or a message that does not name the file) and on broken invariants.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/config_test_util.h"
#include "ctdump/container_config.h"
#include "ctdump/section_config.h"
#include "ctdump/vzdump_conf.h"

namespace {

void Check(bool cond) {
  if (!cond) __builtin_trap();
}

void CheckError(const ctdump::Status& status, std::string_view file) {
  Check(status.code() == ctdump::Code::kInvalidArgument ||
        status.code() == ctdump::Code::kNotFound);
  Check(status.message().find(file) != std::string::npos);
}

[[maybe_unused]] void CheckContainer(const ctdump::ContainerConfig& cfg) {
  Check(!cfg.rootfs_path.empty() && cfg.rootfs_path[0] == '/');
  for (const ctdump::MountPoint& m : cfg.mounts) {
    Check(!m.path.empty() && m.path[0] == '/');
    Check(m.path == "/" || m.path.back() != '/');
    Check(!(m.is_bind && m.is_volume));
  }
  (void)cfg.GetIdMap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
#if defined(CTDUMP_FUZZ_LXC)
  // The input is the main config; a few include targets exist in memory,
  // including ones that lead back to the main file.
  ctdump::testing_util::MemoryFiles files;
  files.Add("/c/config", text);
  files.Add("/inc/a.conf", "lxc.uts.name = a\nlxc.include = /inc/d\n");
  files.Add("/inc/d/1.conf", "lxc.mount.entry = /x x none bind 0 0\n");
  files.Add("/inc/d/2.conf", "lxc.include = /c/config\n");
  files.Add("/inc/fstab", "/y y none bind 0 0\n");
  ctdump::Result<ctdump::ContainerConfig> cfg = ctdump::ReadLxcConfig("/c/config", "c", files);
  if (!cfg.ok()) {
    Check(cfg.status().message().rfind("/", 0) == 0);
    CheckError(cfg.status(), "/");
  } else {
    CheckContainer(*cfg);
  }
#elif defined(CTDUMP_FUZZ_PCT)
  ctdump::Result<ctdump::ContainerConfig> cfg = ctdump::ParsePctConfig(text, "101", "/f.conf");
  if (!cfg.ok()) {
    CheckError(cfg.status(), "/f.conf");
  } else {
    CheckContainer(*cfg);
  }
#elif defined(CTDUMP_FUZZ_SECTION)
  auto sections = ctdump::ParseSectionConfig(text, "/storage.cfg");
  if (!sections.ok()) CheckError(sections.status(), "/storage.cfg:");
  // The collecting parser, as storage.cfg and as notifications.cfg read it:
  // lines ascend, every option has its line, every error names file:line.
  ctdump::SectionConfigOptions notify_like;
  notify_like.require_value = true;
  notify_like.repeatable = [](std::string_view, std::string_view key) { return key == "target"; };
  for (const ctdump::SectionConfigOptions& options :
       {ctdump::SectionConfigOptions{}, notify_like}) {
    ctdump::ParsedSectionConfig parsed = ctdump::ParseSectionConfigLines(text, "/s.cfg", options);
    size_t last = 0;
    for (const ctdump::LocatedSection& s : parsed.sections) {
      Check(s.line > last && s.option_lines.size() == s.section.options.size());
      last = s.line;
      for (size_t line : s.option_lines) {
        Check(line > last);
        last = line;
      }
      Check(!s.section.type.empty() && options.valid_id(s.section.id));
    }
    last = 0;
    for (const ctdump::SectionConfigError& e : parsed.errors) {
      Check(e.line > last && (!e.section || *e.section < parsed.sections.size()));
      last = e.line;
      CheckError(e.status, "/s.cfg:" + std::to_string(e.line) + ": ");
    }
    if (sections.ok() && options.repeatable == nullptr) {
      Check(parsed.errors.empty() && parsed.sections.size() == sections->size());
    }
  }
#elif defined(CTDUMP_FUZZ_VZDUMP)
  auto conf = ctdump::ParseVzdumpConf(text, "/vzdump.conf");
  if (!conf.ok()) {
    CheckError(conf.status(), "/vzdump.conf:");
  } else {
    for (const std::string& path : conf->exclude_paths) Check(!path.empty());
  }
#else
#error "define one of CTDUMP_FUZZ_LXC, _PCT, _SECTION, _VZDUMP"
#endif
  return 0;
}
