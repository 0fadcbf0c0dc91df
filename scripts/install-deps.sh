#!/usr/bin/env bash
# install-deps.sh - install everything ctdump needs to build, test and run on a
# Debian 12 host, and grant root the subordinate id ranges the real-environment
# tests use.  Idempotent: apt is only touched when a package is missing.
#
# Usage: scripts/install-deps.sh            (as root; no TTY needed)
#
# Environment:
#   CTDUMP_EXTRA_PACKAGES   additional packages to install (space separated)
#
# Subordinate ids (required once `uidmap` is installed: LXC, lxc-usernsexec and
# `unshare --map-users` go through newuidmap/newgidmap even as root):
#   root:100000:65536   the unprivileged test container's map
#   root:200000:65536   the second map used by restore tests
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
exec </dev/null

me=${0##*/}
log() { printf '[%s] %s\n' "$me" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$me" "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"
command -v dpkg-query >/dev/null || die "dpkg-query not found: this script supports Debian/Ubuntu only"

PACKAGES=(
    # build
    g++ cmake ninja-build ccache pkg-config
    # libraries
    lxc-dev libbtrfsutil-dev libarchive-dev libzstd-dev liblz4-dev zlib1g-dev libssl-dev libfuse3-dev
    nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev libacl1-dev libcurl4-openssl-dev
    libqrencode-dev librados-dev libradospp-dev
    # the API server: PAM logins, Boost.Beast/Asio (headers only)
    libpam0g-dev libboost-dev
    # tests
    libgtest-dev libgmock-dev googletest python3
    # notification tests: a real SMTP server, a real sendmail (msmtp) relaying to it
    python3-aiosmtpd msmtp
    # the paper key test scans ctdump's QR codes (zbarimg)
    zbar-tools
    # the JSON event schema test; shell completion and man page tests
    python3-jsonschema bash-completion zsh man-db
    # the API server's tests: a real PVE API client, a real browser for the console
    python3-proxmoxer chromium chromium-driver python3-selenium
    # man pages: rst2man (gen-man.py)
    python3-docutils
    # the Debian package (dpkg-buildpackage) and its CI install test
    debhelper dpkg-dev fakeroot logrotate
    # CI: sanitizer builds and fuzz targets (clang, its ASan/UBSan/TSan and
    # libFuzzer runtimes), the format check
    clang-14 libclang-rt-14-dev clang-format-14
    # the RADOS backend's tests, the demo and the bench: a throw-away Ceph
    # cluster on 127.0.0.1 (scripts/ceph-cluster.sh; nothing starts on install)
    ceph-mon ceph-osd ceph-mgr ceph-common uuid-runtime
    # the borg and restic providers (Recommends of the package) and their tests
    borgbackup restic rclone
    # runtime + real-environment tests
    lxc uidmap debootstrap btrfs-progs xfsprogs acl attr libcap2-bin zstd lzop bzip2 gzip tar fuse3
)
if [ -n "${CTDUMP_EXTRA_PACKAGES:-}" ]; then
    read -r -a extra <<<"$CTDUMP_EXTRA_PACKAGES"
    PACKAGES+=("${extra[@]}")
fi

# A package counts as present only when dpkg reports it fully installed
# ("install ok installed"); removed-but-configured packages count as missing.
missing=()
for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
    log "installing: ${missing[*]}"
    apt-get -o DPkg::Lock::Timeout=600 update \
        || die "apt-get update failed"
    # --no-install-recommends: with recommends, lxc pulls in apparmor, lxcfs,
    # libpam-cgfs (edits PAM), qemu-utils, ... none of which we want.
    apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}" || die "apt-get install failed for: ${missing[*]}"
    for p in "${missing[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        [ "$status" = "install ok installed" ] || die "package $p still not installed after apt-get"
    done
else
    log "all ${#PACKAGES[@]} packages already installed"
fi

# add_subid FILE ENTRY: append ENTRY (a whole line) unless present.  Locked so
# that two concurrent runs cannot both append; keeps a missing final newline
# from gluing our line onto the previous one.
# shellcheck disable=SC2094  # reading FILE while holding it open for append is intended
add_subid() {
    local file=$1 entry=$2
    (
        flock -w 60 9 || die "could not lock $file"
        if grep -qxF -- "$entry" "$file"; then
            exit 0
        fi
        if [ -s "$file" ] && [ -n "$(tail -c1 "$file")" ]; then
            printf '\n' >&9
        fi
        printf '%s\n' "$entry" >&9
        log "added $entry to $file"
    ) 9>>"$file"
}
for f in /etc/subuid /etc/subgid; do
    [ -e "$f" ] || { : >"$f"; chmod 0644 "$f"; }
    add_subid "$f" "root:100000:65536"
    add_subid "$f" "root:200000:65536"
done

log "done"
