# irflow — `make run` starts everything locally, `make test` runs every test
# against real parts, `make bench` prints measured figures as JSON.
# Every tool is installed on first use, into bin/ (Temporal CLI), ~/.m2 and
# internal/opensearch/launcher/target (OpenSearch), .venv (Python tools),
# Debian's chromium package (the console's browser test).

SHELL            := /bin/bash
GO               ?= go
TEMPORAL_VERSION := v1.5.1
BIN              := $(CURDIR)/bin
GO_SOURCES       := $(shell find . -name '*.go' -not -path './.venv/*' -not -path './bin/*' -not -path '*/target/*')
export IRFLOW_TEMPORAL_BIN := $(BIN)/temporal

include mk/opensearch.mk
include mk/python.mk
include mk/chromium.mk
include mk/ui.mk

.PHONY: build run test test-go fuzz bench soak vet fmt-check clean help

help:
	@echo "make run    start Temporal (Web UI :8233), OpenSearch with demo logs, moto, the worker and the ingress"
	@echo "make test   vet, gofmt check, every Go test (real Temporal dev server), short fuzz runs"
	@echo "make bench  measured figures as JSON (BENCH=ingress,incident,incident-storm,rules,rules-elastalert2,slack,enrich,context,noise,correlator,logs,rules-scale,rules-anomaly,rules-sigma,console to pick sections)"
	@echo "make soak   10 minutes of mixed load at half the saturation rate, counts checked, JSON (SOAK_DURATION=30s for a short run)"
	@echo "make ui-assets  npm ci the console's pinned htmx and copy it into ingress/console/static"
	@echo "make build  bin/starter, bin/worker, bin/logtransform (the log pipeline's Lambda), bin/temporal"

build: bin/starter bin/worker bin/logtransform bin/temporal

bin/starter: $(GO_SOURCES) go.mod go.sum
	@echo "==> go build bin/starter"
	@$(GO) build -o $@ ./starter

bin/worker: $(GO_SOURCES) go.mod go.sum
	@echo "==> go build bin/worker"
	@$(GO) build -o $@ ./workers

# Packaging it for Lambda (linux/arm64, named bootstrap): docs/log-pipeline.md.
bin/logtransform: $(GO_SOURCES) go.mod go.sum
	@echo "==> go build bin/logtransform"
	@$(GO) build -tags lambda.norpc -o $@ ./lambdas/logtransform

# The pinned CLI; newer tags do not build with this toolchain.
bin/temporal:
	@echo "==> installing the Temporal CLI $(TEMPORAL_VERSION) into bin/ (go install; the first build takes about 6 minutes)"
	@mkdir -p $(BIN)
	@GOBIN=$(BIN) $(GO) install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_VERSION)
	@$(BIN)/temporal --version

run: build opensearch-jars venv
	$(BIN)/starter dev

vet:
	@echo "==> go vet ./..."
	@$(GO) vet ./...

fmt-check:
	@echo "==> gofmt -l"
	@out=$$(gofmt -l $$(find . -name "*.go" -not -path "./.venv/*" -not -path "*/target/*")); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

test: bin/temporal opensearch-jars venv chromium ui-assets vet fmt-check test-go fuzz

test-go:
	@echo "==> go test ./... (real Temporal dev server from bin/temporal)"
	@$(GO) test -count=1 -timeout 30m ./...

# Every decoder fuzzer runs for a short fixed time; seeds live in testdata/fuzz.
# A found crash (a "Failing input" is written) fails the build. On a loaded
# machine the seed corpus' baseline pass can outlast FUZZTIME and Go reports
# "context deadline exceeded" without any input failing: that run is retried
# once with FUZZRETRY.
FUZZTIME  ?= 8s
FUZZRETRY ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    log=$$(mktemp); \
	    for t in $(FUZZTIME) $(FUZZRETRY); do \
	      echo "==> fuzz $$pkg $$f ($$t)"; \
	      if $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$$t -fuzzminimizetime=2s $$pkg >$$log 2>&1; then ok=1; break; fi; \
	      ok=0; \
	      if grep -q "Failing input written" $$log || ! grep -q "context deadline exceeded" $$log; then break; fi; \
	      echo "    (timed out before the baseline pass finished; retrying with more time)"; \
	    done; \
	    if [ $$ok != 1 ]; then cat $$log; rm -f $$log; exit 1; fi; \
	    rm -f $$log; \
	  done; \
	done

# BENCH=ingress,incident,incident-storm,rules,slack,enrich,context picks sections; all run by default.
bench: bin/temporal opensearch-jars venv
	@echo "==> make bench: figures as JSON on stdout (progress on stderr)" >&2
	@$(GO) run ./bench

# Not part of `make test`: 10 minutes by default (SOAK_DURATION=30s shortens
# it). Exits non-zero when alerts sent != counted or messages != incidents.
soak: bin/temporal
	@echo "==> make soak: mixed load for $${SOAK_DURATION:-10m}, JSON on stdout (progress on stderr)" >&2
	@$(GO) run ./soak

clean:
	rm -rf bin var
