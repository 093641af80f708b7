#!/usr/bin/env bash
# Soak: a long looped replay at a high fixed rate against a local `esr stub`, with the replay
# process's resident memory (VmRSS) sampled through the run. Passes when memory stays flat:
# no sample after the first minute above the first minute's level plus 10 %.
#
#   scripts/soak.sh                      # 10M requests at 25,000 req/s (400 s)
#   RATE=20000 REQUESTS=2000000 scripts/soak.sh
#
# Env: RATE (req/s, default 25000), REQUESTS (default 10000000), SAMPLE_S (default 5),
# CONCURRENCY (default 1024), OUT (folder for the run and rss.csv; default a temp folder),
# PROFILE (release, the default, or debug: an unoptimized build, for a machine too busy to
# build release). Not part of .ci/run (it takes minutes). Exit 0 pass, 1 memory grew, 2 error.
set -euo pipefail

RATE=${RATE:-25000}
REQUESTS=${REQUESTS:-10000000}
SAMPLE_S=${SAMPLE_S:-5}
CONCURRENCY=${CONCURRENCY:-1024}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$(mktemp -d -t esr-soak.XXXXXX)}
mkdir -p "$OUT"
DURATION_S=$(awk -v n="$REQUESTS" -v r="$RATE" 'BEGIN { printf "%.3f", n / r }')

PROFILE=${PROFILE:-release}
case "$PROFILE" in
release) cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" ;;
debug) cargo build --quiet --manifest-path "$ROOT/Cargo.toml" ;;
*) echo "soak: PROFILE is release or debug" >&2; exit 2 ;;
esac
ESR="$ROOT/target/$PROFILE/esr"

STUB_PID=""
REPLAY_PID=""
cleanup() {
    for p in $REPLAY_PID $STUB_PID; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT

# The target: a stub with no routes answers every request at once (200 `{}`).
"$ESR" stub --listen 127.0.0.1:0 >"$OUT/stub.log" 2>&1 &
STUB_PID=$!
TARGET=""
for _ in $(seq 100); do
    TARGET=$(grep -so 'http://127\.0\.0\.1:[0-9]*' "$OUT/stub.log" | head -1 || true)
    [ -n "$TARGET" ] && break
    sleep 0.1
done
[ -n "$TARGET" ] || { echo "soak: the stub did not start: $(cat "$OUT/stub.log")" >&2; exit 2; }

echo "soak: $REQUESTS requests at $RATE req/s (${DURATION_S} s), concurrency $CONCURRENCY, $PROFILE build, target $TARGET"
echo "soak: output in $OUT"
"$ESR" replay "$ROOT/traces/flood_rerate.parquet" --target "$TARGET" --loop \
    --rate "$RATE" --duration "${DURATION_S}s" --concurrency "$CONCURRENCY" \
    --data "$OUT/data" >"$OUT/replay.out" 2>"$OUT/replay.err" &
REPLAY_PID=$!

echo "elapsed_s,rss_kb" >"$OUT/rss.csv"
START=$(date +%s.%N)
while kill -0 "$REPLAY_PID" 2>/dev/null; do
    RSS=$(awk '/^VmRSS:/ { print $2 }' "/proc/$REPLAY_PID/status" 2>/dev/null || true)
    NOW=$(date +%s.%N)
    [ -n "$RSS" ] && awk -v a="$NOW" -v b="$START" -v r="$RSS" \
        'BEGIN { printf "%.1f,%d\n", a - b, r }' >>"$OUT/rss.csv"
    sleep "$SAMPLE_S"
done
STATUS=0
wait "$REPLAY_PID" || STATUS=$?
REPLAY_PID=""
if [ "$STATUS" -ne 0 ]; then
    echo "soak: esr replay exited $STATUS" >&2
    tail -5 "$OUT/replay.err" >&2
    exit 2
fi

grep -E '^ +(requests|success|statuses|rate|schedule|latency|service|lateness) ' "$OUT/replay.out" || true
# First-minute level: the highest sample in the first 60 s. Growth: any later sample above
# that level plus 10 %.
awk -F, 'NR > 1 {
        if ($1 <= 60) { if ($2 > first) first = $2 } else { late++; if ($2 > max) max = $2 }
        final = $2; n++
    }
    END {
        if (first == 0 || late == 0) { print "soak: too short to judge (need samples past 60 s)"; exit 2 }
        limit = first * 1.10
        printf "rss: first minute %.1f MiB, max after it %.1f MiB, final %.1f MiB (%d samples)\n",
            first / 1024, max / 1024, final / 1024, n
        if (max <= limit) { printf "PASS: no growth past the first minute + 10 %% (%.1f MiB)\n", limit / 1024; exit 0 }
        printf "FAIL: grew past the first minute + 10 %% (%.1f MiB)\n", limit / 1024; exit 1
    }' "$OUT/rss.csv"
