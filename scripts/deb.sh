#!/usr/bin/env bash
# deb.sh - build the Debian package (debian/, dpkg-buildpackage -us -uc -b)
# outside the source tree, and with --test install it, smoke-test it and purge
# it again (CI: scripts/test.sh's "deb" step).
#
# The tree (tracked files plus untracked ones git does not ignore) is copied to
# one fixed staging directory, $CTDUMP_DEB_DIR/ctdump-<version>, so that
# ccache (/var/cache/ctdump/ccache, paths relative to the tree) hits on every
# rebuild, wherever the checkout is (outside a git checkout: the whole tree but
# build*/). The packages land in $CTDUMP_DEB_DIR.
#
# --test, as root (it changes the host: run it on a CI or test machine):
#   dpkg -i (apt-get -f install for missing dependencies), then checks the
#   installed package: ctdump --version is the package's version, man -w of
#   every page, the shell completion, systemd-analyze verify of the installed
#   units and that both are enabled, the conffile and the 0700 directories, a
#   stripped binary with its -dbgsym; runs scripts/demo.sh against the
#   installed binary and example provider; prints `dpkg -L ctdump`; purges and
#   checks that nothing of the package is left (an /etc/ctdump or
#   /var/lib/ctdump that held files of the admin before stays as it was).
#
# --test-only: test the packages an earlier run left in $CTDUMP_DEB_DIR.
#
# Usage: scripts/deb.sh [--test|--test-only]
# Environment: CTDUMP_DEB_DIR (default /var/tmp/ctdump-deb).
set -euo pipefail
cd "$(dirname "$0")/.."
exec </dev/null
src=$(pwd)
test=0 build=1
case "${1:-}" in
    --test) test=1 ;;
    --test-only) test=1 build=0 ;;
    "") ;;
    *) echo "usage: $0 [--test|--test-only]" >&2; exit 2 ;;
esac
out=${CTDUMP_DEB_DIR:-/var/tmp/ctdump-deb}
die() { echo "deb.sh: $*" >&2; exit 1; }

# The package's version is CMake's project version (what ctdump --version
# prints): debian/changelog must name it.
version=$(sed -n 's/^project(ctdump VERSION \([0-9.]*\) .*/\1/p' CMakeLists.txt)
[ -n "$version" ] || die "no project(ctdump VERSION ...) in CMakeLists.txt"
deb_version=$(dpkg-parsechangelog -l debian/changelog -S Version)
[ "${deb_version%%-*}" = "$version" ] ||
    die "debian/changelog is at $deb_version but CMakeLists.txt at $version: add a changelog entry (dch -v $version)"

if [ "$build" = 1 ]; then
    stage=$out/ctdump-$version
    rm -rf "$out"
    mkdir -p "$stage"
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git ls-files -z --cached --others --exclude-standard |
            tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C "$stage"
    else  # an unpacked source tarball
        tar --exclude='./build*' --exclude=./.git -cf - . | tar -xf - -C "$stage"
    fi
    start=$SECONDS
    (
        cd "$stage"
        export CCACHE_DIR=${CCACHE_DIR:-/var/cache/ctdump/ccache} CCACHE_BASEDIR=$stage
        DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" \
            dpkg-buildpackage -us -uc -b >"$out/build.log" 2>&1
    ) || { tail -n 40 "$out/build.log" | cut -c1-300; die "dpkg-buildpackage failed (log: $out/build.log)"; }
fi
arch=$(dpkg --print-architecture)
deb=$out/ctdump_${deb_version}_${arch}.deb
dbgsym=$out/ctdump-dbgsym_${deb_version}_${arch}.deb
[ -f "$deb" ] || die "no $deb"
[ -f "$dbgsym" ] || die "no -dbgsym package $dbgsym"
if [ "$build" = 1 ]; then
    echo "built $(basename "$deb") and $(basename "$dbgsym") in $((SECONDS - start)) s"
    if command -v lintian >/dev/null; then
        echo "lintian:"
        lintian --tag-display-limit 0 "$out"/ctdump_*.changes || true
    fi
fi
[ "$test" = 1 ] || exit 0

[ "$(id -u)" = 0 ] || die "--test must run as root"
# The state before: what purge must leave as it was (all but ctdump's own
# state files, which purge removes).
before() {
    { find /etc/ctdump /var/lib/ctdump -mindepth 1 2>/dev/null || true; } |
        grep -v '^/var/lib/ctdump/\(guests\|jobs\)\(/\|$\)' | sort || true
}
dpkg --purge ctdump >/dev/null 2>&1 || true
state_before=$(before)
new_dirs=()
for d in /etc/ctdump /var/lib/ctdump; do [ -e "$d" ] || new_dirs+=("$d"); done

echo "== dpkg -i $(basename "$deb")"
if ! dpkg -i "$deb"; then
    apt-get -o DPkg::Lock::Timeout=600 install -f -y --no-install-recommends ||
        die "apt-get -f install could not satisfy the package's dependencies"
fi
[ "$(dpkg-query -W -f='${Status}' ctdump)" = "install ok installed" ] || die "ctdump is not installed"

echo "== smoke test of the installed package"
v=$(/usr/sbin/ctdump --version)
echo "ctdump --version: $v"
[[ $v == *"$version"* ]] || die "ctdump --version says '$v', the package is $deb_version"
for page in ctdump storage.cfg ctdump.conf jobs.cfg notifications.cfg ctdump-provider; do
    man -w "$page" || die "no man page $page"
done
for f in /usr/share/bash-completion/completions/ctdump /usr/share/zsh/vendor-completions/_ctdump; do
    [ -s "$f" ] || die "no shell completion $f"
done
for unit in ctdump-scheduler.service ctdump-cleanup.service ctdump-api.service; do
    [ -f "/lib/systemd/system/$unit" ] || die "$unit is not installed"
    systemd-analyze verify "/lib/systemd/system/$unit" || die "systemd-analyze verify $unit failed"
    grep -q "^ExecStart=/usr/sbin/ctdump " "/lib/systemd/system/$unit" || die "$unit does not start /usr/sbin/ctdump"
    [ -L "/etc/systemd/system/multi-user.target.wants/$unit" ] || die "$unit is not enabled"
done
for f in /etc/ctdump/ctdump.conf /etc/pam.d/ctdump /etc/logrotate.d/ctdump; do
    dpkg-query -W -f='${Conffiles}\n' ctdump | grep -q "^ $f " || die "$f is not a conffile"
done
# The API proxy's account: a system user without a login shell or home.
getent passwd _ctdump >/dev/null || die "the user _ctdump was not created"
[ "$(getent passwd _ctdump | cut -d: -f3)" -lt 1000 ] || die "_ctdump is not a system user"
if [ -f www/index.html ]; then
    [ -f /usr/share/ctdump/www/index.html ] || die "the web console is not installed"
fi
logrotate -d /etc/logrotate.d/ctdump >/dev/null 2>&1 || die "logrotate rejects /etc/logrotate.d/ctdump"
for d in "${new_dirs[@]}"; do  # an existing one keeps the admin's mode
    [ "$(stat -c %a "$d")" = 700 ] || die "$d is not mode 0700"
done
file -L /usr/sbin/ctdump | grep -q ", stripped" || die "/usr/sbin/ctdump is not stripped"
id=$(readelf -n /usr/sbin/ctdump | sed -n 's/.*Build ID: \([0-9a-f]*\)/\1/p')
dbg_files=$(dpkg-deb -c "$dbgsym")
grep -q "/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug" <<<"$dbg_files" ||
    die "$(basename "$dbgsym") has no debug info for build id $id"
# The shipped samples are the tested ones (tests/integration/test_samples.py).
cmp /etc/ctdump/ctdump.conf packaging/etc/ctdump.conf || die "/etc/ctdump/ctdump.conf is not packaging/etc/ctdump.conf"
for f in ctdump.conf storage.cfg; do
    cmp "/usr/share/doc/ctdump/examples/$f" "packaging/etc/$f" || die "examples/$f differs from packaging/etc/$f"
done

echo "== the installed API server: the unit's command with the packaged console and proxy user"
# As ctdump-api.service runs it (defaults: /usr/share/ctdump/www, the user
# _ctdump), but on a private port and directories: a token's GET /version
# and the console's index over TLS, checked with the certificate the first
# start made.
api=$(mktemp -d /var/tmp/ctdump-deb-api.XXXXXX)
chmod 0755 "$api"
mkdir -m 0700 "$api/etc" "$api/log" "$api/run" "$api/state"
api_env=(env CTDUMP_LOG_DIR="$api/log" CTDUMP_RUN_DIR="$api/run" CTDUMP_STATE_DIR="$api/state")
"${api_env[@]}" /usr/sbin/ctdump --config-dir "$api/etc" serve --listen 127.0.0.1:0 \
    2>"$api/serve.log" &
api_pid=$!
stop_api() { kill "$api_pid" 2>/dev/null; wait "$api_pid" 2>/dev/null || true; rm -rf "$api"; }
port=
for _ in $(seq 300); do
    port=$(sed -n 's/.*API listening on .* (port \([0-9]*\)).*/\1/p' "$api/serve.log" | head -1)
    [ -n "$port" ] || ! kill -0 "$api_pid" 2>/dev/null || { sleep 0.1; continue; }
    break
done
[ -n "$port" ] || { cat "$api/serve.log" >&2; stop_api; die "the installed ctdump serve did not start"; }
secret=$("${api_env[@]}" /usr/sbin/ctdump --config-dir "$api/etc" token add root@pam deb \
    --output-format json | python3 -c 'import json,sys; print([e for e in map(json.loads, sys.stdin) if e["event"] == "result"][0]["data"]["value"])')
url=https://127.0.0.1:$port
version=$(curl -sS --fail --cacert "$api/etc/api.pem" \
    -H "Authorization: PVEAPIToken=root@pam!deb=$secret" "$url/api2/json/version") ||
    { stop_api; die "GET /api2/json/version failed on the installed server"; }
[[ $version == *'"version"'* ]] || { stop_api; die "GET /version answered $version"; }
index=$(curl -sS --fail --cacert "$api/etc/api.pem" "$url/") ||
    { stop_api; die "the installed server does not serve the console"; }
[[ $index == *app.js* ]] || { stop_api; die "the console's index is not the packaged one"; }
proxy_uid=$(ps -o uid= --ppid "$api_pid" | head -1 | tr -d ' ')
[ "$proxy_uid" = "$(id -u _ctdump)" ] || { stop_api; die "the proxy runs as uid $proxy_uid, not _ctdump"; }
stop_api
echo "ctdump serve: /version and the console over TLS, proxy as _ctdump"

echo "== the installed borg and restic providers answer hello (shebang, shared module beside them)"
for tool in borg restic; do
    exe=/usr/lib/ctdump/providers/ctdump-provider-$tool
    [ -x "$exe" ] || die "$exe is not installed"
    answer=$(printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"hello","params":{"api-version":1,"role":"main","storage-id":"deb","storage-config":{"repository":"/nonexistent","passphrase-file":"/nonexistent"}}}' \
        '{"jsonrpc":"2.0","id":2,"method":"shutdown"}' | "$exe" 2>&1) || die "$exe failed: $answer"
    [[ $answer == *'"provider-name": "'$tool'"'* || $answer == *'"provider-name":"'$tool'"'* ]] ||
        die "$exe answered hello with: $answer"
done
echo "providers: borg and restic answer hello from /usr/lib/ctdump/providers"

echo "== scripts/demo.sh against the installed binary"
CTDUMP_BIN=/usr/sbin/ctdump CTDUMP_EXAMPLE_PROVIDER=/usr/share/ctdump/providers/dir-example.py \
    bash scripts/demo.sh

echo "== dpkg -L ctdump"
dpkg -L ctdump
files=$(dpkg -L ctdump | while read -r f; do [ -d "$f" ] || echo "$f"; done)

echo "== dpkg --purge ctdump"
dpkg --purge ctdump
left=$(for f in $files; do [ -e "$f" ] && echo "$f"; done || true)
[ -z "$left" ] || die "left after purge: $left"
[ ! -e /var/log/ctdump ] || die "/var/log/ctdump is left after purge"
[ "$(before)" = "$state_before" ] || die "purge left /etc/ctdump or /var/lib/ctdump other than before: $(before)"
left=$(ls /etc/systemd/system/*/ctdump-* /var/lib/systemd/deb-systemd-helper-enabled/*/ctdump-* 2>/dev/null || true)
[ -z "$left" ] || die "unit links left after purge: $left"
! getent passwd _ctdump >/dev/null || die "the user _ctdump is left after purge"
! getent group _ctdump >/dev/null || die "the group _ctdump is left after purge"
echo "purged: nothing of the package is left"
