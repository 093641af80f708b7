#!/usr/bin/env bash
# Renders a run's report.html with headless Chromium, with no network, and checks that the
# screenshot is not blank (the charts drew something).
#
#   scripts/render-report.sh RUN_DIR OUT.png
#
# Needs `chromium` (Debian: apt-get install -y chromium) and python3 for the blank check.
# Exit 0: rendered and not blank; 1: blank or too plain; 2: bad usage or Chromium failed.
# Not part of `cargo test` (which must pass with only Rust): .ci/run calls it.
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 RUN_DIR OUT.png" >&2
    exit 2
fi
run_dir=$1
out=$2
report="$run_dir/report.html"
if [[ ! -f "$report" ]]; then
    echo "error: \`$report\` not found; replay a run or write one with \`esr scorecard RUN --format html -o FILE\`" >&2
    exit 2
fi
chrome=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [[ -z "$chrome" ]]; then
    echo "error: chromium not found; install it with \`apt-get install -y chromium\`" >&2
    exit 2
fi

abs_report=$(cd "$(dirname "$report")" && pwd)/report.html
mkdir -p "$(dirname "$out")"
abs_out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
rm -f "$abs_out"

# No network: the report must not need one. --proxy-server to a dead port makes any attempt
# fail instead of reaching out.
timeout 120 "$chrome" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --no-first-run --disable-sync --disable-extensions \
    --proxy-server=127.0.0.1:9 --hide-scrollbars --user-data-dir="$profile" \
    --screenshot="$abs_out" --window-size=1200,2000 "file://$abs_report" >/dev/null 2>&1 || true

if [[ ! -s "$abs_out" ]]; then
    echo "error: chromium wrote no screenshot to \`$abs_out\`" >&2
    exit 2
fi

# Decode the PNG with the standard library and look at its colours: a blank page is one
# colour; a report with charts has many, and a fair share of non-background pixels.
python3 - "$abs_out" <<'PY'
import struct, sys, zlib
from collections import Counter

data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat = 8, b""
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
bpp = {2: 3, 6: 4, 0: 1, 4: 2}[ctype] * depth // 8
raw = zlib.decompress(idat)
stride = w * bpp
prev = bytearray(stride)
colours = Counter()
i = 0
for y in range(h):
    f = raw[i]; i += 1
    line = bytearray(raw[i:i + stride]); i += stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b = prev[x]
        c = prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    prev = line
    if y % 4 == 0:
        for x in range(0, stride, bpp * 4):
            colours[bytes(line[x:x + 3])] += 1
total = sum(colours.values())
top = colours.most_common(1)[0][1]
share = 1 - top / total
print(f"{sys.argv[1]}: {w}x{h}, {len(colours)} colours sampled, {share:.1%} non-background")
if len(colours) < 16 or share < 0.02:
    print("error: the screenshot looks blank", file=sys.stderr)
    sys.exit(1)
PY
