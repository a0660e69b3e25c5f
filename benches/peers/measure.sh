#!/usr/bin/env bash
# The peers on herd's fake SQS server, each pinned to CPU 0 with the server on CPU 1, as
# `cargo bench --bench aws` runs herd: boto3, Locust and Artillery, for the send ceiling (10 s)
# and for pacing 20/s (30 s). Needs: pip install boto3 locust; npm install artillery
# @aws-sdk/client-sqs in ARTILLERY_DIR (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 spares the browser it
# would download). Usage: bash benches/peers/measure.sh [ARTILLERY_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
art="${1:-/tmp/art}"
bench=$(cargo bench --bench aws --no-run 2>&1 | sed -n 's/.*Executable benches\/aws.rs (\(.*\))/\1/p')
peers=benches/peers

# serve SECONDS PACE: starts the fake server for SECONDS (with gap statistics for PACE/s) and
# sets $ep to its endpoint.
serve() {
  rm -f /tmp/herd-peer-ep.txt
  HERD_BENCH_SERVE_SECS=$1 HERD_BENCH_SERVE_PACE=$2 "$bench" serve --bench > /tmp/herd-peer-ep.txt 2> /tmp/herd-peer-serve.txt &
  for _ in $(seq 1 50); do [ -s /tmp/herd-peer-ep.txt ] && break; sleep 0.1; done
  ep=$(cat /tmp/herd-peer-ep.txt)
}
# after: waits for the server to finish and prints what it saw.
after() { wait; grep -E "served|gaps" /tmp/herd-peer-serve.txt | sed 's/; calls by action.*//'; }
timed() { /usr/bin/time -f "  CPU %U user + %S sys over %e s wall, peak RSS %M KiB" taskset -c 0 "$@"; }

echo "== boto3, 16 threads, send_message, 10 s"
serve 14 0; timed python3 $peers/boto3_send.py "$ep" --seconds 10; after
echo "== boto3, 16 threads, send_message_batch of 10, 10 s"
serve 14 0; timed python3 $peers/boto3_send.py "$ep" --seconds 10 --batch 10; after
echo "== Locust, 16 users as fast as they can, 10 s"
serve 16 0; timed locust -f $peers/locust_sqs.py --headless -u 16 -r 16 -t 10s --host "$ep" --only-summary 2>&1 | grep -E "^locust:|CPU"; after
echo "== Locust, one user at 20/s, 30 s"
serve 34 20; PACE=20 timed locust -f $peers/locust_sqs.py --headless -u 1 -r 1 -t 30s --host "$ep" --only-summary 2>&1 | grep -E "^locust:|CPU"; after
echo "== Artillery, 200 arrivals/s for 5 s, 50 messages each, as fast as it can (its rate: the busiest 10-s period)"
serve 90 0; ENDPOINT=$ep RATE=200 SECONDS=5 LOOPS=50 NODE_PATH=$art/node_modules timed "$art/node_modules/.bin/artillery" run $peers/artillery_sqs.yml 2>&1 | grep -E "Metrics for period|sqs.sent|vusers.failed|CPU"; after
echo "== Artillery, 20 arrivals/s for 30 s, one message each"
serve 38 20; ENDPOINT=$ep RATE=20 SECONDS=30 LOOPS=1 NODE_PATH=$art/node_modules timed "$art/node_modules/.bin/artillery" run $peers/artillery_sqs.yml 2>&1 | grep -E "Metrics for period|sqs.sent|vusers.failed|CPU"; after
