# make test  — every test: unit tests (with the race detector), a short fuzz
#              run of the frame decoder and server, and the end-to-end tests
#              in integration/ against real devcontroller processes.
#              The broker's end-to-end tests need PostgreSQL: JIMM_TEST_DSN
#              (bash .ci/postgres.sh prints one); without it they are skipped.
# make demo  — run the demo: broker, embedded database, three development
#              controllers (go run ./cmd/jimmd demo).

BIN := $(CURDIR)/.bin
# Fuzz budgets are execution counts (about 10 s each on 2 cores), not
# durations: Go 1.26's fuzz coordinator can fail a target with "context
# deadline exceeded" at the end of a -fuzztime duration when the machine is
# busy (golang/go#75804, fixed in Go 1.27); a count has no deadline to race.
FUZZ_DECODE_EXECS ?= 150000
FUZZ_SERVE_EXECS ?= 6000
# GOTESTFLAGS adds flags to every go test run, e.g. GOTESTFLAGS=-v.
GOTESTFLAGS ?=

.PHONY: test unit fuzz integration build demo

build:
	go build -o $(BIN)/devcontroller ./cmd/devcontroller
	go build -o $(BIN)/jimmd ./cmd/jimmd
	go build -o $(BIN)/jimmctl ./cmd/jimmctl

unit:
	go test $(GOTESTFLAGS) -race -count=1 ./...

fuzz:
	go test $(GOTESTFLAGS) -run='^$$' -fuzz='^FuzzDecodeMessage$$' -fuzztime=$(FUZZ_DECODE_EXECS)x ./jujuapi/
	go test $(GOTESTFLAGS) -run='^$$' -fuzz='^FuzzServe$$' -fuzztime=$(FUZZ_SERVE_EXECS)x ./jujuapi/

# The OIDC providers (dex, the zitadel example server), the stock juju CLI
# and the dashboard's client library (jujulib, a Node package) come from
# JIMM_DEX_BIN, JIMM_OIDC_EXAMPLE_BIN, JIMM_JUJU_BIN and JIMM_JUJULIB_DIR,
# else .ci/tools.sh builds (and caches) them; the juju CLI's first build
# takes about 15 minutes.
integration: build
	if [ -z "$$JIMM_DEX_BIN" ] || [ -z "$$JIMM_OIDC_EXAMPLE_BIN" ] || [ -z "$$JIMM_JUJU_BIN" ] || [ -z "$$JIMM_JUJULIB_DIR" ]; then eval "$$(bash .ci/tools.sh)"; export JIMM_DEX_BIN JIMM_OIDC_EXAMPLE_BIN JIMM_JUJU_BIN JIMM_JUJULIB_DIR; fi; \
	cd integration && JIMM_DEVCONTROLLER_BIN=$(BIN)/devcontroller JIMM_JIMMD_BIN=$(BIN)/jimmd JIMM_JIMMCTL_BIN=$(BIN)/jimmctl \
		go test $(GOTESTFLAGS) -timeout 30m -count=1 . ./internal/...

test: unit fuzz integration

demo:
	go run ./cmd/jimmd demo
