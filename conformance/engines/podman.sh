#!/bin/bash
# Podman checks: `podman --runtime WRAPPER` (podman 4.3 with conmon, the
# cgroupfs manager). Run by run.sh (which sets WORK, RT_NAME, RT_WRAP,
# CALLS, RESULTS and has imported the image into $WORK/podman).
# Podman's root, runroot, tmpdir, events log and containers.conf live under
# $WORK/podman. Podman passes the runtime no --root, so the runtime keeps
# its state in its default root (/run/<name>); giving one with
# --runtime-flag root=DIR is not an option: podman 4.3's cleanup after a
# stop calls `delete --force` without it. Podman has no daemon: the
# containers are removed and any conmon left is stopped on exit.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh disable=SC2034
source "$HERE/lib.sh"

ENGINE=podman
D=$WORK/podman
RTROOT=/run/$RT_NAME          # the runtime's default root (berth, runc, crun)
CG=/libpod_parent             # podman's cgroup parent with cgroupfs
IMG=localhost/berth-busybox:latest
cgroup_parents_before "$CG"

# containers.conf (written by run.sh) lists the runtime in
# runtime_supports_json, sets cgroupfs, the file events logger and the
# ulimits this machine allows (no CAP_SYS_RESOURCE).
pm() {
    CONTAINERS_CONF=$D/containers.conf timeout 60 podman \
        --root "$D/root" --runroot "$D/run" --tmpdir "$D/tmp" --storage-driver overlay \
        --cgroup-manager cgroupfs --events-backend file \
        --runtime "$RT_WRAP" "$@"
}
prun() { pm run --network none "$@"; }

cleanup() {
    trap - EXIT INT TERM
    pm rm -a -f -t 0 >/dev/null 2>&1
    kill_leftovers_under "$D"
    umount_under "$D"
    cgroup_parents_cleanup "$CG"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

id=p$$
state_of() { pm inspect -f '{{.State.Status}}' "$1" 2>&1; }
exit_of() { pm inspect -f '{{.State.ExitCode}}' "$1" 2>&1; }

mark
out=$(prun --rm "$IMG" echo hello from the container 2>&1)
expect output "hello from the container" "$out"

mark
prun --rm "$IMG" sh -c 'exit 7' >/dev/null 2>&1
expect exit-code 7 "$?"

# Podman reports 127 when the runtime's error says the executable is missing.
mark
out=$(prun --rm "$IMG" /no/such/binary 2>&1)
rc=$?
if [[ $rc == 127 ]]; then pass missing-exe; else fail missing-exe "exit $rc (want 127): $out"; fi

mark
if out=$(prun -d --name "$id-det" "$IMG" sleep 1000 2>&1); then
    out=$(pm exec "$id-det" echo hi 2>&1)
    expect exec-output hi "$out"
    mark
    pm exec "$id-det" sh -c 'exit 3' >/dev/null 2>&1
    expect exec-exit-code 3 "$?"

    mark
    out=$(pm top "$id-det" 2>&1)
    if [[ $out == *"sleep 1000"* ]]; then pass ps; else fail ps "podman top: $out"; fi

    mark
    out=$(pm pause "$id-det" 2>&1)
    st=$(state_of "$id-det")
    if [[ $st == paused ]]; then pass pause; else fail pause "$out; state $st"; fi
    mark
    out=$(pm unpause "$id-det" 2>&1)
    st=$(state_of "$id-det")
    if [[ $st == running && $(pm exec "$id-det" echo alive 2>&1) == alive ]]; then
        pass unpause
    else
        fail unpause "$out; state $st"
    fi
    # podman update -> runtime `update --resources FILE`; checked on the host.
    mark
    out=$(pm update --memory 128m --memory-swap 256m --cpu-shares 512 "$id-det" 2>&1)
    cid=$(pm inspect -f '{{.Id}}' "$id-det" 2>/dev/null)
    cgm=$(cgroup_dirs "$CG" "$cid" | grep /memory/ | head -1)
    cgc=$(cgroup_dirs "$CG" "$cid" | grep /cpu/ | head -1)
    got="$(cat "$cgm/memory.limit_in_bytes" 2>&1) $(cat "$cgc/cpu.shares" 2>&1)"
    if [[ $got == "134217728 512" ]]; then pass update; else fail update "$out; memory, cpu shares: $got (want 134217728 512)"; fi

    mark
    out=$(CONTAINERS_CONF=$D/containers.conf timeout 60 script -qec "podman --root $D/root --runroot $D/run --tmpdir $D/tmp --storage-driver overlay --cgroup-manager cgroupfs --events-backend file --runtime $RT_WRAP exec -t $id-det sh -c 'tty; stty size >/dev/null && echo tty-ok'" /dev/null </dev/null 2>&1)
    out=$(tr -d '\r' <<<"$out")
    if [[ $out == *"/dev/pts/"*"tty-ok"* ]]; then pass exec-tty; else fail exec-tty "$out"; fi

    # restart: stop (sleep ignores SIGTERM: killed after 1 s), then create
    # and start again under the same id.
    mark
    out=$(pm restart -t 1 "$id-det" 2>&1)
    st=$(state_of "$id-det")
    if [[ $st == running && $(pm exec "$id-det" echo alive 2>&1) == alive ]]; then
        pass restart
    else
        fail restart "$out; state $st"
    fi
    pm rm -f -t 0 "$id-det" >/dev/null 2>&1
else
    fail exec-output "podman run -d: $out"
    for c in exec-exit-code ps pause unpause update exec-tty restart; do fail_dep "$c" "detached run failed"; done
fi

# podman kill -s: the signal reaches the container's process.
mark
if out=$(prun -d --name "$id-usr1" "$IMG" sh -c 'trap "exit 43" USR1; echo ready; while :; do sleep 0.1; done' 2>&1); then
    for _ in $(seq 50); do pm logs "$id-usr1" 2>/dev/null | grep -q ready && break; sleep 0.1; done
    out=$(pm kill -s USR1 "$id-usr1" 2>&1)
    code=$(pm wait "$id-usr1" 2>&1)
    expect kill-signal 43 "$code"
    pm rm -f -t 0 "$id-usr1" >/dev/null 2>&1
else
    fail kill-signal "podman run -d: $out"
fi

mark
if out=$(prun -d --name "$id-trap" "$IMG" sh -c 'trap "exit 42" TERM; echo ready; while :; do sleep 0.1; done' 2>&1); then
    for _ in $(seq 50); do pm logs "$id-trap" 2>/dev/null | grep -q ready && break; sleep 0.1; done
    t0=$SECONDS
    out=$(pm stop -t 20 "$id-trap" 2>&1)
    took=$((SECONDS - t0))
    code=$(exit_of "$id-trap")
    if [[ $code == 42 && $took -lt 10 ]]; then pass stop-signal; else fail stop-signal "exit $code (want 42) after ${took}s: $out"; fi
    pm rm -f -t 0 "$id-trap" >/dev/null 2>&1
else
    fail stop-signal "podman run -d: $out"
fi

mark
if out=$(prun -d --name "$id-kill" "$IMG" sleep 1000 2>&1); then
    t0=$(date +%s.%N)
    out=$(pm stop -t 2 "$id-kill" 2>&1)
    t1=$(date +%s.%N)
    code=$(exit_of "$id-kill")
    took=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
    if [[ $code == 137 ]] && awk -v t="$took" 'BEGIN {exit !(t >= 1.8 && t < 30)}'; then
        pass stop-timeout
    else
        fail stop-timeout "exit $code (want 137) after ${took}s (want ~2): $out"
    fi
    pm rm -f -t 0 "$id-kill" >/dev/null 2>&1
else
    fail stop-timeout "podman run -d: $out"
fi

mark
out=$(prun --rm -e FOO=bar -w /tmp "$IMG" sh -c 'echo "$FOO $(pwd)"' 2>&1)
expect env-cwd "bar /tmp" "$out"

mark
out=$(prun --rm -u 1000:1000 "$IMG" sh -c 'echo "$(id -u):$(id -g)"' 2>&1)
expect user 1000:1000 "$out"

mark
out=$(prun --rm --read-only "$IMG" sh -c 'touch /probe 2>&1; echo rc=$?' 2>&1)
if [[ $out == *"Read-only file system"*"rc=1"* ]]; then pass read-only; else fail read-only "$out"; fi

mark
out=$(prun --rm -m 64m --pids-limit 50 "$IMG" sh -c \
    'echo "$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes) $(cat /sys/fs/cgroup/pids/pids.max)"' 2>&1)
expect memory-limit 67108864 "${out%% *}"
expect pids-limit 50 "${out#* }"

# Capabilities: only what --cap-add gives after --cap-drop ALL.
mark
out=$(prun --rm --cap-drop ALL --cap-add NET_BIND_SERVICE "$IMG" sh -c 'grep -E "^Cap(Eff|Bnd)" /proc/self/status' 2>&1)
if [[ $(awk '{print $2}' <<<"$out" | sort -u) == 0000000000000400 ]]; then pass caps; else fail caps "$out (want 0000000000000400)"; fi

mark
out=$(CONTAINERS_CONF=$D/containers.conf timeout 60 script -qec "podman --root $D/root --runroot $D/run --tmpdir $D/tmp --storage-driver overlay --cgroup-manager cgroupfs --events-backend file --runtime $RT_WRAP run --network none --rm -t $IMG sh -c 'tty; stty size >/dev/null && echo tty-ok'" /dev/null </dev/null 2>&1)
out=$(tr -d '\r' <<<"$out")
if [[ $out == *"/dev/pts/"*"tty-ok"* ]]; then pass tty; else fail tty "$out"; fi

# podman rm leaves no runtime state dir, mount or cgroup.
mark
# (the storage driver's own bind mount of root/overlay comes and goes)
before=$(mounts_under "$D" | grep -vx "$D/root/overlay")
if cid=$(prun -d --name "$id-rm" "$IMG" sleep 1000 2>&1); then
    running_state=$(ls -d "$RTROOT/$cid" 2>/dev/null)
    running_cg=$(cgroup_dirs "$CG" "$cid" | head -1)
    out=$(pm rm -f -t 0 "$id-rm" 2>&1)
    left=$(ls -d "$RTROOT/$cid" 2>/dev/null)
    left_cg=$(cgroup_dirs "$CG" "$cid")
    after=$(mounts_under "$D" | grep -vx "$D/root/overlay")
    if [[ -z $running_state || -z $running_cg ]]; then
        fail rm-clean "while running: state dir '$running_state', cgroup '$running_cg' (expected both)"
    elif [[ -n $left || -n $left_cg || $before != "$after" ]]; then
        fail rm-clean "$out; left: state '$left' cgroups '$left_cg' mounts '$(comm -13 <(echo "$before") <(echo "$after"))'"
    else
        pass rm-clean
    fi
else
    fail rm-clean "podman run -d: $cid"
fi
exit 0
