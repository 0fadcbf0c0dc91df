#!/usr/bin/env bash
# build.sh - configure and build ctdump with CMake + Ninja (+ ccache) into ./build.
# Usage: scripts/build.sh [extra cmake args]
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_DIR=${CCACHE_DIR:-/var/cache/ctdump/ccache}
# Paths relative to the checkout in ccache's hashes: CI's fresh clone in another
# directory still hits the objects of earlier runs on this machine.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build build -j "$jobs"
