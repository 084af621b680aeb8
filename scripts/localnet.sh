#!/usr/bin/env bash
# localnet.sh up|down|status|reset: a local Parley network on 127.0.0.1.
#
# It runs the name chain (four bnsd validators) and two storage hubs (hubd,
# disk driver). Each process has its own data directory, log file and pid
# file under $LOCALNET (default ./.localnet).
# 'up' is idempotent: running nodes are left alone, stopped ones restarted.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${LOCALNET:-$root/.localnet}"
bin="${BIN:-$root/bin}"
validators=4
base_port="${BASE_PORT:-26600}" # node i: p2p base+10i, rpc base+10i+1
hub_port="${HUB_PORT:-4100}"     # hub i listens on hub_port+i

say() { printf 'localnet: %s\n' "$*"; }
die() { printf 'localnet: %s\n' "$*" >&2; exit 1; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

rpc() { echo "http://127.0.0.1:$((base_port + 10 * $1 + 1))"; }

height() {
  { curl -s --max-time 2 "$(rpc "$1")/status" 2>/dev/null || true; } |
    sed -n 's/.*"latest_block_height":"\([0-9]*\)".*/\1/p'
}

up() {
  [ -x "$bin/bnsd" ] || die "bin/bnsd missing: run 'make build' first"
  mkdir -p "$dir"
  if [ ! -d "$dir/chain/node0" ]; then
    for i in $(seq 0 $((validators - 1))); do
      for p in $((base_port + 10 * i)) $((base_port + 10 * i + 1)); do
        port_free "$p" || die "port $p on 127.0.0.1 is taken; free it or set BASE_PORT"
      done
    done
    "$bin/bnsd" testnet --validators "$validators" --output "$dir/chain" --base-port "$base_port" \
      --chain-id parley-local --block-time 500ms >/dev/null
    say "created a $validators-validator chain in $dir/chain"
  fi
  for i in $(seq 0 $((validators - 1))); do
    pid="$dir/chain/node$i.pid"
    if alive "$pid"; then continue; fi
    nohup "$bin/bnsd" start --home "$dir/chain/node$i" --log-level '*:error' \
      >>"$dir/chain/node$i.log" 2>&1 &
    echo $! >"$pid"
  done
  for i in 0 1; do
    pid="$dir/hub$i.pid"
    if alive "$pid"; then continue; fi
    port=$((hub_port + i))
    port_free "$port" || die "port $port on 127.0.0.1 is taken; free it or set HUB_PORT"
    mkdir -p "$dir/hub$i"
    nohup "$bin/hubd" --data "$dir/hub$i/data" --listen "127.0.0.1:$port" --public-url "http://127.0.0.1:$port" \
      --server-name "local-hub$i" >>"$dir/hub$i.log" 2>&1 &
    echo $! >"$pid"
  done
  for _ in $(seq 1 240); do
    h=$(height 0)
    if [ -n "$h" ] && [ "$h" -ge 2 ] && caught_up && hub_up 0 && hub_up 1; then
      say "chain parley-local is up at height $h; hubs on ports $hub_port and $((hub_port + 1))"
      status
      return 0
    fi
    sleep 0.5
  done
  die "the network did not come up in 120s; see the logs in $dir"
}

# caught_up: every validator answers and none is catching up (a client
# would leave such a node out of its witnesses).
caught_up() {
  for i in $(seq 0 $((validators - 1))); do
    { curl -s --max-time 2 "$(rpc "$i")/status" 2>/dev/null || true; } | grep -q '"catching_up":false' || return 1
  done
}

hub_up() { curl -s --max-time 2 "http://127.0.0.1:$((hub_port + $1))/healthz" 2>/dev/null | grep -q ok; }

down() {
  local any=0
  for pid in "$dir"/chain/node*.pid "$dir"/hub*.pid; do
    [ -f "$pid" ] || continue
    if alive "$pid"; then kill "$(cat "$pid")" 2>/dev/null || true; any=1; fi
  done
  for pid in "$dir"/chain/node*.pid "$dir"/hub*.pid; do
    [ -f "$pid" ] || continue
    for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
    rm -f "$pid"
  done
  [ "$any" = 1 ] && say "stopped" || say "nothing was running"
}

status() {
  for i in $(seq 0 $((validators - 1))); do
    pid="$dir/chain/node$i.pid"
    if alive "$pid"; then
      printf 'node%d\tpid %s\trpc %s\theight %s\tlog %s\n' "$i" "$(cat "$pid")" "$(rpc "$i")" "$(height "$i")" "$dir/chain/node$i.log"
    else
      printf 'node%d\tstopped\n' "$i"
    fi
  done
  for i in 0 1; do
    pid="$dir/hub$i.pid"
    if alive "$pid"; then
      printf 'hub%d\tpid %s\thttp://127.0.0.1:%d\tlog %s\n' "$i" "$(cat "$pid")" $((hub_port + i)) "$dir/hub$i.log"
    else
      printf 'hub%d\tstopped\n' "$i"
    fi
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  reset) down; rm -rf "$dir"; say "removed $dir" ;;
  *) echo "usage: $0 up|down|status|reset" >&2; exit 2 ;;
esac
