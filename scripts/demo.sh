#!/usr/bin/env bash
# demo.sh - the main job on a fresh Debian 12 machine, as root: installs what
# is missing, builds ctdump, creates two real LXC containers (a privileged one
# and an unprivileged one with a btrfs rootfs, under a private lxcpath), backs
# both up through the example provider while they run (stop mode: each is
# stopped, backed up from its user namespace, and started again), lists the
# backups and shows what the archive holds.
#
# Until the built-in targets land, the example provider
# (examples/providers/dir-example.py) is the target. Restore comes with them.
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

mkdir -p "$demo/etc" "$demo/backups"
chmod 0755 "$demo/backups"
cat > "$demo/etc/storage.cfg" <<CFG
provider: demo
	command $src/examples/providers/dir-example.py
	path $demo/backups
CFG
ctdump=(build/ctdump --lxcpath "$demo/lxc" --config-dir "$demo/etc")
export CTDUMP_LOG_DIR=$demo/log CTDUMP_RUN_DIR=$demo/run

echo "== backup of two running containers"
"${ctdump[@]}" backup ctdemo-unpriv ctdemo-priv --storage demo --mode stop
echo
echo "== backups on storage 'demo'"
"${ctdump[@]}" list demo
echo
echo "== the unprivileged container's archive, as its root sees it (owners 0/42 etc.)"
archive=$(ls -d "$demo"/backups/ctdemo-unpriv/*/archive.tar | head -1)
tar --numeric-owner -tvf "$archive" ./etc/shadow ./usr/bin/su ./srv/tricky/uid1000.txt
echo
lxc-ls -P "$demo/lxc" -f
