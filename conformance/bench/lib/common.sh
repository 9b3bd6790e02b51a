# shellcheck shell=bash
# Shared by bench.sh and its helpers (sourced, not run).
# Paths and runtime command lines come from the environment bench.sh exports.

BENCH_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_HOME=$(cd "$BENCH_LIB/.." && pwd)
BENCH_REPO=$(cd "$BENCH_HOME/../.." && pwd)

# Work directory (rootfs, config templates, per-container bundles, id files,
# the compiled helper) and the runtimes' state roots (on /run, a tmpfs).
# BENCH_TOKEN is in every container id and the state root's name, so that
# cleaning up touches only this run's containers and cgroups.
: "${BENCH_TOKEN:=$$}"
: "${BENCH_WORK:=$BENCH_HOME/work}"
: "${BENCH_STATE:=/run/berth-bench/$BENCH_TOKEN}"
# Every container's cgroup lives below this absolute cgroupsPath prefix.
: "${BENCH_CGROUP:=berth-bench}"
: "${BERTH:=$BENCH_REPO/target/release/berth}"
: "${RUNC:=$(command -v runc || echo /usr/sbin/runc)}"
: "${CRUN:=$(command -v crun || echo /usr/bin/crun)}"
export BENCH_WORK BENCH_STATE BENCH_CGROUP BERTH RUNC CRUN BENCH_TOKEN

# shellcheck disable=SC2034 # used by the scripts that source this
RUNTIMES=(berth crun runc)

bench_die() {
    echo "bench: $*" >&2
    exit 1
}

# rt_bin RT: the runtime's binary.
rt_bin() {
    case $1 in
    berth) echo "$BERTH" ;;
    crun) echo "$CRUN" ;;
    runc) echo "$RUNC" ;;
    *) bench_die "unknown runtime $1" ;;
    esac
}

# rt_cmd RT: the runtime's command line prefix (binary and state root), as
# one whitespace-separated string (hyperfine -N splits it the same way).
rt_cmd() {
    echo "$(rt_bin "$1") --root $BENCH_STATE/$1"
}

# rt RT ARG...: run a runtime command.
rt() {
    local r=$1
    shift
    "$(rt_bin "$r")" --root "$BENCH_STATE/$r" "$@"
}

# new_bundle RT KIND: make a bundle for a fresh container id (printed) from
# the KIND config template; its rootfs is shared (absolute root.path) and its
# cgroupsPath is /$BENCH_CGROUP/<id>.
new_bundle() {
    local r=$1 kind=$2 n id
    n=$(($(cat "$BENCH_WORK/counter" 2>/dev/null || echo 0) + 1))
    echo "$n" >"$BENCH_WORK/counter"
    id="$r-$BENCH_TOKEN-$n"
    mkdir -p "$BENCH_WORK/bundles/$id"
    sed "s|@ID@|$id|g" "$BENCH_WORK/config-$kind.json" >"$BENCH_WORK/bundles/$id/config.json"
    echo "$id"
}

# drop_container RT ID: force-delete the container (if any) and its bundle.
drop_container() {
    rt "$1" delete -f "$2" </dev/null >/dev/null 2>&1 || true
    rm -rf "${BENCH_WORK:?}/bundles/$2" "$BENCH_WORK/log/$2"
}

# rt_logged RT ID ARG...: run a runtime command with its (and the
# container's) output in the work dir's log; on failure show it and fail.
rt_logged() {
    local r=$1 id=$2
    shift 2
    mkdir -p "$BENCH_WORK/log"
    if ! rt "$r" "$@" </dev/null >>"$BENCH_WORK/log/$id" 2>&1; then
        echo "bench: $r $* failed:" >&2
        tail -n 5 "$BENCH_WORK/log/$id" >&2
        return 1
    fi
}

# wait_status RT ID STATUS: poll `state` until the container has STATUS (5 s).
wait_status() {
    local i s
    for ((i = 0; i < 500; i++)); do
        s=$(rt "$1" state "$2" 2>/dev/null | jq -r .status 2>/dev/null || true)
        [[ $s == "$3" ]] && return 0
        sleep 0.01
    done
    echo "bench: $1 container $2 never reached status $3 (last: ${s:-none})" >&2
    return 1
}
