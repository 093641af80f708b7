#!/usr/bin/env bash
# The console's browser test: starts the real `esr serve` on 127.0.0.1:0 with an empty data
# folder, then drives Debian's headless Chromium through the console with playwright-core
# (scripts/console-test.mjs): an invalid scenario shows its error beside the field, the seed
# scenario is created through the form, run fast until DONE, and the scorecard's numbers are
# read off the page; a screenshot is saved.
#
#   scripts/console-test.sh [OUT.png]      (default docs/console.png)
#   CONSOLE_TEST_TOKEN=T scripts/console-test.sh OUT.png    (the same behind a bearer token)
#
# Needs target/debug/esr (cargo build), /usr/bin/chromium (apt-get install -y chromium) and
# node + npm; installs playwright-core (pinned, no browser download) into a cache folder.
# Exit 0: every check passed; 1: a check failed; 2: bad setup. Not part of `cargo test`
# (which must pass with only Rust): .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

PLAYWRIGHT_VERSION=1.65.1
out=${1:-docs/console.png}
# The seed scenario with 1,000 actors at speed 600 runs in about 4 s on a debug build and
# keeps up with its schedule; CONSOLE_TEST_ACTORS= (empty) keeps the seed's own 10,000.
export CONSOLE_TEST_ACTORS=${CONSOLE_TEST_ACTORS-1000}
export CONSOLE_TEST_SPEED=${CONSOLE_TEST_SPEED:-600}
esr=target/debug/esr
chrome=${CHROMIUM:-/usr/bin/chromium}

if [[ ! -x "$esr" ]]; then
    echo "error: \`$esr\` not found; build it with \`cargo build\`" >&2
    exit 2
fi
if [[ ! -x "$chrome" ]]; then
    echo "error: \`$chrome\` not found; install it with \`apt-get install -y chromium\`" >&2
    exit 2
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "error: node and npm are needed; install them with \`apt-get install -y nodejs npm\`" >&2
    exit 2
fi

# playwright-core brings no browser of its own (it drives Debian's), so this is one small
# package from the npm registry, kept between runs.
cache=${ESR_CONSOLE_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/esr-console-test}
installed=$(node -p "require('$cache/node_modules/playwright-core/package.json').version" 2>/dev/null || true)
if [[ "$installed" != "$PLAYWRIGHT_VERSION" ]]; then
    mkdir -p "$cache"
    npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$cache" \
        "playwright-core@$PLAYWRIGHT_VERSION" >/dev/null
fi

work=$(mktemp -d)
server=""
cleanup() {
    if [[ -n "$server" ]]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# The server prints exactly one line on stdout once it listens: `listening on http://ADDR/`.
# CONSOLE_TEST_TOKEN set: the server wants it as a bearer token and the console must ask.
ESR_API_TOKEN=${CONSOLE_TEST_TOKEN:-} \
    "$esr" serve --listen 127.0.0.1:0 --data "$work/data" >"$work/stdout" 2>"$work/stderr" &
server=$!
base=""
for _ in $(seq 1 300); do
    if line=$(grep -m1 '^listening on http://' "$work/stdout" 2>/dev/null); then
        base=${line#listening on }
        break
    fi
    if ! kill -0 "$server" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
if [[ -z "$base" ]]; then
    echo "error: \`esr serve\` did not start listening within 30 s; its log:" >&2
    tail -n 20 "$work/stderr" >&2
    exit 2
fi
echo "esr serve listening on $base"

mkdir -p "$(dirname "$out")"
status=0
PLAYWRIGHT_DIR="$cache" CHROMIUM="$chrome" \
    timeout 420 node scripts/console-test.mjs "$base" "$out" || status=$?
if [[ $status -ne 0 ]]; then
    echo "the server's last log lines:" >&2
    tail -n 20 "$work/stderr" >&2
    [[ $status -eq 2 ]] || status=1
fi
exit $status
