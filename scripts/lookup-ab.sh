#!/usr/bin/env bash
# Lookup throughput and CPU per request of two builds side by side in one
# run: BASE (a git revision) and the working tree. Each build runs as
# "mulegate dev --redis" on its own redis-server (forwarders off), the IBAN
# looked up has 5 reports from 5 orgs' keys (what users look up), and the
# two are driven alternately (A B A B) by the same bounded mTLS load
# generator. Everything is on 127.0.0.1 and stopped by PID at the end.
#   scripts/lookup-ab.sh BASE_REV [DURATION_SECONDS] [CONCURRENCY]
#   SIGNED=1 scripts/lookup-ab.sh …   also the working tree's lookups with
#                                     "Prefer: signed" (B+signed; dev signs answers)
#   PART3=1 scripts/lookup-ab.sh …    also, on the working tree, IBANs with Part 3
#                                     data, each with 5 reports: amounts on every
#                                     report (B+amounts), one of them a linked report
#                                     (B+chain), the holder's status (B+status), and
#                                     the plain IBAN signed (B+signed). ROUNDS=3.
#   SAME_TIME=1 scripts/lookup-ab.sh …  A and B under load at the same time, half the
#                                     connections each, so that both see the same
#                                     machine (a shared VM's speed drifts by ±10 %
#                                     between phases); prints B/A per round
#   B_ENV="NAME=value …" scripts/lookup-ab.sh …
#                                     the working tree's build runs with these in its
#                                     environment (to try a setting against BASE)
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${1:?usage: scripts/lookup-ab.sh BASE_REV [DURATION] [CONCURRENCY]}
DUR=${2:-8}
CONC=${3:-32}
. scripts/lib/devbuilds.sh
cpu() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo $t; }
hz=$(getconf CLK_TCK)

build_base "$BASE"
build_tree

for v in A B; do
  start_dev "$v"
  for n in 1 2 3 4 5; do
    curl -sS -o /dev/null --cacert "${dir[$v]}/ca.pem" --cert "${dir[$v]}/market.pem" --key "${dir[$v]}/market-key.pem" \
      -H "Authorization: Bearer ${tok[$v]}" -H 'Content-Type: application/json' -H "Idempotency-Key: ab-$n" \
      -X POST "${api[$v]}/v1/reports" -d '{"iban":"NL91ABNA0417164300","category":"phishing"}'
  done
done

# Part 3 data on B (working tree): IBANs held by demo-bank, 5 reports each.
as() { local who=$1; shift
  curl -sS --cacert "${dir[B]}/ca.pem" --cert "${dir[B]}/$who.pem" --key "${dir[B]}/$who-key.pem" \
    -H "Authorization: Bearer $(sed -n "s/^  export $(echo "$who" | tr a-z A-Z)_TOKEN=//p" "$work/B/dev.out")" \
    -H 'Content-Type: application/json' "$@"; }
if [ "${PART3:-0}" = 1 ]; then
  for n in 1 2 3 4 5; do
    as market -o /dev/null -X POST "${api[B]}/v1/reports" -H "Idempotency-Key: ab-amt-$n" \
      -d '{"iban":"NL79ABNA0000000011","category":"phishing","amount":{"value":"'$n'49.95","currency":"EUR"}}'
    as market -o /dev/null -X POST "${api[B]}/v1/reports" -H "Idempotency-Key: ab-st-$n" \
      -d '{"iban":"NL73ABNA0000000022","category":"phishing"}'
  done
  root=$(as victim -X POST "${api[B]}/v1/reports" -H 'Idempotency-Key: ab-root' \
    -d '{"iban":"NL61ABNA0000000044","category":"helpdesk_fraud","amount":{"value":"2000.00","currency":"EUR"}}' | jq -r .report_id)
  as bank -o /dev/null -X POST "${api[B]}/v1/reports/$root/onward" -H 'Idempotency-Key: ab-hop' \
    -d '{"transfers":[{"iban":"NL67ABNA0000000033","amount":{"value":"1900.00","currency":"EUR"},"at":"'"$(date -u +%Y-%m-%dT%H:%M:%SZ)"'"}]}'
  for n in 1 2 3 4; do
    as market -o /dev/null -X POST "${api[B]}/v1/reports" -H "Idempotency-Key: ab-ch-$n" \
      -d '{"iban":"NL67ABNA0000000033","category":"phishing","amount":{"value":"100.00","currency":"EUR"}}'
  done
  as bank -o /dev/null -X PUT "${api[B]}/v1/ibans/NL73ABNA0000000022/status" -d '{"status":"collection_account"}'
  for i in NL79ABNA0000000011 NL67ABNA0000000033 NL73ABNA0000000022; do
    as market "${api[B]}/v1/ibans/$i" | jq -c '{iban, reports: .report_count, amounts: (.amounts != null), chain, holder_status, score}' >&2
  done
fi

phase() {
  local v=$1 hdr=${2:-} iban=${3:-NL91ABNA0417164300} label=${4:-} c0 r0 out n c1 r1
  c0=$(cpu "${mpid[$v]}"); r0=$(cpu "${rpid[$v]}")
  out=$("$work/load" -cacert "${dir[$v]}/ca.pem" -cert "${dir[$v]}/market.pem" -key "${dir[$v]}/market-key.pem" \
    -token "${tok[$v]}" -c "$CONC" -d "${DUR}s" -header "$hdr" -url "${api[$v]}/v1/ibans/$iban")
  c1=$(cpu "${mpid[$v]}"); r1=$(cpu "${rpid[$v]}")
  n=$(echo "$out" | sed -n 's/^ok=\([0-9]*\).*/\1/p')
  if [ -n "$hdr" ]; then v="$v+signed"; fi
  if [ -n "$label" ]; then v="$v+$label"; fi
  echo "$v $out"
  awk -v n="$n" -v c="$((c1 - c0))" -v r="$((r1 - r0))" -v hz="$hz" -v v="$v" \
    'BEGIN { if (n > 0) printf "  %s gateway CPU %.1f us/lookup, Redis CPU %.1f us/lookup\n", v, c/hz/n*1e6, r/hz/n*1e6 }'
}
# both: A and B at the same time, CONC/2 connections each; CPU per lookup of
# each and B/A.
both() {
  local a0 b0 a1 b1 la lb na nb half=$((CONC / 2))
  a0=$(cpu "${mpid[A]}"); b0=$(cpu "${mpid[B]}")
  "$work/load" -cacert "${dir[A]}/ca.pem" -cert "${dir[A]}/market.pem" -key "${dir[A]}/market-key.pem" \
    -token "${tok[A]}" -c "$half" -d "${DUR}s" -url "${api[A]}/v1/ibans/NL91ABNA0417164300" >"$work/A.load" & la=$!
  "$work/load" -cacert "${dir[B]}/ca.pem" -cert "${dir[B]}/market.pem" -key "${dir[B]}/market-key.pem" \
    -token "${tok[B]}" -c "$half" -d "${DUR}s" -url "${api[B]}/v1/ibans/NL91ABNA0417164300" >"$work/B.load" & lb=$!
  wait "$la" "$lb"
  a1=$(cpu "${mpid[A]}"); b1=$(cpu "${mpid[B]}")
  na=$(sed -n 's/^ok=\([0-9]*\).*/\1/p' "$work/A.load"); nb=$(sed -n 's/^ok=\([0-9]*\).*/\1/p' "$work/B.load")
  awk -v a=$((a1 - a0)) -v b=$((b1 - b0)) -v na="$na" -v nb="$nb" -v hz="$hz" -v r="$1" 'BEGIN { if (na > 0 && nb > 0) {
    ua = a / hz / na * 1e6; ub = b / hz / nb * 1e6
    printf "round %d at the same time: A %.1f us/lookup (%d lookups), B %.1f us/lookup (%d lookups), B/A %.3f\n", r, ua, na, ub, nb, ub / ua } }'
}
if [ "${SAME_TIME:-0}" = 1 ]; then
  echo "# $(nproc) cores; A = $BASE, B = working tree, at the same time; ${DUR}s per round, $((CONC / 2)) connections each; IBAN with 5 reports"
  for round in $(seq "${ROUNDS:-5}"); do both "$round"; done
  exit 0
fi
echo "# $(nproc) cores; A = $BASE, B = working tree; ${DUR}s per phase, $CONC connections; IBAN with 5 reports"
for round in $(seq "${ROUNDS:-2}"); do
  phase A; phase B
  if [ "${SIGNED:-0}" = 1 ] || [ "${PART3:-0}" = 1 ]; then phase B "Prefer: signed"; fi
  if [ "${PART3:-0}" = 1 ]; then
    phase B "" NL79ABNA0000000011 amounts; phase B "" NL67ABNA0000000033 chain; phase B "" NL73ABNA0000000022 status
  fi
done
