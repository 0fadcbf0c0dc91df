#include "fuse/snapshot_tree.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <utility>

namespace ctdump::fuse {
namespace {

// Warnings about skipped records shown one by one; the rest are counted.
constexpr uint64_t kMaxSkipWarnings = 20;
// Inode numbers are node ids + 1 and must stay below 2^32 - 1.
constexpr size_t kMaxNodes = 0xFFFFFFFEu;

bool BadName(std::string_view name) { return name.empty() || name == "." || name == ".."; }

// Calls fn(component) for each non-empty component of `path`; false when a
// component is "." or ".." or fn returns false.
template <typename Fn>
bool ForEachComponent(std::string_view path, Fn fn) {
  size_t pos = 0;
  while (pos < path.size()) {
    size_t end = std::min(path.find('/', pos), path.size());
    std::string_view c = path.substr(pos, end - pos);
    pos = end + 1;
    if (c.empty()) continue;
    if (c == "." || c == "..") return false;
    if (!fn(c)) return false;
  }
  return true;
}

}  // namespace

std::optional<NodeId> SnapshotTree::Lookup(NodeId dir, std::string_view name) const {
  if (dir >= nodes_.size()) return std::nullopt;
  const auto& children = nodes_[dir].children;
  auto it = std::lower_bound(children.begin(), children.end(), name,
                             [](const DirEntry& d, std::string_view n) { return d.name < n; });
  if (it == children.end() || it->name != name) return std::nullopt;
  return it->node;
}

std::optional<NodeId> SnapshotTree::Find(std::string_view path) const {
  NodeId cur = kRootNode;
  bool ok = ForEachComponent(path, [&](std::string_view c) {
    auto next = Lookup(cur, c);
    if (next) cur = *next;
    return next.has_value();
  });
  if (!ok) return std::nullopt;
  return cur;
}

std::string SnapshotTree::PathOf(NodeId id) const {
  if (id == kRootNode || id >= nodes_.size()) return "/";
  std::vector<std::string_view> names;
  for (NodeId cur = id; cur != kRootNode;) {
    NodeId parent = nodes_[cur].parent;
    for (const auto& d : nodes_[parent].children) {
      if (d.node == cur) {
        names.push_back(d.name);
        break;
      }
    }
    cur = parent;
  }
  std::string out;
  for (auto it = names.rbegin(); it != names.rend(); ++it) out += "/" + std::string(*it);
  return out;
}

SnapshotTreeBuilder::SnapshotTreeBuilder(Observer* observer) : observer_(observer) {
  // A root in case the stream lacks its record; the record replaces it.
  SnapshotNode root;
  root.entry.mode = S_IFDIR | 0755;
  root.nlink = 2;
  tree_.nodes_.push_back(std::move(root));
}

void SnapshotTreeBuilder::Skip(const datastore::Entry& e, std::string_view why) {
  if (++skipped_ <= kMaxSkipWarnings && observer_)
    observer_->Log(LogLevel::kWarn, fmt::format("'/{}' is not shown: {}", e.path, why));
}

std::optional<NodeId> SnapshotTreeBuilder::ParentDir(std::string_view path,
                                                     const datastore::Entry& e) {
  if (path == last_dir_path_) return last_dir_;
  auto dir = tree_.Find(path);
  if (!dir) {
    Skip(e, "its directory is not in the backup");
    return std::nullopt;
  }
  if (!S_ISDIR(tree_.nodes_[*dir].entry.mode)) {
    Skip(e, fmt::format("'/{}' is not a directory", path));
    return std::nullopt;
  }
  last_dir_path_ = path;
  last_dir_ = *dir;
  return dir;
}

bool SnapshotTreeBuilder::Link(NodeId dir, std::string_view name, NodeId node) {
  auto& children = tree_.nodes_[dir].children;
  if (children.empty() || children.back().name < name) {
    children.push_back(DirEntry{std::string(name), node});
    return true;
  }
  auto it = std::lower_bound(children.begin(), children.end(), name,
                             [](const DirEntry& d, std::string_view n) { return d.name < n; });
  if (it->name == name) return false;
  children.insert(it, DirEntry{std::string(name), node});
  return true;
}

Status SnapshotTreeBuilder::Add(const datastore::Entry& e) {
  if (e.path.empty()) {
    if (root_seen_) {
      Skip(e, "a second record of the root");
    } else if (!S_ISDIR(e.mode) || e.is_hardlink()) {
      Skip(e, "the root is not a directory");
    } else {
      root_seen_ = true;
      tree_.nodes_[kRootNode].entry = e;
    }
    return Status::OK();
  }
  size_t slash = e.path.rfind('/');
  std::string_view dir_path =
      slash == std::string::npos ? std::string_view() : std::string_view(e.path).substr(0, slash);
  std::string_view name =
      std::string_view(e.path).substr(slash == std::string::npos ? 0 : slash + 1);
  if (BadName(name)) {
    Skip(e, "a bad name");
    return Status::OK();
  }
  auto dir = ParentDir(dir_path, e);
  if (!dir) return Status::OK();
  if (e.is_hardlink()) {
    auto target = tree_.Find(e.link);
    if (!target)
      Skip(e, fmt::format("its hardlink target '/{}' is not in the backup", e.link));
    else if (S_ISDIR(tree_.nodes_[*target].entry.mode))
      Skip(e, "a hardlink to a directory");
    else if (!Link(*dir, name, *target))
      Skip(e, "a second entry of that name");
    else
      ++tree_.nodes_[*target].nlink;
    return Status::OK();
  }
  if (tree_.nodes_.size() >= kMaxNodes)
    return InvalidArgumentError(fmt::format("the backup has more than {} entries", kMaxNodes));
  NodeId id = static_cast<NodeId>(tree_.nodes_.size());
  if (!Link(*dir, name, id)) {
    Skip(e, "a second entry of that name");
    return Status::OK();
  }
  SnapshotNode node;
  node.entry = e;
  node.entry.path.clear();
  node.entry.path.shrink_to_fit();
  node.parent = *dir;
  if (S_ISDIR(e.mode)) {
    node.nlink = 2;
    ++tree_.nodes_[*dir].nlink;
  }
  if (e.is_regular()) tree_.stored_bytes_ += e.data_length;
  tree_.nodes_.push_back(std::move(node));
  return Status::OK();
}

SnapshotTree SnapshotTreeBuilder::Finish() && {
  if (skipped_ > kMaxSkipWarnings && observer_)
    observer_->Log(LogLevel::kWarn, fmt::format("{} more entries of the backup are not shown",
                                                skipped_ - kMaxSkipWarnings));
  return std::move(tree_);
}

Result<SnapshotTree> BuildTree(datastore::SnapshotReader& reader, Observer* observer) {
  SnapshotTreeBuilder builder(observer);
  RETURN_IF_ERROR(reader.ForEachEntry([&](const datastore::Entry& e) { return builder.Add(e); }));
  return std::move(builder).Finish();
}

}  // namespace ctdump::fuse
