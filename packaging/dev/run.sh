#!/usr/bin/env bash
# Runs rtcgate for real on this machine: installs what is missing, builds a release binary,
# starts a local mosquitto (loopback, rtcgate's ACL, demo users) unless a broker already listens
# on 127.0.0.1:1883, and runs rtcgate in the foreground with the dev board profile and the
# shipped configuration file. Ctrl-C stops both. Extra arguments go to `rtcgate run`,
# e.g. `packaging/dev/run.sh --log-level debug --listening-port 3479`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
bash packaging/dev/setup.sh
swift build -c release --product rtcgate
mkdir -p .build/run

# Credentials for the local broker, made once: rtcgate's own user and two demo clients that
# rtcgate is told about (a device and a viewer in the group "demo").
[ -s .build/run/mqtt-password ] || head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' > .build/run/mqtt-password
[ -s .build/run/demo-password ] || head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n' > .build/run/demo-password
mqtt_password=$(cat .build/run/mqtt-password)
demo_password=$(cat .build/run/demo-password)
rm -f .build/run/mosquitto.passwd
mosquitto_passwd -c -b .build/run/mosquitto.passwd rtcgate "$mqtt_password"
for id in cam-1 viewer-1; do mosquitto_passwd -b .build/run/mosquitto.passwd "$id" "$demo_password"; done
chmod 0644 .build/run/mosquitto.passwd  # mosquitto started as root reads it as the user mosquitto

broker_pid=""
if ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
  mosquitto -c packaging/mosquitto/rtcgate-dev.conf > .build/run/mosquitto.log 2>&1 &
  broker_pid=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null && break; sleep 0.1; done
  echo "run: started mosquitto on 127.0.0.1:1883 with rtcgate's ACL (log: .build/run/mosquitto.log)"
else
  echo "run: a broker already listens on 127.0.0.1:1883; rtcgate logs in to it as user rtcgate with"
  echo "     the password in .build/run/mqtt-password (add that user and the demo users to it)"
fi
cleanup() { [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null || true; }
trap cleanup EXIT

# A TURN REST secret for this machine, made once; loopback peers are allowed so the relay can
# be tried locally (a gateway would list its LAN instead).
[ -s .build/run/turn-secret ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > .build/run/turn-secret
secret=$(cat .build/run/turn-secret)

# TURN over TLS on 5349 with a certificate from a local CA made once (.build/run/tls/ca.pem: a
# browser or client that should trust this gateway's turns: imports it).
tls=.build/run/tls
if [ ! -s $tls/server.key ] || ! openssl x509 -checkend 86400 -noout -in $tls/server.pem >/dev/null 2>&1; then
  mkdir -p $tls
  openssl req -x509 -nodes -days 825 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj "/CN=rtcgate dev CA" \
    -keyout $tls/ca.key -out $tls/ca.pem 2>/dev/null
  openssl req -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj "/CN=localhost" \
    -keyout $tls/server.key -out $tls/server.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > $tls/ext
  openssl x509 -req -in $tls/server.csr -CA $tls/ca.pem -CAkey $tls/ca.key -CAcreateserial -days 90 \
    -extfile $tls/ext -out $tls/leaf.pem 2>/dev/null
  cat $tls/leaf.pem $tls/ca.pem > $tls/server.pem
  chmod 0600 $tls/ca.key $tls/server.key
fi

cat <<MSG
run: rtcgate serves STUN and TURN on udp/tcp 127.0.0.1:3478 and [::1]:3478 (board/dev), TURN
     over TLS on 5349 (turns:, certificate from the local CA .build/run/tls/ca.pem), and
     signaling over MQTT on 127.0.0.1:1883 (protocol: docs/signaling.md, prefix rtc/v1) and over
     WebSockets for browsers on ws://127.0.0.1:9001 (which also serves packaging/web over HTTP).
     Demo clients: cam-1 (device) and viewer-1 (viewer), password $demo_password
     Ask for ICE servers as cam-1 (one connection per client id: the broker uses the username as
     client id, so a second connection with the same user replaces the first):
       mosquitto_rr -h 127.0.0.1 -V 5 -u cam-1 -P $demo_password -t rtc/v1/up/cam-1 -e rtc/v1/down/cam-1 \\
         -m '{"v":1,"type":"ICE_CONFIG_REQUEST","mid":"1","body":{}}'
     A real WebRTC call between the two (aiortc, data channel over the relay):
       .venv/bin/python Tests/Clients/webrtc_peer.py --broker 127.0.0.1:1883 --id cam-1 --peer viewer-1 \\
         --password $demo_password --role answerer &
       .venv/bin/python Tests/Clients/webrtc_peer.py --broker 127.0.0.1:1883 --id viewer-1 --peer cam-1 \\
         --password $demo_password --role offerer
     STUN:     turnutils_stunclient 127.0.0.1
     TURN:     turnutils_peer -L 127.0.0.1 -p 3480 &
               turnutils_uclient -W $secret -e 127.0.0.1 -r 3480 -n 10 127.0.0.1
     TURNS:    turnutils_uclient -S -t -W $secret -e 127.0.0.1 -r 3480 -n 10 -p 5349 127.0.0.1
     Stop:     Ctrl-C   Reload (log level, STUN rate limit, signal-client lines, certificate): kill -HUP <pid>
MSG
.build/release/rtcgate run --board dev --config packaging/rtcgate.conf \
  --use-auth-secret --static-auth-secret "$secret" --realm rtcgate.local \
  --allowed-peer-ip 127.0.0.1 --allowed-peer-ip ::1 --cert $tls/server.pem --pkey $tls/server.key \
  --mqtt-host 127.0.0.1 --mqtt-port 1883 --mqtt-user rtcgate --mqtt-password-file .build/run/mqtt-password \
  --signal-client "cam-1 role=device groups=demo relay-only" --signal-client "viewer-1 role=viewer groups=demo" "$@" &
gateway_pid=$!
trap 'kill -TERM $gateway_pid 2>/dev/null; wait $gateway_pid; cleanup' INT TERM
wait $gateway_pid
