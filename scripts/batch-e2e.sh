#!/usr/bin/env bash
# A batch lookup of 1000 spread IBANs (two reports each) end to end against
# the real binary as it runs (mulegate dev --redis on its own redis-server,
# its own GC setting), one batch at a time over HTTP/1.1 mTLS: p50/p90/p99
# of the whole request. With BASE, that revision's build too, alternated.
# Everything is on 127.0.0.1 and stopped by PID at the end.
#   scripts/batch-e2e.sh [BASE_REV] [DURATION_SECONDS] [ROUNDS]
#   HTTP2=1 scripts/batch-e2e.sh …   over HTTP/2, as curl and browsers speak it
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${1:-}
DUR=${2:-15}
ROUNDS=${3:-3}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; git worktree remove --force "$work/base" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
freeport() { local p; while :; do p=$((20000 + RANDOM % 20000)); (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }; done; }

builds=(B)
CGO_ENABLED=0 go build -trimpath -o "$work/bin-B" ./cmd/mulegate
if [ -n "$BASE" ]; then
  git worktree add -q "$work/base" "$BASE"
  (cd "$work/base" && CGO_ENABLED=0 go build -trimpath -o "$work/bin-A" ./cmd/mulegate)
  builds=(A B)
fi
CGO_ENABLED=0 go build -trimpath -o "$work/load" ./cmd/mulegate-load

# The 1000 IBANs mulegate-load's -ibans 1000 cycles through: NL, ABNA and n.
body=$(python3 -c '
def iban(n):
    bban = "ABNA%010d" % n
    digits = "".join(str(int(c, 36)) for c in bban + "NL00")
    return "NL%02d%s" % (98 - int(digits) % 97, bban)
print("{\"ibans\":[" + ",".join("\"%s\"" % iban(n) for n in range(1000)) + "]}")')

declare -A api tok dir
for v in "${builds[@]}"; do
  rp=$(freeport); ap=$(freeport)
  mkdir -p "$work/$v"
  redis-server --port "$rp" --bind 127.0.0.1 --save "" --appendonly no --dir "$work/$v" --logfile "$work/$v/redis.log" &
  pids+=($!)
  for _ in $(seq 50); do redis-cli -p "$rp" ping >/dev/null 2>&1 && break; sleep 0.1; done
  (cd "$work/$v" && MULEGATE_FORWARD_WORKERS=0 MULEGATE_LOG_LEVEL=warn exec "$work/bin-$v" dev --redis "127.0.0.1:$rp" --listen "127.0.0.1:$ap" \
     --ops-listen "127.0.0.1:$(freeport)" --police-listen "127.0.0.1:$(freeport)" \
     --bank-console "127.0.0.1:$(freeport)" --police-console "127.0.0.1:$(freeport)" >"$work/$v/dev.out" 2>"$work/$v/dev.err") &
  pids+=($!)
  for _ in $(seq 600); do grep -q '^api https' "$work/$v/dev.out" 2>/dev/null && break; sleep 0.1; done
  api[$v]="https://localhost:$ap"
  tok[$v]=$(sed -n 's/^  export MARKET_TOKEN=//p' "$work/$v/dev.out")
  dir[$v]="$work/$v/.mulegate-dev"
  "$work/load" -cacert "${dir[$v]}/ca.pem" -cert "${dir[$v]}/market.pem" -key "${dir[$v]}/market-key.pem" -token "${tok[$v]}" \
    -method POST -url "${api[$v]}/v1/reports" -body '{"iban":"{{IBAN}}","category":"phishing"}' -ibans 1000 -idempotency -n 2000 -c 8 -d 60s |
    sed "s/^/# $v seeded: /"
  # Every IBAN of the batch has two reports.
  n=$(curl -sS --cacert "${dir[$v]}/ca.pem" --cert "${dir[$v]}/market.pem" --key "${dir[$v]}/market-key.pem" -H "Authorization: Bearer ${tok[$v]}" \
    -H 'Content-Type: application/json' -X POST "${api[$v]}/v1/ibans/lookup" -d "$body" | jq '[.results[] | select(.report_count == 2)] | length')
  [ "$n" = 1000 ] || { echo "build $v: $n of 1000 IBANs have two reports" >&2; exit 1; }
done

proto=HTTP/1.1
if [ -n "${HTTP2:-}" ]; then proto=HTTP/2; fi
echo "# $(nproc) cores; B = working tree${BASE:+, A = $BASE}; batches of 1000 IBANs one at a time over $proto, ${DUR}s a phase"
for round in $(seq "$ROUNDS"); do
  for v in "${builds[@]}"; do
    echo "$v $("$work/load" -cacert "${dir[$v]}/ca.pem" -cert "${dir[$v]}/market.pem" -key "${dir[$v]}/market-key.pem" -token "${tok[$v]}" \
      -method POST -url "${api[$v]}/v1/ibans/lookup" -body "$body" -c 1 -d "${DUR}s" ${HTTP2:+-http2})"
  done
done
