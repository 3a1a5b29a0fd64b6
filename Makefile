# Doorward. `make run` starts the agent on the sim board; `make test` is what CI runs.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
VERSION  := $(VERSION)
LDFLAGS  := -s -w -X main.version=$(VERSION)
BIN      := bin
DIST     := dist
DEMO_KEY ?= $(HOME)/.config/doorward/demo-owner.key
CMDS     := doorward doorwardctl

.PHONY: all build run test lint bench cross qemu-smoke qemu-test clean

# Release targets: dist name / GOARCH / GOARM. armv6 is the Pi Zero W and Pi 1,
# armv7 the 32-bit OS on a Pi 2/3/4, arm64 the 64-bit OS on a Pi Zero 2 W/3/4/5.
PLATFORMS := armv6/arm/6 armv7/arm/7 arm64/arm64/ amd64/amd64/
# Goal for the size of dist/doorward-linux-arm64, in bytes (20 MB).
MAX_ARM64_SIZE := 20000000

# Packages whose unit tests also run under qemu-user (see qemu-test). The cmd/
# end-to-end tests are left out: their TestMain runs `go build` and then
# executes the binaries it built, which under qemu-user (no binfmt_misc
# registration in CI) cannot start, and they run ffmpeg-heavy scenarios for
# minutes; they run natively (with -race) in `test`.
QEMU_PKGS = $(shell $(GO) list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./... | grep -v '/cmd/')

all: build

build:
	@mkdir -p $(BIN)
	$(foreach c,$(CMDS),CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/$(c) ./cmd/$(c) &&) true

# The sim board: a looping test clip as the camera, events from `doorward trigger`.
# The demo owner key lives outside the state directory and is for trying the agent out.
run: build
	./$(BIN)/doorward run --board sim --demo-owner-key $(DEMO_KEY)

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	@if command -v staticcheck >/dev/null; then staticcheck ./...; \
	elif [ "$$CI" = true ]; then echo "staticcheck missing: .ci/run installs it"; exit 1; \
	else echo "staticcheck not installed (go install honnef.co/go/tools/cmd/staticcheck@v0.8.2): skipped"; fi

test: lint cross qemu-smoke
	$(GO) test -race -count=1 -timeout 15m ./...
	$(MAKE) qemu-test

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 20m ./...

# Static (CGO_ENABLED=0), stripped (-s -w), version-stamped binaries.
cross:
	@mkdir -p $(DIST)
	@set -e; for p in $(PLATFORMS); do \
		name=$${p%%/*}; rest=$${p#*/}; arch=$${rest%%/*}; arm=$${rest#*/}; \
		for c in $(CMDS); do \
			echo "  build $(DIST)/$$c-linux-$$name (GOARCH=$$arch$${arm:+ GOARM=$$arm})"; \
			CGO_ENABLED=0 GOOS=linux GOARCH=$$arch GOARM=$$arm $(GO) build -trimpath -ldflags "$(LDFLAGS)" \
				-o $(DIST)/$$c-linux-$$name ./cmd/$$c; \
		done; \
	done
	@for f in $(foreach c,$(CMDS),$(foreach p,$(PLATFORMS),$(DIST)/$(c)-linux-$(firstword $(subst /, ,$(p))))); do \
		awk -v n=$$(stat -c %s $$f) -v f=$$f 'BEGIN { printf "%8.1f MB  %s\n", n / 1e6, f }'; \
	done
	@size=$$(stat -c %s $(DIST)/doorward-linux-arm64); if [ $$size -gt $(MAX_ARM64_SIZE) ]; then \
		echo "$(DIST)/doorward-linux-arm64 is $$size bytes, over the $(MAX_ARM64_SIZE)-byte goal"; exit 1; fi

# The ARM binaries start, report their version and pass the sim board's
# selftest (real syscalls: adjtimex, getrlimit, statfs, fsync) under qemu-user
# (Debian qemu-user-static; called explicitly, no binfmt_misc needed).
qemu-smoke: cross
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	for b in arm64:qemu-aarch64-static armv7:qemu-arm-static armv6:qemu-arm-static; do \
		name=$${b%%:*}; qemu=$${b#*:}; bin=$(DIST)/doorward-linux-$$name; \
		out=$$($$qemu $$bin version); \
		echo "  $$qemu $$bin version: $$out"; \
		[ "$$out" = "doorward $(VERSION)" ] || { echo "want: doorward $(VERSION)"; exit 1; }; \
		$$qemu $$bin selftest --board sim --state $$tmp/$$name --frames 31 >$$tmp/out 2>&1 || { cat $$tmp/out; exit 1; }; \
		echo "  $$qemu $$bin selftest --board sim: $$(tail -n 1 $$tmp/out)"; \
	done

# The unit tests, cross-compiled and run under qemu-user: arm64 and 32-bit
# ARMv7. Without -race (it needs cgo); a failing test fails the target.
qemu-test:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) test -count=1 -timeout 10m -exec qemu-aarch64-static $(QEMU_PKGS)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) test -count=1 -timeout 10m -exec qemu-arm-static $(QEMU_PKGS)

clean:
	rm -rf $(BIN) $(DIST)
