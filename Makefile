# wsk-route developer targets. `make help` lists them; `make test` is what CI runs.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

GO          ?= go
PKGS        ?= ./...
TEST_FLAGS  ?= -count=1 -timeout 40m
# The hop path and its owners, also run under the race detector by `make test` (about 25 s
# on two cores with a warm build cache, 2 min cold); `make test RACE_PKGS=` leaves that step out.
RACE_PKGS   ?= ./internal/transport/ ./internal/frame/ ./invoker-plugin/agent/ ./action-proxy/route/...
BENCH_PKGS  ?= ./...
BENCH_COUNT ?= 6
BENCH_FLAGS ?= -benchtime=1s -timeout 60m
BENCH_OUT   ?= bench.txt
IMAGE       ?= wsk-route/proxy:dev
# How `make build` and `make dev` build: the same flags, so that `make dev` rebuilds
# bin/wsk-route exactly as `make build` made it (a no-op when nothing changed).
BUILD_FLAGS ?= -trimpath -ldflags '-s -w'

.PHONY: help demo proxy-demo dev setup test build bench lint image clean

help:
	@echo "make demo    start the wsk-route dev sandbox and run the textflow workflow through it, end to end"
	@echo "make dev     start the wsk-route dev sandbox in the foreground (Ctrl-C stops it)"
	@echo "make proxy-demo  build the proxy and an example action, and drive /init and /run as the invoker does"
	@echo "make setup   install and start what the tests need (scripts/setup.sh: apt packages, dockerd, a Consul built from source, rdma-core headers)"
	@echo "make test    setup if something is missing (always under CI=true), go vet, the rdma-tagged build, go test -race $(TEST_FLAGS) of the hop path, go test $(TEST_FLAGS) $(PKGS) (the docs check, docs/doccheck, included), summary"
	@echo "make build   static binaries of ./cmd/... into bin/"
	@echo "make bench   benchmarks of $(BENCH_PKGS), -count $(BENCH_COUNT), into $(BENCH_OUT)"
	@echo "make lint    gofmt -l (must print nothing) and go vet"
	@echo "make image   docker image $(IMAGE) with /bin/proxy, built with docker import (no registry); the image it replaces is removed"
	@echo "make clean   remove bin/, dist/, $(BENCH_OUT) and the image $(IMAGE)"

# The README's run command: a workflow through `wsk-route dev`, on its embedded defaults.
demo:
	@bash examples/dev-demo.sh

dev:
	@mkdir -p bin
	@CGO_ENABLED=0 $(GO) build $(BUILD_FLAGS) -o bin/wsk-route ./cmd/wsk-route
	@bin/wsk-route dev

proxy-demo:
	@bash examples/demo.sh

setup:
	@bash scripts/setup.sh

# Setup runs always under CI; elsewhere `setup.sh --if-needed` checks, and installs only when
# something is missing, saying what it is about to do.
test:
	@if [ "$${CI:-}" = true ]; then bash scripts/setup.sh; else bash scripts/setup.sh --if-needed; fi
	@echo "==> go vet $(PKGS)"
	@$(GO) vet $(PKGS)
	@echo "==> go vet and go test -tags rdma: the RDMA transport and the agent built with it (cgo, rdma-core; no device needed)"
	@$(GO) vet -tags rdma ./internal/transport/rdma/ ./invoker-plugin/agent/ ./cmd/wsk-route-agent/
	@$(GO) test -count=1 -tags rdma ./internal/transport/rdma/
	@$(GO) test -count=1 -tags rdma -run RDMA ./invoker-plugin/agent/
	@if [ -n "$(strip $(RACE_PKGS))" ]; then \
		echo "==> go test -race $(TEST_FLAGS) $(RACE_PKGS): the hop path and its owners under the race detector"; \
		GO="$(GO)" bash scripts/gotest.sh -race $(TEST_FLAGS) $(RACE_PKGS); fi
	@echo "==> go test $(TEST_FLAGS) $(PKGS)"
	@GO="$(GO)" bash scripts/gotest.sh $(TEST_FLAGS) $(PKGS)

build:
	@mkdir -p bin
	@echo "==> go build (static) ./cmd/... -> bin/"
	@CGO_ENABLED=0 $(GO) build $(BUILD_FLAGS) -o bin/ ./cmd/...
	@ls -l bin/

bench:
	@echo "==> go test -bench . -benchmem -count $(BENCH_COUNT) $(BENCH_PKGS) > $(BENCH_OUT)"
	@$(GO) test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) $(BENCH_FLAGS) $(BENCH_PKGS) | tee $(BENCH_OUT)
	@echo "==> wrote $(BENCH_OUT). Compare two runs with benchstat:"
	@echo "    go run golang.org/x/perf/cmd/benchstat@latest old.txt $(BENCH_OUT)"

lint:
	@echo "==> gofmt -l"
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "not gofmt'ed (run gofmt -w):"; echo "$$out"; exit 1; fi
	@echo "==> go vet $(PKGS)"
	@$(GO) vet $(PKGS)

# The image that $(IMAGE) named before is removed once the new one has the name (it would be
# left dangling, <none>:<none>); when docker refuses (a container still uses it), it says why.
image:
	@old="$$(docker image inspect --format '{{.Id}}' "$(IMAGE)" 2>/dev/null || true)"; \
	bash action-proxy/docker/build-image.sh "$(IMAGE)"; \
	new="$$(docker image inspect --format '{{.Id}}' "$(IMAGE)")"; \
	if [ -n "$$old" ] && [ "$$old" != "$$new" ]; then \
		if err="$$(docker image rm "$$old" 2>&1 >/dev/null)"; then echo "==> removed the previous $(IMAGE) ($${old:7:12})"; \
		else echo "==> kept the previous $(IMAGE) ($${old:7:12}): $$err"; fi; \
	fi

clean:
	rm -rf bin dist $(BENCH_OUT)
	@if command -v docker >/dev/null 2>&1 && docker image inspect "$(IMAGE)" >/dev/null 2>&1; then \
		docker image rm "$(IMAGE)"; fi
