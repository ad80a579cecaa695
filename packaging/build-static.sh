#!/usr/bin/env bash
# Builds the shipped binaries: release, Swift runtime linked statically (--static-swift-stdlib),
# stripped. libmosquitto statically when a libmosquitto.a is available, and then libssl and
# libcrypto too; else Debian's libmosquitto.so.1 and the libcrypto.so.3 it loads, shared: never
# two copies of libcrypto in one process. Prints size, compressed size and dependencies.
# docs/packaging.md explains every option.
#
#   packaging/build-static.sh                    # native (Debian 12 x86_64 or arm64 host)
#   packaging/build-static.sh --target aarch64   # Swift Static Linux SDK (musl), fully static
#
# Options and environment (an option wins over its variable):
#   --target native|aarch64       what to build for (default native)
#   --sysroot DIR      RTCGATE_SYSROOT       a target root holding OpenSSL's and mosquitto's
#                                            headers (DIR/usr/include) and static libraries
#                                            (DIR/usr/lib, DIR/usr/lib/<triple>, DIR/lib); used
#                                            for libmosquitto.a/libcrypto.a/libssl.a natively and
#                                            required for --target aarch64
#   --mosquitto-static-lib FILE   MOSQUITTO_STATIC_LIB   a libmosquitto.a to link (wins over the sysroot)
#   --crypto-static-lib FILE      CRYPTO_STATIC_LIB      the libcrypto.a to use with a static
#                                                       libmosquitto (default: the sysroot's, else
#                                                       /usr/lib/<multiarch>/libcrypto.a)
#   --ssl-static-lib FILE         SSL_STATIC_LIB         a libssl.a (needed only with a static
#                                                       libmosquitto built WITH_TLS)
#   --products "rtcgate rtcgate-bench"   which products (default both; the .deb needs rtcgate)
#
# Output: .build-static/release/{rtcgate,rtcgate-bench} (native)
#         .build-static-aarch64/release/... (aarch64)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

target=native
sysroot=${RTCGATE_SYSROOT:-}
mosquitto_lib=${MOSQUITTO_STATIC_LIB:-}
crypto_lib=${CRYPTO_STATIC_LIB:-}
ssl_lib=${SSL_STATIC_LIB:-}
products="rtcgate rtcgate-bench"

usage() { sed -n '2,/^[^#]/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --target) target=${2:?--target needs a value}; shift 2 ;;
    --target=*) target=${1#*=}; shift ;;
    --sysroot) sysroot=${2:?--sysroot needs a folder}; shift 2 ;;
    --mosquitto-static-lib) mosquitto_lib=${2:?}; shift 2 ;;
    --crypto-static-lib) crypto_lib=${2:?}; shift 2 ;;
    --ssl-static-lib) ssl_lib=${2:?}; shift 2 ;;
    --products) products=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "build-static.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "build-static.sh: $*" >&2; exit 1; }
note() { echo "NOTE: $*" >&2; }

# Finds a static library NAME (e.g. libcrypto.a) in the sysroot's usual library folders.
find_in_sysroot() {
  local name=$1 dir
  [ -n "$sysroot" ] || return 1
  for dir in "$sysroot/usr/lib/$multiarch" "$sysroot/usr/lib" "$sysroot/lib/$multiarch" "$sysroot/lib" \
             "$sysroot/usr/local/lib"; do
    [ -f "$dir/$name" ] && { echo "$dir/$name"; return 0; }
  done
  return 1
}

swift_version=$(swift --version 2>/dev/null | sed -n 's/.*Swift version \([0-9][0-9.]*\).*/\1/p' | head -n1)

case $target in
  native)
    scratch=.build-static
    multiarch=$(gcc -print-multiarch 2>/dev/null || echo "$(uname -m)-linux-gnu")
    sdk_args=()
    ;;
  aarch64|arm64)
    scratch=.build-static-aarch64
    multiarch=aarch64-linux-musl
    sdk_id=aarch64-swift-linux-musl
    # `swift sdk list` names installed bundles (e.g. swift-6.3.1-RELEASE_static-linux-0.1.0);
    # the Static Linux SDK bundle provides the triples aarch64- and x86_64-swift-linux-musl.
    bundles=$(swift sdk list 2>/dev/null | grep 'static-linux' || true)
    if [ -n "$bundles" ] && ! echo "$bundles" | grep -q "swift-$swift_version-RELEASE"; then
      note "installed static SDK(s): $bundles — the compiler is $swift_version; an SDK for another Swift version fails to build"
    fi
    if [ -z "$bundles" ]; then
      v=${swift_version:-<your Swift version>}
      cat >&2 <<EOF
build-static.sh: --target aarch64 needs the Swift Static Linux SDK, which is not installed
(\`swift sdk list\` shows no *static-linux* bundle providing $sdk_id).

Install the SDK whose version is exactly your compiler's (swift --version: ${swift_version:-unknown}):

  swift sdk install \\
    https://download.swift.org/swift-$v-release/static-sdk/swift-$v-RELEASE/swift-$v-RELEASE_static-linux-0.1.0.artifactbundle.tar.gz \\
    --checksum <the SHA-256 that swift.org lists for that file>

(The checksum is on https://www.swift.org/install/linux/ under "Static Linux SDK" for the
release. \`swift sdk list\` must then show swift-$v-RELEASE_static-linux-0.1.0.)

The SDK brings musl and the Swift runtime, not OpenSSL or mosquitto: also pass
--sysroot DIR (or RTCGATE_SYSROOT) with aarch64 musl headers and static libraries
(DIR/usr/include/openssl, DIR/usr/include/mosquitto.h, DIR/usr/lib/libcrypto.a, libssl.a,
libmosquitto.a). docs/packaging.md ("Cross-building") has the steps, and the Debian arm64
(glibc) alternative.
EOF
      exit 3
    fi
    [ -n "$sysroot" ] || die "--target aarch64: set --sysroot DIR (RTCGATE_SYSROOT) to an aarch64 musl root with OpenSSL and mosquitto headers and static libraries (docs/packaging.md)"
    [ -d "$sysroot/usr/include" ] || die "--sysroot $sysroot has no usr/include"
    sdk_args=(--swift-sdk "$sdk_id")
    ;;
  *) die "unknown --target $target (native or aarch64)" ;;
esac

# Static libraries are linked by putting them, alone, in a folder searched before the system's:
# the modulemaps say `link "crypto"` / `link "mosquitto"`, so the linker meets -lcrypto and
# -lmosquitto, and takes the first libNAME.so or libNAME.a it finds along the -L folders.
# A folder with only libcrypto.a makes -lcrypto the static archive, wherever -lcrypto stands.
staticdir=$PWD/$scratch/static-libs
rm -rf "$staticdir"
mkdir -p "$staticdir"
# SwiftPM links executables with --export-dynamic (so tests and backtraces can see their
# symbols): 6,000 dynamic symbols, ~0.5 MiB of .dynsym/.dynstr/.gnu.hash that nothing shipped
# looks up. The later --no-export-dynamic wins.
# lld (the toolchain's own ld.lld) rather than gold: it packs the ~1 MiB of relative relocations
# of a position-independent Swift binary into 8 KiB (DT_RELR; glibc >= 2.36 or musl >= 1.2.4,
# and the GLIBC_ABI_DT_RELR version need makes an older glibc refuse the binary clearly).
link_args=(-Xswiftc -use-ld=lld -Xlinker -L"$staticdir" -Xlinker --no-export-dynamic -Xlinker --icf=safe -Xlinker -z -Xlinker pack-relative-relocs)
exclude_libs=()

# libmosquitto: static when a libmosquitto.a is given or in the sysroot, else Debian's .so.
[ -n "$mosquitto_lib" ] || mosquitto_lib=$(find_in_sysroot libmosquitto.a || true)
if [ -n "$mosquitto_lib" ]; then
  [ -f "$mosquitto_lib" ] || die "libmosquitto.a not found: $mosquitto_lib"
  exclude_libs+=(libmosquitto.a)
  mosquitto_mode="static ($mosquitto_lib)"
  # libmosquitto.a's own needs must come AFTER it on the link line, but SwiftPM places
  # -lmosquitto (from the modulemap) after every -Xlinker option. So -lmosquitto is made to find
  # a linker script, static-libs/libmosquitto.a, that names the archive and its dependencies as
  # one GROUP (searched repeatedly, in any order): the libc.so trick, understood by ld, gold and lld.
  group=("$mosquitto_lib")
  undefined=$(nm -u "$mosquitto_lib" 2>/dev/null || true)   # (not piped into grep -q: pipefail)
  # A libmosquitto built WITH_TLS (the default) needs libssl, then libcrypto.
  if grep -q ' SSL_' <<< "$undefined"; then
    [ -n "$ssl_lib" ] || ssl_lib=$(find_in_sysroot libssl.a || true)
    [ -n "$ssl_lib" ] || { [ "$target" = native ] && [ -f "/usr/lib/$multiarch/libssl.a" ] && ssl_lib=/usr/lib/$multiarch/libssl.a; } || true
    [ -n "$ssl_lib" ] && [ -f "$ssl_lib" ] || die "$mosquitto_lib uses TLS: it needs a libssl.a (--ssl-static-lib/SSL_STATIC_LIB/--sysroot)"
    group+=("$ssl_lib")
    exclude_libs+=(libssl.a)
  fi
  if grep -Eq ' (EVP_|ERR_|X509_|OPENSSL_|BIO_)' <<< "$undefined"; then
    static_crypto=$crypto_lib
    [ -n "$static_crypto" ] && [ "$static_crypto" != none ] || static_crypto=$(find_in_sysroot libcrypto.a || true)
    [ -n "$static_crypto" ] || { [ "$target" = native ] && [ -f "/usr/lib/$multiarch/libcrypto.a" ] && static_crypto=/usr/lib/$multiarch/libcrypto.a; } || true
    [ -n "$static_crypto" ] || die "$mosquitto_lib needs libcrypto: a static libmosquitto needs a libcrypto.a too"
    group+=("$static_crypto")
  fi
  # c-ares when it was built WITH_SRV=yes (glibc 2.34+ has pthread and dl in libc).
  if grep -q ' ares_' <<< "$undefined"; then group+=(-lcares); fi
  printf 'GROUP ( %s )\n' "${group[*]}" > "$staticdir/libmosquitto.a"
else
  mosquitto_mode=dynamic
  note "no libmosquitto.a (Debian ships none): libmosquitto is linked DYNAMICALLY, so the target
      needs libmosquitto.so.1 (Debian: libmosquitto1, which also pulls libssl3). For a static one,
      pass --mosquitto-static-lib FILE (MOSQUITTO_STATIC_LIB) or --sysroot DIR (RTCGATE_SYSROOT);
      docs/packaging.md says how to build it (WITH_STATIC_LIBRARIES=yes)."
fi

# libcrypto: one copy per process. With a static libmosquitto it is static too (libssl and
# libcrypto go into the GROUP below); with Debian's libmosquitto.so.1, which loads libcrypto.so.3,
# rtcgate links that same libcrypto.so.3 instead of carrying a second, static copy.
if [ "$crypto_lib" = none ]; then
  crypto_lib=
elif [ -z "$crypto_lib" ] && [ "$mosquitto_mode" != dynamic ]; then
  crypto_lib=$(find_in_sysroot libcrypto.a || true)
  [ -n "$crypto_lib" ] || { [ "$target" = native ] && [ -f "/usr/lib/$multiarch/libcrypto.a" ] && crypto_lib=/usr/lib/$multiarch/libcrypto.a; } || true
  [ -n "$crypto_lib" ] || die "a static libmosquitto needs a libcrypto.a (install libssl-dev, or pass --crypto-static-lib/--sysroot)"
fi
if [ -n "$crypto_lib" ]; then
  [ -f "$crypto_lib" ] || die "libcrypto.a not found: $crypto_lib"
  [ "$mosquitto_mode" != dynamic ] || die "--crypto-static-lib with a dynamic libmosquitto would load libcrypto twice (libmosquitto.so.1 brings libcrypto.so.3): give a static libmosquitto too, or leave libcrypto shared"
  ln -s "$crypto_lib" "$staticdir/libcrypto.a"
  exclude_libs+=(libcrypto.a)
  crypto_mode="static ($crypto_lib)"
else
  # (--crypto-static-lib none with a static libmosquitto: libssl and libcrypto both shared, one copy.)
  crypto_mode="shared (libcrypto.so.3$([ "$mosquitto_mode" = dynamic ] && echo ', the copy libmosquitto uses'))"
fi

# Never export the static copies' symbols: libmosquitto.so.1 (dynamic case) brings Debian's
# libssl.so.3/libcrypto.so.3, and they must not bind to rtcgate's private libcrypto copy.
if [ ${#exclude_libs[@]} -gt 0 ]; then
  link_args+=(-Xlinker "--exclude-libs=$(IFS=:; echo "${exclude_libs[*]}")")
fi

if [ "$target" != native ]; then
  link_args+=(-Xcc -I"$sysroot/usr/include")
  for dir in "$sysroot/usr/lib/$multiarch" "$sysroot/usr/lib" "$sysroot/lib"; do
    [ -d "$dir" ] && link_args+=(-Xlinker -L"$dir")
  done
fi


echo "building ($target): libcrypto $crypto_mode, libmosquitto $mosquitto_mode"
# -Xlinker -s strips at link time; strip again below in case the linker kept anything.
# One product per `swift build` (SwiftPM honours only the last --product given).
for p in $products; do
  ( set -x; swift build -c release --scratch-path "$scratch" --static-swift-stdlib "${sdk_args[@]}" \
      -Xlinker -s "${link_args[@]}" --product "$p" )
done
bindir=$(swift build -c release --scratch-path "$scratch" "${sdk_args[@]}" --show-bin-path)

for binary in $products; do
  path=$bindir/$binary
  if [ "$target" = native ] && command -v strip >/dev/null; then strip --strip-all "$path"; fi
  size=$(stat -c %s "$path")
  # What it costs on a squashfs (OpenWrt) or in a compressed package: xz at its strongest preset.
  if command -v xz >/dev/null; then xz_size=$(xz -9e -T1 -c "$path" | wc -c); else xz_size=0; note "xz not installed: no compressed size"; fi
  printf '%s: %s bytes (%s MiB), %s bytes xz -9e (%s MiB), stripped, static Swift runtime, libcrypto %s, libmosquitto %s\n' \
    "$binary" "$size" "$(awk -v b="$size" 'BEGIN { printf "%.1f", b / 1048576 }')" \
    "$xz_size" "$(awk -v b="$xz_size" 'BEGIN { printf "%.1f", b / 1048576 }')" \
    "${crypto_mode%% *}" "${mosquitto_mode%% *}"
done

rtcgate=$bindir/rtcgate
case " $products " in *" rtcgate "*) ;; *) exit 0 ;; esac
echo "file: $(file -b "$rtcgate" 2>/dev/null || echo '(file not installed)')"
echo "NEEDED (direct dynamic dependencies of rtcgate):"
needed=$(readelf -d "$rtcgate" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
if [ -n "$needed" ]; then echo "$needed" | sed 's/^/  /'; else echo "  (none: fully static)"; fi
dynsyms=$(nm -D "$rtcgate" 2>/dev/null || true)   # (a here-string, not a pipe into grep -q: pipefail)
openssl_defined=' [TDB] (EVP_|HMAC|SHA1|SHA256|MD5|RAND_|CRYPTO_|OPENSSL_|OSSL_|ERR_|BIO_|X509|SSL_)'
if [ "$target" = native ]; then
  echo "ldd rtcgate (transitive):"
  loaded=$(ldd "$rtcgate")
  echo "$loaded" | sed 's/^/  /'
  # The check the issue asks for: one libcrypto in the process, whichever way it is linked.
  copies=$(grep -c 'libcrypto' <<< "$loaded" || true)
  if [ "$crypto_mode" != "${crypto_mode#static}" ]; then copies=$((copies + 1)); fi
  [ "$copies" -le 1 ] || die "rtcgate would hold $copies copies of libcrypto"
  echo "check: one libcrypto in the process ($crypto_mode)"
fi
if [ "$crypto_mode" != "${crypto_mode#static}" ]; then
  if grep -q '^libcrypto' <<< "$needed"; then die "rtcgate still needs libcrypto.so (static link failed)"; fi
  if grep -Eq "$openssl_defined" <<< "$dynsyms"; then
    grep -E "$openssl_defined" <<< "$dynsyms" | head >&2
    die "rtcgate exports OpenSSL symbols"
  fi
  echo "check: libcrypto is linked statically and exports nothing"
elif grep -Eq "$openssl_defined" <<< "$dynsyms"; then
  die "rtcgate defines OpenSSL symbols of its own while using the shared libcrypto"
fi
if [ "$mosquitto_mode" != dynamic ] && grep -Eq '^lib(mosquitto|ssl)' <<< "$needed"; then
  die "rtcgate still needs libmosquitto.so or libssl.so (static link failed)"
fi
