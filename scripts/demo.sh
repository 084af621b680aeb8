#!/usr/bin/env bash
# demo.sh: bring the local network up and let alice and bob meet and talk,
# explaining each step. The network stays up; 'make down' stops it.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${LOCALNET:-$root/.localnet}"
bin="${BIN:-$root/bin}"
base="${BASE_PORT:-26600}"
node="http://127.0.0.1:$((base + 1))"
# The other three validators are witnesses: the light client cross-checks
# headers with them, and takes one as its node if the first stops.
witnesses=(--witness "http://127.0.0.1:$((base + 11))" --witness "http://127.0.0.1:$((base + 21))" --witness "http://127.0.0.1:$((base + 31))")
hub0="http://127.0.0.1:${HUB_PORT:-4100}"
hub1="http://127.0.0.1:$(( ${HUB_PORT:-4100} + 1 ))"
export PARLEY_PASSPHRASE="${PARLEY_PASSPHRASE:-demo only: not a real passphrase}"

# Bold step titles on a terminal only (and not with NO_COLOR): a log or a
# pipe gets plain text.
bold='' plain=''
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' plain=$'\033[0m'; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
say() { printf '   %s\n' "$*"; }
parley() { "$bin/parley" --home "$dir/demo/$1" "${@:2}"; }

"$root/scripts/localnet.sh" up
mkdir -p "$dir/demo"

for who in alice bob; do
  hub=$hub0; [ "$who" = bob ] && hub=$hub1
  if [ ! -f "$dir/demo/$who/keystore" ]; then
    step "$who makes a key pair set on their own device"
    parley "$who" init --node "$node" "${witnesses[@]}" | sed 's/^/   /'
    say "Keys never leave $dir/demo/$who; the keystore is encrypted under a passphrase (Argon2id + XChaCha20-Poly1305)."
  fi
  if ! grep -q "\"name\": \"$who\"" "$dir/demo/$who/config.json" 2>/dev/null; then
    step "$who registers the name '$who' on the chain"
    say "First a preorder (a salted hash, so nobody can see and steal the name), then, once the preorder is a few blocks old, the reveal with a proof-of-work stamp."
    parley "$who" register "$who" --hub "$hub" | sed 's/^/   /'
    say "The record binds '$who' to public keys and the hub $hub. Nothing else about $who is on the chain."
  fi
done

step "alice looks bob up"
say "The answer comes with a Merkle proof checked against a block header that 2/3 of the validators signed,"
say "verified by CometBFT's light client: alice does not have to trust the node she asks."
for _ in $(seq 1 40); do parley alice whois bob >/dev/null 2>&1 && break; sleep 0.25; done
parley alice whois bob | sed 's/^/   /'

# What was done already is read first, and a parley that fails stops the
# demo: inside the test ("if ! parley ... | grep ...") its failure would be
# taken for "not done yet" and the step done twice. grep reads a string,
# not parley's pipe: with pipefail, grep -q exiting at the first match
# could kill the writer with SIGPIPE.
contacts="$(parley alice contacts)"
if ! grep -qE '^bob([[:space:]]|$)' <<<"$contacts"; then
  step "alice asks bob to become a contact"
  say "A fresh mutual key, sealed to bob's post-quantum hybrid key (HPKE, ML-KEM-768 + X25519) and signed by alice's"
  say "key on the chain, drops into bob's hub inbox. The hub learns only that someone wrote to bob."
  parley alice contacts add bob --message "Hi Bob! It's Alice, on Parley." | sed 's/^/   /'

  step "bob finds the request and accepts"
  parley bob requests | sed 's/^/   /'
  parley bob contacts accept alice | sed 's/^/   /'
fi

history="$(parley bob read alice)"
if ! grep -q "See you there" <<<"$history"; then
  step "they talk"
  say "Each message is encrypted with the Double Ratchet (a new key per message), padded to a fixed size,"
  say "and written to the SENDER's own hub under a path only the two of them can compute."
  parley bob send alice "Hi Alice! Got your request. Lunch tomorrow?"
  parley alice send bob "Yes! Noon at the usual place."
  parley bob send alice "See you there."
  parley alice react bob bob/2 "👍"
  say "alice reacted 👍 to bob's last message: reactions, replies, edits and deletes are events in the same encrypted log."
fi
step "bob reads his conversation with alice"
parley bob read alice | sed 's/^/   /'
step "alice reads her conversation with bob"
parley alice read bob | sed 's/^/   /'

step "where the ciphertext lives"
for i in 0 1; do
  owner=alice; [ $i = 1 ] && owner=bob
  say "hub$i (${owner}'s hub), what its operator sees:"
  find "$dir/hub$i/data" -path '*/m/*' -name '*.o' -printf '     %P  (%s bytes on disk: a 1 KiB blob and the hub metadata)\n' 2>/dev/null | sed -n 1,5p
done
if grep -rqs "Lunch tomorrow" "$dir/hub0/data" "$dir/hub1/data"; then
  say "!! plaintext found on a hub"; exit 1
fi
say "Random-looking paths, a few fixed sizes, no names, no plaintext (checked: 'Lunch tomorrow' is on neither hub)."

step "your turn"
say "The network is still running ('make status'). Open alice's and bob's web apps side by side:"
say "  bin/parley --home $dir/demo/alice web      # prints 'open http://127.0.0.1:PORT/login?token=...': open it"
say "  bin/parley --home $dir/demo/bob web        # in another terminal: bob's, on another port"
say "  (each page asks for the passphrase: $PARLEY_PASSPHRASE)"
say "Or chat from the terminal:"
say "  export PARLEY_PASSPHRASE='$PARLEY_PASSPHRASE'"
say "  bin/parley --home $dir/demo/bob chat alice      # terminal UI, messages arrive live"
say "  bin/parley --home $dir/demo/alice send bob 'hello again'"
say "  bin/parley --home $dir/demo/bob read alice"
say "  bin/parley --home $dir/demo/alice status       # the chain, her keys, her hub, what waits"
say "Stop everything with 'make down'; 'make reset' also deletes the data."
