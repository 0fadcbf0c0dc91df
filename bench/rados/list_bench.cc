// Listing and op rates of the RADOS backend on a real cluster
// (docs/formats/rados.md has the numbers).
//
//   rados_list_bench --conf CEPH_DIR/ceph.conf [--pool ctdump] [--ns NAME]
//                    [--chunks N] [--others M] [--qd 32] [--ops K] [--op-size B]
//                    [--no-write]
//
// 1. writes N chunk-named objects ("chunks/<4 hex>/<64 hex>", 100 bytes) with
//    librados aio, qd in flight (skipped with --no-write: reuse a namespace),
//    and M indexed objects "snapshots/ct/<i>/<time>/manifest" through the
//    backend;
// 2. times List("chunks/") (gc's and verify's listing), List of one
//    container's snapshots (the index among N chunks) and List("");
// 3. runs PutIfAbsent, Stat and Get of K new objects of B bytes from qd
//    threads (the backend's calls, as the datastore's chunk pool makes them).
//
// It leaves the objects behind (removing a million objects takes minutes):
// run it in a throw-away cluster or namespace.
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <rados/librados.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "objstore/rados_backend.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

std::string Hex(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
  return fmt::format("{:016x}{:016x}{:016x}{:016x}", a, b, c, d);
}

long MaxRssMiB() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  long kb = -1;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "VmHWM:", 6) == 0) kb = std::atol(line + 6);
  }
  std::fclose(f);
  return kb / 1024;
}

int Die(const std::string& what) {
  std::fprintf(stderr, "rados_list_bench: %s\n", what.c_str());
  return 1;
}

// Writes `n` chunk-named objects with `qd` aio ops in flight.
int WriteChunks(const ctdump::objstore::RadosOptions& o, uint64_t n, int qd) {
  librados::Rados rados;
  librados::IoCtx io;
  if (rados.init2(("client." + o.username).c_str(), "ceph", 0) < 0 ||
      rados.conf_read_file(o.ceph_conf.c_str()) < 0 || rados.conf_set("admin_socket", "") < 0 ||
      rados.connect() < 0 || rados.ioctx_create(o.pool.c_str(), io) < 0)
    return Die("cannot connect for the aio writes");
  io.set_namespace(o.ns);
  std::mt19937_64 rng(42);
  std::string payload(100, 'c');
  librados::bufferlist bl;
  bl.append(payload.data(), static_cast<unsigned>(payload.size()));
  std::deque<librados::AioCompletion*> inflight;
  uint64_t failed = 0;
  auto reap = [&] {
    librados::AioCompletion* c = inflight.front();
    inflight.pop_front();
    c->wait_for_complete();
    if (c->get_return_value() < 0 && c->get_return_value() != -EEXIST) ++failed;
    c->release();
  };
  auto start = Clock::now();
  for (uint64_t i = 0; i < n; ++i) {
    std::string digest = Hex(rng(), rng(), rng(), rng());
    std::string oid = fmt::format("chunks/{}/{}", digest.substr(0, 4), digest);
    librados::ObjectWriteOperation op;
    op.create(true);
    op.write_full(bl);
    librados::AioCompletion* c = librados::Rados::aio_create_completion();
    if (io.aio_operate(oid, c, &op) < 0) return Die("aio_operate failed");
    inflight.push_back(c);
    if (inflight.size() >= static_cast<size_t>(qd)) reap();
    if ((i + 1) % 100000 == 0)
      std::fprintf(stderr, "  %llu written, %.0f/s\n", static_cast<unsigned long long>(i + 1),
                   static_cast<double>(i + 1) / Seconds(start));
  }
  while (!inflight.empty()) reap();
  double s = Seconds(start);
  std::printf("write %llu chunk objects (aio, qd %d): %.1f s, %.0f objects/s, %llu failed\n",
              static_cast<unsigned long long>(n), qd, s, static_cast<double>(n) / s,
              static_cast<unsigned long long>(failed));
  io.close();
  rados.shutdown();
  return failed == 0 ? 0 : 1;
}

template <typename F>
void Threads(int n, uint64_t ops, const char* what, uint64_t size, F&& f) {
  std::atomic<uint64_t> next{0};
  std::atomic<uint64_t> errors{0};
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int t = 0; t < n; ++t) {
    threads.emplace_back([&] {
      for (uint64_t i = next++; i < ops; i = next++) {
        if (!f(i)) ++errors;
      }
    });
  }
  for (auto& t : threads) t.join();
  double s = Seconds(start);
  std::printf("%-12s %llu x %llu B, %d threads: %.2f s, %.0f ops/s, %.1f MiB/s, %llu errors\n",
              what, static_cast<unsigned long long>(ops), static_cast<unsigned long long>(size), n,
              s, static_cast<double>(ops) / s, static_cast<double>(ops * size) / s / 1048576.0,
              static_cast<unsigned long long>(errors.load()));
}

}  // namespace

int main(int argc, char** argv) {
  ctdump::objstore::RadosOptions o;
  o.pool = "ctdump";
  o.ceph_conf = "";
  o.ns = fmt::format("bench-{}", std::chrono::system_clock::now().time_since_epoch().count());
  uint64_t chunks = 100000;
  uint64_t others = 1000;
  int qd = 32;
  uint64_t ops = 5000;
  uint64_t op_size = 65536;
  bool write = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--conf") {
      o.ceph_conf = value();
    } else if (a == "--pool") {
      o.pool = value();
    } else if (a == "--ns") {
      o.ns = value();
    } else if (a == "--chunks") {
      chunks = std::strtoull(value().c_str(), nullptr, 10);
    } else if (a == "--others") {
      others = std::strtoull(value().c_str(), nullptr, 10);
    } else if (a == "--qd") {
      qd = std::atoi(value().c_str());
    } else if (a == "--ops") {
      ops = std::strtoull(value().c_str(), nullptr, 10);
    } else if (a == "--op-size") {
      op_size = std::strtoull(value().c_str(), nullptr, 10);
    } else if (a == "--no-write") {
      write = false;
    } else {
      std::fprintf(stderr, "unknown argument %s (see the comment at the top of %s)\n", a.c_str(),
                   __FILE__);
      return 2;
    }
  }
  if (o.ceph_conf.empty()) return Die("--conf CEPH_CONF is required");
  o.queue_depth = qd;
  std::printf("pool %s, namespace %s\n", o.pool.c_str(), o.ns.c_str());
  auto opened = ctdump::objstore::OpenRadosBackend(o);
  if (!opened.ok()) return Die(opened.status().ToString());
  ctdump::ObjectBackend& b = **opened;

  if (write) {
    if (WriteChunks(o, chunks, qd) != 0) return 1;
    Threads(qd, others, "put indexed", 200, [&](uint64_t i) {
      return b
          .PutIfAbsent(
              fmt::format("snapshots/ct/{}/2026-01-01T00.00.{:02}Z/manifest", 100 + i / 10, i % 10),
              std::string(200, 'm'))
          .ok();
    });
  }

  auto start = Clock::now();
  auto listed = b.List("chunks/");
  double s = Seconds(start);
  if (!listed.ok()) return Die(listed.status().ToString());
  std::printf("List(\"chunks/\"): %zu objects in %.2f s, %.0f objects/s (client max RSS %ld MiB)\n",
              listed->size(), s, static_cast<double>(listed->size()) / s, MaxRssMiB());
  uint64_t n_chunks = listed->size();
  listed->clear();
  listed->shrink_to_fit();

  // One container's snapshots, three times: the first call after the
  // scan may find the index object's omap out of the OSD's cache.
  for (int round = 0; round < 3; ++round) {
    start = Clock::now();
    auto one = b.List("snapshots/ct/105/");
    s = Seconds(start);
    if (!one.ok()) return Die(one.status().ToString());
    std::printf("List(\"snapshots/ct/105/\"): %zu objects in %.4f s (among %llu chunks)\n",
                one->size(), s, static_cast<unsigned long long>(n_chunks));
  }
  start = Clock::now();
  auto snaps = b.List("snapshots/");
  s = Seconds(start);
  if (!snaps.ok()) return Die(snaps.status().ToString());
  std::printf("List(\"snapshots/\"): %zu objects in %.4f s\n", snaps->size(), s);
  start = Clock::now();
  auto all = b.List("");
  s = Seconds(start);
  if (!all.ok()) return Die(all.status().ToString());
  std::printf("List(\"\"): %zu objects in %.2f s\n", all->size(), s);
  all->clear();
  all->shrink_to_fit();

  std::string data(op_size, 'x');
  std::string run = fmt::format("{:08x}", std::random_device{}());
  for (int threads : {1, qd}) {
    std::string r = fmt::format("{}{}", run, threads);
    auto named = [&](uint64_t i) {
      std::string d = fmt::format("{}{:054x}", r, i);
      return fmt::format("chunks/{}/{}", d.substr(0, 4), d.substr(0, 64));
    };
    uint64_t k = threads == 1 ? std::max<uint64_t>(ops / 10, 100) : ops;
    Threads(threads, k, "PutIfAbsent", op_size, [&](uint64_t i) {
      return b.PutIfAbsent(named(i), data, ctdump::Durability::kDeferred).ok();
    });
    Threads(threads, k, "PutIfAbsent=", op_size, [&](uint64_t i) {
      auto put = b.PutIfAbsent(named(i), data, ctdump::Durability::kDeferred);
      return put.ok() && !*put;  // dedup hit
    });
    Threads(threads, k, "Stat", 0, [&](uint64_t i) { return b.Stat(named(i)).ok(); });
    Threads(threads, k, "Touch", 0, [&](uint64_t i) { return b.Touch(named(i)).ok(); });
    Threads(threads, k, "Get", op_size, [&](uint64_t i) {
      auto got = b.Get(named(i), op_size);
      return got.ok() && got->size() == op_size;
    });
  }
  return 0;
}
