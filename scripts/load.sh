#!/usr/bin/env bash
# Drive a real mulegate (redis-server + "mulegate dev --redis", forwarders
# off: forwarding is measured on its own, see docs/perf/history.md) over mTLS
# with the bounded load generator, and, if nginx is installed, nginx
# serving a static JSON over mTLS on the same machine as a baseline.
# Everything listens on 127.0.0.1, runs for DURATION seconds per phase and
# is stopped by PID at the end.
#   scripts/load.sh [DURATION_SECONDS] [CONCURRENCY]
#   TOPOLOGY=cluster scripts/load.sh …   (a 3-master Redis Cluster instead of one redis-server)
#   TOPOLOGY=cluster REPLICAS=1 scripts/load.sh …  (3 masters + 3 replicas, lookups read from the replicas:
#                                          redis.read_from_replicas; READS=masters keeps them on the masters)
#   AOF=no scripts/load.sh …             (Redis without persistence; default: AOF, fsync every second)
# On one redis-server it first runs redis-benchmark XADD (c50) on the same
# Redis, so intake can be read as a ratio of it from the same run. The
# lookup phases ask for an IBAN with 5 reports from 2 orgs. The side-by-side
# comparison with nginx and a naive Go handler is ../shared/perf/mulegate.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
CONC=${2:-32}
work=$(mktemp -d)
pids=(); rpids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

freeport() {
  local p
  while :; do
    p=$((20000 + RANDOM % 20000))
    (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }
  done
}

persist=(--appendonly yes --appendfsync everysec)
[ "${AOF:-yes}" = no ] && persist=(--appendonly no)
command -v redis-server >/dev/null || { echo "redis-server is needed (apt-get install -y redis-server)" >&2; exit 1; }
CGO_ENABLED=0 go build -trimpath -o "$work/mulegate" ./cmd/mulegate
CGO_ENABLED=0 go build -trimpath -o "$work/mulegate-load" ./cmd/mulegate-load

rport=$(freeport); aport=$(freeport); oport=$(freeport)
redis_addrs="127.0.0.1:$rport"
if [ "${TOPOLOGY:-single}" = cluster ]; then
  ports=("$rport" "$(freeport)" "$(freeport)")
  [ "${REPLICAS:-0}" = 1 ] && ports+=("$(freeport)" "$(freeport)" "$(freeport)")
  redis_addrs=""
  for p in "${ports[@]}"; do
    mkdir -p "$work/r$p"
    redis-server --port "$p" --bind 127.0.0.1 --save "" "${persist[@]}" --dir "$work/r$p" --logfile "$work/r$p/redis.log" \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 &
    pids+=($!)
    rpids+=($!)
    redis_addrs="$redis_addrs${redis_addrs:+,}127.0.0.1:$p"
  done
  for p in "${ports[@]}"; do for _ in $(seq 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done; done
  redis-cli --cluster create $(echo "$redis_addrs" | tr , ' ') --cluster-replicas "${REPLICAS:-0}" --cluster-yes >/dev/null
  for _ in $(seq 100); do redis-cli -p "$rport" cluster info | grep -q cluster_state:ok && break; sleep 0.1; done
  if [ "${REPLICAS:-0}" = 1 ]; then # every replica in sync before load
    for p in "${ports[@]}"; do
      for _ in $(seq 100); do
        r=$(redis-cli -p "$p" info replication | tr -d '\r')
        echo "$r" | grep -q role:master && break
        echo "$r" | grep -q master_link_status:up && break
        sleep 0.1
      done
    done
    [ "${READS:-replicas}" = replicas ] && export MULEGATE_REDIS_READ_FROM_REPLICAS=true
  fi
else
  redis-server --port "$rport" --bind 127.0.0.1 --save "" "${persist[@]}" --dir "$work" --logfile "$work/redis.log" &
  rpids+=($!)
  pids+=($!)
  for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

(cd "$work" && MULEGATE_FORWARD_WORKERS=0 exec ./mulegate dev --redis "$redis_addrs" --listen "127.0.0.1:$aport" --ops-listen "127.0.0.1:$oport" --police-listen "127.0.0.1:$(freeport)" >"$work/dev.out" 2>"$work/dev.err") &
mpid=$!
pids+=($mpid)
for _ in $(seq 100); do grep -q '^api https' "$work/dev.out" 2>/dev/null && break; sleep 0.1; done
TOKEN=$(sed -n 's/^  export BANK_TOKEN=//p' "$work/dev.out")
dev="$work/.mulegate-dev"
cpu() { # utime+stime of PIDs in clock ticks, summed
  local t=0 p
  for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done
  echo $t
}
hz=$(getconf CLK_TCK)
# phase NAME PID -- load args: runs one phase and reports the server's CPU per request.
phase() {
  local name=$1 pid=$2; shift 3
  local c0 r0 out n c1 r1
  c0=$(cpu "$pid"); r0=$(cpu "${rpids[@]}")
  out=$(load "$@"); echo "$out"
  c1=$(cpu "$pid"); r1=$(cpu "${rpids[@]}")
  n=$(echo "$out" | sed -n 's/^ok=\([0-9]*\).*/\1/p')
  awk -v n="$n" -v c="$((c1 - c0))" -v r="$((r1 - r0))" -v hz="$hz" -v name="$name" \
    'BEGIN { if (n > 0) printf "   %s server CPU: %.1f us/request; Redis CPU: %.1f us/request\n", name, c/hz/n*1e6, r/hz/n*1e6 }'
}
load() { "$work/mulegate-load" -cacert "$dev/ca.pem" -cert "$dev/bank.pem" -key "$dev/bank-key.pem" -token "$TOKEN" -c "$CONC" -d "${DUR}s" "$@"; }

echo "# $(nproc) cores; client, server and Redis (${TOPOLOGY:-single}: $redis_addrs, ${persist[*]}) share them; ${DUR}s per phase, $CONC connections"
xadd=""
if [ "${TOPOLOGY:-single}" != cluster ] && command -v redis-benchmark >/dev/null; then
  xadd=$(redis-benchmark -p "$rport" -c 50 -n 200000 --csv XADD benchstream MAXLEN '~' 10000 '*' f v | awk -F'"' '/XADD/{print $4}')
  echo "## redis-benchmark XADD on the same Redis (c50, 200000, as ../shared/perf does): $xadd requests/s"
  redis-cli -p "$rport" del benchstream >/dev/null
fi
# The looked-up IBAN has reports from two orgs, as a real hit would.
curl_dev() { curl -sS -o /dev/null -w '%{http_code} ' --cacert "$dev/ca.pem" --cert "$dev/$1.pem" --key "$dev/$1-key.pem" "${@:2}"; }
mtoken=$(sed -n 's/^  export MARKET_TOKEN=//p' "$work/dev.out")
for k in 1 2 3 4 5; do
  who=bank; tok=$TOKEN
  [ $k -gt 3 ] && who=market && tok=$mtoken
  curl_dev "$who" -X POST "https://localhost:$aport/v1/reports" -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
    -H "Idempotency-Key: seed-$k" -d '{"iban":"NL91ABNA0417164300","category":"phishing"}'
done; echo "(seed reports)"
echo "## mulegate GET /v1/ibans/{iban} (an IBAN with 5 reports from 2 orgs, token cache warm)"
phase mulegate "$mpid" -- --url "https://localhost:$aport/v1/ibans/NL91ABNA0417164300"
echo "## mulegate POST /v1/reports (unique Idempotency-Key per request, over 100,000 distinct IBANs)"
[ "${TOPOLOGY:-single}" = single ] && redis-cli -p "$rport" config resetstat >/dev/null
intake=$(phase mulegate "$mpid" -- --url "https://localhost:$aport/v1/reports" --method POST --idempotency --ibans 100000 \
  --body '{"iban":"{{IBAN}}","category":"phishing","reference":"load"}')
echo "$intake"
if [ -n "$xadd" ]; then
  rate=$(echo "$intake" | sed -n 's/.* rate_2xx=\([0-9.]*\).*/\1/p' | head -1)
  [ -n "$rate" ] && awk -v a="$rate" -v x="$xadd" 'BEGIN { printf "   intake / redis-benchmark XADD: %.3f\n", a/x }'
fi
if [ "${TOPOLOGY:-single}" = single ]; then # where intake's Redis time goes
  echo "   Redis commands during intake (calls, usec per call):"
  redis-cli -p "$rport" info commandstats | tr -d '\r' | sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),usec=[0-9]*,usec_per_call=\([0-9.]*\).*/\2 \1 \3/p' |
    sort -rn | head -8 | awk '{ printf "     %-12s %9d calls  %7.2f us/call\n", $2, $1, $3 }'
fi

if command -v nginx >/dev/null; then
  nport=$(freeport)
  mkdir -p "$work/nginx"
  echo '{"iban":"NL91ABNA0417164300","country":"NL","bank_code":"ABNA","report_count":0,"reporter_count":0,"reports_last_30_days":0,"by_category":{},"by_source":{},"first_reported_at":null,"last_reported_at":null,"risk":"none"}' >"$work/nginx/static.json"
  cat >"$work/nginx/nginx.conf" <<CONF
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx; uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$nport ssl;
    ssl_certificate $dev/server.pem;
    ssl_certificate_key $dev/server-key.pem;
    ssl_client_certificate $dev/ca.pem;
    ssl_verify_client on;
    ssl_protocols TLSv1.2 TLSv1.3;
    keepalive_requests 1000000;
    location / { default_type application/json; return 200 '{"iban":"NL91ABNA0417164300","country":"NL","bank_code":"ABNA","report_count":0,"reporter_count":0,"reports_last_30_days":0,"by_category":{},"by_source":{},"first_reported_at":null,"last_reported_at":null,"risk":"none"}'; }
  }
}
CONF
  nginx -c "$work/nginx/nginx.conf" &
  npid=$!
  pids+=($npid)
  sleep 0.5
  echo "## baseline: nginx static JSON over mTLS (master process CPU excluded: workers are children)"
  load --url "https://localhost:$nport/v1/ibans/NL91ABNA0417164300"
fi
