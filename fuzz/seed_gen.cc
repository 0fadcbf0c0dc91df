// Writes the binary seeds of the fuzz corpora that only ctdump's own encoders
// can make: datastore blobs, indexes, metadata records and manifests
// (codec_fuzz), worker streams (worker_stream_fuzz) and key files
// (key_file_fuzz). Built in the fuzz tree (`ninja fuzz_seed_gen`); run as
//   build-fuzz/fuzz_seed_gen fuzz/corpus
// Deterministic: the same program writes the same bytes.
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "crypt/key_format.h"
#include "datastore/codec.h"
#include "datastore/datastore_test_util.h"

namespace {

namespace ds = ctdump::datastore;
namespace dt = ctdump::datastore::testing;

void Write(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  if (!out.flush()) {
    std::perror(path.c_str());
    std::exit(1);
  }
}

// The key codec_fuzz.cc decodes with (master bytes i * 13 + 5).
ctdump::crypt::Key FuzzKey() {
  std::array<uint8_t, ctdump::crypt::kKeySize> master{};
  for (size_t i = 0; i < master.size(); ++i) master[i] = static_cast<uint8_t>(i * 13 + 5);
  return ctdump::crypt::Key::FromMaster(master);
}

std::string Blob(std::string_view plain, ds::BlobType type, int zstd_level,
                 const ctdump::crypt::Key* key) {
  ds::BlobOptions o;
  o.type = type;
  o.zstd_level = zstd_level;
  o.key = key;
  return ds::EncodeBlob(plain, ds::ComputeDigest(key, plain), o).value();
}

std::vector<dt::Node> Tree() {
  return dt::TreeBuilder()
      .Dir("")
      .Dir("etc")
      .File("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
      .Xattr("user.comment", "hello")
      .Acl("user::rw-,user:1000:rw-,group::r--,mask::rw-,other::r--")
      .File("etc/big", dt::TextBytes(3000, 1))
      .Owner(101000, 101000)
      .Symlink("etc/link", "passwd")
      .Hardlink("etc/hard", "etc/passwd")
      .Sparse("sparse", 1 << 20, {{4096, 100}, {600000, 50}}, 7)
      .Special("null", S_IFCHR | 0666, makedev(1, 3))
      .Build();
}

void CodecSeeds(const std::string& dir) {
  const ctdump::crypt::Key key = FuzzKey();
  const std::string text = dt::TextBytes(2000, 3);
  Write(dir + "/blob-chunk-zstd", Blob(text, ds::BlobType::kChunk, 1, nullptr));
  Write(dir + "/blob-chunk-raw", Blob(dt::RandomBytes(300, 1), ds::BlobType::kChunk, 0, nullptr));
  Write(dir + "/blob-chunk-encrypted", Blob(text, ds::BlobType::kChunk, 1, &key));
  std::vector<ds::IndexEntry> index;
  for (uint64_t i = 1; i <= 4; ++i)
    index.push_back({i * 4096, ds::ComputeDigest(nullptr, std::to_string(i))});
  Write(dir + "/index", ds::EncodeIndex(index));
  std::string records;
  for (const dt::Node& n : Tree()) ds::EncodeEntry(n.entry, &records);
  Write(dir + "/entries", records);
  ds::Manifest m;
  m.vmid = "101";
  m.backup_time = 1764806400;
  m.guest_config = "arch: amd64\nhostname: ct101\nrootfs: /var/lib/lxc/101/rootfs\n";
  m.firewall_config = "[OPTIONS]\nenable: 1\n";
  m.unprivileged = true;
  m.files = {{"meta.didx", 200, ds::ComputeDigest(nullptr, "m")},
             {"data.didx", 4096, ds::ComputeDigest(nullptr, "d")}};
  m.parent = "ct/101/2025-12-03T00:00:00Z";
  m.key_fingerprint = "aa:bb:cc:dd:ee:ff:00:11";
  m.chunk_min = 65536;
  m.chunk_avg = 262144;
  m.chunk_max = 1048576;
  m.stats = {{"files", 5}, {"bytes", 4196}};
  Write(dir + "/manifest.json", ds::EncodeManifest(m));
  // A manifest as a blob, as the store keeps it.
  Write(dir + "/blob-manifest", Blob(ds::EncodeManifest(m), ds::BlobType::kManifest, 1, nullptr));
  Write(dir + "/blob-index", Blob(ds::EncodeIndex(index), ds::BlobType::kIndex, 0, nullptr));
}

void WorkerStreamSeeds(const std::string& dir) {
  Write(dir + "/tree", dt::WorkerStream(Tree()));
  Write(dir + "/small-frames", dt::WorkerStream(Tree(), {}, 7));
  Write(dir + "/empty-root", dt::WorkerStream(dt::TreeBuilder().Dir("").Build()));
}

void KeyFileSeeds(const std::string& dir) {
  Write(dir + "/key.json", ctdump::crypt::FormatKeyFile(FuzzKey(), 1764806400));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR (fuzz/corpus)\n", argv[0]);
    return 2;
  }
  const std::string root = argv[1];
  CodecSeeds(root + "/codec_fuzz");
  WorkerStreamSeeds(root + "/worker_stream_fuzz");
  KeyFileSeeds(root + "/key_file_fuzz");
  return 0;
}
