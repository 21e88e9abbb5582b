# make test  — every test: unit tests (with the race detector), a short fuzz
#              run of the frame decoder and server, and the end-to-end tests
#              in integration/ against real devcontroller processes.
# make demo  — run a development controller on 127.0.0.1:17070.

BIN := $(CURDIR)/.bin
FUZZTIME ?= 10s
# GOTESTFLAGS adds flags to every go test run, e.g. GOTESTFLAGS=-v.
GOTESTFLAGS ?=

.PHONY: test unit fuzz integration build demo

build:
	go build -o $(BIN)/devcontroller ./cmd/devcontroller

unit:
	go test $(GOTESTFLAGS) -race -count=1 ./...

fuzz:
	go test $(GOTESTFLAGS) -run='^$$' -fuzz='^FuzzDecodeMessage$$' -fuzztime=$(FUZZTIME) ./jujuapi/
	go test $(GOTESTFLAGS) -run='^$$' -fuzz='^FuzzServe$$' -fuzztime=$(FUZZTIME) ./jujuapi/

integration: build
	cd integration && JIMM_DEVCONTROLLER_BIN=$(BIN)/devcontroller go test $(GOTESTFLAGS) -count=1 .

test: unit fuzz integration

demo: build
	$(BIN)/devcontroller --name dev --data-dir $(CURDIR)/.devcontroller --admin-password dev-password
