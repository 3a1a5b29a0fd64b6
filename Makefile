# Doorward. `make run` starts the agent on the sim board; `make test` is what CI runs.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
BIN      := bin
DIST     := dist
DEMO_KEY ?= $(HOME)/.config/doorward/demo-owner.key
CMDS     := doorward doorwardctl

.PHONY: all build run test lint bench cross clean

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

test: lint cross
	$(GO) test -race -count=1 -timeout 15m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 20m ./...

cross:
	@mkdir -p $(DIST)
	$(foreach c,$(CMDS),$(foreach a,amd64 arm64,CGO_ENABLED=0 GOOS=linux GOARCH=$(a) $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(DIST)/$(c)-linux-$(a) ./cmd/$(c) &&)) true
	@ls -l $(DIST)

clean:
	rm -rf $(BIN) $(DIST)
