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
# Between the two, the unattended side: a backup job and a restore-test job
# from jobs.cfg run now (as the scheduler would run them), notifications to a
# webhook on 127.0.0.1, and the monitoring check (before the restore into a new
# container: the restore test needs a subordinate id range no container uses).
# Usage: sudo scripts/demo.sh      (KEEP=1 keeps the demo containers)
# Environment: CTDUMP_BIN runs that binary (e.g. the installed /usr/sbin/ctdump,
#   scripts/deb.sh --test) instead of building ./build/ctdump;
#   CTDUMP_EXAMPLE_PROVIDER the example provider (default: examples/providers).
set -euo pipefail
cd "$(dirname "$0")/.."
exec </dev/null
src=$(pwd)
bash scripts/install-deps.sh
bash tests/realenv/make-rootfs-cache.sh
[ -n "${CTDUMP_BIN:-}" ] || bash scripts/build.sh

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
	command ${CTDUMP_EXAMPLE_PROVIDER:-$src/examples/providers/dir-example.py}
	path $demo/backups
CFG
ctdump=("${CTDUMP_BIN:-build/ctdump}" --lxcpath "$demo/lxc" --config-dir "$demo/etc")
export CTDUMP_LOG_DIR=$demo/log CTDUMP_RUN_DIR=$demo/run CTDUMP_STATE_DIR=$demo/state

echo "== backup of two running containers into the built-in datastore (full, deduplicated)"
"${ctdump[@]}" backup ctdemo-unpriv ctdemo-priv --storage local --notes-template '{{guestname}} on {{node}}'
echo
# Backup names have one-second resolution (as vzdump's): a container backed up
# within the second its previous backup started would reuse its name.
sleep 1
echo "== again: incremental (only files whose metadata changed are read)"
"${ctdump[@]}" backup ctdemo-unpriv ctdemo-priv --storage local
echo
echo "== backups on storage 'local', then verify re-hashes every chunk"
"${ctdump[@]}" list local
"${ctdump[@]}" verify local
echo
echo "== space: each backup's unique and stored bytes, the store's total, what gc would free, the dedup factor"
"${ctdump[@]}" list local --sizes
"${ctdump[@]}" df local
du -sh "$demo/datastore"
echo
echo "== jobs.cfg: a nightly backup job and a weekly restore test, notifying a webhook on 127.0.0.1"
cat > "$demo/etc/jobs.cfg" <<CFG
vzdump: nightly
	schedule 02:30
	vmid ctdemo-unpriv,ctdemo-priv
	storage local
	mode snapshot
	prune-backups keep-daily=7,keep-weekly=4

restore-test: weekly
	schedule sat 05:00
	storage local
	vmid ctdemo-unpriv
	check test -s /etc/hostname
CFG
# A tiny webhook receiver: prints the title of each notification it gets.
python3 - "$demo/hook.port" >"$demo/hook.log" 2>&1 <<'PY' &
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        print(f"webhook got: [{body['severity']}] {body['title']}", flush=True)
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_port))
s.serve_forever()
PY
hook_pid=$!
trap 'kill $hook_pid 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 50); do [ -s "$demo/hook.port" ] && break; sleep 0.1; done
body=$(printf '{"severity":"{{ severity }}","title":"{{ escape title }}"}' | base64 -w0)
cat > "$demo/etc/notifications.cfg" <<CFG
webhook: demo-hook
	url http://127.0.0.1:$(cat "$demo/hook.port")/notify
	method post
	header name=Content-Type,value=$(printf application/json | base64 -w0)
	body $body

matcher: everything
	target demo-hook
CFG
"${ctdump[@]}" job list
echo
echo "== ctdump job run nightly (what the scheduler runs at 02:30; ctdump scheduler is the daemon)"
"${ctdump[@]}" job run nightly
echo
echo "== ctdump job run weekly: a restore test of the newest backup (throw-away container, checked, destroyed)"
"${ctdump[@]}" job run weekly
echo
echo "== notifications the webhook received"
cat "$demo/hook.log"
echo
echo "== ctdump status (a Nagios-style check: exit 0 OK, 1 WARNING, 2 CRITICAL)"
# Exit 1 (WARNING) is expected here: the unprivileged demo container holds a
# host-root 0600 file its own root cannot read (on purpose: the userns step
# cannot read it either), so each of its backups logs one warning.
rc=0; "${ctdump[@]}" status --max-age 1h ctdemo-unpriv ctdemo-priv || rc=$?
echo "(status exit $rc)"; [ "$rc" -le 1 ]
echo
volid=$("${ctdump[@]}" --output-format json list local --vmid ctdemo-unpriv |
    python3 -c 'import json, sys
data = [e for e in map(json.loads, sys.stdin) if e["event"] == "result"][0]["data"]
print(data[-1]["volid"])')
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
echo
