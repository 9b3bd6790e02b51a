#!/usr/bin/env bash
# berth's performance benchmark: berth vs crun vs runc vs the bare floor
# (unshare + chroot), measured with hyperfine. Run as root on Debian 12:
#
#   conformance/bench/bench.sh            full run (~5 min), then
#                                         results/summary.{json,csv} and
#                                         docs/performance.{md,svg}
#   conformance/bench/bench.sh --quick    smoke test: few runs, results and
#                                         report under conformance/bench/work/
#
# Knobs (environment): BERTH (binary; default target/release/berth, which is
# first brought up to date with scripts/build-release.sh so that the commit
# recorded is the one measured), BENCH_RUNS (timed runs per runtime per benchmark, default 60),
# BENCH_ROUNDS (the runs are split into this many hyperfine invocations with
# the runtimes' order rotated, default 3), BENCH_WARMUP (per round, default
# 3), BENCH_TP_CONTAINERS / BENCH_TP_PARALLEL / BENCH_TP_RUNS (throughput:
# 100 containers, 8 at a time, 5 timed batches), BENCH_RSS_SAMPLES (10),
# BENCH_BERTH_COMMIT (the berth revision to record; default: git describe),
# BENCH_NICE (the benchmark's nice value, default -10).
#
# Everything runs inside one private mount namespace where the hybrid
# host's near-empty cgroup2 mount (/sys/fs/cgroup/unified) is covered by a
# tmpfs: crun refuses hybrid hierarchies, and this way all runtimes see the
# same cgroup v1 controllers. Containers get cgroupsPath /berth-bench/<id>.
set -euo pipefail
# Before common.sh fills in the default.
BERTH_GIVEN=${BERTH:+1}
# shellcheck source=SCRIPTDIR/lib/common.sh
. "$(dirname "$0")/lib/common.sh"

QUICK=0
for arg in "$@"; do
    case $arg in
    --quick) QUICK=1 ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *) bench_die "unknown argument $arg (try --help)" ;;
    esac
done

if ((QUICK)); then
    : "${BENCH_RUNS:=4}" "${BENCH_ROUNDS:=2}" "${BENCH_WARMUP:=1}"
    : "${BENCH_TP_CONTAINERS:=16}" "${BENCH_TP_RUNS:=1}" "${BENCH_RSS_SAMPLES:=3}"
    : "${BENCH_RESULTS:=$BENCH_WORK/quick-results}"
    : "${BENCH_DOCS:=$BENCH_WORK/quick-docs}"
fi
: "${BENCH_RUNS:=60}" "${BENCH_ROUNDS:=3}" "${BENCH_WARMUP:=3}"
: "${BENCH_TP_CONTAINERS:=100}" "${BENCH_TP_PARALLEL:=8}" "${BENCH_TP_RUNS:=5}"
: "${BENCH_RSS_SAMPLES:=10}"
: "${BENCH_RESULTS:=$BENCH_HOME/results}"
: "${BENCH_DOCS:=$BENCH_REPO/docs}"
export BENCH_RUNS BENCH_ROUNDS BENCH_WARMUP BENCH_TP_CONTAINERS BENCH_TP_PARALLEL \
    BENCH_TP_RUNS BENCH_RSS_SAMPLES BENCH_RESULTS BENCH_DOCS

HELPER=$BENCH_WORK/helper
PREP="bash $BENCH_LIB/prep.sh"
RAW=$BENCH_RESULTS/raw

# ---------------------------------------------------------------- outside
outer() {
    [[ $(id -u) -eq 0 ]] || bench_die "run as root"
    local need=() cmd
    for cmd in runc:runc crun:crun hyperfine:hyperfine busybox:busybox-static \
        jq:jq /usr/bin/time:time gcc:gcc unshare:util-linux python3:python3; do
        command -v "${cmd%%:*}" >/dev/null 2>&1 || need+=("${cmd##*:}")
    done
    if ((${#need[@]})); then
        echo "bench: installing ${need[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get -o DPkg::Lock::Timeout=900 update -q
        apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "${need[@]}"
    fi
    # A static busybox for the rootfs (the dynamic one would need its libs).
    local linkage
    linkage=$(ldd "$(command -v busybox)" 2>&1 || true)
    if [[ $linkage != *"not a dynamic"* ]]; then
        apt-get -o DPkg::Lock::Timeout=900 install -y -q busybox-static
    fi
    if [[ -z $BERTH_GIVEN ]]; then
        # The default binary is rebuilt from the working tree (a no-op when
        # current): an old build would be recorded under the tree's commit.
        (cd "$BENCH_REPO" && scripts/build-release.sh)
    elif [[ ! -x $BERTH ]]; then
        bench_die "BERTH=$BERTH is not an executable"
    fi
    [[ $BENCH_WORK != *[[:space:]@%]* && $BENCH_STATE != *[[:space:]@%]* ]] ||
        bench_die "work and state paths must not contain spaces, @ or %"
    mkdir -p "$BENCH_WORK"
    gcc -O2 -Wall -o "$HELPER" "$BENCH_LIB/helper.c"
    # The helper reaps the containers' orphaned processes (this machine's
    # pid 1 may not), inside a private mount namespace.
    # At a higher CPU priority (BENCH_NICE, default -10) to lessen the
    # noise of whatever else runs on the machine.
    exec nice -n "${BENCH_NICE:--10}" unshare -m --propagation private "$HELPER" reap \
        env BENCH_INNER=1 bash "$0" "$@"
}

# ---------------------------------------------------------------- inside
setup_cgroups() {
    if [[ $(stat -f -c %T /sys/fs/cgroup 2>/dev/null) != cgroup2fs &&
        $(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2fs ]]; then
        # Hybrid: hide the cgroup2 mount in this namespace only.
        umount -l /sys/fs/cgroup/unified
        mount -t tmpfs none /sys/fs/cgroup/unified
        CGROUP_MODE="v1 (hybrid host; cgroup2 hidden by a tmpfs in the benchmark's mount namespace)"
    elif [[ $(stat -f -c %T /sys/fs/cgroup 2>/dev/null) == cgroup2fs ]]; then
        CGROUP_MODE="v2 (unified)"
    else
        CGROUP_MODE="v1"
    fi
}

# Removes the (empty) cgroups that this run's containers left behind (ids
# <runtime>-<token>-<n> below /$BENCH_CGROUP), then /$BENCH_CGROUP if empty.
remove_cgroups() {
    local d
    for d in /sys/fs/cgroup/*/"$BENCH_CGROUP"/*-"$BENCH_TOKEN"-* \
        /sys/fs/cgroup/"$BENCH_CGROUP"/*-"$BENCH_TOKEN"-*; do
        if [[ -d $d ]]; then rmdir "$d" 2>/dev/null || true; fi
    done
    for d in /sys/fs/cgroup/*/"$BENCH_CGROUP" /sys/fs/cgroup/"$BENCH_CGROUP"; do
        if [[ -d $d ]]; then rmdir "$d" 2>/dev/null || true; fi
    done
    return 0
}

cleanup() {
    local r id
    for r in "${RUNTIMES[@]}"; do
        [[ -d $BENCH_STATE/$r ]] || continue
        for id in "$BENCH_STATE/$r"/*; do
            [[ -d $id ]] || continue
            rt "$r" delete -f "${id##*/}" </dev/null >/dev/null 2>&1 || true
        done
    done
    rm -rf "${BENCH_STATE:?}" "${BENCH_WORK:?}/bundles" "$BENCH_WORK/log"
    rmdir "$(dirname "$BENCH_STATE")" 2>/dev/null || true
    remove_cgroups
}

first_line() { head -n 1 | cut -c 1-160; }

record_na() { # BENCH RUNTIME REASON
    printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RAW/na.tsv"
    echo "  $2: n/a ($3)"
}

# probe BENCH LABEL PREPARE COMMAND: one untimed try, so that a runtime
# lacking a feature is recorded as n/a instead of failing the benchmark.
probe() {
    local bench=$1 label=$2 err=$BENCH_WORK/probe.err
    local -a prep cmd
    read -ra prep <<<"$3"
    read -ra cmd <<<"$4"
    # Output to files, never to a pipe: a created container's init keeps
    # the runtime's stdio open until it exits.
    if ! "${prep[@]}" </dev/null >/dev/null 2>"$err"; then
        record_na "$bench" "$label" "setup failed: $(first_line <"$err")"
        return 1
    fi
    if ! "${cmd[@]}" </dev/null >/dev/null 2>"$err"; then
        record_na "$bench" "$label" "$(first_line <"$err")"
        return 1
    fi
}

# hf BENCH RUNS WARMUP ROUNDS SPEC...: time the SPECs ("label|prepare|command")
# with hyperfine -N, RUNS in all split over ROUNDS invocations, the order of
# the commands rotated from one round to the next. Specs whose probe fails are
# left out (n/a). Raw exports: $RAW/BENCH.rK.json.
hf() {
    local bench=$1 runs=$2 warmup=$3 rounds=$4 spec label prep cmd k j
    shift 4
    local -a specs=() labels=()
    for spec in "$@"; do
        IFS='|' read -r label prep cmd <<<"$spec"
        if probe "$bench" "$label" "$prep" "$cmd"; then
            specs+=("$spec")
            labels+=("$label")
        fi
    done
    $PREP clear "${labels[@]}" "${RUNTIMES[@]}"
    ((${#specs[@]})) || return 0
    local n=${#specs[@]} per=$(((runs + rounds - 1) / rounds))
    for ((k = 0; k < rounds; k++)); do
        local -a args=(-N --style basic --runs "$per" --warmup "$warmup"
            --export-json "$RAW/$bench.r$k.json"
            --cleanup "$PREP clear ${labels[*]}")
        for ((j = 0; j < n; j++)); do
            IFS='|' read -r label prep cmd <<<"${specs[$(((j + k) % n))]}"
            args+=(-n "$label" --prepare "$prep" "$cmd")
        done
        echo "== $bench, round $((k + 1))/$rounds"
        local log=$RAW/$bench.r$k.log
        if ! hyperfine "${args[@]}" >"$log" 2>&1; then
            tail -n 20 "$log" >&2
            bench_die "hyperfine failed on $bench (log: $log)"
        fi
        grep -E '^(Benchmark|  Time|  Range)' "$log" | sed 's/^/  /' || true
    done
}

# Peak RSS (GNU time's %M: the runtime process and the helpers it reaps; the
# container's init, which outlives `create`, is not counted) of `create` and
# of `run`, and the resident memory of a created container's waiting init.
measure_rss() {
    local r i id kb pid
    echo "== peak RSS ($BENCH_RSS_SAMPLES samples per runtime)"
    : >"$RAW/rss.tsv"
    for r in "${RUNTIMES[@]}"; do
        for ((i = 0; i < BENCH_RSS_SAMPLES; i++)); do
            id=$(new_bundle "$r" true)
            /usr/bin/time -f %M -o "$BENCH_WORK/rss.out" \
                "$(rt_bin "$r")" --root "$BENCH_STATE/$r" create -b "$BENCH_WORK/bundles/$id" "$id" \
                </dev/null >/dev/null 2>"$BENCH_WORK/rss.err" ||
                bench_die "$r create failed: $(cat "$BENCH_WORK/rss.err")"
            printf '%s\tcreate\t%s\n' "$r" "$(tail -n 1 "$BENCH_WORK/rss.out")" >>"$RAW/rss.tsv"
            pid=$(rt "$r" state "$id" | jq -r .pid)
            kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
            printf '%s\tinit-waiting\t%s\n' "$r" "$kb" >>"$RAW/rss.tsv"
            drop_container "$r" "$id"
            id=$(new_bundle "$r" true)
            /usr/bin/time -f %M -o "$BENCH_WORK/rss.out" \
                "$(rt_bin "$r")" --root "$BENCH_STATE/$r" run -b "$BENCH_WORK/bundles/$id" "$id" \
                </dev/null >/dev/null 2>"$BENCH_WORK/rss.err" ||
                bench_die "$r run failed: $(cat "$BENCH_WORK/rss.err")"
            printf '%s\trun\t%s\n' "$r" "$(tail -n 1 "$BENCH_WORK/rss.out")" >>"$RAW/rss.tsv"
            drop_container "$r" "$id"
        done
        awk -v r="$r" '$1 == r {s[$2] = s[$2] " " $3} END {for (k in s) printf "  %s %s KiB:%s\n", r, k, s[k]}' \
            "$RAW/rss.tsv" | sort
    done
}

machine_info() {
    local model
    model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
    jq -n --arg nproc "$(nproc)" --arg model "$model" --arg kernel "$(uname -r)" \
        --arg os "$(. /etc/os-release && echo "$PRETTY_NAME")" \
        --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        --arg mem "$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)" \
        --arg berth "$("$BERTH" --version 2>&1 | first_line)" \
        --arg berth_commit "${BENCH_BERTH_COMMIT:-$(git -C "$BENCH_REPO" describe --always --dirty 2>/dev/null || echo unknown)}" \
        --arg runc "$("$RUNC" --version 2>&1 | first_line)" \
        --arg crun "$("$CRUN" --version 2>&1 | first_line)" \
        --arg hyperfine "$(hyperfine --version | first_line)" \
        --arg busybox "$(busybox 2>&1 | first_line | sed 's/ multi-call binary.*//')" \
        --arg cgroups "$CGROUP_MODE" \
        --arg seccomp "$(cat "$BENCH_WORK/seccomp.txt")" \
        --argjson runs "$BENCH_RUNS" --argjson rounds "$BENCH_ROUNDS" \
        --argjson warmup "$BENCH_WARMUP" --argjson tp_n "$BENCH_TP_CONTAINERS" \
        --argjson tp_p "$BENCH_TP_PARALLEL" --argjson tp_runs "$BENCH_TP_RUNS" \
        --argjson rss_n "$BENCH_RSS_SAMPLES" --argjson quick "$QUICK" \
        --arg nice "$(nice)" \
        '{machine: {nproc: $nproc, cpu: $model, memory: $mem, kernel: $kernel, os: $os,
                    cgroups: $cgroups, date: $date},
          versions: {berth: $berth, berth_commit: $berth_commit, runc: $runc, crun: $crun,
                     hyperfine: $hyperfine, busybox: $busybox},
          config: {runs: $runs, rounds: $rounds, warmup_per_round: $warmup,
                   throughput_containers: $tp_n, throughput_parallel: $tp_p,
                   throughput_runs: $tp_runs, rss_samples: $rss_n, quick: ($quick == 1), nice: $nice,
                   seccomp_profile: $seccomp}}' >"$RAW/machine.json"
}

inner() {
    local started=$SECONDS r
    setup_cgroups
    trap cleanup EXIT
    cleanup
    mkdir -p "$BENCH_STATE" "$RAW" "$BENCH_WORK/bundles"
    rm -f "$RAW"/*.json "$RAW"/*.tsv "$BENCH_WORK"/cur-* "$BENCH_WORK"/batch-* "$BENCH_WORK/counter"
    : >"$RAW/na.tsv"
    bash "$BENCH_LIB/mkbundle.sh"
    machine_info
    echo "start $(cut -d " " -f 1-3 /proc/loadavg)" >"$RAW/load.txt"
    echo "wrapper" >"$BENCH_WORK/wrapper.id"

    local W=$BENCH_WORK H="$HELPER id"
    local floor="unshare --fork --pid --mount --uts --ipc --net chroot $W/rootfs /bin/true"
    local -a specs

    # (a) run /bin/true (create + start + wait + delete), the floor, and the
    # timing wrapper alone.
    specs=()
    for r in "${RUNTIMES[@]}"; do
        specs+=("$r|$PREP one $r true -|$H $W/cur-$r $(rt_cmd "$r") run -b $W/bundles/@ID@ @ID@")
    done
    specs+=("floor|true|$H - $floor" "wrapper|true|$H $W/wrapper.id /bin/true @ID@")
    hf run "$BENCH_RUNS" "$BENCH_WARMUP" "$BENCH_ROUNDS" "${specs[@]}"

    # (b) the lifecycle commands one by one; the steps before each are
    # prepared (untimed) for every run.
    local op steps
    for op in create start state delete; do
        case $op in
        create) steps=- ;;
        start | state) steps=create ;;
        delete) steps=create,start,stopped ;;
        esac
        specs=()
        for r in "${RUNTIMES[@]}"; do
            local opargs="start @ID@"
            case $op in
            create) opargs="create -b $W/bundles/@ID@ @ID@" ;;
            state) opargs="state @ID@" ;;
            delete) opargs="delete @ID@" ;;
            esac
            specs+=("$r|$PREP one $r true $steps|$H $W/cur-$r $(rt_cmd "$r") $opargs")
        done
        hf "$op" "$BENCH_RUNS" "$BENCH_WARMUP" "$BENCH_ROUNDS" "${specs[@]}"
    done

    # (c) exec /bin/true in a running container (one per runtime).
    specs=()
    local id
    for r in "${RUNTIMES[@]}"; do
        id=$(new_bundle "$r" sleep)
        echo "$id" >"$W/exec-$r.id"
        if rt_logged "$r" "$id" create -b "$W/bundles/$id" "$id" 2>/dev/null &&
            rt_logged "$r" "$id" start "$id" 2>/dev/null; then
            specs+=("$r|true|$H $W/exec-$r.id $(rt_cmd "$r") exec @ID@ /bin/true")
        else
            record_na exec "$r" "exec target failed: $(tail -n 1 "$W/log/$id" | first_line)"
        fi
    done
    hf exec "$BENCH_RUNS" "$BENCH_WARMUP" "$BENCH_ROUNDS" "${specs[@]}"
    for r in "${RUNTIMES[@]}"; do
        drop_container "$r" "$(cat "$W/exec-$r.id")"
    done

    # (d) run /bin/true under the Docker-like default seccomp profile.
    specs=()
    for r in "${RUNTIMES[@]}"; do
        specs+=("$r|$PREP one $r seccomp -|$H $W/cur-$r $(rt_cmd "$r") run -b $W/bundles/@ID@ @ID@")
    done
    hf seccomp "$BENCH_RUNS" "$BENCH_WARMUP" "$BENCH_ROUNDS" "${specs[@]}"

    # (e) memory.
    measure_rss

    # (f) throughput: N containers run, P at a time; wall time of the batch.
    specs=()
    local xa="xargs -P $BENCH_TP_PARALLEL -I _CID_ -a"
    for r in "${RUNTIMES[@]}"; do
        specs+=("$r|$PREP batch $r true $BENCH_TP_CONTAINERS|$H - $xa $W/batch-$r.ids $(rt_cmd "$r") run -b $W/bundles/_CID_ _CID_")
    done
    specs+=("floor|$PREP batch floor true $BENCH_TP_CONTAINERS|$H - $xa $W/batch-floor.ids $floor")
    # No warm-up batch: the untimed probe batch before them is one.
    hf throughput "$BENCH_TP_RUNS" 0 1 "${specs[@]}"

    echo "end $(cut -d " " -f 1-3 /proc/loadavg)" >>"$RAW/load.txt"
    echo "$((SECONDS - started))" >"$RAW/duration.txt"
    echo "== summary (benchmark took $((SECONDS - started)) s; load average $(tr '\n' ' ' <"$RAW/load.txt"))"
    python3 "$BENCH_LIB/summarize.py" "$BENCH_RESULTS"
    mkdir -p "$BENCH_DOCS"
    python3 "$BENCH_HOME/report.py" "$BENCH_RESULTS/summary.json" \
        --md "$BENCH_DOCS/performance.md" --svg "$BENCH_DOCS/performance.svg"
}

if [[ ${BENCH_INNER:-} == 1 ]]; then
    inner
else
    outer "$@"
fi
