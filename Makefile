# mulegate — make test installs what it needs (redis-server) when run as
# root, and otherwise says exactly what to install.
GO ?= go

.PHONY: test deps size-check tidy-check lint vet fmt-check race rules openapi-lint grafana kubernetes browser screenshots build bench fuzz load clean

test: deps size-check tidy-check fmt-check vet lint rules openapi-lint grafana kubernetes browser race

deps:
	@if ! command -v redis-server >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make: installing redis-server (Debian package)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else \
	    echo "make: redis-server is missing. Install it, e.g. 'sudo apt-get install -y redis-server' (Debian/Ubuntu) or 'brew install redis' (macOS), then run 'make test' again." >&2; \
	    exit 1; \
	  fi; \
	fi
	@redis-server --version

# The Prometheus alert rules and their unit tests (Debian's prometheus
# package ships promtool; installed like redis-server when root).
rules:
	@if ! command -v promtool >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make: installing promtool (Debian package prometheus)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	  fi; \
	fi
	@if command -v promtool >/dev/null 2>&1; then \
	  promtool check rules deploy/prometheus/mulegate.rules.yaml && \
	  (cd deploy/prometheus && promtool test rules mulegate.rules.test.yaml); \
	else \
	  echo "make: SKIPPING the alert rule tests: promtool is missing (not root, so not installed). Install it with 'sudo apt-get install -y prometheus' (Debian/Ubuntu) and run 'make test' again." >&2; \
	fi

# Chromium for the console's browser tests (Debian's chromium, driven
# headless by chromedp; installed like promtool when root). Without it
# those tests skip, saying so.
browser:
	@if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 && ! command -v google-chrome >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make: installing chromium (Debian package) for the console's browser tests"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	  else \
	    echo "make: the console's browser tests will be SKIPPED: Chromium is missing (not root, so not installed). Install it with 'sudo apt-get install -y chromium' (Debian/Ubuntu) and run 'make test' again." >&2; \
	  fi; \
	fi

# The README's console screenshots, taken by the browser test.
screenshots:
	MULEGATE_SCREENSHOTS=$(CURDIR)/docs/console MULEGATE_TEST_TOPOLOGY=single $(GO) test -count=1 -run TestConsoleInBrowser ./cmd/mulegate

# The OpenAPI contract, linted with Redocly's CLI (pinned) when node is
# there: recommended rules, every example checked against its schema.
REDOCLY = @redocly/cli@1.34.3
openapi-lint:
	@if command -v npx >/dev/null 2>&1; then \
	  (cd api && npx --yes $(REDOCLY) lint openapi.yaml --config redocly.yaml); \
	else \
	  echo "make: SKIPPING the OpenAPI lint: node/npx is missing (install nodejs and npm to run it)." >&2; \
	fi

# No tracked file over 1 MB: binaries and data dumps stay out of git.
size-check:
	@big=$$(git ls-files -z 2>/dev/null | xargs -0 -r stat -c '%s %n' 2>/dev/null | awk '$$1 > 1048576 {print $$2 " (" $$1 " bytes)"}'); \
	if [ -n "$$big" ]; then echo "tracked files over 1 MB (remove them from git): $$big" >&2; exit 1; fi

# go.mod and go.sum must be exactly what the code needs.
tidy-check:
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run 'go mod tidy'" >&2; exit 1; }

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:" $$out >&2; exit 1; fi

vet:
	$(GO) vet ./...

# golangci-lint, pinned (built from the module proxy the first time, then
# cached): errcheck, errorlint, staticcheck (deprecations included),
# gocritic's diagnostics, unused, ineffassign; see .golangci.yml.
GOLANGCI = github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
lint:
	$(GO) run $(GOLANGCI) run ./...

# The Grafana dashboard is a module of its own (the product's go.mod does
# not carry the Grafana SDK): tidy, vetted, and mulegate.json checked
# against its builder.
grafana:
	cd deploy/grafana && $(GO) mod tidy -diff && $(GO) vet ./... && $(GO) test -count=1 ./...

# The Kubernetes base, a module of its own too (k8s.io/api stays out of
# the product's go.mod): every object decoded strictly into the API
# types and checked (deploy/kubernetes/base_test.go); the ConfigMap's
# configuration is loaded as each pod sees it by internal/config's tests.
kubernetes:
	cd deploy/kubernetes && $(GO) mod tidy -diff && $(GO) vet ./... && $(GO) test -count=1 ./...

# The integration suite runs twice: on a single redis-server and on a
# 3-master Redis Cluster that the tests start themselves.
REDIS_PKGS = ./cmd/... ./internal/store ./internal/forward ./internal/redistest

race:
	MULEGATE_TEST_TOPOLOGY=single $(GO) test -race -count=1 -timeout 15m ./...
	MULEGATE_TEST_TOPOLOGY=cluster $(GO) test -race -count=1 -timeout 25m $(REDIS_PKGS)

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/mulegate ./cmd/mulegate

bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./...

# Short fuzzing runs of every fuzz target (seed corpora live in testdata/).
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./internal/iban
	$(GO) test -run '^$$' -fuzz FuzzDecodeReport -fuzztime 30s ./internal/httpapi
	$(GO) test -run '^$$' -fuzz FuzzDecodeBatch -fuzztime 30s ./internal/httpapi
	$(GO) test -run '^$$' -fuzz FuzzBatchFastPath -fuzztime 30s ./internal/httpapi
	$(GO) test -run '^$$' -fuzz FuzzDecodePart3 -fuzztime 30s ./internal/httpapi
	$(GO) test -run '^$$' -fuzz FuzzAmountsSum -fuzztime 30s ./internal/domain
	$(GO) test -run '^$$' -fuzz '^FuzzPrefer$$' -fuzztime 30s ./internal/httpapi
	$(GO) test -run '^$$' -fuzz '^FuzzCheckpoints$$' -fuzztime 30s ./internal/evidence
	$(GO) test -run '^$$' -fuzz '^FuzzCompactJSON$$' -fuzztime 30s ./internal/store
	$(GO) test -run '^$$' -fuzz '^FuzzUnb36$$' -fuzztime 30s ./internal/store
	$(GO) test -run '^$$' -fuzz '^FuzzValidCursor$$' -fuzztime 30s ./internal/store
	$(GO) test -run '^$$' -fuzz '^FuzzAppendString$$' -fuzztime 30s ./internal/jsonw
	$(GO) test -run '^$$' -fuzz '^FuzzGateNeverAllowsMoreThanShared$$' -fuzztime 30s ./internal/localrate
	$(GO) test -run '^$$' -fuzz '^FuzzCheckFieldsMatchesTokenWalk$$' -fuzztime 30s ./internal/strictjson

clean:
	rm -rf bin .mulegate-dev
