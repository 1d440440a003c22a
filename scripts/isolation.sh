#!/usr/bin/env bash
# Does one org flooding at its rate limit hurt another org? Runs a real
# "mulegate serve" (dev PKI and tokens, one redis-server, forwarders off)
# with the marketplace limited to LIMIT lookups/s, measures a bank's
# lookup latency alone, then again while the marketplace floods (most of
# its requests answered 429). Everything is on 127.0.0.1 and stopped by
# PID at the end.
#   scripts/isolation.sh [DURATION_SECONDS] [LIMIT] [FLOOD_CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-8}
LIMIT=${2:-500}
FLOOD=${3:-32}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
freeport() { local p; while :; do p=$((20000 + RANDOM % 20000)); (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }; done; }

CGO_ENABLED=0 go build -trimpath -o "$work/mulegate" ./cmd/mulegate
CGO_ENABLED=0 go build -trimpath -o "$work/load" ./cmd/mulegate-load
rp=$(freeport); ap=$(freeport); op=$(freeport)
redis-server --port "$rp" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" --logfile "$work/redis.log" &
pids+=($!)
for _ in $(seq 50); do redis-cli -p "$rp" ping >/dev/null 2>&1 && break; sleep 0.1; done

# The dev PKI and tokens, then a real serve with limits.
(cd "$work" && exec ./mulegate dev --redis "127.0.0.1:$rp" --listen "127.0.0.1:$(freeport)" --ops-listen "127.0.0.1:$(freeport)" \
  --police-listen "127.0.0.1:$(freeport)" >"$work/dev.out" 2>"$work/dev.err") &
dpid=$!
for _ in $(seq 100); do grep -q '^api https' "$work/dev.out" 2>/dev/null && break; sleep 0.1; done
kill "$dpid"; wait "$dpid" 2>/dev/null || true
BANK=$(sed -n 's/^  export BANK_TOKEN=//p' "$work/dev.out")
MARKET=$(sed -n 's/^  export MARKET_TOKEN=//p' "$work/dev.out")
d="$work/.mulegate-dev"
cat >"$work/mulegate.yaml" <<YAML
api: {listen: "127.0.0.1:$ap", cert_file: "$d/server.pem", key_file: "$d/server-key.pem", client_ca_file: "$d/ca.pem"}
ops: {listen: "127.0.0.1:$op"}
auth: {issuer: "https://idp.mulegate.dev.invalid", audience: mulegate, jwks_file: "$d/jwks.json"}
redis: {addrs: ["127.0.0.1:$rp"]}
storage: {pseudonym_secret_file: "$d/pseudonym-secret"}
forward: {workers: 0}
log: {level: warn}
limits:
  marketplace: {lookups_per_second: $LIMIT, lookups_burst: $LIMIT}
  bank: {lookups_per_second: 1000000, lookups_burst: 1000000}
orgs:
  - {id: demo-bank, type: bank, bank_codes: {NL: [ABNA]}}
  - {id: demo-market, type: marketplace}
YAML
"$work/mulegate" serve --config "$work/mulegate.yaml" >"$work/serve.out" 2>"$work/serve.err" &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$op/readyz" >/dev/null && break; sleep 0.1; done
url="https://localhost:$ap/v1/ibans/NL91ABNA0417164300"
bank() { "$work/load" -cacert "$d/ca.pem" -cert "$d/bank.pem" -key "$d/bank-key.pem" -token "$BANK" -c 4 -d "${DUR}s" -url "$url"; }
flood() { "$work/load" -cacert "$d/ca.pem" -cert "$d/market.pem" -key "$d/market-key.pem" -token "$MARKET" -c "$FLOOD" -d "$((DUR + 2))s" -url "$url"; }

echo "# $(nproc) cores; marketplace limited to $LIMIT lookups/s; bank: 4 connections; flood: $FLOOD connections; ${DUR}s"
echo "## the bank alone"
bank
echo "## the bank while the marketplace floods"
flood >"$work/flood.out" &
fpid=$!
sleep 1
bank
wait "$fpid"
echo "## the flood"
cat "$work/flood.out"
