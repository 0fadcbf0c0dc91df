// The JSON renderer: one event per line on stdout (docs/json-events.md, the
// schema docs/json-events.schema.json).
#include <fmt/format.h>
#include <time.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/renderer.h"

namespace ctdump::cli {

using json = nlohmann::json;

void PrintJsonEvent(json event) {
  try {
    event["v"] = kJsonEventsVersion;
    event["time"] = ::time(nullptr);
    // Never aborts: bytes that are not UTF-8 (names, notes) become U+FFFD.
    fmt::print(stdout, "{}\n", event.dump(-1, ' ', false, json::error_handler_t::replace));
    std::fflush(stdout);
  } catch (...) {
    // stdout is gone: keep going.
  }
}

namespace {

using Clock = std::chrono::steady_clock;

json OrNull(const std::optional<uint64_t>& v) { return v ? json(*v) : json(); }

class JsonRenderer : public Renderer {
 public:
  explicit JsonRenderer(std::string command) : command_(std::move(command)) {}
  ~JsonRenderer() override {
    if (pending_) Write(std::move(*pending_));
    if (terminal_) Write(std::move(*terminal_));
  }

  void Log(LogLevel level, std::string_view message) noexcept override {
    const char* l = level == LogLevel::kInfo ? "info" : level == LogLevel::kWarn ? "warn" : "err";
    try {
      json j = {{"event", "log"}, {"level", l}, {"message", std::string(message)}};
      if (vmid_) j["vmid"] = *vmid_;
      Emit(std::move(j));
    } catch (...) {
    }
  }

  // At most one progress event every 500 ms, but the first of a new phase
  // or container at once; the last one held back is written before the next
  // other event, so that every phase's final numbers are seen.
  void OnProgress(const Progress& p) noexcept override {
    try {
      json j = {{"event", "progress"},
                {"vmid", vmid_ ? json(*vmid_) : json()},
                {"phase", p.phase.empty() ? json() : json(p.phase)},
                {"bytes", p.bytes},
                {"files", p.files},
                {"total-bytes", OrNull(p.total_bytes)},
                {"total-files", OrNull(p.total_files)}};
      auto now = Clock::now();
      bool changed = !last_progress_ || (*last_progress_)["phase"] != j["phase"] ||
                     (*last_progress_)["vmid"] != j["vmid"];
      if (!changed && now - last_ < std::chrono::milliseconds(500)) {
        pending_ = std::move(j);
        return;
      }
      last_ = now;
      // A new phase or container: the old one's last numbers first.
      if (changed && pending_) Write(std::move(*pending_));
      pending_.reset();
      last_progress_ = j;
      Write(std::move(j));
    } catch (...) {
    }
  }

  void OnJobStart(const JobInfo& job) noexcept override {
    try {
      json j = {
          {"event", "job-start"}, {"command", command_}, {"vmids", job.vmids}, {"mode", job.mode}};
      j["storage"] = job.storage.empty() ? json() : json(job.storage);
      if (!job.dumpdir.empty()) j["dumpdir"] = job.dumpdir;
      Emit(std::move(j));
    } catch (...) {
    }
  }

  void OnGuestStart(std::string_view vmid) noexcept override {
    try {
      vmid_ = std::string(vmid);
      Emit({{"event", "guest-start"}, {"vmid", *vmid_}});
    } catch (...) {
    }
  }

  void OnGuestEnd(const GuestSummary& g) noexcept override {
    try {
      Emit(GuestJson(g, "guest-end"));
      vmid_.reset();
    } catch (...) {
    }
  }

  void JobEnd(const backup::JobResult& r) override {
    json guests = json::array();
    for (const auto& g : r.guests) {
      GuestSummary o{g.vmid,    g.status.ok(), g.status.ok() ? "" : g.status.message(),
                     g.archive, g.size,        g.seconds,
                     g.warnings};
      json j = GuestJson(o, "");
      j.erase("event");
      guests.push_back(std::move(j));
    }
    vmid_.reset();
    json end = {{"event", "job-end"},
                {"command", command_},
                {"ok", r.ok()},
                {"exit", r.ok() ? 0 : 1},
                {"guests", guests}};
    if (!r.status.ok()) end["error"] = r.status.message();
    if (!r.selection_warnings.empty()) end["selection-warnings"] = r.selection_warnings;
    EmitTerminal(std::move(end));
  }

  void Error(std::string_view message, int exit_code) noexcept override {
    try {
      json j = {{"event", "error"},
                {"command", command_},
                {"message", std::string(message)},
                {"exit", exit_code}};
      if (vmid_) j["vmid"] = *vmid_;
      EmitTerminal(std::move(j));
    } catch (...) {
    }
  }

  void OnResult(bool ok, int exit_code, const json& data) override {
    EmitTerminal({{"event", "result"},
                  {"command", command_},
                  {"ok", ok},
                  {"exit", exit_code},
                  {"data", data}});
  }

 private:
  static json GuestJson(const GuestSummary& g, const char* event) {
    json j = {{"event", event},
              {"vmid", g.vmid},
              {"ok", g.ok},
              {"seconds", g.seconds},
              {"warnings", g.warnings}};
    if (!g.archive.empty()) j["archive"] = g.archive;
    if (g.size) j["size"] = *g.size;
    if (!g.ok) j["error"] = g.error;
    return j;
  }

  void Emit(json j) noexcept {
    if (pending_) {
      last_progress_ = *pending_;
      Write(std::move(*pending_));
      pending_.reset();
    }
    Write(std::move(j));
  }
  // job-end, result and error end the stream: held back until the renderer
  // is done (or the next terminal event, `job run` of several restore
  // tests), so that what is logged after them (a notification's failure)
  // comes before, and the terminal event stays the last line.
  void EmitTerminal(json j) noexcept {
    if (pending_) {
      Write(std::move(*pending_));
      pending_.reset();
    }
    if (terminal_) Write(std::move(*terminal_));
    terminal_ = std::move(j);
  }
  static void Write(json j) noexcept { PrintJsonEvent(std::move(j)); }

  std::string command_;
  std::optional<std::string> vmid_;  // between guest-start and guest-end
  Clock::time_point last_{};
  std::optional<json> last_progress_, pending_, terminal_;
};

}  // namespace

std::unique_ptr<Renderer> MakeJsonRenderer(std::string command) {
  return std::make_unique<JsonRenderer>(std::move(command));
}

}  // namespace ctdump::cli
