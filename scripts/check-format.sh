#!/usr/bin/env bash
# check-format.sh - fails when a tracked C++ file is not formatted as
# .clang-format says (clang-format 14, the version the tree is formatted with).
# Usage: scripts/check-format.sh
set -euo pipefail
cd "$(dirname "$0")/.."
clang_format=${CLANG_FORMAT:-clang-format-14}
command -v "$clang_format" >/dev/null || { echo "check-format: $clang_format not found (scripts/install-deps.sh installs it)" >&2; exit 1; }
mapfile -t files < <(git ls-files -- '*.cc' '*.h' '*.cpp' '*.hpp')
[ "${#files[@]}" -gt 0 ] || { echo "check-format: no C++ files found by git ls-files" >&2; exit 1; }
bad=()
for f in "${files[@]}"; do
    [ -e "$f" ] || continue  # deleted in the work tree, not yet in the index
    "$clang_format" --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ "${#bad[@]}" -gt 0 ]; then
    printf 'check-format: %d file(s) not clang-format clean:\n' "${#bad[@]}" >&2
    printf '  %s\n' "${bad[@]}" >&2
    printf 'fix with:\n  %s -i %s\n' "$clang_format" "${bad[*]}" >&2
    exit 1
fi
echo "check-format: ${#files[@]} files clean"
