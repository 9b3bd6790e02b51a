#!/usr/bin/env bash
# Builds the release berth as a static, non-PIE executable and installs it
# at target/release/berth (where make demo, the benchmark and the docs look).
#
# Why static and non-PIE: a runtime is a short-lived process started once per
# container operation, so its start-up is on every path. Without the dynamic
# loader there is no library lookup or symbol binding, and without PIE no
# relocation pass dirties the pointer-holding pages at start: measured, about
# a quarter less CPU per `run` and over 1 MiB less peak RSS than the dynamic
# PIE build (docs/performance.md). --target keeps the static flags off build
# scripts and proc macros, which must stay dynamic.
# The link follows scripts/symbol-order/berth.order, which puts the
# functions a container's lifecycle runs next to each other: the kernel maps
# a binary's text in whole page-cache folios or 64 KiB fault-around windows,
# so scattered hot code maps most of the file (scripts/symbol-order.sh makes
# the list and says more). BERTH_SYMBOL_ORDER=none links without it.
#
# Environment: CARGO_TARGET_DIR (cargo's, default target), BERTH_RELEASE_OUT
# (where to install, default target/release/berth), RUSTFLAGS (added to).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
version=$(rustc -vV)
host=$(sed -n 's/^host: //p' <<<"$version")
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
target_dir=${CARGO_TARGET_DIR:-target}
out=${BERTH_RELEASE_OUT:-target/release/berth}
order=${BERTH_SYMBOL_ORDER:-$here/scripts/symbol-order/berth.order}
BERTH_LINK_ORDER=
flags="-C target-feature=+crt-static -C relocation-model=static"
# Ordering needs lld, rustc's default linker on x86_64 Linux since 1.90.
release=$(sed -n 's/^release: \([0-9]*\)\.\([0-9]*\).*/\1 \2/p' <<<"$version")
read -r major minor <<<"$release"
if [[ $order != none && -f $order ]]; then
    if [[ $host == x86_64-unknown-linux-gnu ]] && ((major > 1 || minor >= 90)); then
        export BERTH_LINK_ORDER=$order # runtime-bin/build.rs passes it to lld
    else
        echo "build-release: rustc $release on $host may not link with lld; linking without $order"
    fi
fi
RUSTFLAGS="${RUSTFLAGS:-} $flags" \
    LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=/usr/lib/$multiarch \
    ${CARGO:-cargo} build --release -p berth-runtime --target "$host" "$@"
mkdir -p "$(dirname "$out")"
# Replace atomically: a running berth keeps its old inode.
cp "$target_dir/$host/release/berth" "$out.new"
mv -f "$out.new" "$out"
echo "build-release: $out ($(stat -c %s "$out") bytes, static)"
