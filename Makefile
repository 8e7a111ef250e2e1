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

.PHONY: help demo proxy-demo dev setup test build bench lint image clean

help:
	@echo "make demo    start the wsk-route dev sandbox and run the textflow workflow through it, end to end"
	@echo "make dev     start the wsk-route dev sandbox in the foreground (Ctrl-C stops it)"
	@echo "make proxy-demo  build the proxy and an example action, and drive /init and /run as the invoker does"
	@echo "make setup   install and start what the tests need (scripts/setup.sh; apt, dockerd)"
	@echo "make test    setup if needed, go vet, the rdma-tagged build, go test -race $(TEST_FLAGS) of the hop path, go test $(TEST_FLAGS) $(PKGS), summary"
	@echo "make build   static binaries of ./cmd/... into bin/"
	@echo "make bench   benchmarks of $(BENCH_PKGS), -count $(BENCH_COUNT), into $(BENCH_OUT)"
	@echo "make lint    gofmt -l (must print nothing) and go vet"
	@echo "make image   docker image $(IMAGE) with /bin/proxy, built with docker import (no registry)"
	@echo "make clean   remove bin/, dist/, $(BENCH_OUT) and the image $(IMAGE)"

# The README's run command: a workflow through `wsk-route dev`, on its embedded defaults.
demo:
	@bash examples/dev-demo.sh

dev:
	@CGO_ENABLED=0 $(GO) build -trimpath -o bin/wsk-route ./cmd/wsk-route
	@bin/wsk-route dev

proxy-demo:
	@bash examples/demo.sh

setup:
	@bash scripts/setup.sh

# Setup runs always under CI, elsewhere only when `setup.sh --check` finds something missing.
test:
	@if [ "$${CI:-}" = true ] || ! bash scripts/setup.sh --check; then bash scripts/setup.sh; fi
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
	@CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o bin/ ./cmd/...
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

image:
	@bash action-proxy/docker/build-image.sh "$(IMAGE)"

clean:
	rm -rf bin dist $(BENCH_OUT)
	@if command -v docker >/dev/null 2>&1 && docker image inspect "$(IMAGE)" >/dev/null 2>&1; then \
		docker image rm "$(IMAGE)"; fi
