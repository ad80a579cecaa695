#!/usr/bin/env bash
# Runs rtcgate for real on this machine: installs what is missing, builds a release binary,
# starts a local mosquitto (loopback, for the signaling plane) unless a broker already listens
# on 127.0.0.1:1883, and runs rtcgate in the foreground with the dev board profile and the
# shipped configuration file. Ctrl-C stops both. Extra arguments go to `rtcgate run`,
# e.g. `packaging/dev/run.sh --log-level debug --listening-port 3479`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
bash packaging/dev/setup.sh
swift build -c release --product rtcgate
mkdir -p .build/run

broker_pid=""
if ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
  mosquitto -c packaging/mosquitto/rtcgate-dev.conf > .build/run/mosquitto.log 2>&1 &
  broker_pid=$!
  echo "run: started mosquitto on 127.0.0.1:1883 (log: .build/run/mosquitto.log)"
else
  echo "run: using the broker already listening on 127.0.0.1:1883"
fi
cleanup() { [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null || true; }
trap cleanup EXIT

cat <<MSG
run: rtcgate serves STUN on udp/tcp 127.0.0.1:3478 and [::1]:3478 (board/dev).
     Try it:   turnutils_stunclient 127.0.0.1
     ICE URL:  stun:127.0.0.1:3478
     Stop:     Ctrl-C   Reload (log level, STUN rate limit): kill -HUP <pid>
MSG
.build/release/rtcgate run --board dev --config packaging/rtcgate.conf "$@" &
gateway_pid=$!
trap 'kill -TERM $gateway_pid 2>/dev/null; wait $gateway_pid; cleanup' INT TERM
wait $gateway_pid
