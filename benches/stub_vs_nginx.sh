#!/usr/bin/env bash
# Release-mode stub figures for README "Stubs / Performance". Needs nginx and wrk
# (apt-get install -y nginx wrk) and `cargo build --release --bin esr --example stub_accuracy`.
#   1. Zero-latency throughput: wrk against nginx (one worker) and the stub's catch-all,
#      alternating, ROUNDS rounds each, in the same run.
#   2. Latency accuracy: a fixed 2,000 req/s on the hms preset's 50–250 ms route, with the
#      stub's timer thread and then with tokio's timer.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DUR=${DUR:-10s}
CONNS=${CONNS:-64}
ESR=target/release/esr
ACC=target/release/examples/stub_accuracy
prefix=$(mktemp -d)
nginx -c "$PWD/benches/stub_nginx.conf" -p "$prefix/" &
nginx_pid=$!
$ESR stub --listen 127.0.0.1:18082 >/dev/null &
stub_pid=$!
trap 'kill $nginx_pid $stub_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$prefix"' EXIT
sleep 1
for i in $(seq "$ROUNDS"); do
  for target in nginx:18081 stub:18082; do
    name=${target%%:*}; port=${target##*:}
    rps=$(wrk -t1 -c"$CONNS" -d"$DUR" "http://127.0.0.1:$port/" | awk '/Requests\/sec/ {print $2}')
    echo "round $i $name $rps req/s"
  done
done
kill $stub_pid; wait $stub_pid 2>/dev/null || true
$ESR stub --preset hms --listen 127.0.0.1:18083 >/dev/null &
stub_pid=$!
sleep 1
$ACC http://127.0.0.1:18083 POST /fetch_premium "${RATE:-2000}" "${SECS:-20}"
kill $stub_pid; wait $stub_pid 2>/dev/null || true
echo "-- same, sleeping on tokio's timer instead of the stub's timer thread:"
$ESR stub --preset hms --listen 127.0.0.1:18084 --tokio-timer >/dev/null &
stub_pid=$!
sleep 1
$ACC http://127.0.0.1:18084 POST /fetch_premium "${RATE:-2000}" "${SECS:-20}"
