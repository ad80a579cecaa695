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

# A TURN REST secret for this machine, made once; loopback peers are allowed so the relay can
# be tried locally (a gateway would list its LAN instead).
[ -s .build/run/turn-secret ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > .build/run/turn-secret
secret=$(cat .build/run/turn-secret)

cat <<MSG
run: rtcgate serves STUN and TURN on udp/tcp 127.0.0.1:3478 and [::1]:3478 (board/dev).
     STUN:     turnutils_stunclient 127.0.0.1
     TURN:     turnutils_peer -L 127.0.0.1 -p 3480 &
               turnutils_uclient -W $secret -e 127.0.0.1 -r 3480 -n 10 127.0.0.1
     ICE URLs: stun:127.0.0.1:3478, turn:127.0.0.1:3478 (TURN REST credentials from the secret
               in .build/run/turn-secret: username "<expiry>:<id>", password base64(HMAC-SHA1))
     Stop:     Ctrl-C   Reload (log level, STUN rate limit): kill -HUP <pid>
MSG
.build/release/rtcgate run --board dev --config packaging/rtcgate.conf \
  --use-auth-secret --static-auth-secret "$secret" --realm rtcgate.local \
  --allowed-peer-ip 127.0.0.1 --allowed-peer-ip ::1 "$@" &
gateway_pid=$!
trap 'kill -TERM $gateway_pid 2>/dev/null; wait $gateway_pid; cleanup' INT TERM
wait $gateway_pid
