# The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/ordermill?sslmode=disable
SERVICES := orders payments warehouse delivery
BINARIES := $(SERVICES) replay

.PHONY: run test build check unit postgres clean

## run: start Postgres if needed, build and start all four services (Ctrl-C stops them)
run: postgres build
	./scripts/run.sh

## build: compile every command into bin/
build:
	@mkdir -p bin
	go build -o bin/ $(addprefix ./cmd/,$(BINARIES))

## test: static checks, then every test (unit, integration on the real Postgres) with -race
test: postgres check
	go test -race -count=1 -timeout 30m ./...

## check: formatting, vet, staticcheck
check:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	go vet ./...
	go tool staticcheck ./...

## postgres: make sure a Postgres answers at DATABASE_URL (starts .pg/ if needed)
postgres:
	./scripts/ensure-postgres.sh

clean:
	rm -rf bin artifacts
