#!/usr/bin/env bash
# The whole test suite: set-up, the STUN parser fuzzer for a bounded time, then every XCTest
# target (unit, allocation-counting and end-to-end tests against the built binary, coturn's
# turnutils_stunclient and Python aioice). Exits non-zero on any failure.
#   FUZZ_SECONDS=60  how long the fuzzer runs (0 skips it)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
bash packaging/dev/setup.sh

export RTCGATE_PYTHON="$PWD/.venv/bin/python"
FUZZ_SECONDS="${FUZZ_SECONDS:-60}"

if [ "$FUZZ_SECONDS" -gt 0 ]; then
  bash Tests/Fuzz/run.sh "$FUZZ_SECONDS"
fi

swift build --build-tests
exec swift test --skip-build
