# make test  — every test: unit tests (with the race detector), a short fuzz
#              run of the frame decoder and server, and the end-to-end tests
#              in integration/, which run the jimmd and devcontroller of
#              make build (without the race detector). First, as .ci/run
#              does, it provides what the tests need and the caller has not
#              set, and prints one line saying so (.ci/env.sh): PostgreSQL
#              (JIMM_TEST_DSN, else the machine's server on 127.0.0.1:5432,
#              else a throwaway cluster: .ci/postgres.sh) and the tools of
#              .ci/tools.sh (built once, cached in ~/.cache/jimm-tools). What
#              it cannot provide stops it, saying how to provide it, so it
#              skips nothing CI runs.
# make unit, make integration — that part of make test, providing what it
#              needs the same way; make fuzz needs nothing.
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

# TEST_ENV provides what the tests need (bash .ci/env.sh; $(1): postgres,
# tools) and prints one line saying where it comes from; make test does it
# once for all its parts (TEST_ENV_READY).
TEST_ENV = $(if $(TEST_ENV_READY),,env=$$(bash .ci/env.sh "make $@" $(1)) && eval "$$env" || exit 1;)

unit:
	$(call TEST_ENV,postgres) go test $(GOTESTFLAGS) -race -count=1 ./...

fuzz:
	go test $(GOTESTFLAGS) -run='^$$' -fuzz='^FuzzDecodeMessage$$' -fuzztime=$(FUZZ_DECODE_EXECS)x ./jujuapi/
	go test $(GOTESTFLAGS) -run='^$$' -fuzz='^FuzzServe$$' -fuzztime=$(FUZZ_SERVE_EXECS)x ./jujuapi/

# The OIDC providers (dex, the zitadel example server), the stock juju CLI,
# the dashboard's client library (jujulib, a Node package) and helm come
# from JIMM_DEX_BIN, JIMM_OIDC_EXAMPLE_BIN, JIMM_JUJU_BIN, JIMM_JUJULIB_DIR
# and JIMM_HELM_BIN, else .ci/tools.sh builds (and caches) them; the juju CLI's first build
# takes about 15 minutes. TEST_ENV does that (and fails if it cannot).
integration: build
	$(call TEST_ENV,postgres tools) \
	cd integration && JIMM_DEVCONTROLLER_BIN=$(BIN)/devcontroller JIMM_JIMMD_BIN=$(BIN)/jimmd JIMM_JIMMCTL_BIN=$(BIN)/jimmctl \
		go test $(GOTESTFLAGS) -timeout 30m -count=1 . ./internal/...

# A recipe line that starts a sub-make runs even under make -n; there the
# environment step is only shown, so that make -n test starts no PostgreSQL
# and builds no tools.
DRY_RUN = $(findstring n,$(firstword -$(MAKEFLAGS)))

test:
	$(if $(DRY_RUN),: '$(call TEST_ENV,postgres tools)';,$(call TEST_ENV,postgres tools)) \
	$(MAKE) --no-print-directory unit fuzz integration TEST_ENV_READY=1

demo:
	go run ./cmd/jimmd demo
