#!/usr/bin/env bash
# test.sh - the whole test suite on a Debian 12 machine, as root:
# installs what is missing, builds, and runs every test (unit tests, tests that
# need root and user namespaces, and the integration tests on real LXC
# containers, which CTest sets up and tears down as a fixture).
# Usage: sudo scripts/test.sh [ctest args]
set -euo pipefail
cd "$(dirname "$0")/.."
exec </dev/null
bash scripts/install-deps.sh
bash tests/realenv/make-rootfs-cache.sh
bash scripts/build.sh
ctest --test-dir build --output-on-failure --timeout 900 "$@"
