#!/usr/bin/env bash
# Install what `make demo` and `make test` need (Debian 12, as root).
# Idempotent and quick when everything is already there.
set -euo pipefail

PACKAGES=(
    busybox-static   # the containers' userland
    pkg-config libseccomp-dev build-essential
    iproute2 procps util-linux
    runc crun        # reference runtimes for comparisons
    hyperfine jq
    criu             # checkpoint and restore (tests/checkpoint.rs)
)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
        missing+=("$p")
    fi
done

if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "deps.sh: missing packages (${missing[*]}); run as root to install them" >&2
        exit 1
    fi
    echo "deps.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=900 update -q
    apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "${missing[@]}"
fi

# Rust lint tools used by `make test`.
for comp in fmt:rustfmt clippy:clippy; do
    sub=${comp%%:*}
    name=${comp##*:}
    if ! cargo "$sub" --version >/dev/null 2>&1; then
        echo "deps.sh: adding rustup component $name"
        rustup component add "$name"
    fi
done
