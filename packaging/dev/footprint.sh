#!/usr/bin/env bash
# Footprint per board profile: binary size, start-up time (exec → first Binding answer), RSS idle,
# RSS under 10 s of STUN load and with the profile's TURN allocation table full, and the bytes written to the
# state folder (flash) while idle and per provisioning change. Loopback only: every profile's
# listeners are overridden with 127.0.0.1; stops by itself. Medians of RUNS (default 3) runs.
#   packaging/dev/footprint.sh [BIN]     (default: the stripped static binary of build-static.sh)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
RUNS="${RUNS:-3}"
if [ $# -ge 1 ]; then bin_dir=$(dirname "$1"); else bash packaging/build-static.sh >/dev/null; bin_dir=.build-static/release; fi
rtcgate="$bin_dir/rtcgate"; bench="$bin_dir/rtcgate-bench"
[ -x "$bench" ] || bench=.build/release/rtcgate-bench
[ -x "$bench" ] || swift build -c release --product rtcgate-bench >/dev/null
work=$(mktemp -d /tmp/rtcgate-footprint.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
# Private memory (anonymous: heap, stacks, pools, tables), what the board budgets are about.
anon() { awk '/RssAnon/ {print $2}' "/proc/$1/status"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
wbytes() { awk '/^write_bytes/ {print $2}' "/proc/$1/io"; }

printf 'binary: %s bytes (%s MiB), %s\n' "$(stat -c %s "$rtcgate")" \
  "$(awk -v b="$(stat -c %s "$rtcgate")" 'BEGIN { printf "%.1f", b / 1048576 }')" "$(file -b "$rtcgate" | cut -d, -f1-2)"
printf '%-10s %10s %10s %10s %12s %14s %14s %14s %14s %12s %12s\n' board startup_ms rss_idle priv_idle rss_stun rss_turn_full priv_turn_full \
  flash_idle flash_per_add peak_cfg at_most_cfg
for board in dev rpi4 a53-256m; do
  starts=(); idles=(); idles_p=(); loads=(); holds=(); holds_p=(); flash_idle=(); flash_add=()
  capacity=$(awk -F' *= *' '$1 == "max-allocations" {print $2}' "board/$board/profile.conf")
  for run in $(seq "$RUNS"); do
    port=$((35000 + RANDOM % 2000)); state="$work/$board-$run"
    mkdir -p "$state"
    start=$(date +%s%N)
    "$rtcgate" run --board "$board" --listening-ip 127.0.0.1 --listening-port "$port" --relay-ip 127.0.0.1 \
      --min-port 50000 --max-port 51999 --user-quota 0 --user bench:bench --realm bench \
      --allowed-peer-ip 127.0.0.1 --stun-rate-limit 0 --stats-interval 0 --control-socket "$state/c.sock" \
      --state-dir "$state/state" --workers 1 2>"$state/log" &
    pid=$!
    # Start-up: until a Binding request is answered (python, bounded to 10 s).
    python3 - "$port" <<'PY'
import socket, struct, os, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.01)
deadline = time.time() + 10
while time.time() < deadline:
    s.sendto(struct.pack("!HHI12s", 1, 0, 0x2112A442, os.urandom(12)), ("127.0.0.1", int(sys.argv[1])))
    try:
        s.recv(2048); sys.exit(0)
    except socket.timeout:
        pass
sys.exit(1)
PY
    starts+=($(( ($(date +%s%N) - start) / 1000000 )))
    sleep 2; idles+=("$(rss $pid)"); idles_p+=("$(anon $pid)")
    w0=$(wbytes $pid); sleep "${IDLE_SECONDS:-60}"; flash_idle+=($(( $(wbytes $pid) - w0 )))
    w0=$(wbytes $pid)
    for i in $(seq 20); do "$rtcgate" ctl --socket "$state/c.sock" device add "dev-$i" --group g >/dev/null; done
    flash_add+=($(( ($(wbytes $pid) - w0) / 20 )))
    "$bench" stun --server "127.0.0.1:$port" --duration 10 --warmup 1 >/dev/null 2>&1 || true
    loads+=("$(rss $pid)")
    "$bench" turn --server "127.0.0.1:$port" --user bench --password bench --realm bench --mode hold \
      --allocations "$capacity" --duration 3 >/dev/null 2>&1 || true
    holds+=("$(rss $pid)"); holds_p+=("$(anon $pid)")
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  done
  report=$("$rtcgate" check-config --board "$board" --relay-ip 127.0.0.1 --turn 2>/dev/null || true)
  peak=$(awk '/^peak:/ {print $2 $3}' <<< "$report")
  at_most=$(awk '/^memory at most:/ {print $4 $5}' <<< "$report")
  printf '%-10s %10s %9sK %9sK %11sK %13sK %13sK %13sB %13sB %12s %12s\n' "$board" \
    "$(printf '%s\n' "${starts[@]}" | median)" "$(printf '%s\n' "${idles[@]}" | median)" \
    "$(printf '%s\n' "${idles_p[@]}" | median)" \
    "$(printf '%s\n' "${loads[@]}" | median)" "$(printf '%s\n' "${holds[@]}" | median)" \
    "$(printf '%s\n' "${holds_p[@]}" | median)" \
    "$(printf '%s\n' "${flash_idle[@]}" | median)" "$(printf '%s\n' "${flash_add[@]}" | median)" "$peak" "$at_most"
done
echo "rss_turn_full: holding as many TURN allocations as the profile's table has (dev 256, rpi4 128 per worker, a53-256m 64)"
echo "priv_*: RssAnon (private memory); peak_cfg/at_most_cfg: check-config's private peak and private + socket buffers"
echo "rss_* in KiB (VmRSS); flash = bytes the process wrote to storage (/proc/PID/io write_bytes): flash_idle over ${IDLE_SECONDS:-60} s idle, flash_per_add per device.add"
