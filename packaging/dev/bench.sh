#!/usr/bin/env bash
# Benchmarks rtcgate against coturn side by side on loopback (alternating servers run by run,
# medians): builds release binaries, then runs Tests/Bench/stun_vs_coturn.py and/or
# Tests/Bench/turn_vs_coturn.py, writing .build/bench/{stun,turn}.{json,md}.
#   packaging/dev/bench.sh [stun|turn|all] [extra arguments for the script(s)]
#   RUNS (default 5 for STUN, 3 for TURN), DURATION (seconds per STUN run, default 10)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
what=all
case "${1:-}" in stun|turn|all) what=$1; shift ;; esac
bash packaging/dev/setup.sh
swift build -c release --product rtcgate
swift build -c release --product rtcgate-bench
mkdir -p .build/bench
if [ "$what" != turn ]; then
  python3 Tests/Bench/stun_vs_coturn.py --runs "${RUNS:-5}" --duration "${DURATION:-10}" \
    --bench .build/release/rtcgate-bench --out .build/bench/stun.json --markdown .build/bench/stun.md "$@"
fi
if [ "$what" != stun ]; then
  python3 Tests/Bench/turn_vs_coturn.py --runs "${RUNS:-3}" \
    --bench .build/release/rtcgate-bench --out .build/bench/turn.json --markdown .build/bench/turn.md "$@"
fi
