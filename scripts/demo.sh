#!/usr/bin/env bash
# demo.sh - the main job on a fresh Debian 12 machine, as root: installs what
# is missing, builds ctdump, creates two real LXC containers (a privileged one
# on a plain directory and an unprivileged one on a btrfs subvolume, under a
# private lxcpath), backs both up while they run into the built-in
# deduplicating datastore (snapshot mode: a btrfs snapshot under a freeze of
# milliseconds, or the suspend fallback), backs them up again incrementally,
# verifies the store, restores the unprivileged one into a NEW unprivileged
# container with a different ID map and starts it, and backs up through the
# vzdump-compatible `dir` storage and the example external provider too.
# Usage: sudo scripts/demo.sh      (KEEP=1 keeps the demo containers)
set -euo pipefail
cd "$(dirname "$0")/.."
exec </dev/null
src=$(pwd)
bash scripts/install-deps.sh
bash tests/realenv/make-rootfs-cache.sh
bash scripts/build.sh

demo=/var/tmp/ctdump-demo
cleanup() { [ "${KEEP:-0}" = 1 ] || bash "$src/tests/realenv/teardown.sh" "$demo" >/dev/null 2>&1 || true; }
trap cleanup EXIT
bash tests/realenv/teardown.sh "$demo" >/dev/null 2>&1 || true
bash tests/realenv/setup.sh "$demo" ctdemo 2>/dev/null

mkdir -p "$demo/etc" "$demo/backups" "$demo/store"
chmod 0755 "$demo/backups"
mkdir -p "$demo/datastore"
cat > "$demo/etc/storage.cfg" <<CFG
datastore: local
	path $demo/datastore
	prune-backups keep-last=3

dir: archives
	path $demo/store

provider: example
	command $src/examples/providers/dir-example.py
	path $demo/backups
CFG
ctdump=(build/ctdump --lxcpath "$demo/lxc" --config-dir "$demo/etc")
export CTDUMP_LOG_DIR=$demo/log CTDUMP_RUN_DIR=$demo/run

echo "== backup of two running containers into the built-in datastore (full, deduplicated)"
"${ctdump[@]}" backup ctdemo-unpriv ctdemo-priv --storage local --notes-template '{{guestname}} on {{node}}'
echo
echo "== again: incremental (only files whose metadata changed are read)"
"${ctdump[@]}" backup ctdemo-unpriv ctdemo-priv --storage local
echo
echo "== backups on storage 'local', then verify re-hashes every chunk"
"${ctdump[@]}" list local
"${ctdump[@]}" verify local
du -sh "$demo/datastore"
echo
volid=$("${ctdump[@]}" --output-format json list local --vmid ctdemo-unpriv |
    python3 -c 'import json, sys; print(json.load(sys.stdin)[-1]["volid"])')
echo "== restore $volid into a new unprivileged container with ID map 0 200000 65536, and start it"
"${ctdump[@]}" restore "$volid" ctdemo-restored --idmap "u 0 200000 65536" --idmap "g 0 200000 65536" --start
echo
echo "== one file of the backup, and its catalog"
"${ctdump[@]}" catalog "$volid" /etc/hostname
"${ctdump[@]}" restore-file "$volid" /etc/hostname --target "$demo/files"
cat "$demo/files/etc/hostname"
echo
echo "== inside the restored container (its own view) and on the host (shifted by 200000)"
lxc-attach -P "$demo/lxc" -n ctdemo-restored -- stat -c '%u:%g %A %n' /etc/shadow /usr/bin/su /srv/tricky/uid1000.txt </dev/null
stat -c '%u:%g %A %n' "$demo/lxc/ctdemo-restored/rootfs/etc/shadow"
echo
echo "== the same container into the vzdump-compatible dir storage (.tar.zst)"
"${ctdump[@]}" backup ctdemo-unpriv --storage archives --mode stop
ls -l "$demo/store/dump"
echo
echo "== the same container through the example external provider (protocol v1, Python)"
"${ctdump[@]}" backup ctdemo-unpriv --storage example --mode stop
echo
lxc-ls -P "$demo/lxc" -f
