#!/bin/bash
# Runs the same container checks through real engines with one OCI runtime.
#
#   run.sh [--runtime PATH] [--engines containerd,docker,podman] [--keep]
#          [--out DIR] [--known-failures FILE]
#
# --runtime   the runtime binary (default: the newer of target/release/berth
#             and target/debug/berth). Its basename names it (berth, runc, crun).
# --engines   comma-separated subset of containerd,docker,podman (default all).
#             containerd covers both `ctr run --runc-binary` (containerd-ctr)
#             and the CRI plugin with a runtime handler (containerd-cri).
# --out DIR   where results.tsv, calls.log, inputs/ and the daemons' logs go
#             (default: conformance/engines/work/<runtime name>).
# --keep      keep the temporary directory (daemon roots, logs).
# --known-failures FILE
#             lines "engine/check" (# comments allowed) expected to fail with
#             this runtime: such a failure prints XFAIL, counts as skipped and
#             does not fail the run; such a check passing prints XPASS.
#
# Every daemon runs with its root, state and socket under a fresh temporary
# directory and is stopped at the end, also on failure or interruption.
# The runtime is reached through a logging wrapper ($WORK/bin/<name>, made
# from runtime-wrapper.sh) that appends each call's argv and exit code (and,
# on failure, the tail of the --log file the engine passed) to calls.log,
# and keeps update's resources and a failed call's config.json in inputs/.
# crun 1.8 refuses this host's hybrid cgroup layout, so for crun the wrapper
# runs it in a private mount namespace where /sys/fs/cgroup/unified is
# covered by an empty tmpfs.
#
# Output: one line per check, "PASS|FAIL|N/A engine/check[: detail]", and
# last the line "N passed, N failed, N skipped". Exit 0 when nothing failed.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

RUNTIME=
ENGINES=containerd,docker,podman
OUT=
KEEP=0
KNOWN=
usage() {
    sed -n '2,/^set -uo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}" >&2
    exit 2
}
while (($#)); do
    case $1 in
    --runtime) RUNTIME=$2; shift 2 ;;
    --runtime=*) RUNTIME=${1#*=}; shift ;;
    --engines) ENGINES=$2; shift 2 ;;
    --engines=*) ENGINES=${1#*=}; shift ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --known-failures) KNOWN=$2; shift 2 ;;
    --known-failures=*) KNOWN=${1#*=}; shift ;;
    -h | --help) usage ;;
    *) echo "run.sh: unknown argument $1" >&2; usage ;;
    esac
done
[[ $(id -u) -eq 0 ]] || { echo "run.sh: must run as root" >&2; exit 2; }
[[ -z $KNOWN || -f $KNOWN ]] || { echo "run.sh: no file $KNOWN" >&2; exit 2; }

if [[ -z $RUNTIME ]]; then
    # The newer of the release and debug builds.
    for c in "$ROOT/target/release/berth" "$ROOT/target/debug/berth"; do
        [[ -x $c && ( -z $RUNTIME || $c -nt $RUNTIME ) ]] && RUNTIME=$c
    done
fi
[[ $RUNTIME == */* ]] || RUNTIME=$(command -v "$RUNTIME" || echo "$RUNTIME")
[[ -x $RUNTIME ]] || { echo "run.sh: runtime '$RUNTIME' not found or not executable" >&2; exit 2; }
RUNTIME=$(readlink -f "$RUNTIME")
RT_NAME=$(basename "$RUNTIME")

"$HERE/install.sh" || { echo "run.sh: install.sh failed" >&2; exit 2; }

OUT=${OUT:-$HERE/work/$RT_NAME}
mkdir -p "$OUT"
# Short path: containerd and dockerd put unix sockets below it.
WORK=$(mktemp -d /tmp/eng.XXXXXX)
chmod 755 "$WORK"
export WORK RT_NAME
RT_WRAP=$WORK/bin/$RT_NAME
CALLS=$WORK/calls.log
RESULTS=$WORK/results.tsv
export RT_WRAP CALLS RESULTS
: >"$RESULTS"
: >"$CALLS"

finish() {
    trap - EXIT INT TERM
    cp "$RESULTS" "$OUT/results.tsv" 2>/dev/null
    cp "$CALLS" "$OUT/calls.log" 2>/dev/null
    rm -rf "$OUT/inputs"
    cp -r "$WORK/inputs" "$OUT/inputs" 2>/dev/null
    for f in "$WORK"/*/*.log; do
        [[ -f $f ]] && cp "$f" "$OUT/$(basename "$(dirname "$f")")-$(basename "$f")"
    done
    umount_under "$WORK"
    if ((KEEP)); then
        echo "kept $WORK" >&2
    else
        rm -rf --one-file-system "$WORK"
    fi
}
child=
on_signal() {
    if [[ -n $child ]]; then
        kill -TERM "$child" 2>/dev/null
        wait "$child"
    fi
    exit 130
}
trap finish EXIT
trap on_signal INT TERM

# --- the logging wrapper -----------------------------------------------------
mkdir -p "$WORK/bin" "$WORK/inputs"
nsmode=0
if [[ $RT_NAME == crun ]] && grep -q ' /sys/fs/cgroup/unified cgroup2 ' /proc/self/mounts; then
    nsmode=1
fi
q() { printf '%q' "$1" | sed 's/[|&\\]/\\&/g'; }
sed -e "s|@CALLS@|$(q "$CALLS")|" -e "s|@INPUTS@|$(q "$WORK/inputs")|" \
    -e "s|@RUNTIME@|$(q "$RUNTIME")|" -e "s|@NSMODE@|$nsmode|" \
    "$HERE/runtime-wrapper.sh" >"$RT_WRAP"
chmod 755 "$RT_WRAP"

# --- the images -----------------------------------------------------------------
# busybox rootfs -> podman import -> oci-archive (containerd) and
# docker-archive (Docker); the podman store is shared with the podman checks.
mkdir -p "$WORK/images" "$WORK/podman"
t0=$SECONDS
build_rootfs_tar "$WORK/images"
cat >"$WORK/podman/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$WORK/podman/events.log"
tmp_dir = "$WORK/podman/tmp"
runtime_supports_json = ["crun", "runc", "kata", "runsc", "youki", "krun", "berth"]
EOF
pm_img() {
    CONTAINERS_CONF=$WORK/podman/containers.conf timeout 120 podman \
        --root "$WORK/podman/root" --runroot "$WORK/podman/run" --storage-driver overlay "$@"
}
if ! { pm_img import --change 'CMD ["/bin/sh"]' "$WORK/images/rootfs.tar" localhost/berth-busybox:latest &&
    pm_img import --change 'CMD ["/bin/sleep", "2147483647"]' "$WORK/images/rootfs.tar" localhost/berth-pause:latest &&
    pm_img save --format oci-archive -o "$WORK/images/busybox-oci.tar" localhost/berth-busybox:latest &&
    pm_img save --format oci-archive -o "$WORK/images/pause-oci.tar" localhost/berth-pause:latest &&
    pm_img save --format docker-archive -o "$WORK/images/busybox-docker.tar" localhost/berth-busybox:latest; } >"$WORK/images/build.log" 2>&1; then
    cat "$WORK/images/build.log" >&2
    echo "run.sh: building the busybox image failed" >&2
    exit 2
fi
echo "# images built in $((SECONDS - t0)) s; runtime $RUNTIME ($RT_NAME); work dir $WORK"

# --- the engines -----------------------------------------------------------------
declare -A took
IFS=, read -ra engine_list <<<"$ENGINES"
for e in "${engine_list[@]}"; do
    case $e in
    containerd | docker | podman) ;;
    *) echo "run.sh: unknown engine $e" >&2; exit 2 ;;
    esac
    echo "# --- $e"
    t0=$SECONDS
    echo "##### engine $e" >>"$CALLS"
    # Each engine script stops its own daemon on exit; the timeout is a
    # last resort against a hang (SIGTERM runs the script's cleanup).
    # Run in the background so that a signal to run.sh is passed on at once
    # (the engine script's trap stops its daemon) instead of after it ends.
    timeout -k 30 900 bash "$HERE/$e.sh" &
    child=$!
    wait "$child"
    rc=$?
    child=
    took[$e]=$((SECONDS - t0))
    if ((rc != 0)); then
        ENGINE=$e _record FAIL script "engine script exited $rc"
    fi
    echo "# $e took ${took[$e]} s"
done

echo "# runtime calls: $OUT/calls.log; results: $OUT/results.tsv"
for e in "${engine_list[@]}"; do printf '# time %s %s s\n' "$e" "${took[$e]}"; done
echo "# time total $SECONDS s"
{
    for e in "${engine_list[@]}"; do printf '#time\t%s\t%s\n' "$e" "${took[$e]}"; done
} >>"$RESULTS"
npass=$(awk -F'\t' '$3 == "PASS"' "$RESULTS" | wc -l)
nfail=$(awk -F'\t' '$3 == "FAIL"' "$RESULTS" | wc -l)
nskip=$(awk -F'\t' '$3 == "N/A"' "$RESULTS" | wc -l)
if [[ -n $KNOWN ]]; then
    known=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$KNOWN" | grep -v '^$')
    nxfail=0
    while IFS=$'\t' read -r eng check status _; do
        grep -qxF "$eng/$check" <<<"$known" || continue
        if [[ $status == FAIL ]]; then
            echo "XFAIL $eng/$check (known failure, listed in $KNOWN)"
            nxfail=$((nxfail + 1))
        elif [[ $status == PASS ]]; then
            echo "XPASS $eng/$check (listed in $KNOWN but passes now: remove it)"
        fi
    done < <(grep -v '^#' "$RESULTS")
    nfail=$((nfail - nxfail))
    nskip=$((nskip + nxfail))
    ((nxfail)) && echo "# $nxfail known failures counted as skipped"
fi
echo "$npass passed, $nfail failed, $nskip skipped"
((nfail == 0))
