#!/usr/bin/env bash
# Benchmarks rtcgate against coturn side by side on loopback: builds release binaries, then runs
# Tests/Bench/stun_vs_coturn.py (alternating servers, medians over RUNS runs). Extra arguments go
# to the script, e.g. `packaging/dev/bench.sh --ip ::1 --fingerprint`.
#   RUNS=5 DURATION=10
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
bash packaging/dev/setup.sh
swift build -c release --product rtcgate
swift build -c release --product rtcgate-bench
mkdir -p .build/bench
exec python3 Tests/Bench/stun_vs_coturn.py --runs "${RUNS:-5}" --duration "${DURATION:-10}" \
  --bench .build/release/rtcgate-bench --out .build/bench/stun.json --markdown .build/bench/stun.md "$@"
