# The commands the README gives. Integration tests need Docker and nginx
# (apt-get install -y nginx-light); without them they skip locally and fail
# in CI (CI=true).

GO ?= go
# The lint gate's version, pinned: `make lint` builds exactly this one.
GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT ?= $(shell $(GO) env GOPATH)/bin/golangci-lint

.PHONY: test lint demo build bench fuzz topology-up topology-down

## test: the lint gate, then every test, with the race detector, against the real engine and nginx
test: lint
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 25m ./...

## lint: golangci-lint (pinned above; installed on first use) with .golangci.yml
lint:
	@$(GOLANGCI_LINT) version 2>/dev/null | grep -q "version $(GOLANGCI_LINT_VERSION:v%=%) " || \
		$(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	$(GOLANGCI_LINT) run ./...

## demo: the seed's rolling update, live, on this machine (Docker + nginx)
demo:
	$(GO) run ./cmd/nonstop-demo

## build: the plan binary in ./bin
build:
	$(GO) build -o bin/plan ./cmd/plan

## bench: parsing and graph benchmarks
bench:
	$(GO) test -run=NONE -bench=. -benchmem ./dsl/...

## topology-up: the seed's topology left running for the tutorial (docs/tutorial.md)
topology-up:
	$(GO) run ./cmd/nonstop-topology up

## topology-down: remove what topology-up started
topology-down:
	$(GO) run ./cmd/nonstop-topology down
