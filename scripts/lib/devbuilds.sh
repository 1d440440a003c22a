# Sourced by scripts/lookup-ab.sh and scripts/batch-e2e.sh: builds of
# mulegate run side by side, each as "mulegate dev --redis" on its own
# redis-server, on 127.0.0.1, stopped by PID when the script exits.
#   build_base REV   the revision's build as $work/bin-A (a git worktree)
#   build_tree       the working tree's as $work/bin-B, and mulegate-load as $work/load
#   start_dev V      starts $work/bin-V; sets api[V] tok[V] (the marketplace's
#                    token) dir[V] (its .mulegate-dev) rpid[V] mpid[V]; with
#                    B_ENV="K=V …", build B runs with those in its environment
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; git worktree remove --force "$work/base" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
freeport() { local p; while :; do p=$((20000 + RANDOM % 20000)); (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }; done; }
declare -A api rpid mpid tok dir

build_base() {
  git worktree add -q "$work/base" "$1"
  (cd "$work/base" && CGO_ENABLED=0 go build -trimpath -o "$work/bin-A" ./cmd/mulegate)
}

build_tree() {
  CGO_ENABLED=0 go build -trimpath -o "$work/bin-B" ./cmd/mulegate
  CGO_ENABLED=0 go build -trimpath -o "$work/load" ./cmd/mulegate-load
}

start_dev() {
  local v=$1 rp ap consoles=()
  rp=$(freeport); ap=$(freeport)
  mkdir -p "$work/$v"
  redis-server --port "$rp" --bind 127.0.0.1 --save "" --appendonly no --dir "$work/$v" --logfile "$work/$v/redis.log" &
  rpid[$v]=$!; pids+=($!)
  for _ in $(seq 50); do redis-cli -p "$rp" ping >/dev/null 2>&1 && break; sleep 0.1; done
  # Builds with the consoles: each on a free port (both builds run at once).
  if [[ $("$work/bin-$v" dev --help 2>&1) == *-bank-console* ]]; then
    consoles=(--bank-console "127.0.0.1:$(freeport)" --police-console "127.0.0.1:$(freeport)")
  fi
  (cd "$work/$v" && if [ "$v" = B ] && [ -n "${B_ENV:-}" ]; then export ${B_ENV?}; fi && MULEGATE_FORWARD_WORKERS=0 MULEGATE_LOG_LEVEL=warn exec "$work/bin-$v" dev --redis "127.0.0.1:$rp" --listen "127.0.0.1:$ap" \
     --ops-listen "127.0.0.1:$(freeport)" --police-listen "127.0.0.1:$(freeport)" "${consoles[@]}" >"$work/$v/dev.out" 2>"$work/$v/dev.err") &
  mpid[$v]=$!; pids+=($!)
  for _ in $(seq 600); do grep -q '^api https' "$work/$v/dev.out" 2>/dev/null && break; sleep 0.1; done
  api[$v]="https://localhost:$ap"
  tok[$v]=$(sed -n 's/^  export MARKET_TOKEN=//p' "$work/$v/dev.out")
  dir[$v]="$work/$v/.mulegate-dev"
}
