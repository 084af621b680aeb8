# Parley: build, test, benchmark and run a local network.
GO       ?= go
BIN      := $(CURDIR)/bin
PKGS     := ./...

.PHONY: demo drill tools all build test test-short race fuzz bench lint fmt clean up down status reset

all: build

# bin/parley is the command line's front-end (built with the front tag: it
# links no chain or client package and starts in a few milliseconds); it
# serves a command on a running agent, and hands every other command to
# bin/parley-core, the full build, beside it (docs/cli.md, "Two binaries").
build:
	$(GO) build -o $(BIN)/ ./cmd/...
	$(GO) build -o $(BIN)/parley-core ./cmd/parley
	$(GO) build -tags front -o $(BIN)/parley ./cmd/parley

# Test dependencies from the Go module proxy: versitygw, the real S3
# server the S3 driver's conformance suite and the multi-instance hub tests
# run against, at an exact version (v1.8.0 enforces conditional writes,
# which instances sharing a bucket rely on; v1.0.14 ignored them), put in
# place again when another version is installed. The NATS server those
# tests need is embedded in them (github.com/nats-io/nats-server/v2 in
# go.mod), so it needs no install.
VERSITYGW_VERSION := v1.8.0
VERSITYGW := $(shell $(GO) env GOPATH)/bin/versitygw
# staticcheck, which make lint runs, at an exact version (v0.8.2 knows Go
# 1.26), installed again when another version is there.
STATICCHECK_VERSION := v0.8.2
STATICCHECK ?= $(shell $(GO) env GOPATH)/bin/staticcheck
tools:
	@$(GO) version -m $(VERSITYGW) 2>/dev/null | grep -q 'mod[[:space:]]*github.com/versity/versitygw[[:space:]]*$(VERSITYGW_VERSION)[[:space:]]' || \
		$(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)
	@$(GO) version -m $(STATICCHECK) 2>/dev/null | grep -q 'mod[[:space:]]*honnef.co/go/tools[[:space:]]*$(STATICCHECK_VERSION)[[:space:]]' || \
		$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# The full test suite: gofmt, vet and staticcheck, unit, integration (real
# CometBFT nodes and processes on 127.0.0.1), the race detector over the
# concurrent packages, and short fuzz runs. CI runs exactly this.
# -parallel 4: the only parallel tests are cmd/parley's names that lapse,
# which spend their minutes waiting for the chain's clock, side by side.
test: build tools lint
	$(GO) test -count=1 -parallel 4 -timeout 20m $(PKGS)
	$(MAKE) race
	$(MAKE) fuzz

# The race detector over the packages whose goroutines share state: the
# chain application (commits, queries, snapshots), the hub server and its
# drivers, the client's parts, the agent and parley's commands (watch and
# chat beside other commands). -short leaves out the few whole-world tests
# too slow under the detector (fifty clients), and RACE_SKIP the tests
# whose time goes in waiting for the chain's clock (names that lapse:
# 2,000 blocks each) or for a browser: the run above has them all.
RACE_PKGS := ./chain/app ./hub/server ./hub/driver/... ./hub/natslog ./client/... ./cmd/parley ./internal/agent ./internal/api
RACE_SKIP := ^(TestNameTakenOverAfterExpiry|TestGroupMemberTakenOver|TestContactsNameLapses|TestWeb.*)$$
race:
	$(GO) test -race -short -count=1 -timeout 20m -skip '$(RACE_SKIP)' $(RACE_PKGS)

# The fault drills, verbosely: the demo's network with a validator, a hub
# and then everything killed or restarted; four validators under load
# killed, paused, losing one and two, wiped and rejoining by state sync;
# hub outages with one and two hubs; a crash mid-send; a malicious hub.
# (All of them also run in 'make test'.)
# Each drill says what it kills and restarts as it does it ("drill:" lines).
drill: build
	@echo "== the demo's network: a validator, a hub, then everything killed and restarted; a parley killed mid-send"
	$(GO) test -count=1 -v -run 'TestDemoAndDrills' ./internal/systemtest
	@echo "== four validators under a registration load: one killed and restarted, one paused and resumed, two down, one wiped and rejoined by state sync; a new node joining by state sync"
	$(GO) test -count=1 -v -run 'TestFourValidators|TestStateSyncJoin' ./cmd/bnsd
	@echo "== hub outages with one and two hubs, a crash mid-send, a malicious hub"
	$(GO) test -count=1 -v -run 'TestHubOutage|TestRestartAndCrashMidSend|TestTwoHubs|TestMaliciousHub' ./client

test-short:
	$(GO) test -count=1 -short $(PKGS)

# Short fuzz runs of every fuzz target (go test -fuzz takes one target at a
# time). The budgets are execution counts, not durations: a duration races
# the fuzz coordinator's deadline in Go 1.26 and can fail with "context
# deadline exceeded" and no failing input (golang/go#75804). FUZZX scales
# them all: 'make fuzz FUZZX=10' fuzzes ten times longer.
FUZZX ?= 1
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeTx$$' -fuzztime $$((50000 * $(FUZZX)))x ./chain/bns
	$(GO) test -run '^$$' -fuzz '^FuzzUnmarshalRecord$$' -fuzztime $$((50000 * $(FUZZX)))x ./chain/bns
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $$((50000 * $(FUZZX)))x ./hub/auth
	$(GO) test -run '^$$' -fuzz '^FuzzValidatePath$$' -fuzztime $$((5000 * $(FUZZX)))x ./hub
	$(GO) test -run '^$$' -fuzz '^FuzzParseInboxStamp$$' -fuzztime $$((20000 * $(FUZZX)))x ./hub
	$(GO) test -run '^$$' -fuzz '^FuzzParseEvent$$' -fuzztime $$((80000 * $(FUZZX)))x ./client/wire
	$(GO) test -run '^$$' -fuzz '^FuzzParseIndex$$' -fuzztime $$((50000 * $(FUZZX)))x ./client/wire
	$(GO) test -run '^$$' -fuzz '^FuzzParseIntro$$' -fuzztime $$((50000 * $(FUZZX)))x ./client/wire
	$(GO) test -run '^$$' -fuzz '^FuzzParseBackup$$' -fuzztime $$((50000 * $(FUZZX)))x ./client/wire
	$(GO) test -run '^$$' -fuzz '^FuzzOpenChunk$$' -fuzztime $$((50000 * $(FUZZX)))x ./client/wire
	$(GO) test -run '^$$' -fuzz '^FuzzOpenWithin$$' -fuzztime $$((5000 * $(FUZZX)))x ./client/keystore
	$(GO) test -run '^$$' -fuzz '^FuzzParseHeader$$' -fuzztime $$((50000 * $(FUZZX)))x ./client/ratchet
	$(GO) test -run '^$$' -fuzz '^FuzzUnmarshalState$$' -fuzztime $$((20000 * $(FUZZX)))x ./client/ratchet
	$(GO) test -run '^$$' -fuzz '^FuzzLine$$' -fuzztime $$((50000 * $(FUZZX)))x ./internal/screen
	$(GO) test -run '^$$' -fuzz '^FuzzCheckAvatar$$' -fuzztime $$((20000 * $(FUZZX)))x ./client/wire
	$(GO) test -run '^$$' -fuzz '^FuzzEntropyOf$$' -fuzztime $$((20000 * $(FUZZX)))x ./internal/bip39
	$(GO) test -run '^$$' -fuzz '^FuzzParseOffer$$' -fuzztime $$((20000 * $(FUZZX)))x ./client/wire

# Benchmarks; their figures and the commands that made them are in docs/benchmarks.md.
bench: build tools
	$(GO) test -run '^$$' -bench 'RegisterBlock' -benchtime 10000x ./chain/app/
	$(GO) test -run '^$$' -bench 'StateGrowth' -benchtime 1x ./chain/app/
	$(GO) test -run '^$$' -bench 'MessageCrypto|Primitives' -benchtime 3000x ./client/wire/
	$(GO) test -run '^$$' -bench 'EndToEnd|Send$$' -benchtime 1000x ./client/
	$(GO) test -run '^$$' -bench 'SaveHistory' -benchtime 200x ./client/
	$(GO) test -run '^$$' -bench 'DeviceFanout' -benchtime 300x ./client/hubclient/
	$(GO) test -run '^$$' -bench 'SendToDevices' -benchtime 100x ./client/
	$(GO) test -run '^$$' -bench 'FollowThousand' -benchtime 200x -timeout 30m ./client/
	$(GO) test -run '^$$' -bench 'AgentCommands' -benchtime 30x ./cmd/parley/
	$(GO) test -run '^$$' -bench 'AgentIdleThousand' -benchtime 1x -timeout 30m ./cmd/parley/
	$(GO) test -run '^$$' -bench 'Growth' -benchtime 1x ./hub/driver/disk/
	$(GO) test -run '^$$' -bench 'WebConversationPage|WebMessage' -benchtime 30x ./cmd/parley
	$(GO) run ./scripts/hubbench -c 32 -duration 10s
	$(GO) run ./scripts/hubbench -multi -c 32 -duration 10s -lat 500
	$(GO) run ./scripts/chainbench -txs 15000 -duration 10s

# gofmt walks the tree itself: no git needed (outside a checkout, 'git
# ls-files' failed and gofmt read the terminal), and stdin is never read.
lint: tools
	@out=$$(gofmt -l . </dev/null) || exit 1; if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)
	$(STATICCHECK) -tags front -tests=false ./cmd/parley

fmt:
	gofmt -w . </dev/null

clean:
	rm -rf $(BIN)

# The whole system on 127.0.0.1: bring it up, let alice and bob meet and talk.
demo: build
	./scripts/demo.sh

# A local network on 127.0.0.1: a 4-validator name chain and two hubs.
up: build
	./scripts/localnet.sh up

down:
	./scripts/localnet.sh down

status:
	./scripts/localnet.sh status

reset:
	./scripts/localnet.sh reset
