#!/usr/bin/env bash
# Fuzzes the STUN codec and the Binding responder with libFuzzer + AddressSanitizer for a
# bounded time. Run from anywhere (it cds to the repository root):
#   bash Tests/Fuzz/run.sh [SECONDS]      default 60; 0 only replays the seeds and the corpus
# Builds .build-fuzz/stun-fuzzer with swiftc directly (Sources/STUN/*.swift and
# Tests/Fuzz/STUNFuzzer.swift in one module; rebuilt only when a source changed), seeds
# .build-fuzz/corpus from Tests/Fuzz/seeds/*.bin (kept between runs), and exits non-zero on
# any crash, leak, timeout or out-of-memory, printing the reproducing input's path.
# Environment: FUZZ_JOBS (parallel libFuzzer processes, default 1), FUZZ_EXTRA (more flags).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

FUZZ_TIME="${1:-60}"
if ! [[ "$FUZZ_TIME" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 [SECONDS]" >&2
  exit 2
fi
OUT=.build-fuzz
BIN="$OUT/stun-fuzzer"
CORPUS="$OUT/corpus"
ARTIFACTS="$OUT/artifacts"
mkdir -p "$OUT" "$CORPUS" "$ARTIFACTS"

sources=(Sources/STUN/*.swift Tests/Fuzz/STUNFuzzer.swift)
stale=0
if [ ! -x "$BIN" ]; then
  stale=1
else
  for f in "${sources[@]}" Sources/COpenSSL/* Tests/Fuzz/run.sh; do
    if [ "$f" -nt "$BIN" ]; then stale=1; break; fi
  done
fi
if [ "$stale" = 1 ]; then
  echo "fuzz: building $BIN"
  started=$(date +%s)
  # lld when the toolchain has it: gold prints hundreds of harmless "Cannot export local
  # symbol '__asan_check_…'" warnings for sanitizer builds.
  linker=()
  if command -v ld.lld >/dev/null 2>&1; then linker=(-use-ld=lld); fi
  if ! swiftc -sanitize=fuzzer,address -parse-as-library -swift-version 6 -O -g \
      -module-name STUNFuzz -I Sources/COpenSSL "${linker[@]}" \
      "${sources[@]}" -lcrypto -o "$BIN.tmp" > "$OUT/build.log" 2>&1; then
    cat "$OUT/build.log" >&2
    echo "fuzz: build FAILED" >&2
    exit 1
  fi
  if grep -q "warning:" "$OUT/build.log"; then grep -A3 "warning:" "$OUT/build.log" | head -n 40; fi
  mv -f "$BIN.tmp" "$BIN"
  echo "fuzz: built in $(( $(date +%s) - started )) s"
fi

# Seeds are copied (never overwritten); the corpus grows across runs.
for seed in Tests/Fuzz/seeds/*.bin; do
  cp -n "$seed" "$CORPUS/seed-$(basename "$seed")"
done

# Artifacts present before this run are not this run's findings.
before="$(ls -1 "$ARTIFACTS" 2>/dev/null | sort || true)"

flags=(-rss_limit_mb=2048 -timeout=5 -print_final_stats=1 "-artifact_prefix=$ARTIFACTS/"
       -dict=Tests/Fuzz/stun.dict -max_len=2048)
if [ "$FUZZ_TIME" -eq 0 ]; then
  flags+=(-runs=0)
else
  flags+=("-max_total_time=$FUZZ_TIME")
fi
if [ "${FUZZ_JOBS:-1}" -gt 1 ]; then
  flags+=("-fork=${FUZZ_JOBS}")
fi
# shellcheck disable=SC2206
extra=(${FUZZ_EXTRA:-})

echo "fuzz: running for ${FUZZ_TIME} s on $CORPUS ($(ls -1 "$CORPUS" | wc -l) inputs)"
status=0
# libFuzzer stops itself at -max_total_time; `timeout` is only a backstop (+60 s).
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}" \
  timeout --kill-after=10 "$(( FUZZ_TIME + 60 ))" \
  "$BIN" "${flags[@]}" "${extra[@]}" "$CORPUS" > "$OUT/last-run.log" 2>&1 || status=$?

after="$(ls -1 "$ARTIFACTS" 2>/dev/null | sort || true)"
new="$(comm -13 <(printf '%s\n' "$before") <(printf '%s\n' "$after") | sed '/^$/d' || true)"
tail -n 25 "$OUT/last-run.log"

if [ "$status" -ne 0 ] || [ -n "$new" ]; then
  echo "fuzz: FAILED (exit status $status); full log: $OUT/last-run.log" >&2
  grep -E "^(==[0-9]+==ERROR|SUMMARY|Fatal error|.*precondition|.*Fatal error)" "$OUT/last-run.log" | head -n 10 >&2 || true
  if [ -n "$new" ]; then
    while IFS= read -r name; do
      echo "fuzz: reproducing input: $PWD/$ARTIFACTS/$name  (replay: $BIN $ARTIFACTS/$name)" >&2
    done <<< "$new"
  elif [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "fuzz: the fuzzer overran its time limit and was stopped" >&2
  fi
  exit 1
fi
echo "fuzz: OK, no crash, leak or timeout in ${FUZZ_TIME} s"
