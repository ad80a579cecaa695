#!/usr/bin/env bash
# Fuzzes, with libFuzzer + AddressSanitizer and for a bounded time each:
#   stun-fuzzer  the STUN codec and the Binding responder (Tests/Fuzz/STUNFuzzer.swift)
#   turn-fuzzer  the TURN core: requests, ChannelData, Send indications, peer data (TURNFuzzer.swift)
#   signaling-fuzzer  the JSON parser, the signaling router and the relay-only filter (SignalingFuzzer.swift)
# Run from anywhere (it cds to the repository root):
#   bash Tests/Fuzz/run.sh [SECONDS]   per fuzzer, default 60; 0 only replays seeds and corpus
# Builds with swiftc directly into .build-fuzz (rebuilt only when a source changed): the STUN
# fuzzer as one module with Sources/STUN; the TURN fuzzer as one module with Sources/TURN against
# a STUN module built beside it. Corpora persist in .build-fuzz/corpus-*; exits non-zero on any
# crash, leak, timeout or out-of-memory, printing the reproducing input's path.
# Environment: FUZZ_JOBS (parallel libFuzzer processes, default 1), FUZZ_EXTRA (more flags).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

FUZZ_TIME="${1:-60}"
if ! [[ "$FUZZ_TIME" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 [SECONDS]" >&2
  exit 2
fi
OUT=.build-fuzz
mkdir -p "$OUT/modules"
# lld when the toolchain has it: gold prints hundreds of harmless "Cannot export local
# symbol '__asan_check_…'" warnings for sanitizer builds.
linker=()
if command -v ld.lld >/dev/null 2>&1; then linker=(-use-ld=lld); fi
swiftflags=(-parse-as-library -swift-version 6 -O -g -I Sources/COpenSSL)

# Whether $1 is missing or older than any of the remaining files.
stale() {
  local target="$1"; shift
  [ -e "$target" ] || return 0
  for f in "$@" Tests/Fuzz/run.sh; do [ "$f" -nt "$target" ] && return 0; done
  return 1
}

# Runs swiftc with its output in a log; prints the log and fails on error.
compile() {
  local log="$1"; shift
  if ! swiftc "$@" > "$log" 2>&1; then
    cat "$log" >&2
    echo "fuzz: build FAILED" >&2
    exit 1
  fi
  if grep -q "warning:" "$log"; then grep -A3 "warning:" "$log" | head -n 40; fi
}

build() {
  local started
  started=$(date +%s)
  if stale "$OUT/stun-fuzzer" Sources/STUN/*.swift Sources/COpenSSL/* Tests/Fuzz/STUNFuzzer.swift; then
    echo "fuzz: building stun-fuzzer"
    compile "$OUT/build-stun.log" -sanitize=fuzzer,address "${swiftflags[@]}" -module-name STUNFuzz "${linker[@]}" \
      Sources/STUN/*.swift Tests/Fuzz/STUNFuzzer.swift -lcrypto -o "$OUT/stun-fuzzer"
  fi
  if stale "$OUT/turn-fuzzer" Sources/STUN/*.swift Sources/TURN/*.swift Sources/COpenSSL/* Tests/Fuzz/TURNFuzzer.swift; then
    echo "fuzz: building turn-fuzzer"
    # STUN as a library with coverage and ASan (no fuzzer main), then TURN + the entry point.
    compile "$OUT/build-stun-module.log" -sanitize=address -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp \
      "${swiftflags[@]}" -module-name STUN -emit-module -emit-module-path "$OUT/modules/STUN.swiftmodule" \
      -emit-library -static -o "$OUT/libSTUN.a" Sources/STUN/*.swift
    compile "$OUT/build-turn.log" -sanitize=fuzzer,address "${swiftflags[@]}" -module-name TURNFuzz -I "$OUT/modules" \
      "${linker[@]}" Sources/TURN/*.swift Tests/Fuzz/TURNFuzzer.swift "$OUT/libSTUN.a" -lcrypto -o "$OUT/turn-fuzzer"
  fi
  if stale "$OUT/signaling-fuzzer" Sources/JSON/*.swift Sources/Paths/*.swift Sources/Signaling/*.swift Tests/Fuzz/SignalingFuzzer.swift; then
    echo "fuzz: building signaling-fuzzer"
    compile "$OUT/build-json-module.log" -sanitize=address -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp \
      "${swiftflags[@]}" -module-name JSON -emit-module -emit-module-path "$OUT/modules/JSON.swiftmodule" \
      -emit-library -static -o "$OUT/libJSON.a" Sources/JSON/*.swift
    compile "$OUT/build-paths-module.log" -sanitize=address -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp \
      "${swiftflags[@]}" -module-name Paths -emit-module -emit-module-path "$OUT/modules/Paths.swiftmodule" \
      -emit-library -static -o "$OUT/libPaths.a" Sources/Paths/*.swift
    compile "$OUT/build-signaling.log" -sanitize=fuzzer,address "${swiftflags[@]}" -module-name SignalingFuzz -I "$OUT/modules" \
      "${linker[@]}" Sources/Signaling/*.swift Tests/Fuzz/SignalingFuzzer.swift "$OUT/libJSON.a" "$OUT/libPaths.a" -o "$OUT/signaling-fuzzer"
  fi
  echo "fuzz: builds ready in $(( $(date +%s) - started )) s"
}

# run NAME: fuzzes .build-fuzz/NAME on .build-fuzz/corpus-NAME for FUZZ_TIME seconds.
run() {
  local name="$1" bin="$OUT/$1" corpus="$OUT/corpus-$1" artifacts="$OUT/artifacts-$1" status=0 before after new
  mkdir -p "$corpus" "$artifacts"
  # Seeds are copied (never overwritten); the corpus grows across runs.
  for seed in Tests/Fuzz/seeds/*.bin; do cp -n "$seed" "$corpus/seed-$(basename "$seed")"; done
  before="$(ls -1 "$artifacts" 2>/dev/null | sort || true)"
  local flags=(-rss_limit_mb=2048 -timeout=5 -print_final_stats=1 "-artifact_prefix=$artifacts/"
               "-dict=Tests/Fuzz/$( [ "$name" = signaling-fuzzer ] && echo signaling || echo stun ).dict" -max_len=4096)
  if [ "$FUZZ_TIME" -eq 0 ]; then flags+=(-runs=0); else flags+=("-max_total_time=$FUZZ_TIME"); fi
  if [ "${FUZZ_JOBS:-1}" -gt 1 ]; then flags+=("-fork=${FUZZ_JOBS}"); fi
  # shellcheck disable=SC2206
  local extra=(${FUZZ_EXTRA:-})
  echo "fuzz: $name for ${FUZZ_TIME} s on $corpus ($(ls -1 "$corpus" | wc -l) inputs)"
  # libFuzzer stops itself at -max_total_time; `timeout` is only a backstop (+60 s).
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}" \
    timeout --kill-after=10 "$(( FUZZ_TIME + 60 ))" \
    "$bin" "${flags[@]}" "${extra[@]}" "$corpus" > "$OUT/last-run-$name.log" 2>&1 || status=$?
  after="$(ls -1 "$artifacts" 2>/dev/null | sort || true)"
  new="$(comm -13 <(printf '%s\n' "$before") <(printf '%s\n' "$after") | sed '/^$/d' || true)"
  tail -n 12 "$OUT/last-run-$name.log"
  if [ "$status" -ne 0 ] || [ -n "$new" ]; then
    echo "fuzz: $name FAILED (exit status $status); full log: $OUT/last-run-$name.log" >&2
    grep -E "^(==[0-9]+==ERROR|SUMMARY|Fatal error|.*precondition|.*Fatal error)" "$OUT/last-run-$name.log" | head -n 10 >&2 || true
    if [ -n "$new" ]; then
      while IFS= read -r artifact; do
        echo "fuzz: reproducing input: $PWD/$artifacts/$artifact  (replay: $bin $artifacts/$artifact)" >&2
      done <<< "$new"
    elif [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
      echo "fuzz: $name overran its time limit and was stopped" >&2
    fi
    exit 1
  fi
  echo "fuzz: $name OK, no crash, leak or timeout in ${FUZZ_TIME} s"
}

build
run stun-fuzzer
run turn-fuzzer
run signaling-fuzzer
