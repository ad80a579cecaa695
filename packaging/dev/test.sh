#!/usr/bin/env bash
# The whole test suite: set-up, the STUN, TURN and signaling fuzzers for a bounded time each,
# then every XCTest target (unit, allocation-counting and end-to-end tests against the built
# binary, a real mosquitto, coturn's turnutils_* and Python aioice/aiortc). Exits non-zero on any
# failure.
#   FUZZ_SECONDS=60  how long each fuzzer runs (0 skips them)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
bash packaging/dev/setup.sh

export RTCGATE_PYTHON="$PWD/.venv/bin/python"
FUZZ_SECONDS="${FUZZ_SECONDS:-60}"

if [ "$FUZZ_SECONDS" -gt 0 ]; then
  bash Tests/Fuzz/run.sh "$FUZZ_SECONDS"
fi

swift build --build-tests
mkdir -p .build
set +e
swift test --skip-build --disable-swift-testing 2>&1 | tee .build/test-output.txt
status=${PIPESTATUS[0]}
set -e
# One plain closing line: XCTest's own totals for the whole run.
summary=$(grep -E "^\s*Executed [0-9]+ tests?, with [0-9]+ failures?" .build/test-output.txt | tail -1)
total=$(echo "$summary" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')
failed=$(echo "$summary" | sed -E 's/.*with ([0-9]+) failures?.*/\1/')
if [ -z "$summary" ]; then echo "test: no XCTest summary found"; exit 1; fi
echo "$((total - failed)) passed, $failed failed"
exit "$status"
