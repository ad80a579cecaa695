#!/usr/bin/env bash
# Proves that the shipped mosquitto configuration (rtcgate.conf + rtcgate.acl) confines every
# signaling client to its own topics. Starts a private mosquitto on a free 127.0.0.1 port with a
# configuration made from rtcgate.conf the way the tests make it (the /etc/mosquitto/ prefix
# replaced by a temporary directory, a `listener PORT 127.0.0.1` line prepended), users rtcgate,
# cam-1 and viewer-1, and checks with mosquitto_pub/mosquitto_sub. Prints PASS/FAIL per check;
# exits 1 if any check fails (2 if the broker cannot be started). Every wait is bounded; all
# traffic stays on 127.0.0.1. Needs mosquitto, mosquitto-clients and python3 (for a free port).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PREFIX=rtc/v1

tmp="$(mktemp -d "${TMPDIR:-/tmp}/rtcgate-acl.XXXXXX")"
broker_pid=""
bg_pids=()
cleanup() {
  for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done
  if [ -n "$broker_pid" ]; then kill "$broker_pid" 2>/dev/null; wait "$broker_pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for u in mosquitto mosquitto_passwd mosquitto_pub mosquitto_sub python3; do
  command -v "$u" >/dev/null || { [ -x "/usr/sbin/$u" ] && PATH="$PATH:/usr/sbin"; } || true
  command -v "$u" >/dev/null || { echo "check-acl: $u not found" >&2; exit 2; }
done

# --- the broker -------------------------------------------------------------------------------
pw_rtcgate="gw-$RANDOM$RANDOM"; pw_cam="cam-$RANDOM$RANDOM"; pw_viewer="viewer-$RANDOM$RANDOM"
cp "$here/rtcgate.acl" "$tmp/rtcgate.acl"
mosquitto_passwd -c -b "$tmp/rtcgate.passwd" rtcgate "$pw_rtcgate"
mosquitto_passwd -b "$tmp/rtcgate.passwd" cam-1 "$pw_cam"
mosquitto_passwd -b "$tmp/rtcgate.passwd" viewer-1 "$pw_viewer"
# Started as root, mosquitto drops privileges to the user `mosquitto`, which must be able to read
# the password and ACL files in the (private) temporary directory.
if [ "$(id -u)" -eq 0 ] && id mosquitto >/dev/null 2>&1; then
  chown mosquitto "$tmp" "$tmp/rtcgate.passwd" "$tmp/rtcgate.acl"
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

port=""
for attempt in 1 2 3; do  # another process may take the free port between probe and bind
  port="$(free_port)"
  { echo "listener $port 127.0.0.1"; sed "s#/etc/mosquitto/#$tmp/#g" "$here/rtcgate.conf"; } > "$tmp/mosquitto.conf"
  mosquitto -c "$tmp/mosquitto.conf" > "$tmp/mosquitto.log" 2>&1 &
  broker_pid=$!
  for _ in $(seq 50); do  # up to 5 s
    port_open "$port" && break
    kill -0 "$broker_pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$broker_pid" 2>/dev/null && port_open "$port"; then break; fi
  wait "$broker_pid" 2>/dev/null; broker_pid=""
done
if [ -z "$broker_pid" ]; then
  echo "check-acl: mosquitto did not start; its log:" >&2; cat "$tmp/mosquitto.log" >&2; exit 2
fi
echo "check-acl: mosquitto $(mosquitto -h 2>/dev/null | head -1 | awk '{print $3}') on 127.0.0.1:$port (config: rtcgate.conf, rtcgate.acl)"

# --- helpers ----------------------------------------------------------------------------------
failures=0
pass() { echo "PASS  $1"; }
fail() { echo "FAIL  $1${2:+ — $2}"; failures=$((failures + 1)); }

pwd_of() { case "$1" in rtcgate) echo "$pw_rtcgate";; cam-1) echo "$pw_cam";; viewer-1) echo "$pw_viewer";; esac; }
# pub USER TOPIC PAYLOAD [extra mosquitto_pub args]: QoS 1, so it returns once the broker has it.
pub() {
  local u="$1" t="$2" m="$3"; shift 3
  timeout 5 mosquitto_pub -h 127.0.0.1 -p "$port" -u "$u" -P "$(pwd_of "$u")" -i "$u" -q 1 -t "$t" -m "$m" "$@" 2>>"$tmp/clients.log"
}
# sub_start FILE USER TOPIC... : a bounded (-W 8) subscriber printing "topic payload" lines.
sub_start() {
  local f="$1" u="$2"; shift 2
  local args=()
  for t in "$@"; do args+=(-t "$t"); done
  : > "$f"
  mosquitto_sub -h 127.0.0.1 -p "$port" -u "$u" -P "$(pwd_of "$u")" -i "$u" -q 1 -v -W 8 "${args[@]}" \
    > "$f" 2>>"$tmp/clients.log" &
  sub_pid=$!; bg_pids+=("$sub_pid")
}
sub_stop() { kill "$sub_pid" 2>/dev/null; wait "$sub_pid" 2>/dev/null; }
# until_seen FILE LINE CMD... : runs CMD every 0.25 s (the subscriber may not be subscribed yet)
# until FILE holds LINE, for at most 5 s. Returns 0 if seen.
until_seen() {
  local f="$1" line="$2"; shift 2
  local deadline=$((SECONDS + 5))
  while [ $SECONDS -lt $deadline ]; do
    "$@"
    sleep 0.25
    grep -qxF -- "$line" "$f" && return 0
  done
  return 1
}

# --- checks -----------------------------------------------------------------------------------
# 1. A client's request reaches rtcgate (through the shared subscription rtcgate uses).
name="cam-1 publishes on $PREFIX/up/cam-1 and rtcgate (\$share/rtcgate/$PREFIX/up/+) receives it"
sub_start "$tmp/1.out" rtcgate "\$share/rtcgate/$PREFIX/up/+"
if until_seen "$tmp/1.out" "$PREFIX/up/cam-1 hello-1" pub cam-1 "$PREFIX/up/cam-1" hello-1; then pass "$name"
else fail "$name" "rtcgate got: $(tr '\n' '|' < "$tmp/1.out")"; fi
sub_stop

# 2. A client cannot speak as another client: publishing on someone else's up topic is dropped.
#    The control message (on its own topic, published after) shows the subscriber was listening.
name="cam-1 publishing on $PREFIX/up/viewer-1 is NOT delivered to rtcgate"
sub_start "$tmp/2.out" rtcgate "$PREFIX/up/#"
forge_then_control() { pub cam-1 "$PREFIX/up/viewer-1" forged-2; pub cam-1 "$PREFIX/up/cam-1" control-2; }
if ! until_seen "$tmp/2.out" "$PREFIX/up/cam-1 control-2" forge_then_control; then fail "$name" "control message never arrived"
elif grep -q forged-2 "$tmp/2.out"; then fail "$name" "rtcgate received the forged message"
else pass "$name"; fi
sub_stop

# 3. A client cannot read another client's down topic, by name or by wildcard.
name="viewer-1 cannot read $PREFIX/down/cam-1 (nor via $PREFIX/down/#)"
sub_start "$tmp/3.out" viewer-1 "$PREFIX/down/cam-1" "$PREFIX/down/#" "$PREFIX/down/viewer-1"
secret_then_control() { pub rtcgate "$PREFIX/down/cam-1" secret-3; pub rtcgate "$PREFIX/down/viewer-1" control-3; }
if ! until_seen "$tmp/3.out" "$PREFIX/down/viewer-1 control-3" secret_then_control; then fail "$name" "viewer-1 did not even get its own down message"
elif grep -q secret-3 "$tmp/3.out"; then fail "$name" "viewer-1 received cam-1's message"
else pass "$name"; fi
sub_stop

# 4. rtcgate can write a client's down topic and that client receives it.
name="rtcgate publishes on $PREFIX/down/cam-1 and cam-1 receives it"
sub_start "$tmp/4.out" cam-1 "$PREFIX/down/cam-1"
if until_seen "$tmp/4.out" "$PREFIX/down/cam-1 hello-4" pub rtcgate "$PREFIX/down/cam-1" hello-4; then pass "$name"
else fail "$name" "cam-1 got: $(tr '\n' '|' < "$tmp/4.out")"; fi
sub_stop

# 5. Clients cannot write down topics (only rtcgate does).
name="cam-1 publishing on $PREFIX/down/viewer-1 is NOT delivered to viewer-1"
sub_start "$tmp/5.out" viewer-1 "$PREFIX/down/viewer-1"
forge_down() { pub cam-1 "$PREFIX/down/viewer-1" forged-5; pub rtcgate "$PREFIX/down/viewer-1" control-5; }
if ! until_seen "$tmp/5.out" "$PREFIX/down/viewer-1 control-5" forge_down; then fail "$name" "control message never arrived"
elif grep -q forged-5 "$tmp/5.out"; then fail "$name" "viewer-1 received cam-1's forged message"
else pass "$name"; fi
sub_stop

# 6. Presence: a client's retained status reaches rtcgate, a client cannot write another's
#    status or the gateway's, and clients can read the gateway's retained status.
name="cam-1's retained status reaches rtcgate; cam-1 cannot write status/viewer-1 or status/_gw"
pub cam-1 "$PREFIX/status/viewer-1" '{"state":"forged-6"}' -r
pub cam-1 "$PREFIX/status/_gw" '{"state":"forged-6"}' -r
pub cam-1 "$PREFIX/status/cam-1" '{"state":"online"}' -r
sub_start "$tmp/6.out" rtcgate "$PREFIX/status/+"
if ! until_seen "$tmp/6.out" "$PREFIX/status/cam-1 {\"state\":\"online\"}" true; then fail "$name" "rtcgate did not get cam-1's retained status"
elif grep -q forged-6 "$tmp/6.out"; then fail "$name" "a forged status was retained: $(grep forged-6 "$tmp/6.out" | tr '\n' '|')"
else pass "$name"; fi
sub_stop

name="rtcgate's retained $PREFIX/status/_gw is readable by viewer-1"
pub rtcgate "$PREFIX/status/_gw" '{"state":"online"}' -r
sub_start "$tmp/7.out" viewer-1 "$PREFIX/status/_gw"
if until_seen "$tmp/7.out" "$PREFIX/status/_gw {\"state\":\"online\"}" true; then pass "$name"
else fail "$name" "viewer-1 got: $(tr '\n' '|' < "$tmp/7.out")"; fi
sub_stop

name="viewer-1 cannot read another client's status ($PREFIX/status/cam-1)"
sub_start "$tmp/8.out" viewer-1 "$PREFIX/status/cam-1" "$PREFIX/status/_gw"
if ! until_seen "$tmp/8.out" "$PREFIX/status/_gw {\"state\":\"online\"}" true; then fail "$name" "viewer-1 did not get the gateway's status"
elif grep -q "status/cam-1" "$tmp/8.out"; then fail "$name" "viewer-1 read cam-1's status"
else pass "$name"; fi
sub_stop

# 7. A client's Last Will (retained offline) on its own status topic reaches rtcgate.
name="cam-1's Last Will {\"state\":\"offline\"} reaches rtcgate when cam-1 vanishes"
sub_start "$tmp/9.out" rtcgate "$PREFIX/status/cam-1"
until_seen "$tmp/9.out" "$PREFIX/status/cam-1 {\"state\":\"online\"}" true >/dev/null
mosquitto_sub -h 127.0.0.1 -p "$port" -u cam-1 -P "$pw_cam" -i cam-1 -q 1 -W 8 -t "$PREFIX/down/cam-1" \
  --will-topic "$PREFIX/status/cam-1" --will-payload '{"state":"offline"}' --will-qos 1 --will-retain \
  > /dev/null 2>>"$tmp/clients.log" &
will_pid=$!; bg_pids+=("$will_pid")
sleep 0.5
kill -9 "$will_pid" 2>/dev/null; wait "$will_pid" 2>/dev/null
if until_seen "$tmp/9.out" "$PREFIX/status/cam-1 {\"state\":\"offline\"}" true; then pass "$name"
else fail "$name" "rtcgate got: $(tr '\n' '|' < "$tmp/9.out")"; fi
sub_stop

# 8. use_username_as_clientid: a client that claims rtcgate's client id does not take over
#    rtcgate's connection (it is known by its username instead). mosquitto_sub reconnects on its
#    own after a takeover, so the proof is the broker's log: no "Client rtcgate already connected,
#    closing old connection" line, and the impostor is logged under the client id cam-1.
name="cam-1 connecting with client id \"rtcgate\" does not take over rtcgate's connection"
sub_start "$tmp/10.out" rtcgate "$PREFIX/up/+"
until_seen "$tmp/10.out" "$PREFIX/up/cam-1 ready-10" pub cam-1 "$PREFIX/up/cam-1" ready-10 >/dev/null
log_lines=$(wc -l < "$tmp/mosquitto.log")
timeout 5 mosquitto_pub -h 127.0.0.1 -p "$port" -u cam-1 -P "$pw_cam" -i rtcgate -q 1 \
  -t "$PREFIX/up/cam-1" -m takeover-10 2>>"$tmp/clients.log"
until_seen "$tmp/10.out" "$PREFIX/up/cam-1 takeover-10" true >/dev/null
sleep 0.2
tail -n +"$((log_lines + 1))" "$tmp/mosquitto.log" > "$tmp/10.log"
if grep -q "Client rtcgate already connected" "$tmp/10.log"; then fail "$name" "the broker closed rtcgate's connection"
elif ! grep -q "as cam-1 .*u'cam-1'" "$tmp/10.log"; then fail "$name" "the impostor was not renamed cam-1: $(grep "New client" "$tmp/10.log" | tr '\n' '|')"
else pass "$name"; fi
sub_stop

# 9. Authentication.
name="a wrong password is refused"
if timeout 5 mosquitto_pub -h 127.0.0.1 -p "$port" -u cam-1 -P "not-$pw_cam" -q 1 -t "$PREFIX/up/cam-1" -m x 2>"$tmp/bad.err"; then
  fail "$name" "the broker accepted it"
else pass "$name ($(tr -d '\n' < "$tmp/bad.err"))"; fi

name="an anonymous client is refused"
if timeout 5 mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -t "$PREFIX/up/cam-1" -m x 2>"$tmp/anon.err"; then
  fail "$name" "the broker accepted it"
else pass "$name ($(tr -d '\n' < "$tmp/anon.err"))"; fi

name="an unknown user is refused"
if timeout 5 mosquitto_pub -h 127.0.0.1 -p "$port" -u cam-2 -P "$pw_cam" -q 1 -t "$PREFIX/up/cam-2" -m x 2>"$tmp/unk.err"; then
  fail "$name" "the broker accepted it"
else pass "$name ($(tr -d '\n' < "$tmp/unk.err"))"; fi

if [ "$failures" -eq 0 ]; then echo "check-acl: all checks passed"; exit 0; fi
echo "check-acl: $failures check(s) failed; broker log:"; sed 's/^/  /' "$tmp/mosquitto.log"
exit 1
