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
# alive PIDFILE: the process the file names runs (and is one of ours: a
# pid reused by another program does not count).
alive() {
  [ -f "$1" ] || return 1
  local p
  p=$(cat "$1")
  kill -0 "$p" 2>/dev/null || return 1
  case "$(ps -o comm= -p "$p" 2>/dev/null)" in bnsd* | hubd*) return 0 ;; *) return 1 ;; esac
}

rpc() { echo "http://127.0.0.1:$((base_port + 10 * $1 + 1))"; }

height() {
  { curl -s --max-time 2 "$(rpc "$1")/status" 2>/dev/null || true; } |
    sed -n 's/.*"latest_block_height":"\([0-9]*\)".*/\1/p'
}

# The processes: node0..node3 and hub0, hub1. For each: its pid file, its
# ports, whether it answers, and how it starts.
procs() {
  for i in $(seq 0 $((validators - 1))); do echo "node$i"; done
  echo hub0 hub1
}
pidfile() { case "$1" in node*) echo "$dir/chain/$1.pid" ;; hub*) echo "$dir/$1.pid" ;; esac; }
ports() {
  local i="${1#node}"
  case "$1" in node*) echo $((base_port + 10 * i)) $((base_port + 10 * i + 1)) ;; hub*) echo $((hub_port + ${1#hub})) ;; esac
}
answers() { case "$1" in node*) [ -n "$(height "${1#node}")" ] ;; hub*) hub_up "${1#hub}" ;; esac; }
start() {
  local pf
  pf=$(pidfile "$1")
  case "$1" in
  node*)
    nohup "$bin/bnsd" start --home "$dir/chain/$1" --log-level '*:error' >>"$dir/chain/$1.log" 2>&1 &
    ;;
  hub*)
    local port
    port=$(ports "$1")
    mkdir -p "$dir/$1"
    nohup "$bin/hubd" --data "$dir/$1/data" --listen "127.0.0.1:$port" --public-url "http://127.0.0.1:$port" \
      --server-name "local-$1" >>"$dir/$1.log" 2>&1 &
    ;;
  esac
  echo $! >"$pf"
}

# up starts what does not run, and waits until everything answers. A
# process that runs but does not answer may be starting or stopping (a
# hub killed and shutting down still runs for a while): it is waited
# for, and once it has exited, started again, never skipped.
up() {
  [ -x "$bin/bnsd" ] || die "bin/bnsd missing: run 'make build' first"
  mkdir -p "$dir"
  if [ ! -d "$dir/chain/node0" ]; then
    for i in $(seq 0 $((validators - 1))); do
      for p in $(ports "node$i"); do
        port_free "$p" || die "port $p on 127.0.0.1 is taken; free it or set BASE_PORT"
      done
    done
    "$bin/bnsd" testnet --validators "$validators" --output "$dir/chain" --base-port "$base_port" \
      --chain-id parley-local --block-time 500ms >/dev/null
    say "created a $validators-validator chain in $dir/chain"
  fi
  local started='' waiting='' answered='' settled name pf p
  for _ in $(seq 1 240); do
    for name in $(procs); do
      pf=$(pidfile "$name")
      if alive "$pf"; then
        case " $started $waiting " in *" $name "*) continue ;; esac
        if ! answers "$name"; then
          say "$name (pid $(cat "$pf")) runs but does not answer: waiting for it to answer, or to exit and be started again"
          waiting="$waiting $name"
        fi
        continue
      fi
      case " $started " in
      *" $name "*) die "$name exited right after starting; see $(case "$name" in node*) echo "$dir/chain/$name.log" ;; *) echo "$dir/$name.log" ;; esac)" ;;
      esac
      for p in $(ports "$name"); do
        port_free "$p" || die "port $p on 127.0.0.1 is taken by another program, yet $name does not run; free it or set $(case "$name" in node*) echo BASE_PORT ;; *) echo HUB_PORT ;; esac)"
      done
      case " $waiting " in
      *" $name "*) start "$name"; say "$name exited: started it again (pid $(cat "$pf"))" ;;
      *) start "$name"; say "started $name (pid $(cat "$pf"))" ;;
      esac
      waiting="${waiting/ $name/}"
      started="$started $name"
    done
    # A process waited for counts as up only once it has answered on two
    # passes in a row: one told to stop may answer once more (a request
    # the kernel queued while it was frozen) before it closes its port.
    settled=1
    for name in $waiting; do
      if alive "$(pidfile "$name")" && answers "$name"; then
        case " $answered " in
        *" $name "*) waiting="${waiting/ $name/}" ;;
        *) answered="$answered $name"; settled='' ;;
        esac
      else
        answered="${answered/ $name/}"
        settled=''
      fi
    done
    h=$(height 0)
    if [ -n "$settled" ] && [ -n "$h" ] && [ "$h" -ge 2 ] && caught_up && hub_up 0 && hub_up 1; then
      say "chain parley-local is up at height $h; hubs on ports $hub_port and $((hub_port + 1))"
      status
      return 0
    fi
    sleep 0.5
  done
  for name in $waiting; do
    say "$name (pid $(cat "$(pidfile "$name")")) neither answers nor exits: 'make down' stops it (or kill it)"
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
  local any=0 pf name
  for name in $(procs); do
    pf=$(pidfile "$name")
    if alive "$pf"; then
      say "stopping $name (pid $(cat "$pf"))"
      kill "$(cat "$pf")" 2>/dev/null || true
      any=1
    fi
  done
  for name in $(procs); do
    pf=$(pidfile "$name")
    [ -f "$pf" ] || continue
    for _ in $(seq 1 100); do alive "$pf" || break; sleep 0.1; done
    if alive "$pf"; then
      say "$name (pid $(cat "$pf")) has not stopped after 10 s; 'up' waits for it to exit"
    else
      rm -f "$pf"
    fi
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
