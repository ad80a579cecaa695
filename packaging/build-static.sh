#!/usr/bin/env bash
# Builds the shipped binaries: release, Swift runtime linked statically (--static-swift-stdlib),
# stripped. libcrypto and libc stay dynamic (Debian's). Prints size and dynamic dependencies.
# Output: .build-static/release/{rtcgate,rtcgate-bench}
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
swift build -c release --scratch-path .build-static --static-swift-stdlib -Xlinker -s
for binary in rtcgate rtcgate-bench; do
  path=.build-static/release/$binary
  printf '%s: %s bytes (%s MiB), stripped, static Swift runtime\n' "$binary" "$(stat -c %s "$path")" \
    "$(awk -v b="$(stat -c %s "$path")" 'BEGIN { printf "%.1f", b / 1048576 }')"
done
echo "dynamic dependencies of rtcgate:"
ldd .build-static/release/rtcgate | sed 's/^/  /'
