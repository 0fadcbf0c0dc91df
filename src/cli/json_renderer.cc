// The JSON renderer: one event per line on stdout (docs/json-events.md).
#include <fmt/format.h>
#include <time.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/renderer.h"

namespace ctdump::cli {
namespace {

using Clock = std::chrono::steady_clock;

class JsonRenderer : public Renderer {
 public:
  void Log(LogLevel level, std::string_view message) noexcept override {
    const char* l = level == LogLevel::kInfo ? "info" : level == LogLevel::kWarn ? "warn" : "err";
    Emit({{"event", "log"}, {"level", l}, {"message", std::string(message)}});
  }
  void OnProgress(const Progress& p) noexcept override {
    auto now = Clock::now();
    if (now - last_ < std::chrono::milliseconds(500)) return;
    last_ = now;
    Emit({{"event", "progress"},
          {"bytes", p.bytes},
          {"files", p.files},
          {"total-bytes", p.total_bytes ? nlohmann::json(*p.total_bytes) : nlohmann::json()}});
  }
  void JobEnd(const backup::JobResult& r) override {
    nlohmann::json guests = nlohmann::json::array();
    for (const auto& g : r.guests) {
      nlohmann::json j = {{"vmid", g.vmid},
                          {"ok", g.status.ok()},
                          {"seconds", g.seconds},
                          {"warnings", g.warnings}};
      if (!g.archive.empty()) j["archive"] = g.archive;
      if (g.size) j["size"] = *g.size;
      if (!g.status.ok()) j["error"] = g.status.message();
      guests.push_back(j);
    }
    nlohmann::json end = {{"event", "job-end"}, {"ok", r.ok()}, {"guests", guests}};
    if (!r.status.ok()) end["error"] = r.status.message();
    if (!r.selection_warnings.empty()) end["selection-warnings"] = r.selection_warnings;
    Emit(end);
  }

 private:
  void Emit(nlohmann::json j) noexcept {
    try {
      j["time"] = ::time(nullptr);
      fmt::print(stdout, "{}\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      std::fflush(stdout);
    } catch (...) {
      // stdout is gone: keep going.
    }
  }
  Clock::time_point last_{};
};

}  // namespace

std::unique_ptr<Renderer> MakeJsonRenderer() { return std::make_unique<JsonRenderer>(); }

}  // namespace ctdump::cli
