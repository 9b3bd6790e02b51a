# berth: build, demo and test entry points. Run as root on Debian 12.

CARGO ?= cargo
BERTH_RELEASE := target/release/berth
DEMO_DIR := demo

.PHONY: all build demo test deps clean

all: build

deps:
	scripts/deps.sh

# A static, non-PIE release binary at target/release/berth (see the script).
build:
	CARGO=$(CARGO) scripts/build-release.sh

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
	# The OCI runtime-tools validation suite: every program berth passed
	# before must still pass (conformance/runtime-tools/expected-berth.txt).
	conformance/runtime-tools/setup.sh
	RUNTIME=target/debug/berth conformance/runtime-tools/run.sh \
	    --check-expected conformance/runtime-tools/expected-berth.txt
	# containerd (ctr and CRI), Docker and Podman driving berth end to end.
	conformance/engines/install.sh
	conformance/engines/run.sh --runtime target/debug/berth \
	    --known-failures conformance/engines/known-failures-berth.txt
	# cgroup v2 in a QEMU guest (TCG): every linux.resources field, the
	# eBPF device filter, update, pause, OOM events, delete. Installs
	# qemu-system-x86 and linux-image-amd64 when missing.
	conformance/cgroupv2/run.sh --berth target/debug/berth
	# The systemd cgroup driver in a QEMU guest booting Debian with systemd
	# as PID 1, on cgroup v2 and then on hybrid v1 (the root is
	# debootstrapped once, then cached: ~4 min cold, ~1 min warm).
	conformance/systemd/run.sh --berth target/debug/berth
	# Checkpoint/restore through CRIU in a QEMU guest with Debian's 6.1
	# kernel (criu 3.17 cannot dump on this host's kernel 6.18).
	conformance/criu/run.sh --berth target/debug/berth
	# Last, so cargo's own summary closes the output.
	$(CARGO) test --workspace --no-fail-fast -- --test-threads=2

# Rewrites the man pages (docs/man/*.8) from the command line's definition;
# cargo test fails while they are out of date.
.PHONY: man
man:
	BERTH_WRITE_MAN=1 $(CARGO) test -p berth-runtime man_pages_are_current

# The cgroup v2 lane alone (QEMU guest), with a static release build of berth.
.PHONY: cgroupv2
cgroupv2:
	conformance/cgroupv2/run.sh

# The systemd-driver lane alone (QEMU guest booting a debootstrap'd Debian
# root with systemd as PID 1; the root is built once into
# conformance/systemd/work/ and reused).
.PHONY: systemd
systemd:
	$(CARGO) build -p berth-runtime
	conformance/systemd/run.sh --berth target/debug/berth

# The CRIU lane alone: checkpoint/restore in a QEMU guest with Debian's 6.1
# kernel (criu 3.17 cannot dump on this host's kernel), static release build.
.PHONY: criu
criu:
	conformance/criu/run.sh

clean:
	$(CARGO) clean
	rm -rf $(DEMO_DIR)

# Fuzzing (cargo-fuzz / libFuzzer on the stable toolchain via RUSTC_BOOTSTRAP):
# each target for FUZZ_SECONDS. New inputs go to fuzz/work/corpus/<target>,
# crashes to fuzz/artifacts/<target>. `make test` replays fuzz/corpus/ (see
# integration-tests/tests/hostile.rs), no nightly needed.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := config state cli
.PHONY: fuzz soak
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz build && failed="" && \
	for t in $(FUZZ_TARGETS); do \
	    mkdir -p work/corpus/$$t && \
	    RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $$t work/corpus/$$t corpus/$$t -- \
	        -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: crashes in$$failed (see fuzz/artifacts/)" >&2; exit 1; fi

# The long soak (root): 1000 sequential runs, then 32-way concurrent runs,
# checking for leaked fds, mounts, cgroups, state dirs and zombies.
soak: deps
	$(CARGO) build --workspace
	$(CARGO) test -p integration-tests --test soak_long -- --ignored --nocapture --test-threads=1

# Side by side with runc and crun (root). Not part of `make test`'s verdict.
.PHONY: bench conformance engines-compare
# berth, crun, runc and the floor; rewrites docs/performance.{md,svg}.
bench:
	conformance/bench/bench.sh
# The OCI runtime-tools validation programs for berth, runc and crun.
conformance:
	conformance/runtime-tools/compare.sh
# containerd, Docker and Podman checks for berth, runc and crun.
engines-compare:
	conformance/engines/compare.sh
