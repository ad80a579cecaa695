#!/usr/bin/env bash
# Builds the Debian package rtcgate_<version>-<revision>_<arch>.deb from a staged tree with
# dpkg-deb (no debhelper, no source package: the binary comes from packaging/build-static.sh).
#
#   packaging/debian/build-deb.sh [--binary PATH] [--arch amd64|arm64] [--version V]
#                                 [--revision N] [--out DIR] [--lintian]
#
#   --binary PATH   the rtcgate executable (default .build-static/release/rtcgate)
#   --arch A        Debian architecture (default: this machine's); must match the binary
#   --version V     upstream version (default: the first line of `rtcgate version`; needed
#                   only when the binary cannot run here, e.g. arm64 without qemu-user)
#   --revision N    Debian revision (default 1)
#   --out DIR       where the .deb goes (default .build-deb/)
#   --lintian       run lintian on the result (installs nothing; skipped if lintian is missing)
#
# Layout, maintainer scripts and their choices: docs/packaging.md ("The Debian package").
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

binary=.build-static/release/rtcgate
arch=$(dpkg --print-architecture)
version=
revision=1
out=.build-deb
run_lintian=no
maintainer=${DEB_MAINTAINER:-rtcgate maintainers <maintainers@users.noreply.b-seed-97e0c7d1.example>}

while [ $# -gt 0 ]; do
  case $1 in
    --binary) binary=${2:?}; shift 2 ;;
    --arch) arch=${2:?}; shift 2 ;;
    --version) version=${2:?}; shift 2 ;;
    --revision) revision=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --lintian) run_lintian=yes; shift ;;
    -h|--help) sed -n '2,/^set /p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-deb.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
die() { echo "build-deb.sh: $*" >&2; exit 1; }

[ -f "$binary" ] || die "no binary at $binary (run packaging/build-static.sh, or pass --binary)"
case $arch in
  amd64) elf_machine='X86-64' ;;
  arm64) elf_machine='AArch64' ;;
  *) die "unsupported --arch $arch (amd64 or arm64)" ;;
esac
machine=$(readelf -h "$binary" | sed -n 's/^ *Machine: *//p')
case $machine in
  *"$elf_machine"*) ;;
  *) die "$binary is built for '$machine', not $arch" ;;
esac

# The version: `rtcgate version` prints "rtcgate X.Y.Z" first.
if [ -z "$version" ]; then
  runner=()
  if [ "$arch" != "$(dpkg --print-architecture)" ]; then
    if command -v qemu-aarch64-static >/dev/null; then runner=(qemu-aarch64-static)
    elif command -v qemu-aarch64 >/dev/null; then runner=(qemu-aarch64)
    else die "cannot run an $arch binary here to ask its version: pass --version (or install qemu-user-static)"; fi
  fi
  version=$("${runner[@]}" "$binary" version | sed -n '1s/^rtcgate \([0-9][0-9A-Za-z.+~]*\).*/\1/p')
  [ -n "$version" ] || die "could not read the version from '$binary version'"
fi
debversion=$version-$revision

stage=$out/stage-$arch
rm -rf "$stage"
install -d -m 0755 "$stage/DEBIAN" "$stage/usr/bin" "$stage/usr/share/rtcgate/board" \
  "$stage/usr/share/rtcgate/mosquitto/dynsec" "$stage/usr/share/doc/rtcgate/docs" \
  "$stage/usr/share/man/man8" "$stage/lib/systemd/system" "$stage/etc/default" \
  "$stage/usr/share/lintian/overrides"
# /etc/rtcgate is staged 0755 and rtcgate.conf 0644 (lintian's standard modes); postinst
# registers dpkg stat overrides root:rtcgate 0750 / 0640, which dpkg applies from then on.
install -d -m 0755 "$stage/etc/rtcgate"

# The binary (already stripped by build-static.sh; strip again only for the build's own arch).
install -m 0755 "$binary" "$stage/usr/bin/rtcgate"
if [ "$arch" = "$(dpkg --print-architecture)" ]; then
  strip --strip-all --remove-section=.comment --remove-section=.note "$stage/usr/bin/rtcgate"
fi

# Every board profile (board/NAME/...) under /usr/share/rtcgate/board/NAME/.
boards=()
for dir in board/*/; do
  name=$(basename "$dir")
  [ -f "$dir/profile.conf" ] || { echo "build-deb.sh: skipping board/$name (no profile.conf)" >&2; continue; }
  install -d -m 0755 "$stage/usr/share/rtcgate/board/$name"
  find "$dir" -maxdepth 1 -type f -exec install -m 0644 {} "$stage/usr/share/rtcgate/board/$name/" \;
  boards+=("$name")
done
[ ${#boards[@]} -gt 0 ] || die "no board profiles under board/"
default_board=$(sed -n 's/^RTCGATE_BOARD=//p' "$here/rtcgate.default")
case " ${boards[*]} " in
  *" $default_board "*) ;;
  *) echo "WARNING: /etc/default/rtcgate names board '$default_board', which is not packaged (boards: ${boards[*]}); the service will not start until RTCGATE_BOARD is changed" >&2 ;;
esac

# Configuration (conffiles).
install -m 0644 packaging/rtcgate.conf "$stage/etc/rtcgate/rtcgate.conf"
install -m 0644 "$here/rtcgate.default" "$stage/etc/default/rtcgate"

# systemd unit.
install -m 0644 packaging/systemd/rtcgate.service "$stage/lib/systemd/system/rtcgate.service"

# Socket buffer limits the board profiles need (applied at boot by systemd-sysctl; postinst raises
# them at once, never lowers them).
install -d -m 0755 "$stage/usr/lib/sysctl.d"
install -m 0644 packaging/sysctl/60-rtcgate.conf "$stage/usr/lib/sysctl.d/60-rtcgate.conf"

# mosquitto snippets for the integrator (not active: copied into /etc/mosquitto by hand).
install -m 0644 packaging/mosquitto/rtcgate.conf packaging/mosquitto/rtcgate.acl \
  packaging/mosquitto/rtcgate-websockets.conf "$stage/usr/share/rtcgate/mosquitto/"
# What the broker's websockets listener serves to browsers (http_dir).
install -d "$stage/usr/share/rtcgate/web"
install -m 0644 packaging/web/* "$stage/usr/share/rtcgate/web/"
for f in packaging/mosquitto/dynsec/*; do
  if [ -x "$f" ]; then mode=0755; else mode=0644; fi
  install -m $mode "$f" "$stage/usr/share/rtcgate/mosquitto/dynsec/"
done

# Documentation, man page, copyright, changelog.
install -m 0644 README.md "$stage/usr/share/doc/rtcgate/README.md"
install -m 0644 docs/*.md "$stage/usr/share/doc/rtcgate/docs/"
install -m 0644 "$here/copyright" "$stage/usr/share/doc/rtcgate/copyright"
gzip -9n < "$here/rtcgate.8" > "$stage/usr/share/man/man8/rtcgate.8.gz"
chmod 0644 "$stage/usr/share/man/man8/rtcgate.8.gz"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
date=$(date -R -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")
cat > "$out/changelog.Debian" <<EOF
rtcgate ($debversion) unstable; urgency=medium

  * Built from git commit $commit by packaging/debian/build-deb.sh.

 -- $maintainer  $date
EOF
gzip -9n < "$out/changelog.Debian" > "$stage/usr/share/doc/rtcgate/changelog.Debian.gz"
chmod 0644 "$stage/usr/share/doc/rtcgate/changelog.Debian.gz"

install -m 0644 "$here/lintian-overrides" "$stage/usr/share/lintian/overrides/rtcgate"

# Dependencies: dpkg-shlibdeps when it can see the target's libraries (the native build),
# else from the binary's NEEDED list.
needed=$(readelf -d "$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
depends=
if [ "$arch" = "$(dpkg --print-architecture)" ] && command -v dpkg-shlibdeps >/dev/null; then
  tmp=$(mktemp -d)
  mkdir -p "$tmp/debian"
  printf 'Source: rtcgate\n\nPackage: rtcgate\nArchitecture: any\n' > "$tmp/debian/control"
  if depends=$(cd "$tmp" && dpkg-shlibdeps -O "$root/$stage/usr/bin/rtcgate" 2>/dev/null | sed -n 's/^shlibs:Depends=//p'); then :; else depends=; fi
  rm -rf "$tmp"
fi
if [ -z "$depends" ]; then
  parts=()
  for lib in $needed; do
    case $lib in
      libc.so.6|libm.so.6|ld-linux*) parts+=("libc6 (>= 2.34)") ;;
      libstdc++.so.6) parts+=("libstdc++6 (>= 12)") ;;
      libgcc_s.so.1) parts+=("libgcc-s1 (>= 3.0)") ;;
      libmosquitto.so.1) parts+=("libmosquitto1 (>= 2.0)") ;;
      libcrypto.so.3|libssl.so.3) parts+=("libssl3 (>= 3.0.0)") ;;
      *) die "no Debian package known for $lib: add it to build-deb.sh" ;;
    esac
  done
  depends=$(printf '%s\n' "${parts[@]}" | awk '!seen[$0]++' | paste -sd, | sed 's/,/, /g')
fi
# procps: /bin/kill, which the unit's ExecReload runs (minimal Debian roots lack it).
depends="$depends, procps"
echo "Depends: $depends"

installed_size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<EOF
Package: rtcgate
Version: $debversion
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_size
Depends: $depends
Recommends: mosquitto
Section: net
Priority: optional
Description: WebRTC signaling gateway for edge devices (STUN/TURN, MQTT signaling)
 rtcgate lets the cameras, doorbells and sensors behind a gateway set up WebRTC
 calls with viewers without a cloud in the path. One binary runs:
  - a STUN responder and TURN relay (RFC 8489, RFC 8656) on fixed,
    pre-allocated buffer pools sized by a board profile;
  - MQTT signaling through a broker such as mosquitto (offers, answers,
    trickle ICE, presence, short-lived TURN credentials);
  - a local Unix control socket with "rtcgate ctl" for devices, TURN users,
    REST secrets, sessions, counters and draining.
 The package ships board profiles, a hardened systemd unit, and mosquitto
 configuration, ACL and dynamic security files in /usr/share/rtcgate/mosquitto.
EOF
printf '/etc/rtcgate/rtcgate.conf\n/etc/default/rtcgate\n' > "$stage/DEBIAN/conffiles"
install -m 0755 "$here/postinst" "$here/prerm" "$here/postrm" "$stage/DEBIAN/"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles"
(cd "$stage" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) \
  > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums"

deb=$out/rtcgate_${debversion}_$arch.deb
dpkg-deb --build --root-owner-group -Zxz "$stage" "$deb" >/dev/null
echo "built $deb ($(stat -c %s "$deb") bytes; boards: ${boards[*]})"
dpkg-deb --info "$deb" | sed -n '/Package:/,$p' | sed 's/^/  /' | head -8

if [ "$run_lintian" = yes ]; then
  if command -v lintian >/dev/null; then
    echo "lintian:"
    lintian --info --display-info "$deb" || true
  else
    echo "lintian not installed (apt-get install lintian); skipped"
  fi
fi
