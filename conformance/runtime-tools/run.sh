#!/bin/bash
# Runs the OCI runtime-tools validation programs (built by setup.sh) against
# one runtime.
#
#   RUNTIME=<binary> run.sh [--check-expected FILE] [--timeout SECS] [program...]
#
# With no program named it runs all of them (with --check-expected: the ones
# listed in FILE). Each program's TAP output goes to
# work/results/<runtime-name>/<program>.tap (its stderr beside it, .stderr),
# a per-program summary to work/results/<runtime-name>/summary.tsv, and a
# table to stdout ending with the line "N passed, N failed".
#
# A program passes when it exits 0 and prints no "not ok" line. The hook
# programs (hooks, prestart, poststart, poststop and their _fail forms) report
# violations only as a YAML block with an "error:" key; such a block counts as
# a failure too (strict mode).
#
# poststart is run up to five times (it races itself; see RACY_RE below);
# a pass on a later try shows "try N of 5" in the NOTE column.
#
# Exit status: without --check-expected, 0 when every program ran passed and
# 1 otherwise; with --check-expected FILE, 1 when a program listed in FILE
# fails (a regression) and 0 otherwise. 2 for usage or setup errors.
#
# Environment:
#   RUNTIME        runtime binary or wrapper (required), path or command name
#   RUNTIME_NAME   name for the results directory (default: from RUNTIME)
#   TIMEOUT        seconds per program (default 120; --timeout overrides)
#
# Isolation: the runtime is called through a small wrapper that adds
# --root work/run/<name>/state, so test containers never mix with other
# containers on the machine; bundles go to work/run/<name>/tmp (TMPDIR). Each
# program runs in a new cgroup namespace (unshare -C): runtimes place
# containers without an absolute cgroupsPath below the cgroup they find in
# /proc/self/cgroup, which in the namespace is the hierarchy root, so no
# cgroup is created below the session's own cgroup. It also gets a private
# mount namespace (unshare -m): containers that share the caller's mount
# namespace (linux_ns_itype and friends) mount /proc, /sys, /dev into their
# bundle there, and those mounts go away with the namespace instead of
# staying on the host. After each program its leftover containers are
# deleted, the empty cgroups it left are removed, and its bundles are removed
# without crossing mount points.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=$HERE/work
BIN=$WORK/bin

usage() {
    sed -n '2,/^set -uo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}" >&2
    exit 2
}
die() {
    echo "run.sh: error: $*" >&2
    exit 2
}

EXPECTED=
TIMEOUT=${TIMEOUT:-120}
programs=()
while [ $# -gt 0 ]; do
    case $1 in
    --check-expected)
        [ $# -ge 2 ] || usage
        EXPECTED=$2
        shift 2
        ;;
    --check-expected=*)
        EXPECTED=${1#*=}
        shift
        ;;
    --timeout)
        [ $# -ge 2 ] || usage
        TIMEOUT=$2
        shift 2
        ;;
    -h | --help) usage ;;
    -*) die "unknown option $1 (see --help)" ;;
    *)
        programs+=("${1%.t}")
        shift
        ;;
    esac
done

[ "$(id -u)" -eq 0 ] || die "must run as root (the runtimes create containers)"
[ -n "${RUNTIME:-}" ] || die "set RUNTIME to the runtime binary, e.g. RUNTIME=target/release/berth"
case $TIMEOUT in '' | *[!0-9]*) die "--timeout wants seconds, got '$TIMEOUT'" ;; esac
rt=$RUNTIME
if [[ $rt == */* ]]; then
    [ -x "$rt" ] || die "RUNTIME $rt is not an executable file"
    rt=$(cd "$(dirname "$rt")" && pwd)/$(basename "$rt")
else
    rt=$(command -v "$rt") || die "RUNTIME $RUNTIME not found in PATH"
fi
name=${RUNTIME_NAME:-$(basename "$rt")}
name=${name%.sh}
name=${name%-wrapper}

"$HERE/setup.sh" || die "setup.sh failed"

all=$(ls "$BIN/validation")
if [ -n "$EXPECTED" ]; then
    [ -f "$EXPECTED" ] || die "expected-pass file $EXPECTED not found"
    expected=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e 's/\.t$//' "$EXPECTED" | grep -v '^$' || true)
    for p in $expected; do
        grep -qx "$p" <<<"$all" || die "$EXPECTED names $p, which is not a validation program"
    done
    [ ${#programs[@]} -gt 0 ] || mapfile -t programs < <(printf '%s\n' $expected)
fi
[ ${#programs[@]} -gt 0 ] || mapfile -t programs <<<"$all"
for p in "${programs[@]}"; do
    grep -qx "$p" <<<"$all" || die "no validation program '$p' (see $BIN/validation)"
done

RES=$WORK/results/$name
RUN=$WORK/run/$name
STATE=$RUN/state
mkdir -p "$RES"

# The runtime as the programs call it: with a private state directory.
wrapper=$RUN/runtime
write_wrapper() {
    mkdir -p "$RUN/tmp" "$STATE"
    printf '#!/bin/sh\nexec %q --root %q "$@"\n' "$rt" "$STATE" >"$wrapper"
    chmod +x "$wrapper"
}

# Deletes the containers left in our private state directory.
delete_leftovers() {
    [ -x "$wrapper" ] || return 0
    local id
    for id in $("$wrapper" list -q 2>/dev/null || "$wrapper" list 2>/dev/null | awk 'NR > 1 {print $1}'); do
        "$wrapper" kill "$id" KILL >/dev/null 2>&1
        "$wrapper" delete --force "$id" >/dev/null 2>&1 || "$wrapper" delete "$id" >/dev/null 2>&1
        echo "run.sh: deleted leftover container $id" >&2
    done
}

# Cgroup mount points (v1 hierarchies and the cgroup2 one).
cgroup_mounts() { awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/self/mounts; }
UUID_RE='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
# Top-level cgroups named like the suite's container IDs (UUIDs).
uuid_cgroups() {
    local m
    for m in $(cgroup_mounts); do
        ls "$m" 2>/dev/null | grep -E "$UUID_RE" | sed "s|^|$m/|"
    done | sort
}
# Removes (rmdir: empty ones only) the cgroups the suite's fixed paths
# (/cgrouptest, testdir/cgrouptest/container) leave, and top-level UUID
# cgroups that appeared during the program ($1: the list from before).
remove_cgroups() {
    local m r d
    for m in $(cgroup_mounts); do
        for r in testdir/cgrouptest/container testdir/cgrouptest testdir cgrouptest; do
            [ -d "$m/$r" ] && rmdir "$m/$r" 2>/dev/null
        done
    done
    for d in $(comm -13 <(printf '%s\n' "$1") <(uuid_cgroups)); do
        rmdir "$d" 2>/dev/null
    done
    return 0
}

# Removes a directory without crossing into anything mounted below it:
# mounts a runtime left there (in this mount namespace) are detached first.
safe_rm() {
    local m
    [ -e "$1" ] || return 0
    for m in $(awk -v d="$1/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
        umount -l "$m" 2>/dev/null && echo "run.sh: detached leftover mount $m" >&2
    done
    rm -rf --one-file-system "$1"
}

delete_leftovers
safe_rm "$RUN"
write_wrapper

HOOK_RE='^(hooks|prestart|prestart_fail|poststart|poststart_fail|poststop|poststop_fail)$'
# Programs whose verdict depends on a race inside the program itself, run up
# to five times: poststart has the container's shell and the poststart hook
# append to one file at the same moment and wants the container's line first,
# which no runtime can promise (berth runs the hook after the program is
# executed, as the spec says; the shell may still be slower than the hook).
RACY_RE='^(poststart)$'
summary=$RES/summary.tsv
printf 'program\tresult\tok\tnot_ok\tyaml_errors\texit\tseconds\tfirst_error\truntime_stderr\n' >"$summary"
printf '%-36s %-7s %5s %7s  %s\n' PROGRAM RESULT OK "NOT OK" NOTE
passed=0
failed=0
failed_list=()
for p in "${programs[@]}"; do
    tap=$RES/$p.tap
    err=$RES/$p.stderr
    tries=1
    [[ $p =~ $RACY_RE ]] && tries=5
    for try in $(seq 1 "$tries"); do
    before=$(uuid_cgroups)
    start=$(date +%s)
    (cd "$BIN" && exec timeout -k 10 "$TIMEOUT" unshare -C -m --propagation private \
        env RUNTIME="$wrapper" TMPDIR="$RUN/tmp" "./validation/$p") >"$tap" 2>"$err" </dev/null
    rc=$?
    secs=$(($(date +%s) - start))
    delete_leftovers
    remove_cgroups "$before"
    safe_rm "$RUN/tmp"
    mkdir -p "$RUN/tmp"

    ok=$(grep -c '^ok ' "$tap")
    notok=$(grep -c '^not ok' "$tap")
    yamlerr=0
    if [[ $p =~ $HOOK_RE ]]; then
        yamlerr=$(grep -c '^  error:' "$tap")
    fi
    first=$(grep -m1 '^not ok' "$tap")
    if [ -z "$first" ] && [ "$yamlerr" -gt 0 ]; then
        # "error: text", or "error: |2-" followed by the text's lines
        first=$(awk '/^  error:/ { if ($2 ~ /^\|/) { getline; sub(/^ +/, ""); print "error: " $0 } else { sub(/^ +/, ""); print }; exit }' "$tap")
    fi
    note=
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        result=TIMEOUT
        note="killed after ${TIMEOUT}s"
    elif [ "$rc" -ne 0 ]; then
        result=FAIL
        note="exit $rc"
    elif [ "$notok" -gt 0 ] || [ "$yamlerr" -gt 0 ]; then
        result=FAIL
    else
        result=PASS
    fi
    if [ "$result" = PASS ] || [ "$try" -eq "$tries" ]; then
        break
    fi
    echo "run.sh: $p failed on try $try of $tries (the program races itself), running it again" >&2
    done
    [ "$try" -gt 1 ] && note="${note:+$note; }try $try of $tries"
    [ "$yamlerr" -gt 0 ] && note="${note:+$note; }$yamlerr YAML error block(s)"
    if [ -z "$first" ] && [ "$result" != PASS ]; then
        first=$(grep -v '^[[:space:]]*$' "$err" | tail -n1)
    fi
    first=$(printf '%s' "$first" | tr '\t\r\n' '   ' | cut -c1-300)
    # The runtime's own complaint, when there is one: the first line of the
    # program's stderr that is not the suite's boilerplate, else the first
    # "stderr:" value in the TAP diagnostics from the first "not ok" on.
    rterr=
    if [ "$result" != PASS ]; then
        rterr=$(grep -v -E '^[[:space:]]*$|^failed to (create|start|delete) the container|^exit status [0-9]+$|^Clean: ' "$err" | head -n1)
        [ -n "$rterr" ] || rterr=$(awk '/^not ok/ { seen = 1 } seen && /^ +stderr: / {
                if ($2 ~ /^\|/) { getline; sub(/^ +/, ""); print } else { sub(/^ +stderr: /, ""); print }
                exit }' "$tap")
        rterr=$(printf '%s' "$rterr" | tr '\t\r\n' '   ' | cut -c1-300)
    fi
    if [ "$result" = PASS ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failed_list+=("$p")
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$result" "$ok" "$notok" "$yamlerr" "$rc" "$secs" "$first" "$rterr" >>"$summary"
    printf '%-36s %-7s %5s %7s  %s\n' "$p" "$result" "$ok" "$notok" "$note"
done
delete_leftovers
safe_rm "$RUN"

echo "runtime $rt; TAP output in $RES" >&2
status=0
if [ -n "$EXPECTED" ]; then
    regressions=()
    for p in "${failed_list[@]}"; do
        grep -qx "$p" <<<"$expected" && regressions+=("$p")
    done
    newly=()
    for p in "${programs[@]}"; do
        if ! grep -qx "$p" <<<"$expected" && ! printf '%s\n' "${failed_list[@]}" | grep -qx "$p"; then
            newly+=("$p")
        fi
    done
    if [ ${#regressions[@]} -gt 0 ]; then
        echo "REGRESSION: expected to pass (per $EXPECTED) but failed: ${regressions[*]}" >&2
        status=1
    else
        echo "every program listed in $EXPECTED passed" >&2
    fi
    [ ${#newly[@]} -eq 0 ] || echo "passing but not listed in $EXPECTED: ${newly[*]}" >&2
elif [ "$failed" -gt 0 ]; then
    status=1
fi
echo "$passed passed, $failed failed"
exit $status
