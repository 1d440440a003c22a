#!/usr/bin/env bash
# A batch lookup of 1000 spread IBANs (two reports each) end to end against
# the real binary as it runs (mulegate dev --redis on its own redis-server,
# its own GC setting), one batch at a time over HTTP/1.1 mTLS: p50/p90/p99
# of the whole request. With BASE, that revision's build too, alternated.
# Everything is on 127.0.0.1 and stopped by PID at the end.
#   scripts/batch-e2e.sh [BASE_REV] [DURATION_SECONDS] [ROUNDS]
#   HTTP2=1 scripts/batch-e2e.sh …   over HTTP/2, as curl and browsers speak it
#   HTTP2=1 H2_MAX_FRAME=1048576 …    over HTTP/2 with frames as the mulegate Go client reads them
#   MODES="h1 h2 h2-1m" scripts/batch-e2e.sh …   the three alternated within each round
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${1:-}
DUR=${2:-15}
ROUNDS=${3:-3}
. scripts/lib/devbuilds.sh

builds=(B)
build_tree
if [ -n "$BASE" ]; then
  build_base "$BASE"
  builds=(A B)
fi

# The 1000 IBANs mulegate-load's -ibans 1000 cycles through: NL, ABNA and n.
body=$(python3 -c '
def iban(n):
    bban = "ABNA%010d" % n
    digits = "".join(str(int(c, 36)) for c in bban + "NL00")
    return "NL%02d%s" % (98 - int(digits) % 97, bban)
print("{\"ibans\":[" + ",".join("\"%s\"" % iban(n) for n in range(1000)) + "]}")')

for v in "${builds[@]}"; do
  start_dev "$v"
  "$work/load" -cacert "${dir[$v]}/ca.pem" -cert "${dir[$v]}/market.pem" -key "${dir[$v]}/market-key.pem" -token "${tok[$v]}" \
    -method POST -url "${api[$v]}/v1/reports" -body '{"iban":"{{IBAN}}","category":"phishing"}' -ibans 1000 -idempotency -n 2000 -c 8 -d 60s |
    sed "s/^/# $v seeded: /"
  # Every IBAN of the batch has two reports.
  n=$(curl -sS --cacert "${dir[$v]}/ca.pem" --cert "${dir[$v]}/market.pem" --key "${dir[$v]}/market-key.pem" -H "Authorization: Bearer ${tok[$v]}" \
    -H 'Content-Type: application/json' -X POST "${api[$v]}/v1/ibans/lookup" -d "$body" | jq '[.results[] | select(.report_count == 2)] | length')
  [ "$n" = 1000 ] || { echo "build $v: $n of 1000 IBANs have two reports" >&2; exit 1; }
done

# MODES: the protocols to alternate within each round (h1, h2, h2-1m: HTTP/2
# reading frames of up to 1 MiB, as the mulegate Go client does); by default
# the one HTTP2 and H2_MAX_FRAME name.
if [ -z "${MODES:-}" ]; then
  MODES=h1
  if [ -n "${HTTP2:-}" ]; then MODES=h2; fi
  if [ -n "${HTTP2:-}" ] && [ -n "${H2_MAX_FRAME:-}" ]; then MODES=h2-${H2_MAX_FRAME}; fi
fi
hz=$(getconf CLK_TCK)
cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system time of the gateway process
echo "# $(nproc) cores; B = working tree${BASE:+, A = $BASE}; batches of 1000 IBANs one at a time (modes: $MODES), ${DUR}s a phase"
for round in $(seq "$ROUNDS"); do
  for v in "${builds[@]}"; do
    for mode in $MODES; do
      flags=()
      case $mode in
        h1) ;;
        h2) flags=(-http2) ;;
        h2-1m) flags=(-http2 -h2-max-frame 1048576) ;;
        h2-*) flags=(-http2 -h2-max-frame "${mode#h2-}") ;;
        *) echo "unknown mode $mode (h1, h2, h2-1m, h2-BYTES)" >&2; exit 2 ;;
      esac
      c0=$(cputicks "${mpid[$v]}")
      out=$("$work/load" -cacert "${dir[$v]}/ca.pem" -cert "${dir[$v]}/market.pem" -key "${dir[$v]}/market-key.pem" -token "${tok[$v]}" \
        -method POST -url "${api[$v]}/v1/ibans/lookup" -body "$body" -c 1 -d "${DUR}s" "${flags[@]}")
      c1=$(cputicks "${mpid[$v]}")
      n=$(sed -n 's/^ok=\([0-9]*\).*/\1/p' <<<"$out")
      echo "$v $mode gateway_cpu_per_batch=$(( (c1 - c0) * 1000000 / hz / ${n:-1} ))us $out"
    done
  done
done
