# govs: a userspace IP virtual server. See README.md.
GO       ?= go
FUZZTIME ?= 10s
BENCHTIME ?= 1s
# Packages whose tests need root (network namespaces) run as root when possible.
SUDO := $(shell [ "$$(id -u)" = 0 ] || { command -v sudo >/dev/null && sudo -n true 2>/dev/null && echo "sudo -E env PATH=$$PATH"; })

.PHONY: all build deps test test-peerless fmt-check vet fuzz bench bench-go lint demo install clean

# DEPS are the Debian packages whose programs the tests and the demo use as
# real peers: iproute2 (ip) and nftables (nft) for the namespace labs,
# keepalived for VRRP interop, tcpdump for captures, nginx as a real HTTP
# server, systemd for systemd-analyze. This list is the only one: make deps
# installs it, make test runs make deps, and .ci/run calls make deps.
DEPS := iproute2 nftables keepalived tcpdump nginx systemd ca-certificates
# BENCH_DEPS are what make bench adds: trafgen (netsniff-ng), wrk, HAProxy,
# ipvsadm (for IPVS, where the kernel has ip_vs).
BENCH_DEPS := netsniff-ng wrk haproxy util-linux ipvsadm
# PKGS is what make deps installs.
PKGS ?= $(DEPS)

all: build

# The commit goes into the binary for govs version, also where the go
# command records no VCS information (GOFLAGS=-buildvcs=false).
COMMIT   := $(shell git rev-parse HEAD 2>/dev/null)
MODIFIED := $(shell git diff --quiet HEAD 2>/dev/null || echo true)
LDFLAGS  := -X github.com/govs-lb/govs/internal/version.commit=$(COMMIT) -X github.com/govs-lb/govs/internal/version.modified=$(MODIFIED)

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/govs ./cmd/govs

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# make deps: as root on Debian, install the DEPS that are missing with
# apt-get, and stop the daemons their packages start (the labs run their
# own, in namespaces). Quiet and quick when everything is present; not root
# or not Debian, it says which are missing: the tests that need them skip.
deps:
	@missing=$$(for p in $(PKGS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
	  echo "note: not installed: "$$missing" (make deps as root on Debian installs them; tests that need them skip)"; exit 0; \
	fi; \
	echo "make deps: installing" $$missing; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	for s in nginx keepalived haproxy; do \
	  if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then systemctl stop $$s >/dev/null 2>&1; systemctl disable $$s >/dev/null 2>&1; \
	  else service $$s stop >/dev/null 2>&1; fi; true; \
	done

# make test: formatting, vet and every test, after make deps. Namespace
# tests need root; they skip with a reason when not root, and a test whose
# program is missing skips naming it.
test: deps fmt-check vet
	@[ "$$(id -u)" = 0 ] || [ -n "$(SUDO)" ] || echo "note: not root and no sudo: namespace tests will skip"
	$(SUDO) $(GO) test -count=1 ./...

# make test-peerless: the suite again with tcpdump, nginx and keepalived
# out of PATH; every test that needs one must skip naming it, none fail.
test-peerless:
	$(SUDO) env GOVS_PEERLESS=1 $(GO) test -count=1 -timeout 20m -v -run '^TestPeerless$$' ./internal/netsimtest

# make fuzz: every fuzz target, FUZZTIME each (default 10s). Minimizing a
# new input is bounded to 2s: with large seeds, the default 60s left no time
# for fuzzing at all.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(SUDO) $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 2s $$pkg; \
	  done; \
	done

# make bench: govs side by side with kernel forwarding, nftables DR and
# HAProxy on one lab (package bench), as root: installs trafgen, wrk and
# HAProxy, shows progress, and writes bench/RESULTS.md, bench/results.json
# and bench/chart.png. BENCH_QUICK=1: a run of about 2 minutes.
bench:
	@$(MAKE) --no-print-directory deps PKGS="$(DEPS) $(BENCH_DEPS)"
	$(SUDO) $(GO) run ./bench/cmd/govs-bench -out bench

# make bench-go: every go test benchmark of every package, with allocations.
bench-go:
	$(SUDO) $(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

# make demo: a namespace lab with clients, a balancer running bin/govs and
# three real servers; it shows the traffic, govs list, a reload, and stops
# by itself. Needs root.
demo: build
	$(SUDO) $(GO) run ./internal/demo -govs bin/govs

# make install: bin/govs into $(PREFIX)/sbin, the man page govs(8),
# generated from the binary's own flags, and the systemd unit
# contrib/govs.service (ExecStart pointing at the installed binary). With
# DESTDIR empty and systemd running (booted with it: /run/systemd/system,
# whether or not a unit has failed), systemd reads its units again; then
# systemctl enable --now govs.
PREFIX  ?= /usr/local
DESTDIR ?=
install: build
	install -D -m 0755 bin/govs $(DESTDIR)$(PREFIX)/sbin/govs
	$(GO) run ./internal/mangen -govs bin/govs > bin/govs.8
	install -D -m 0644 bin/govs.8 $(DESTDIR)$(PREFIX)/share/man/man8/govs.8
	sed 's|/usr/local/sbin/govs|$(PREFIX)/sbin/govs|g' contrib/govs.service > bin/govs.service
	install -D -m 0644 bin/govs.service $(DESTDIR)/etc/systemd/system/govs.service
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

lint: fmt-check vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

clean:
	rm -rf bin
