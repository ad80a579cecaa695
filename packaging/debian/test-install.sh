#!/usr/bin/env bash
# Installs the rtcgate .deb into a fresh, minimal Debian 12 (bookworm) root made with
# debootstrap, checks what the package promises, then removes and purges it and checks that
# purge leaves nothing behind. Prints PASS/FAIL per check; exits non-zero on any FAIL.
#
#   packaging/debian/test-install.sh [--deb FILE] [--include PKGS] [--keep]
#
#   --deb FILE      the package (default: the newest .build-deb/rtcgate_*_<this arch>.deb)
#   --include PKGS  extra packages in the root, comma-separated (e.g. adduser, to test
#                   postinst's adduser path; without it the minbase root has only useradd)
#   --keep          leave the root in place (printed) instead of deleting it
#   MIRROR=URL      Debian mirror (default http://deb.debian.org/debian)
#
# Needs root (debootstrap, chroot, mount). Installs debootstrap with apt-get when missing. The
# downloaded packages are cached in .build-debootstrap/ (debootstrap --make-tarball), so a
# second run takes seconds, not minutes. Nothing of the host is bind-mounted: the root gets
# its own /proc and a tmpfs /dev with the few device nodes apt needs.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"

arch=$(dpkg --print-architecture)
deb=
include=
keep=no
mirror=${MIRROR:-http://deb.debian.org/debian}
suite=bookworm
while [ $# -gt 0 ]; do
  case $1 in
    --deb) deb=${2:?}; shift 2 ;;
    --include) include=${2:?}; shift 2 ;;
    --keep) keep=yes; shift ;;
    -h|--help) sed -n '2,/^set /p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "test-install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "test-install.sh: must run as root (debootstrap, chroot)" >&2; exit 2; }
if [ -z "$deb" ]; then
  deb=$(ls -t .build-deb/rtcgate_*_"$arch".deb 2>/dev/null | head -n1 || true)
  [ -n "$deb" ] || { echo "test-install.sh: no .build-deb/rtcgate_*_$arch.deb: run packaging/debian/build-deb.sh" >&2; exit 2; }
fi
[ -f "$deb" ] || { echo "test-install.sh: no such file $deb" >&2; exit 2; }

if ! command -v debootstrap >/dev/null; then
  echo "== installing debootstrap"
  timeout 300 apt-get install -y -q debootstrap >/dev/null || {
    timeout 300 apt-get update -q >/dev/null && timeout 300 apt-get install -y -q debootstrap >/dev/null; }
fi

passes=0
fails=0
pass() { passes=$((passes + 1)); printf 'PASS %s\n' "$*"; }
fail() { fails=$((fails + 1)); printf 'FAIL %s\n' "$*"; }

root=$(mktemp -d /tmp/rtcgate-test-install.XXXXXX)
chmod 0755 "$root"   # the root's / must be traversable by the rtcgate user
mounted=()
cleanup() {
  local rc=$? m
  # Stop anything still running inside the root (the daemon started below), then unmount.
  if [ -n "${daemon_pid:-}" ]; then kill -TERM "$daemon_pid" 2>/dev/null || true; fi
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    m=${mounted[$i]}
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  if grep -q " $root" /proc/self/mountinfo; then
    echo "test-install.sh: something is still mounted under $root; not deleting it" >&2
  elif [ "$keep" = yes ]; then
    echo "root kept at $root"
  else
    rm -rf --one-file-system "$root"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# In the root, bounded: in_root SECONDS COMMAND...
in_root() {
  local seconds=$1; shift
  timeout --kill-after=10 "$seconds" chroot "$root" /usr/bin/env -i \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

# 1. The root: from the cached tarball when there is one.
cache=$repo/.build-debootstrap
mkdir -p "$cache"
tarball=$cache/$suite-$arch-minbase${include:+-${include//,/-}}.tgz
include_arg=()
[ -n "$include" ] && include_arg=(--include="$include")
if [ ! -s "$tarball" ]; then
  echo "== downloading $suite ($arch, minbase${include:+ + $include}) into $tarball (once)"
  scratch=$(mktemp -d /tmp/rtcgate-debootstrap.XXXXXX)
  if ! timeout 900 debootstrap --arch="$arch" --variant=minbase "${include_arg[@]}" \
      --make-tarball="$tarball.tmp" "$suite" "$scratch" "$mirror" > "$cache/make-tarball.log" 2>&1; then
    rm -rf --one-file-system "$scratch"; tail -20 "$cache/make-tarball.log" >&2
    echo "test-install.sh: debootstrap --make-tarball failed (log: $cache/make-tarball.log)" >&2; exit 1
  fi
  rm -rf --one-file-system "$scratch"
  mv "$tarball.tmp" "$tarball"
fi
echo "== debootstrap $suite into $root (from $tarball)"
start=$(date +%s)
if ! timeout 900 debootstrap --arch="$arch" --variant=minbase "${include_arg[@]}" \
    --unpack-tarball="$tarball" "$suite" "$root" "$mirror" > "$cache/debootstrap.log" 2>&1; then
  tail -20 "$cache/debootstrap.log" >&2
  echo "test-install.sh: debootstrap failed (log: $cache/debootstrap.log)" >&2; exit 1
fi
echo "   ($(( $(date +%s) - start )) s)"

mount -t proc proc "$root/proc"; mounted+=("$root/proc")
mount -t tmpfs -o mode=0755,nosuid devtmp "$root/dev"; mounted+=("$root/dev")
for node in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
  IFS=: read -r name major minor <<< "$node"
  mknod -m 0666 "$root/dev/$name" c "$major" "$minor"
done
ln -s /proc/self/fd "$root/dev/fd"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
echo "deb $mirror $suite main" > "$root/etc/apt/sources.list"
echo "deb $mirror $suite-updates main" >> "$root/etc/apt/sources.list"

# 2. Install: apt resolves Depends (libmosquitto1, ...) from the mirror.
cp "$deb" "$root/tmp/"
debname=$(basename "$deb")
echo "== apt-get install ./$debname"
if in_root 300 apt-get update -q > "$cache/apt-update.log" 2>&1 &&
   in_root 600 sh -c "cd /tmp && apt-get install -y -q --no-install-recommends ./$debname" > "$cache/apt-install.log" 2>&1; then
  pass "apt-get install ./$debname ($(grep -c '^Setting up' "$cache/apt-install.log") packages set up)"
else
  tail -30 "$cache/apt-install.log" >&2
  fail "apt-get install ./$debname"
  exit 1
fi
grep -E '^rtcgate: ' "$cache/apt-install.log" | sed 's/^/   postinst said: /' || true

# 3. What the package promises.
check() { # check DESCRIPTION COMMAND... (in the root)
  local desc=$1; shift
  local output
  if output=$(in_root 60 "$@" 2>&1); then
    pass "$desc"; printf '%s\n' "$output" | sed -n '1,3s/^/     /p'
  else
    fail "$desc"; printf '%s\n' "$output" | sed 's/^/     /' | tail -15
  fi
}
check "rtcgate version" rtcgate version
board=rpi4
if [ ! -f "$root/usr/share/rtcgate/board/rpi4/profile.conf" ]; then
  echo "   (board rpi4 is not packaged yet: checking with --board dev)"
  board=dev
fi
for b in $(ls "$root/usr/share/rtcgate/board"); do
  check "rtcgate check-config --board $b -c /etc/rtcgate/rtcgate.conf" \
    rtcgate check-config --board "$b" -c /etc/rtcgate/rtcgate.conf
done
check "check-config as the user rtcgate (reads /etc/rtcgate/rtcgate.conf through its group)" \
  setpriv --reuid=rtcgate --regid=rtcgate --init-groups rtcgate check-config --board "$board" -c /etc/rtcgate/rtcgate.conf
check "id rtcgate" id rtcgate
if in_root 10 getent passwd rtcgate | grep -q ':/var/lib/rtcgate:/usr/sbin/nologin$'; then
  pass "rtcgate is a system user, home /var/lib/rtcgate, shell nologin: $(in_root 10 getent passwd rtcgate)"
else
  fail "rtcgate's passwd entry: $(in_root 10 getent passwd rtcgate)"
fi
conffiles=$(in_root 10 dpkg-query -W -f='${Conffiles}' rtcgate)
for f in /etc/rtcgate/rtcgate.conf /etc/default/rtcgate; do
  if [ -f "$root$f" ] && echo "$conffiles" | grep -q " $f "; then pass "conffile $f"; else fail "conffile $f"; fi
done
perm() { in_root 10 stat -c '%U:%G %a' "$1"; }   # names from the root's own passwd/group
[ "$(perm /etc/rtcgate)" = "root:rtcgate 750" ] && pass "/etc/rtcgate is root:rtcgate 750" || fail "/etc/rtcgate is $(perm /etc/rtcgate)"
[ "$(perm /etc/rtcgate/rtcgate.conf)" = "root:rtcgate 640" ] && pass "/etc/rtcgate/rtcgate.conf is root:rtcgate 640" || fail "/etc/rtcgate/rtcgate.conf is $(perm /etc/rtcgate/rtcgate.conf)"
if cmp -s "$root/lib/systemd/system/rtcgate.service" packaging/systemd/rtcgate.service; then
  pass "unit /lib/systemd/system/rtcgate.service"
else
  fail "unit /lib/systemd/system/rtcgate.service missing or different"
fi
if grep -q '^RTCGATE_BOARD=' "$root/etc/default/rtcgate"; then pass "/etc/default/rtcgate sets $(grep '^RTCGATE_BOARD=' "$root/etc/default/rtcgate")"; else fail "/etc/default/rtcgate has no RTCGATE_BOARD"; fi
# The unit as systemd reads it: install systemd into the root (not running there) and verify.
if in_root 300 apt-get install -y -q --no-install-recommends systemd > "$cache/apt-systemd.log" 2>&1; then
  if out=$(in_root 60 systemd-analyze verify /lib/systemd/system/rtcgate.service 2>&1); then
    pass "systemd-analyze verify rtcgate.service (in the root, systemd $(in_root 10 dpkg-query -W -f='${Version}' systemd))"
  else
    fail "systemd-analyze verify: $out"
  fi
else
  fail "apt-get install systemd (for systemd-analyze verify)"; tail -5 "$cache/apt-systemd.log"
fi
for f in /usr/share/rtcgate/mosquitto/rtcgate.conf /usr/share/rtcgate/mosquitto/rtcgate.acl \
         /usr/share/rtcgate/mosquitto/dynsec/init-dynsec.sh /usr/share/doc/rtcgate/copyright \
         /usr/share/doc/rtcgate/docs/control.md; do
  [ -f "$root$f" ] && pass "file $f" || fail "file $f missing"
done
[ -d "$root/usr/share/rtcgate/board/$board" ] && pass "board profiles: $(ls "$root/usr/share/rtcgate/board" | paste -sd' ')" || fail "no board $board"
if in_root 10 dpkg-query -W -f='${Depends}' rtcgate | grep -q libmosquitto1 &&
   in_root 10 dpkg-query -W -f='${Status}' libmosquitto1 2>/dev/null | grep -q 'install ok installed'; then
  pass "libmosquitto1 came from the mirror through Depends: $(in_root 10 dpkg-query -W -f='${Version}' libmosquitto1)"
elif ! in_root 10 dpkg-query -W -f='${Depends}' rtcgate | grep -q libmosquitto1; then
  pass "libmosquitto is linked statically (no libmosquitto1 dependency)"
else
  fail "libmosquitto1 not installed"
fi

# 4. The daemon runs as rtcgate in the packaged layout: state in /var/lib/rtcgate, control
#    socket in /run/rtcgate (made here as systemd's RuntimeDirectory= would), `rtcgate ctl`.
install -d -m 0750 "$root/run/rtcgate" "$root/var/lib/rtcgate"
in_root 10 chown rtcgate:rtcgate /run/rtcgate /var/lib/rtcgate
port=$(( 34000 + RANDOM % 1000 ))
# (timeout is started directly, not through the in_root function, so $! is timeout's pid and
# the SIGTERM below reaches rtcgate: timeout forwards it.)
timeout --kill-after=5 60 chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
  setpriv --reuid=rtcgate --regid=rtcgate --init-groups rtcgate run --board "$board" -c /etc/rtcgate/rtcgate.conf --listening-ip 127.0.0.1 --listening-port "$port" \
  --control-socket /run/rtcgate/control.sock --state-dir /var/lib/rtcgate > "$cache/daemon.log" 2>&1 &
daemon_pid=$!
ok=no
for _ in $(seq 1 50); do
  if in_root 10 rtcgate ctl --socket /run/rtcgate/control.sock status > "$cache/ctl.log" 2>&1; then ok=yes; break; fi
  sleep 0.2
done
if [ $ok = yes ]; then
  pass "rtcgate run as rtcgate + rtcgate ctl status over /run/rtcgate/control.sock ($(grep -m1 '^pid' "$cache/ctl.log" | tr -s ' '))"
else
  fail "rtcgate run / ctl status"; sed 's/^/     /' "$cache/daemon.log" "$cache/ctl.log" | tail -15
fi
if in_root 10 rtcgate ctl --socket /run/rtcgate/control.sock device add pkg-test-1 --group test > /dev/null 2>&1 &&
   [ "$(in_root 10 stat -c '%U %a' /var/lib/rtcgate/provisioning.json)" = "rtcgate 600" ]; then
  pass "ctl device add: /var/lib/rtcgate/provisioning.json written by rtcgate, mode 600"
else
  fail "ctl device add / provisioning.json: $(in_root 10 stat -c '%U %a' /var/lib/rtcgate/provisioning.json 2>&1)"
fi
kill -TERM "$daemon_pid" 2>/dev/null || true
if wait "$daemon_pid" && grep -q 'rtcgate stopped' "$cache/daemon.log"; then
  pass "SIGTERM: clean exit 0 ($(grep -o 'rtcgate stopped' "$cache/daemon.log"))"
else
  fail "SIGTERM: exit $?"; tail -5 "$cache/daemon.log"
fi
daemon_pid=

# 5. remove keeps configuration, state and user; purge deletes them.
if in_root 300 apt-get remove -y -q rtcgate > "$cache/apt-remove.log" 2>&1; then pass "apt-get remove rtcgate"; else fail "apt-get remove rtcgate"; fi
[ ! -e "$root/usr/bin/rtcgate" ] && pass "remove: /usr/bin/rtcgate gone" || fail "remove: /usr/bin/rtcgate still there"
if [ -f "$root/etc/rtcgate/rtcgate.conf" ] && [ -f "$root/var/lib/rtcgate/provisioning.json" ] && in_root 10 id rtcgate >/dev/null 2>&1; then
  pass "remove: /etc/rtcgate, /var/lib/rtcgate (provisioning.json) and the user are kept"
else
  fail "remove: configuration, state or user lost"
fi
if in_root 300 apt-get purge -y -q rtcgate > "$cache/apt-purge.log" 2>&1; then pass "apt-get purge rtcgate"; else fail "apt-get purge rtcgate"; tail "$cache/apt-purge.log"; fi
if in_root 10 id rtcgate >/dev/null 2>&1; then fail "purge: user rtcgate still exists"; else pass "purge: user rtcgate gone"; fi
if in_root 10 getent group rtcgate >/dev/null 2>&1; then fail "purge: group rtcgate still exists"; else pass "purge: group rtcgate gone"; fi
for d in /etc/rtcgate /var/lib/rtcgate /etc/default/rtcgate; do
  [ ! -e "$root$d" ] && pass "purge: $d gone" || fail "purge: $d still there"
done
if in_root 10 dpkg-statoverride --list | grep -q rtcgate; then fail "purge: stat overrides left"; else pass "purge: no stat overrides left"; fi
if in_root 10 dpkg -s rtcgate >/dev/null 2>&1; then fail "purge: dpkg still knows rtcgate"; else pass "purge: dpkg no longer knows rtcgate"; fi

echo "$passes passed, $fails failed"
[ "$fails" = 0 ]
