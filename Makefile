# berth: build, demo and test entry points. Run as root on Debian 12.

CARGO ?= cargo
BERTH_RELEASE := target/release/berth
DEMO_DIR := demo

.PHONY: all build demo test deps clean

all: build

deps:
	scripts/deps.sh

build:
	$(CARGO) build --release

# One isolated container: its hostname, ps showing itself as PID 1, its own
# mount table; then `berth list` shows nothing is left over.
demo: deps build
	@[ "$$(id -u)" -eq 0 ] || { echo "make demo must run as root" >&2; exit 1; }
	BERTH=$(BERTH_RELEASE) scripts/mkbundle.sh $(DEMO_DIR) sh -c '\
	    echo "== hostname: $$(hostname)"; \
	    echo "== ps (the container sees itself as PID 1):"; ps -o pid,user,comm; \
	    echo "== /proc/self/mounts:"; cat /proc/self/mounts'
	@echo "== berth run"
	$(BERTH_RELEASE) run --bundle $(DEMO_DIR) berth-demo-$$$$
	@echo "== berth list (empty: run deleted the container)"
	$(BERTH_RELEASE) list

test: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) build --workspace
	$(CARGO) test --workspace --no-fail-fast -- --test-threads=2

clean:
	$(CARGO) clean
	rm -rf $(DEMO_DIR)
