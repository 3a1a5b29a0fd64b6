# Doorward. `make run` starts the agent on the sim board; `make test` is what CI runs.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
VERSION  := $(VERSION)
# -buildid= and -trimpath make builds reproducible: the same source and
# version give byte-identical binaries (make dist-check proves it).
LDFLAGS  := -s -w -buildid= -X main.version=$(VERSION)
# Release archives carry this timestamp: the last commit's, so two builds of
# one commit are identical.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
export SOURCE_DATE_EPOCH
BIN      := bin
DIST     := dist
DEMO_KEY ?= $(HOME)/.config/doorward/demo-owner.key
CMDS     := doorward doorwardctl

.PHONY: all build run test lint bench cross qemu-smoke qemu-test dist dist-check clean

# Release targets: dist name / GOARCH / GOARM. armv6 is the Pi 1 and Zero / Zero W,
# armv7 a 32-bit OS on a Pi 2 and later, arm64 a 64-bit kernel on a Pi Zero 2 W /
# 3 / 4 / 5. The board profiles' builds: lists use these names (a test in
# boards/ keeps them equal).
PLATFORMS := armv6/arm/6 armv7/arm/7 arm64/arm64/ amd64/amd64/
# Goal for the size of dist/doorward-linux-arm64, in bytes (24 MB). It was
# 20 MB until the Prometheus client (github.com/prometheus/client_golang,
# which the metrics need; 2.3 MB with the protobuf runtime it brings) came
# on top of a binary already at 19.8 MB.
MAX_ARM64_SIZE := 24000000

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
	./$(BIN)/doorward run --board sim --demo-owner-key $(DEMO_KEY) $(ARGS)

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	@if command -v staticcheck >/dev/null; then staticcheck ./...; \
	elif [ "$$CI" = true ]; then echo "staticcheck missing: .ci/run installs it"; exit 1; \
	else echo "staticcheck not installed (go install honnef.co/go/tools/cmd/staticcheck@v0.8.2): skipped"; fi

test: lint cross qemu-smoke dist-check
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
# (Debian qemu-user-static; called explicitly, no binfmt_misc needed). Each
# also lists itself as a build of a board that runs it (`boards`), and runs
# that board's selftest to the end: exit 1, since qemu has none of its GPIO
# lines or camera, with the lines named by their header pins.
qemu-smoke: cross
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	for b in arm64:qemu-aarch64-static:rpi5 armv7:qemu-arm-static:rpi2 armv6:qemu-arm-static:rpi-zero; do \
		name=$${b%%:*}; rest=$${b#*:}; qemu=$${rest%%:*}; board=$${rest#*:}; bin=$(DIST)/doorward-linux-$$name; \
		out=$$($$qemu $$bin version); \
		echo "  $$qemu $$bin version: $$out"; \
		[ "$$out" = "doorward $(VERSION)" ] || { echo "want: doorward $(VERSION)"; exit 1; }; \
		$$qemu $$bin selftest --board sim --state $$tmp/$$name --frames 31 >$$tmp/out 2>&1 || { cat $$tmp/out; exit 1; }; \
		echo "  $$qemu $$bin selftest --board sim: $$(tail -n 1 $$tmp/out)"; \
		$$qemu $$bin boards >$$tmp/out 2>&1 || { cat $$tmp/out; exit 1; }; \
		row=$$(grep -E "^$$board +([a-z0-9]+, )*$$name(, [a-z0-9]+)* +GPIO17 \(pin 11\)" $$tmp/out) || { cat $$tmp/out; echo "want: a $$board row listing $$name"; exit 1; }; \
		echo "  $$qemu $$bin boards: $$(echo "$$row" | tr -s ' ')"; \
		rc=0; $$qemu $$bin selftest --board $$board --state $$tmp/$$name-$$board --frames 2 >$$tmp/out 2>&1 || rc=$$?; \
		[ $$rc = 1 ] && grep -q 'PIR sensor GPIO17 (pin 11)' $$tmp/out || { cat $$tmp/out; echo "want: exit 1 (no GPIO or camera under qemu), details naming GPIO17 (pin 11); got exit $$rc"; exit 1; }; \
		echo "  $$qemu $$bin selftest --board $$board: exit 1 without its GPIO and camera, as expected"; \
	done

# The unit tests, cross-compiled and run under qemu-user: arm64 and 32-bit
# ARMv7. Without -race (it needs cgo); a failing test fails the target.
qemu-test:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) test -count=1 -timeout 10m -exec qemu-aarch64-static $(QEMU_PKGS)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) test -count=1 -timeout 10m -exec qemu-arm-static $(QEMU_PKGS)

# Release archives in $(DIST)/release: per Linux platform, both binaries
# with the systemd unit, the example config, man pages, shell completions and
# the README; doorwardctl alone for the owner's macOS and Windows computers.
# SHA256SUMS lists them all. Archives are reproducible: sorted entries,
# fixed owner and mtime (SOURCE_DATE_EPOCH), gzip without a timestamp.
CTL_PLATFORMS := darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
REL := $(DIST)/release
TAR := tar --sort=name --mtime=@$(SOURCE_DATE_EPOCH) --owner=0 --group=0 --numeric-owner --mode=u+rwX,go+rX,go-w
dist:
	@rm -rf $(REL) && mkdir -p $(REL)/stage
	@$(MAKE) -s docs-into D=$(REL)/docs
	@set -e; stage() { \
		d=$(REL)/stage/$$1; mkdir -p $$d/man $$d/completions; cp README.md $$d/; \
		for c in $$2; do cp $(REL)/docs/man/$$c*.1 $$d/man/; cp $(REL)/docs/completions/*$$c* $$d/completions/; done; \
	}; \
	pack() { (cd $(REL)/stage && $(TAR) -cf - $$1 | gzip -n -9 > ../$$1.tar.gz); echo "  $(REL)/$$1.tar.gz"; }; \
	for p in $(PLATFORMS); do \
		name=$${p%%/*}; rest=$${p#*/}; arch=$${rest%%/*}; arm=$${rest#*/}; \
		pkg=doorward-$(VERSION)-linux-$$name; stage $$pkg "$(CMDS)"; d=$(REL)/stage/$$pkg; \
		for c in $(CMDS); do \
			CGO_ENABLED=0 GOOS=linux GOARCH=$$arch GOARM=$$arm $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $$d/$$c ./cmd/$$c; \
		done; \
		cp init/doorward.service $$d/; [ ! -f init/doorward.yaml ] || cp init/doorward.yaml $$d/; \
		pack $$pkg; \
	done; \
	for p in $(CTL_PLATFORMS); do \
		os=$${p%%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		pkg=doorwardctl-$(VERSION)-$$os-$$arch; stage $$pkg doorwardctl; d=$(REL)/stage/$$pkg; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $$d/doorwardctl$$ext ./cmd/doorwardctl; \
		pack $$pkg; \
	done
	@rm -rf $(REL)/stage $(REL)/docs
	@cd $(REL) && sha256sum *.tar.gz > SHA256SUMS && echo "  $(REL)/SHA256SUMS"

# Man pages and completions for $(CMDS) into $(D)/man and $(D)/completions,
# written by a native build of each command, so they match its flags.
.PHONY: docs-into
docs-into:
	@set -e; mkdir -p $(D)/man $(D)/completions; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	for c in $(CMDS); do \
		CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $$tmp/$$c ./cmd/$$c; \
		$$tmp/$$c man $(D)/man; \
		$$tmp/$$c completion bash > $(D)/completions/$$c.bash; \
		$$tmp/$$c completion zsh > $(D)/completions/_$$c; \
		$$tmp/$$c completion fish > $(D)/completions/$$c.fish; \
	done

# Two release builds give identical SHA256SUMS (one Linux and one Windows
# platform, to keep make test quick), and an archive holds what
# the README's install section uses: both binaries (which run and report the
# version), the unit, the example config, a man page for every command and
# completions.
dist-check:
	@rm -rf $(DIST)/repro; set -e; for r in a b; do \
		$(MAKE) -s dist REL=$(DIST)/repro/$$r PLATFORMS=amd64/amd64/ CTL_PLATFORMS=windows/amd64 >/dev/null; done
	@cmp $(DIST)/repro/a/SHA256SUMS $(DIST)/repro/b/SHA256SUMS || { echo "dist-check: two release builds differ"; exit 1; }
	@set -e; cd $(DIST)/repro/a; sha256sum --quiet -c SHA256SUMS; \
	pkg=doorward-$(VERSION)-linux-amd64; tar xzf $$pkg.tar.gz; \
	for f in doorward doorwardctl doorward.service README.md completions/doorward.bash completions/_doorwardctl completions/doorwardctl.fish \
		$$([ -f ../../../init/doorward.yaml ] && echo doorward.yaml); do \
		[ -e $$pkg/$$f ] || { echo "dist-check: $$pkg.tar.gz lacks $$f"; exit 1; }; done; \
	for c in $(CMDS); do \
		[ "$$($$pkg/$$c --version)" = "$$c $(VERSION)" ] || { echo "dist-check: $$c --version: $$($$pkg/$$c --version)"; exit 1; }; \
		for sub in $$($$pkg/$$c --help | awk '/^Available Commands:/{on=1; next} on && NF==0{on=0} on && $$1!="help"{print $$1}'); do \
			[ -f $$pkg/man/$$c-$$sub.1 ] || { echo "dist-check: no man page for $$c $$sub"; exit 1; }; done; \
	done; \
	tar tzf doorwardctl-$(VERSION)-windows-amd64.tar.gz | grep -q 'doorwardctl.exe$$' || { echo "dist-check: the Windows archive lacks doorwardctl.exe"; exit 1; }
	@echo "  dist-check: two release builds are identical; the archives hold binaries, unit, config, man pages, completions"
	@rm -rf $(DIST)/repro

clean:
	rm -rf $(BIN) $(DIST)
