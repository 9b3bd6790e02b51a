#!/usr/bin/env bash
# hyperfine --prepare / --cleanup hooks (never timed).
#
#   prep.sh one RT KIND STEPS   drop RT's previous container, make a fresh
#                               bundle (KIND config), write its id to
#                               $BENCH_WORK/cur-RT, then do STEPS: "-" (none),
#                               "create", "create,start" or "create,start,stopped"
#   prep.sh batch RT KIND N     drop RT's previous batch and make N fresh
#                               bundles, their ids in $BENCH_WORK/batch-RT.ids
#   prep.sh clear RT...         drop the current container and batch of each RT
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "$0")/common.sh"

clear_one() {
    local r=$1 f=$BENCH_WORK/cur-$1 id
    if [[ -f $f ]]; then
        id=$(cat "$f")
        drop_container "$r" "$id"
        rm -f "$f"
    fi
}

clear_batch() {
    local r=$1 f=$BENCH_WORK/batch-$1.ids id
    [[ -f $f ]] || return 0
    while read -r id; do
        [[ $r == floor ]] || drop_container "$r" "$id"
    done <"$f"
    rm -f "$f"
}

case ${1:-} in
one)
    [[ $# -eq 4 ]] || bench_die "usage: prep.sh one RT KIND STEPS"
    r=$2 kind=$3 steps=$4
    clear_one "$r"
    id=$(new_bundle "$r" "$kind")
    IFS=, read -ra todo <<<"$steps"
    for step in "${todo[@]}"; do
        case $step in
        -) ;;
        create) rt_logged "$r" "$id" create -b "$BENCH_WORK/bundles/$id" "$id" ;;
        start) rt_logged "$r" "$id" start "$id" ;;
        stopped) wait_status "$r" "$id" stopped ;;
        *) bench_die "unknown step $step" ;;
        esac
    done
    echo "$id" >"$BENCH_WORK/cur-$r"
    ;;
batch)
    [[ $# -eq 4 ]] || bench_die "usage: prep.sh batch RT KIND N"
    r=$2 kind=$3 n=$4
    clear_batch "$r"
    for ((i = 0; i < n; i++)); do
        if [[ $r == floor ]]; then
            echo "floor-$i"
        else
            new_bundle "$r" "$kind"
        fi
    done >"$BENCH_WORK/batch-$r.ids.tmp"
    mv "$BENCH_WORK/batch-$r.ids.tmp" "$BENCH_WORK/batch-$r.ids"
    ;;
clear)
    shift
    for r in "$@"; do
        [[ $r == floor || $r == wrapper ]] && continue
        clear_one "$r"
        clear_batch "$r"
    done
    ;;
*)
    bench_die "usage: prep.sh one|batch|clear ..."
    ;;
esac
