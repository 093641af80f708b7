#!/usr/bin/env bash
# Re-makes the shipped sample trace: the synthetic CSV log, then its canonical Parquet trace.
# Deterministic: running it again gives the same files.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 traces/generate_flood_rerate.py -o traces/flood_rerate.csv
cargo run --quiet -- ingest traces/flood_rerate.csv -o traces/flood_rerate.parquet --no-scrub
