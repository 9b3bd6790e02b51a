#!/usr/bin/env bash
# Regenerates scripts/symbol-order/berth.order, the order in which lld lays
# out berth's functions in the release build (scripts/build-release.sh).
#
# Why: the kernel maps an executable's text by whole page-cache folios or
# 64 KiB fault-around windows, not by the 4 KiB page a jump lands on. A
# container's lifecycle runs about 800 KiB of berth's 2.8 MiB of code; left
# where the compiler put it, that code is spread over nearly every window,
# so nearly all of the text ends up in the runtime's RSS. Laid out together
# it maps about half as much: peak RSS of create 3.3 -> 1.7 MiB here
# (docs/performance.md).
#
# How: a release build exactly as build-release.sh makes it, plus a link map
# (every function's address and name); trace.c puts a breakpoint on every
# function and records the order in which they are first entered while
# berth runs, creates, starts, execs into, lists, kills, deletes and runs a
# seccomp-filtered container (with every child process: init's code counts
# too), first with cgroup v1 as on this host, then with a cgroup v2 view in
# a private mount namespace. The names, in that order, are the ordering file.
#
# Run as root on this kind of host (Debian 12), after changes that move a
# lot of code (a new dependency, a new rustc, a refactoring of the create
# path); a stale list only costs memory, never correctness. ~3 minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
[[ $(id -u) -eq 0 ]] || {
    echo "symbol-order: run as root (it runs containers)" >&2
    exit 1
}
for tool in gcc jq python3 busybox runc unshare; do
    command -v "$tool" >/dev/null || {
        echo "symbol-order: $tool is missing (make test's deps.sh installs it)" >&2
        exit 1
    }
done

work=$(mktemp -d /tmp/berth-order.XXXXXX)
token=order$$
state=/run/berth-order-$$
cleanup() {
    local id d
    for id in "$state"/*; do
        [[ -d $id && -x $work/berth ]] || continue
        "$work/berth" --root "$state" delete -f "${id##*/}" >/dev/null 2>&1 || true
    done
    for d in /sys/fs/cgroup/*/berth-test/"$token"-* /sys/fs/cgroup/berth-test/"$token"-*; do
        [[ -d $d ]] && rmdir "$d" 2>/dev/null
    done
    rm -rf "$work" "$state"
}
trap cleanup EXIT

echo "== release build with a link map ($work/target)"
RUSTFLAGS="-C link-arg=-Wl,-Map=$work/berth.map -C link-arg=-Wl,--no-demangle" CARGO_TARGET_DIR=$work/target \
    BERTH_RELEASE_OUT=$work/berth scripts/build-release.sh
python3 scripts/symbol-order/map.py functions "$work/berth.map" >"$work/functions"
gcc -O2 -Wall -o "$work/trace" scripts/symbol-order/trace.c

echo "== bundles"
BENCH_WORK=$work BENCH_CGROUP=berth-test RUNC=$(command -v runc) \
    bash conformance/bench/lib/mkbundle.sh
bundle() { # KIND N: a bundle for container $token-N from a template
    mkdir -p "$work/b-$2"
    sed "s|@ID@|$token-$2|g" "$work/config-$1.json" >"$work/b-$2/config.json"
    echo "$work/b-$2"
}

# The lifecycle, traced in a private mount namespace with one cgroup view
# (sh workload.sh VIEW N: container ids $token-N..N+3):
#   v1  as the benchmark runs: a hybrid host's near-empty cgroup2 mount is
#       hidden, berth takes the v1 path;
#   v2  the host's cgroup mounts replaced by the cgroup2 hierarchy alone, so
#       berth takes the v2 path (clone3, the eBPF device filter); its
#       cgroups are made in that hierarchy, below /berth-test.
# v1 first: its functions come first in the list, then what v2 adds.
cat >"$work/workload.sh" <<'EOF'
set -eu
view=$1 n=$2
case $view in
v1)
    if [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
        umount -l /sys/fs/cgroup/unified
        mount -t tmpfs none /sys/fs/cgroup/unified
    fi
    ;;
v2)
    if [ "$(stat -f -c %T /sys/fs/cgroup)" != cgroup2fs ]; then
        umount -R -l /sys/fs/cgroup
        mount -t cgroup2 none /sys/fs/cgroup
    fi
    ;;
esac
t() { "$WORK/trace" "$WORK/functions" "$WORK/hits" "$WORK/berth" --root "$STATE" "$@"; }
id() { echo "$TOKEN-$((n + $1))"; }
b() { echo "$WORK/b-$((n + $1))"; }
t run -b "$(b 0)" "$(id 0)" </dev/null
t create -b "$(b 1)" "$(id 1)" </dev/null >/dev/null 2>&1
t state "$(id 1)" >/dev/null
t start "$(id 1)"
t exec "$(id 1)" /bin/true
t ps "$(id 1)" >/dev/null
t list >/dev/null
t pause "$(id 1)"
t resume "$(id 1)"
t kill "$(id 1)" KILL
for i in $(seq 50); do
    [ "$("$WORK/berth" --root "$STATE" state "$(id 1)" | jq -r .status)" = stopped ] && break
    sleep 0.1
done
t delete "$(id 1)"
t run -b "$(b 2)" "$(id 2)" </dev/null
t create -b "$(b 3)" "$(id 3)" </dev/null >/dev/null 2>&1
t delete -f "$(id 3)"
# The parent berth made in the cgroup2 hierarchy, if nothing else uses it.
if [ "$view" = v2 ]; then rmdir /sys/fs/cgroup/berth-test 2>/dev/null || true; fi
EOF
for view in v1:1 v2:11; do
    n=${view#*:}
    bundle true "$n" >/dev/null
    bundle sleep $((n + 1)) >/dev/null
    bundle seccomp $((n + 2)) >/dev/null
    bundle true $((n + 3)) >/dev/null
    echo "== tracing the lifecycle (cgroup ${view%%:*})"
    WORK=$work STATE=$state TOKEN=$token \
        unshare -m --propagation private sh "$work/workload.sh" "${view%%:*}" "$n"
done

python3 scripts/symbol-order/map.py order "$work/berth.map" "$work/hits" \
    >scripts/symbol-order/berth.order
entered=$(sort -u "$work/hits" | wc -l)
echo "symbol-order: scripts/symbol-order/berth.order: $(wc -l <scripts/symbol-order/berth.order) names," \
    "$entered of $(wc -l <"$work/functions") functions entered"
