# The commands the README gives. Integration tests need Docker and nginx
# (apt-get install -y nginx-light); without them they skip locally and fail
# in CI (CI=true).

GO ?= go

.PHONY: test demo build bench fuzz

## test: every test, with the race detector, against the real engine and nginx
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 25m ./...

## demo: the seed's rolling update, live, on this machine (Docker + nginx)
demo:
	$(GO) run ./cmd/nonstop-demo

## build: the plan binary in ./bin
build:
	$(GO) build -o bin/plan ./cmd/plan

## bench: parsing and graph benchmarks
bench:
	$(GO) test -run=NONE -bench=. -benchmem ./dsl/...
