#!/usr/bin/env bash
# manifest.sh ROOTFS MAP_HOST: print the realenv manifest (format in lib.sh)
# of ROOTFS as the root of a container whose map is u/g 0 MAP_HOST 65536
# sees it (MAP_HOST 0: a privileged container, read as host root).
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
rootfs=$1 map=$2
if [ "$map" = 0 ]; then
    realenv_manifest "$rootfs" ct priv
else
    lxc-usernsexec -m "b:0:$map:65536" -- /usr/bin/python3 -c "$REALENV_MANIFEST_PY" "$rootfs" ct unpriv </dev/null
fi
