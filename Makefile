# govs: a userspace IP virtual server. See README.md.
GO       ?= go
FUZZTIME ?= 10s
BENCHTIME ?= 1s
# Packages whose tests need root (network namespaces) run as root when possible.
SUDO := $(shell [ "$$(id -u)" = 0 ] || { command -v sudo >/dev/null && sudo -n true 2>/dev/null && echo "sudo -E env PATH=$$PATH"; })

.PHONY: all build test fmt-check vet fuzz bench lint demo clean

all: build

build:
	$(GO) build -trimpath -o bin/govs ./cmd/govs

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# make test: formatting, vet and every test. Namespace tests need root; they
# skip with a reason when not root.
test: fmt-check vet
	@[ "$$(id -u)" = 0 ] || [ -n "$(SUDO)" ] || echo "note: not root and no sudo: namespace tests will skip"
	$(SUDO) $(GO) test -count=1 ./...

# make fuzz: every fuzz target, FUZZTIME each (default 10s). Minimizing a
# new input is bounded to 2s: with large seeds, the default 60s left no time
# for fuzzing at all.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(SUDO) $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 2s $$pkg; \
	  done; \
	done

# make bench: every benchmark, with allocations.
bench:
	$(SUDO) $(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

# make demo: a namespace lab with clients, a balancer running bin/govs and
# three real servers; it shows the traffic, govs list, a reload, and stops
# by itself. Needs root.
demo: build
	$(SUDO) $(GO) run ./internal/demo -govs bin/govs

lint: fmt-check vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

clean:
	rm -rf bin
