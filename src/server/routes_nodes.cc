// GET /nodes and the container endpoints (docs/design/api-server.md §5.3,
// shapes of docs/design/pve-api-facts.md §5): answered in-process from
// /proc, statvfs, the lxcpath, liblxc and the container's cgroup files (v2;
// the v1 controllers' where a hybrid host has them). PVE's fields this host
// has no source for are 0 (disk, maxdisk: a container's root file system is
// a directory) or left out (tags).
//
// Fractions of CPU time ("cpu") are measured since the previous call, as
// PVE's pvestatd does between its rounds: the first call of a process says 0.
// The samples live in a NodeSamples shared by the handlers of one table.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "backup/guest_state.h"
#include "backup/job_options.h"
#include "container/container.h"
#include "ctdump/container_config.h"
#include "server/route_parts.h"
#include "server/routes.h"
#include "sys/file.h"

namespace ctdump::server {
namespace {

using json = nlohmann::json;

// Containers the lists leave out: restore tests' throw-away ones
// (src/restore/test_restore.h), as `ctdump status` does.
constexpr char kRestoreTestPrefix[] = "ctdump-rt-";

double Monotonic() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// The previous CPU samples of the host and of each container.
struct NodeSamples {
  std::mutex mu;
  uint64_t host_busy = 0, host_total = 0;  // jiffies of /proc/stat's "cpu" line
  struct Ct {
    uint64_t usage_usec = 0;
    double at = 0;
  };
  std::map<std::string, Ct> cts;

  // The host's busy fraction since the previous call (0 the first time).
  double HostCpu(uint64_t busy, uint64_t total) {
    std::lock_guard<std::mutex> lock(mu);
    double f = 0;
    if (host_total != 0 && total > host_total && busy >= host_busy)
      f = static_cast<double>(busy - host_busy) / static_cast<double>(total - host_total);
    host_busy = busy;
    host_total = total;
    return std::min(1.0, f);
  }
  // A container's fraction of its `cpus` since the previous call.
  double CtCpu(const std::string& ct, uint64_t usage_usec, double cpus) {
    std::lock_guard<std::mutex> lock(mu);
    double now = Monotonic(), f = 0;
    auto it = cts.find(ct);
    if (it != cts.end() && usage_usec >= it->second.usage_usec && now > it->second.at && cpus > 0)
      f = static_cast<double>(usage_usec - it->second.usage_usec) / 1e6 / (now - it->second.at) /
          cpus;
    cts[ct] = Ct{usage_usec, now};
    return std::min(1.0, std::max(0.0, f));
  }
};

// A file's text, "" when it cannot be read (stats that are not there are 0).
std::string ReadText(const std::string& path) {
  auto text = sys::ReadFile(path);
  return text.ok() ? *text : std::string();
}

uint64_t ToU64(std::string_view s) {
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') break;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

// The value after "<key> " (or "<key>=") in text of "key value" lines or
// words, 0 when absent.
uint64_t Field(const std::string& text, std::string_view key, char sep) {
  std::istringstream in(text);
  std::string word;
  while (in >> word) {
    if (sep == '=') {
      if (word.size() > key.size() && word.compare(0, key.size(), key) == 0 &&
          word[key.size()] == '=')
        return ToU64(std::string_view(word).substr(key.size() + 1));
    } else if (word == key && in >> word) {
      return ToU64(word);
    }
  }
  return 0;
}

// /proc/meminfo's value of `key` ("MemTotal") in bytes.
uint64_t MemInfo(const std::string& meminfo, std::string_view key) {
  return Field(meminfo, std::string(key) + ":", ' ') * 1024;
}

uint64_t HostCpus() {
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<uint64_t>(n) : 1;
}

double HostUptime() {
  std::string t = ReadText("/proc/uptime");
  return t.empty() ? 0 : std::strtod(t.c_str(), nullptr);
}

json NodeEntry(const ServerContext& ctx, NodeSamples& samples, bool stats) {
  json e = {{"node", ctx.node}, {"status", "online"},
            {"type", "node"},   {"id", "node/" + ctx.node},
            {"level", ""},      {"ssl_fingerprint", ctx.ssl_fingerprint}};
  if (!stats) return e;
  std::istringstream stat(ReadText("/proc/stat"));
  std::string cpu;
  uint64_t v[8] = {}, total = 0;
  stat >> cpu;
  for (uint64_t& x : v) {
    stat >> x;
    total += x;
  }
  uint64_t idle = v[3] + v[4];  // idle + iowait
  e["cpu"] = samples.HostCpu(total - idle, total);
  e["maxcpu"] = HostCpus();
  std::string meminfo = ReadText("/proc/meminfo");
  uint64_t mem_total = MemInfo(meminfo, "MemTotal");
  uint64_t avail = MemInfo(meminfo, "MemAvailable");
  e["maxmem"] = mem_total;
  e["mem"] = mem_total > avail ? mem_total - avail : 0;
  struct statvfs vfs {};
  uint64_t disk = 0, maxdisk = 0;
  if (::statvfs("/", &vfs) == 0) {
    maxdisk = static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize;
    disk = static_cast<uint64_t>(vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize;
  }
  e["disk"] = disk;
  e["maxdisk"] = maxdisk;
  e["uptime"] = static_cast<int64_t>(HostUptime());
  return e;
}

// A running container's cgroups: its cgroup v2 directory and, on hosts with
// cgroup v1 controllers (hybrid layouts), each controller's directory.
struct Cgroups {
  std::string v2;                         // "" if none
  std::map<std::string, std::string> v1;  // "memory" -> /sys/fs/cgroup/memory/lxc.payload.<ct>

  // The v2 file `name`, else `v1_name` of the v1 `controller`; "" if neither.
  std::string Read(const char* name, const char* controller = "", const char* v1_name = "") const {
    if (*name && !v2.empty() && sys::PathExists(v2 + "/" + name)) return ReadText(v2 + "/" + name);
    auto it = v1.find(controller);
    if (it == v1.end() || !*v1_name) return "";
    return ReadText(it->second + "/" + v1_name);
  }
  bool empty() const { return v2.empty() && v1.empty(); }
};

Cgroups CgroupsOf(pid_t pid) {
  Cgroups out;
  std::istringstream in(ReadText(fmt::format("/proc/{}/cgroup", pid)));
  std::string line;
  while (std::getline(in, line)) {
    // "4:memory:/lxc.payload.c1" (v1) or "0::/lxc.payload.c1" (v2)
    auto a = line.find(':');
    auto b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    // systemd inside moves init into a child: the payload cgroup is the container's.
    auto payload = path.find("/lxc.payload.");
    if (payload != std::string::npos) {
      auto end = path.find('/', payload + 1);
      if (end != std::string::npos) path.resize(end);
    }
    if (controllers.empty()) {
      for (const char* root : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"})
        if (out.v2.empty() && sys::IsDirectory(root + path) &&
            sys::PathExists(std::string(root) + path + "/cgroup.procs"))
          out.v2 = root + path;
      continue;
    }
    std::istringstream names(controllers);
    std::string name;
    while (std::getline(names, name, ','))
      if (sys::IsDirectory("/sys/fs/cgroup/" + name + path))
        out.v1[name] = "/sys/fs/cgroup/" + name + path;
  }
  return out;
}

// A limit file ("max" or a number); `unlimited` for "max" or a missing file.
uint64_t Limit(const std::string& text, uint64_t unlimited) {
  if (text.empty() || text.rfind("max", 0) == 0) return unlimited;
  return ToU64(text);
}

// "quota period" of cpu.max (or lxc.cgroup2.cpu.max) as a CPU count.
double CpusOf(const std::string& cpu_max, uint64_t host) {
  std::istringstream in(cpu_max);
  std::string quota, period;
  if (!(in >> quota >> period) || quota == "max") return static_cast<double>(host);
  uint64_t q = ToU64(quota), p = ToU64(period);
  if (q == 0 || p == 0) return static_cast<double>(host);
  return std::min(static_cast<double>(host), std::ceil(static_cast<double>(q) / p));
}

// avg10 of the "some" or "full" line of a pressure file.
double Pressure(const std::string& text, std::string_view kind) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(kind, 0) != 0) continue;
    auto at = line.find("avg10=");
    if (at != std::string::npos) return std::strtod(line.c_str() + at + 6, nullptr);
  }
  return 0;
}

// Bytes received and sent by the container's interfaces but lo.
void NetStats(pid_t pid, uint64_t* in_bytes, uint64_t* out_bytes) {
  std::istringstream in(ReadText(fmt::format("/proc/{}/net/dev", pid)));
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string dev = line.substr(0, colon);
    dev.erase(0, dev.find_first_not_of(' '));
    if (dev == "lo") continue;
    std::istringstream f(line.substr(colon + 1));
    uint64_t v[9] = {};
    for (uint64_t& x : v) f >> x;
    *in_bytes += v[0];   // the container receives: in (PVE counts the host veth's transmit)
    *out_bytes += v[8];  // ... and sends: out
  }
}

// Seconds since the container's init started.
int64_t InitUptime(pid_t pid) {
  std::string stat = ReadText(fmt::format("/proc/{}/stat", pid));
  auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream in(stat.substr(close + 2));
  std::string word;
  // Field 22 (starttime) is the 20th after "(comm)".
  for (int i = 0; i < 20 && in >> word; ++i) {
  }
  long hz = ::sysconf(_SC_CLK_TCK);
  if (hz <= 0) return 0;
  double up = HostUptime() - static_cast<double>(ToU64(word)) / static_cast<double>(hz);
  return up > 0 ? static_cast<int64_t>(up) : 0;
}

// Whether a backup or restore holds the container's lock
// (<run_dir>/lock/lxc-<ct>.lock, backup/job.cc): read from /proc/locks, so
// the check never takes the lock itself and cannot delay a job.
bool Locked(const std::string& run_dir, const std::string& ct) {
  struct stat st {};
  if (::stat(fmt::format("{}/lock/lxc-{}.lock", run_dir, ct).c_str(), &st) != 0) return false;
  std::string want = fmt::format("{:02x}:{:02x}:{}", major(st.st_dev), minor(st.st_dev), st.st_ino);
  std::istringstream in(ReadText("/proc/locks"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("FLOCK") == std::string::npos || line.find("->") != std::string::npos) continue;
    std::istringstream f(line);
    std::string word;
    while (f >> word)
      if (word == want) return true;
  }
  return false;
}

// The value of `key` in the container's config entries, "" if unset.
std::string ConfigValue(const ContainerConfig& config, std::string_view key) {
  std::string v;
  for (const auto& [k, value] : config.entries)
    if (k == key) v = value;
  return v;
}

// The stats of a running container (its cgroup) or the limits of a stopped
// one (its config), as PVE's vmstatus gives them.
void AddStats(pid_t pid, const ContainerConfig* config, const std::string& ct, NodeSamples& samples,
              json& e) {
  uint64_t host_cpus = HostCpus();
  std::string meminfo = ReadText("/proc/meminfo");
  uint64_t host_mem = MemInfo(meminfo, "MemTotal"), host_swap = MemInfo(meminfo, "SwapTotal");
  Cgroups cg = pid > 0 ? CgroupsOf(pid) : Cgroups();
  auto cfg = [&](std::string_view key) { return config ? ConfigValue(*config, key) : ""; };
  double cpus = static_cast<double>(host_cpus);
  uint64_t maxmem = host_mem, maxswap = host_swap;
  if (cg.empty()) {
    cpus = CpusOf(cfg("lxc.cgroup2.cpu.max"), host_cpus);
    maxmem = Limit(cfg("lxc.cgroup2.memory.max"), host_mem);
    maxswap = Limit(cfg("lxc.cgroup2.memory.swap.max"), host_swap);
  } else if (std::string v2 = cg.Read("cpu.max"); !v2.empty()) {
    cpus = CpusOf(v2, host_cpus);
  } else {
    int64_t quota = std::strtoll(cg.Read("", "cpu", "cpu.cfs_quota_us").c_str(), nullptr, 10);
    uint64_t period = ToU64(cg.Read("", "cpu", "cpu.cfs_period_us"));
    if (quota > 0 && period > 0) cpus = CpusOf(fmt::format("{} {}", quota, period), host_cpus);
  }
  if (!cg.empty()) {
    maxmem = Limit(cg.Read("memory.max", "memory", "memory.limit_in_bytes"), host_mem);
    maxswap = Limit(cg.Read("memory.swap.max"), host_swap);
  }
  // v1 says "unlimited" with a huge number.
  e["cpus"] = static_cast<int64_t>(cpus);
  e["maxmem"] = std::min(maxmem, host_mem);
  e["maxswap"] = std::min(maxswap, host_swap);
  e["disk"] = 0;
  e["maxdisk"] = 0;
  uint64_t netin = 0, netout = 0, rbytes = 0, wbytes = 0;
  double cpu = 0;
  if (pid > 0) {
    NetStats(pid, &netin, &netout);
    e["pid"] = pid;
    e["uptime"] = InitUptime(pid);
  } else {
    e["uptime"] = 0;
  }
  if (!cg.empty()) {
    std::istringstream io(cg.Read("io.stat"));
    std::string line;
    while (std::getline(io, line)) {
      rbytes += Field(line, "rbytes", '=');
      wbytes += Field(line, "wbytes", '=');
    }
    if (rbytes == 0 && wbytes == 0) {  // v1: "8:0 Read 1234" lines
      std::istringstream v1(cg.Read("", "blkio", "blkio.throttle.io_service_bytes"));
      std::string dev, op;
      uint64_t n = 0;
      while (v1 >> dev >> op >> n) {
        if (op == "Read") rbytes += n;
        if (op == "Write") wbytes += n;
      }
    }
    uint64_t usage_usec = Field(cg.Read("cpu.stat"), "usage_usec", ' ');
    if (usage_usec == 0) usage_usec = ToU64(cg.Read("", "cpuacct", "cpuacct.usage")) / 1000;
    cpu = samples.CtCpu(ct, usage_usec, cpus);
  }
  e["cpu"] = cpu;
  e["mem"] = ToU64(cg.Read("memory.current", "memory", "memory.usage_in_bytes"));
  e["swap"] = ToU64(cg.Read("memory.swap.current"));
  e["netin"] = netin;
  e["netout"] = netout;
  e["diskread"] = rbytes;
  e["diskwrite"] = wbytes;
  std::string cpu_p = cg.Read("cpu.pressure"), io_p = cg.Read("io.pressure"),
              mem_p = cg.Read("memory.pressure");
  e["pressurecpusome"] = Pressure(cpu_p, "some");
  e["pressurecpufull"] = Pressure(cpu_p, "full");
  e["pressureiosome"] = Pressure(io_p, "some");
  e["pressureiofull"] = Pressure(io_p, "full");
  e["pressurememorysome"] = Pressure(mem_p, "some");
  e["pressurememoryfull"] = Pressure(mem_p, "full");
}

// True for a name under the lxcpath that is a container (backup::ListContainers' rule).
bool ContainerExists(const ServerContext& ctx, const std::string& ct) {
  if (ct.empty() || ct.find('/') != std::string::npos || ct == "." || ct == "..") return false;
  struct stat st {};
  return ::stat(fmt::format("{}/{}/config", ctx.paths.lxcpath, ct).c_str(), &st) == 0 &&
         S_ISREG(st.st_mode);
}

api::ApiError NoSuchContainer(const std::string& ct) {
  return api::NamedParamError("vmid", fmt::format("container '{}' does not exist", ct));
}

// A vmid in answers: a decimal name without leading zero is a JSON integer
// (PVE since 8.2), any other name a string (design §5.3).
json VmidJson(const std::string& name) {
  bool numeric = !name.empty() && name.size() <= 18 && name.front() != '0' &&
                 name.find_first_not_of("0123456789") == std::string::npos;
  if (numeric) return json(static_cast<int64_t>(ToU64(name)));
  return json(name);
}

// The list entry of container `ct` (PVE's vmstatus), or an error.
Result<json> ContainerEntry(const ServerContext& ctx, NodeSamples& samples, const std::string& ct) {
  ASSIGN_OR_RETURN(container::Container c, container::Container::Open(ct, ctx.paths.lxcpath));
  bool running = c.IsRunning();
  pid_t pid = running ? c.InitPid() : 0;
  auto config = ReadLxcConfig(fmt::format("{}/{}/config", ctx.paths.lxcpath, ct), ct);
  std::string name = config.ok() && !config->hostname.empty() ? config->hostname : ct;
  json e = {{"vmid", VmidJson(ct)},
            {"name", name},
            {"type", "lxc"},
            {"status", running ? "running" : "stopped"},
            {"template", 0}};
  AddStats(pid, config.ok() ? &*config : nullptr, ct, samples, e);
  if (Locked(ctx.paths.run_dir, ct)) e["lock"] = "backup";
  auto record = backup::ReadGuestRecord(ctx.paths.state_dir, ct);
  if (record.ok())
    e["last-backup"] = {{"time", record->time},
                        {"result", backup::GuestOutcomeName(record->result)},
                        {"storage", record->storage},
                        {"archive", record->archive}};
  return e;
}

api::Param VmidParam() { return PathParam("vmid", "ctdump-guest", "the container's name"); }

api::Permission VmAudit() { return api::Permission::Privs({{"/vms/{vmid}", {"VM.Audit"}}}); }

// A container index: the container must exist.
api::Handler ContainerIndex(const ServerContext& ctx, std::vector<std::string> children) {
  return [&ctx, children](const api::HandlerContext& h) {
    std::string ct = h.params.value("vmid", "");
    if (!ContainerExists(ctx, ct)) return h.sink.Error(NoSuchContainer(ct));
    h.sink.Data(api::SubdirIndex(children));
  };
}

}  // namespace

std::vector<api::Route> NodeRoutes(const ServerContext& ctx) {
  auto samples = std::make_shared<NodeSamples>();
  std::vector<api::Route> t;
  t.push_back(
      {.method = api::Method::kGet,
       .path = "/nodes",
       .description = "This node with its status (stats need Sys.Audit on /nodes/<node>).",
       .permission = api::Permission::Authenticated("the stats need Sys.Audit on /nodes/<node>"),
       .handler = [&ctx, samples](const api::HandlerContext& h) {
         bool stats = ctx.allowed(h.caller, "/nodes/" + ctx.node, "Sys.Audit");
         h.sink.Data(json::array({NodeEntry(ctx, *samples, stats)}));
       }});
  t.push_back({.method = api::Method::kGet,
               .path = "/nodes/{node}",
               .description = "Node index.",
               .params = {NodeParam()},
               .permission = api::Permission::Authenticated(),
               .index = true});
  t.push_back(
      {.method = api::Method::kGet,
       .path = "/nodes/{node}/lxc",
       .description = "The containers under the lxcpath the caller may audit (VM.Audit).",
       .params = {NodeParam()},
       .permission = api::Permission::Authenticated("only containers with VM.Audit on /vms/<ct>"),
       .handler = [&ctx, samples](const api::HandlerContext& h) {
         auto cts = backup::ListContainers(ctx.paths.lxcpath);
         if (!cts.ok()) return h.sink.Error(api::StatusError(cts.status()));
         json out = json::array();
         for (const auto& ct : *cts) {
           if (ct.rfind(kRestoreTestPrefix, 0) == 0) continue;
           if (!ctx.allowed(h.caller, "/vms/" + ct, "VM.Audit")) continue;
           auto e = ContainerEntry(ctx, *samples, ct);
           // A container that cannot be opened (removed while listing) is left out.
           if (e.ok()) out.push_back(std::move(*e));
         }
         h.sink.Data(out);
       }});
  t.push_back({.method = api::Method::kGet,
               .path = "/nodes/{node}/lxc/{vmid}",
               .description = "Container index.",
               .params = {NodeParam(), VmidParam()},
               .permission = VmAudit(),
               .index = true,
               .handler = ContainerIndex(ctx, {"status"})});
  t.push_back({.method = api::Method::kGet,
               .path = "/nodes/{node}/lxc/{vmid}/status",
               .description = "Container status index.",
               .params = {NodeParam(), VmidParam()},
               .permission = VmAudit(),
               .index = true,
               .handler = ContainerIndex(ctx, {"current"})});
  t.push_back({.method = api::Method::kGet,
               .path = "/nodes/{node}/lxc/{vmid}/status/current",
               .description = "The container's status.",
               .params = {NodeParam(), VmidParam()},
               .permission = VmAudit(),
               .handler = [&ctx, samples](const api::HandlerContext& h) {
                 std::string ct = h.params.value("vmid", "");
                 if (!ContainerExists(ctx, ct)) return h.sink.Error(NoSuchContainer(ct));
                 auto e = ContainerEntry(ctx, *samples, ct);
                 if (!e.ok()) {
                   if (e.status().code() == Code::kNotFound)
                     return h.sink.Error(NoSuchContainer(ct));
                   return h.sink.Error(api::StatusError(e.status()));
                 }
                 (*e)["ha"] = {{"managed", 0}};
                 h.sink.Data(*e);
               }});
  return t;
}

}  // namespace ctdump::server
