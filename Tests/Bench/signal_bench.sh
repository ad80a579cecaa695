#!/usr/bin/env bash
# Signaling benchmark on loopback: a private mosquitto with the configuration rtcgate ships, rtcgate
# with every bench client provisioned, and `rtcgate-bench signal` at two points, K runs each
# (medians printed):
#   (a) --clients 100  --rate 1000: the latency target, rtcgate adds p99 <= 2 ms at 1,000 msg/s;
#   (b) --clients 1000 --rate 5000: the throughput target, >= 5,000 msg/s sustained (no loss).
# Each run measures the broker hop alone first (direct), then the same load through rtcgate.
#
#   Tests/Bench/signal_bench.sh [--runs K] [--duration S] [--warmup S] [--release] [--mode both|gateway|direct]
#
# --release uses .build/release (building what is missing with `swift build -c release`), else
# .build/debug. --mode direct needs no rtcgate (the broker baseline only). Everything listens on
# 127.0.0.1 and is stopped on exit. MOSQUITTO_PACKAGING overrides packaging/mosquitto (where
# rtcgate.conf and rtcgate.acl are read from).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

runs=3 duration=10 warmup=2 build=debug mode=both
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --release) build=release; shift ;;
    --mode) mode=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "signal_bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$mode" in both|gateway|direct) ;; *) echo "signal_bench.sh: --mode must be both, gateway or direct" >&2; exit 2 ;; esac
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "signal_bench.sh: --runs must be a positive integer" >&2; exit 2; }

packaging=${MOSQUITTO_PACKAGING:-packaging/mosquitto}
for f in rtcgate.conf rtcgate.acl; do
  [ -f "$packaging/$f" ] || { echo "signal_bench.sh: $packaging/$f is missing" >&2; exit 2; }
done
for tool in mosquitto mosquitto_passwd jq python3; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "signal_bench.sh: $tool is not installed" >&2; exit 2; }
done
mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)

bin=.build/$build
products=(rtcgate-bench)
[ "$mode" != direct ] && products+=(rtcgate)
for product in "${products[@]}"; do
  if [ ! -x "$bin/$product" ]; then
    if [ "$build" = release ]; then swift build -c release --product "$product"; else swift build --product "$product"; fi
  fi
done

# One client per bench id (the larger point), plus the gateway's own broker user.
max_clients=1000
pairs=$((max_clients / 2))

work=$(mktemp -d /tmp/rtcgate-signal-bench.XXXXXX)
# mosquitto started as root drops to the `mosquitto` user, which must read its files here.
chmod 755 "$work"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Up to 1000 clients on one broker and one bench process: raise the descriptor limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# A port free for both TCP and UDP on 127.0.0.1 (rtcgate listens on both).
free_port() {
  python3 - <<'EOF'
import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port)); print(port); break
    except OSError:
        pass
    finally:
        u.close(); t.close()
EOF
}

# Waits (bounded) until something accepts TCP on 127.0.0.1:$1.
wait_port() {
  local i
  for i in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

broker_port=$(free_port)
direct_port=$(free_port)
while [ "$direct_port" = "$broker_port" ]; do direct_port=$(free_port); done
stun_port=$(free_port)
gateway_password=$(hex 12)
client_password=bench

# The shipped broker configuration, line for line, with its /etc/mosquitto/ paths pointed here and
# a loopback listener in front (the conf's use_username_as_clientid applies to it).
{
  echo "listener $broker_port 127.0.0.1"
  sed "s#/etc/mosquitto/#$work/#g" "$packaging/rtcgate.conf"
  echo
  echo "# Added by signal_bench.sh: a second loopback listener for the direct baseline, declared after"
  echo "# use_username_as_clientid, so the bench's gateway-user connection keeps its own client id there"
  echo "# instead of becoming 'rtcgate' and taking over rtcgate's connection. Same users and ACL."
  echo "listener $direct_port 127.0.0.1"
  echo "log_dest stderr"
  echo "log_type error"
  echo "log_type warning"
  echo "log_type notice"
} >"$work/mosquitto.conf"
cp "$packaging/rtcgate.acl" "$work/rtcgate.acl"
: >"$work/rtcgate.passwd"
mosquitto_passwd -b "$work/rtcgate.passwd" rtcgate "$gateway_password"
for i in $(seq 1 "$pairs"); do
  n=$(printf '%04d' "$i")
  mosquitto_passwd -b "$work/rtcgate.passwd" "bench-d-$n" "$client_password"
  mosquitto_passwd -b "$work/rtcgate.passwd" "bench-v-$n" "$client_password"
done
chmod 644 "$work"/*

"$mosquitto_bin" -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
broker_pid=$!
pids+=("$broker_pid")
wait_port "$broker_port" || { echo "mosquitto did not start:" >&2; cat "$work/mosquitto.log" >&2; exit 1; }
wait_port "$direct_port" || { echo "mosquitto's second listener did not open:" >&2; cat "$work/mosquitto.log" >&2; exit 1; }
echo "mosquitto pid $broker_pid on 127.0.0.1:$broker_port (baseline listener $direct_port)"

server_args=()
if [ "$mode" != direct ]; then
  {
    echo "# rtcgate-bench signal's clients: one pair per device/viewer, all in group bench."
    echo "signal-max-sessions = $pairs"
    for i in $(seq 1 "$pairs"); do
      n=$(printf '%04d' "$i")
      echo "signal-client = bench-d-$n role=device groups=bench"
      echo "signal-client = bench-v-$n role=viewer groups=bench"
    done
  } >"$work/rtcgate.conf"
  : >"$work/rtcgate.log"
  "$bin/rtcgate" run --board dev --listening-port "$stun_port" \
    --mqtt-host 127.0.0.1 --mqtt-port "$broker_port" --mqtt-user rtcgate --mqtt-password "$gateway_password" \
    --use-auth-secret --static-auth-secret "$(hex 16)" --config "$work/rtcgate.conf" >"$work/rtcgate.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  # Ready when rtcgate logs "signaling connected". Until the gateway logs that line, the broker's
  # own "New client connected … u'rtcgate'" notice stands in for it; with neither, a bounded wait
  # (15 s) and then a warning, and the bench's set-up retries (peer-offline, unanswered OFFERs).
  ready=no
  for _ in $(seq 1 150); do
    kill -0 "$server_pid" 2>/dev/null || { echo "rtcgate exited:" >&2; cat "$work/rtcgate.log" >&2; exit 1; }
    if grep -q "signaling connected" "$work/rtcgate.log" || grep -q "u'rtcgate'" "$work/mosquitto.log"; then ready=yes; break; fi
    sleep 0.1
  done
  [ "$ready" = yes ] || echo "warning: no sign of rtcgate's broker connection after 15 s; going on" >&2
  sleep 0.5  # its subscriptions (up/+, status/+) follow the CONNACK
  echo "rtcgate pid $server_pid (STUN/TURN on $stun_port), $max_clients clients provisioned"
  server_args=(--server-pid "$server_pid")
fi

status=0
# run_point NAME CLIENTS RATE: K runs, one JSON line each in $work/NAME.jsonl.
run_point() {
  local name=$1 clients=$2 rate=$3 k rc why
  : >"$work/$name.jsonl"
  for k in $(seq 1 "$runs"); do
    rc=0
    "$bin/rtcgate-bench" signal --broker-port "$broker_port" --gateway-port "$direct_port" \
      --gateway-user rtcgate --gateway-password "$gateway_password" --client-password "$client_password" \
      --clients "$clients" --rate "$rate" --duration "$duration" --warmup "$warmup" --mode "$mode" \
      --broker-pid "$broker_pid" "${server_args[@]}" --json >"$work/$name.out" 2>"$work/$name.err" || rc=$?
    if [ "$rc" -ne 0 ]; then
      status=1
      why=$(jq -r '.abort // "a phase delivered nothing"' "$work/$name.out" 2>/dev/null || true)
      echo "  ($name) run $k exited $rc: ${why:-$(tail -c 400 "$work/$name.err")}" >&2
    fi
    if [ -s "$work/$name.out" ]; then tail -n 1 "$work/$name.out" >>"$work/$name.jsonl"; fi
    jq -r --arg k "$k" '"  run \($k): " + ([["direct", .direct], ["gateway", .gateway]]
        | map(select(.[1] != null) | "\(.[0]) \(.[1].delivered_per_s) msg/s p50 \(.[1].p50_us) p99 \(.[1].p99_us) µs lost \(.[1].lost)")
        | join(" | ")) + (if .added_p99_us != null then " | added p99 \(.added_p99_us) µs" else "" end)' \
      "$work/$name.out" 2>/dev/null || true
  done
}

# median FILE JQ-PATH: the median of the non-null values (or "-").
median() {
  jq -s -r "[.[] | $2 | select(. != null)] | sort | if length == 0 then \"-\" else
    (if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end) end" "$1"
}

# summarize NAME TITLE: medians over the runs of one point.
summarize() {
  local file=$work/$1.jsonl phase
  echo "$2 — medians of $(wc -l <"$file") run(s)"
  for phase in direct gateway; do
    [ "$(jq -s "[.[] | select(.$phase != null)] | length" "$file")" -gt 0 ] || continue
    printf '  %-8s %9s msg/s delivered  lost %s  latency µs p50 %s p90 %s p99 %s max %s  STATUS errors %s (rate-limited %s)\n' "$phase" \
      "$(median "$file" ".$phase.delivered_per_s")" "$(median "$file" ".$phase.lost")" \
      "$(median "$file" ".$phase.p50_us")" "$(median "$file" ".$phase.p90_us")" "$(median "$file" ".$phase.p99_us")" \
      "$(median "$file" ".$phase.max_us")" "$(median "$file" "(.$phase.status_errors | add // 0)")" \
      "$(median "$file" ".$phase.rate_limited")"
    printf '           cores: rtcgate %s, mosquitto %s, bench %s; rtcgate RSS %s KiB\n' \
      "$(median "$file" ".$phase.server_cpu_cores")" "$(median "$file" ".$phase.broker_cpu_cores")" \
      "$(median "$file" ".$phase.gen_cpu_cores")" "$(median "$file" ".$phase.server_rss_kb")"
  done
  if [ "$mode" = both ]; then
    echo "  added by rtcgate: p50 $(median "$file" .added_p50_us) µs, p99 $(median "$file" .added_p99_us) µs"
  fi
}

echo "== (a) latency: 100 clients, 1000 msg/s, $runs run(s) of ${duration} s"
run_point latency 100 1000
echo "== (b) throughput: 1000 clients, 5000 msg/s, $runs run(s) of ${duration} s"
run_point throughput 1000 5000

echo
summarize latency "(a) 100 clients, 1000 msg/s"
summarize throughput "(b) 1000 clients, 5000 msg/s"
if [ "$mode" = both ]; then
  added=$(median "$work/latency.jsonl" .added_p99_us)
  rate=$(median "$work/throughput.jsonl" .gateway.delivered_per_s)
  lost=$(median "$work/throughput.jsonl" .gateway.lost)
  verdict() { if [ "$1" = yes ]; then echo "met"; else echo "NOT met"; fi; }
  ok_a=$(python3 -c "print('yes' if '$added' != '-' and float('$added') <= 2000 else 'no')")
  ok_b=$(python3 -c "print('yes' if '$rate' != '-' and float('$rate') >= 4975 and '$lost' == '0' else 'no')")
  echo "targets: added p99 <= 2000 µs at 1000 msg/s: $added µs ($(verdict "$ok_a")); >= 5000 msg/s with 1000 clients: $rate msg/s, lost $lost ($(verdict "$ok_b"))"
fi
exit "$status"
