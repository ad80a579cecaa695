#!/usr/bin/env bash
# RSS under sustained load: starts the stripped static rtcgate with the dev profile, records its
# idle RSS, drives it with rtcgate-bench for SECONDS (default 600) and prints RSS at the start and
# end of the load (and the bench summary). Loopback only; stops by itself.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
SECONDS_OF_LOAD="${1:-600}"
PORT="${PORT:-34999}"
bash packaging/build-static.sh >/dev/null
bin=.build-static/release
$bin/rtcgate run --board board/dev/profile.conf --listening-port "$PORT" --stun-rate-limit 0 --stats-interval 0 \
  2>.build-static/soak-rtcgate.log &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
sleep 2
echo "idle RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)  ($(awk '/RssAnon|RssFile/ {printf "%s %s %s  ", $1, $2, $3}' /proc/$pid/status))"
$bin/rtcgate-bench stun --server "127.0.0.1:$PORT" --duration "$SECONDS_OF_LOAD" --warmup 5 --server-pid "$pid"
echo "after load RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
