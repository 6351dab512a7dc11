# The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/ordermill?sslmode=disable
SERVICES := orders payments warehouse delivery
BINARIES := $(SERVICES) replay loadgen manager chaos history

.PHONY: run test build check unit help postgres postgres-stop clean assets chromium bench tools chaos fuzz

## run: start Postgres if needed, build and start all four services (Ctrl-C stops them)
run: postgres build
	./scripts/run.sh

## build: compile every command into bin/
build: assets
	@mkdir -p bin
	go build -o bin/ $(addprefix ./cmd/,$(BINARIES))

## test: static checks, then every test (unit, integration on the real Postgres) with -race
test: postgres assets chromium check tools
	go test -race -count=1 -timeout 30m ./...

## unit: the tests that need no database, browser or services (domain, sagas, ui, signatures), in seconds
unit:
	go test -short -count=1 ./domain/... ./sagas/... ./ui/... ./services/webhooksig/...

## help: list these targets
help:
	@awk '/^## /{sub(/^## /, ""); if (match($$0, /^[a-z-]+: /)) printf "\n  make %-13s %s", substr($$0, 1, RLENGTH-2), substr($$0, RLENGTH+1); else printf "\n  %-18s %s", "", $$0} END {print ""}' $(MAKEFILE_LIST)

## fuzz: run every fuzz target for FUZZTIME each (default 30s; `make fuzz FUZZTIME=10s`); new
## failing inputs land in the package's testdata/fuzz/<Target>/, where plain `go test` replays them.
## On a busy machine Go 1.26 may end a target with a bare "context deadline exceeded" at
## FUZZTIME and no input (go.dev/issue/75804): that is reported, not counted as a failure
FUZZTIME ?= 30s
FUZZ_TARGETS := \
	./domain/order:FuzzDecode \
	./domain/payment:FuzzMessages \
	./domain/shipping:FuzzMessages \
	./services/webhooksig:FuzzVerifyStripe \
	./services/webhooksig:FuzzVerifyCourier \
	./services/httpx:FuzzCountArrayAsTheDecodeDoes \
	./services/httpx:FuzzRepeatedNameAsTheTokensDid \
	./services/stripeevent:FuzzStripeEvent \
	./sagas:FuzzJobOf \
	./sagas:FuzzDecide \
	./services/orders:FuzzPlaceOrder \
	./services/orders:FuzzApprove \
	./services/orders:FuzzPaymentWebhook \
	./services/orders:FuzzDeliveryWebhook \
	./services/orders:FuzzReads \
	./services/orders:FuzzDashboard \
	./services/orders:FuzzSignIn \
	./services/payments:FuzzHTTP \
	./services/warehouse:FuzzHTTP \
	./services/delivery:FuzzHTTP
fuzz: postgres assets
	@set -o pipefail; failed=; raced=; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; name=$${t##*:}; corpus=$$pkg/testdata/fuzz/$$name; out=$$(mktemp); \
	  inputs=$$(ls $$corpus 2>/dev/null | wc -l); \
	  echo "== $$name in $$pkg for $(FUZZTIME)"; \
	  if ! go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg 2>&1 | tee $$out; then \
	    if [ "$$(ls $$corpus 2>/dev/null | wc -l)" = "$$inputs" ] && grep -qx '    context deadline exceeded' $$out; then \
	      raced="$$raced $$t"; else failed="$$failed $$t"; fi; \
	  fi; rm -f $$out; \
	done; \
	if [ -n "$$raced" ]; then echo "fuzz: cut off at FUZZTIME by Go's own race, no failing input (go.dev/issue/75804, fixed in Go 1.27):$$raced"; fi; \
	if [ -n "$$failed" ]; then echo "fuzz: failing targets:$$failed"; exit 1; fi

## tools: build the pinned programs the tests start: stripe-mock (go.mod) and Mailpit
## (tools/mailpit), into the go command's cache
tools:
	go tool -n stripe-mock >/dev/null
	go tool -C tools/mailpit -n mailpit >/dev/null

## bench: fresh system on its own database, load and correctness check (ARGS="-concurrency 64 -orders 3000")
bench: postgres build
	./scripts/bench.sh $(ARGS)

## check: formatting, generated templ code and OpenAPI client up to date, vet, staticcheck
check:
	go tool templ generate
	@git diff --exit-code --stat -- '*_templ.go' || { echo "templ generate changed generated files: commit them"; exit 1; }
	go generate ./services/ordersclient
	@git diff --exit-code --stat -- services/ordersclient || { echo "go generate changed the orders client (services/ordersclient): commit it"; exit 1; }
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	go vet ./...
	go tool staticcheck ./...

## assets: htmx and its SSE extension from the npm lock file, copied where the orders
## binary embeds them (ui/static/vendor, git-ignored: never committed by hand)
VENDOR := ui/static/vendor
assets: $(VENDOR)/htmx.min.js $(VENDOR)/sse.js

node_modules/.package-lock.json: package.json package-lock.json
	@command -v npm >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update && $$SUDO apt-get install -y npm; }
	npm ci --no-audit --no-fund

$(VENDOR)/htmx.min.js: node_modules/.package-lock.json
	@mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js $@

$(VENDOR)/sse.js: node_modules/.package-lock.json
	@mkdir -p $(VENDOR)
	cp node_modules/htmx-ext-sse/dist/sse.js $@

## chromium: the browser the dashboard's browser tests drive (Debian's package)
chromium:
	@command -v chromium >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update && $$SUDO apt-get install -y chromium; }

## postgres: make sure a Postgres answers at DATABASE_URL (starts .pg/ if needed)
postgres:
	./scripts/ensure-postgres.sh

## postgres-stop: stop the project-local cluster in .pg/ that `make run` or `make test` started
postgres-stop:
	./scripts/ensure-postgres.sh stop

## clean: remove the built binaries and test artifacts
clean:
	rm -rf bin artifacts

## chaos: crash test (not part of test): 1,000 orders through the four services while they are
## killed with SIGKILL and PostgreSQL is restarted twice, then every order, stock level and
## effect checked (docs/RELIABILITY.md; ARGS="-replicas 2" runs two of each service).
## Restarts the project-local cluster .pg/data, so DATABASE_URL must be served by it.
CHAOS_PG_DATA ?= $(CURDIR)/.pg/data
chaos: postgres build
	bin/chaos -pg-data $(CHAOS_PG_DATA) $(ARGS)
