#!/bin/bash
# Docker checks: dockerd (Debian's docker.io) with the runtime added by
# --add-runtime, containers run with `docker run --runtime NAME`.
# Run by run.sh (which sets WORK, RT_NAME, RT_WRAP, CALLS, RESULTS).
# dockerd's data root, exec root (with its own containerd), pid file and
# socket live under $WORK/docker; dockerd is stopped on exit.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh disable=SC2034
source "$HERE/lib.sh"

ENGINE=docker
D=$WORK/docker
SOCK=$D/d.sock
EXEC=$D/exec
RTNAME=eng-$RT_NAME           # "runc" is reserved by dockerd
# Docker's --root for the runtime is $EXEC/runtime-<something>/moby (20.10
# uses runtime-runc for every runtime, later versions the binary's name).
CG=/docker                    # dockerd's cgroup parent (cgroupfs driver)
IMG=localhost/berth-busybox:latest
DOCKERD_PID=

mkdir -p "$D"
cgroup_parents_before "$CG"
# dockerd creates /run/docker/plugins whatever its exec root, and its
# containerd 1.6 the shim socket dir /run/containerd/s; remove the
# (empty) directories afterwards if we made them.
run_dirs_before /run/docker /run/docker/plugins /run/containerd /run/containerd/s

dk() { timeout 60 /usr/bin/docker -H "unix://$SOCK" "$@"; }
drun() { dk run --runtime "$RTNAME" --network none "$@"; }

cleanup() {
    local ids
    trap - EXIT INT TERM
    if [[ -n $DOCKERD_PID ]] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
        ids=$(dk ps -aq 2>/dev/null)
        # shellcheck disable=SC2086
        [[ -n $ids ]] && dk rm -f $ids >/dev/null 2>&1
    fi
    stop_pid "$DOCKERD_PID" dockerd
    kill_leftovers_under "$D"
    umount_under "$D"
    cgroup_parents_cleanup "$CG"
    run_dirs_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo '{}' >"$D/daemon.json"
dockerd --config-file "$D/daemon.json" --data-root "$D/data" --exec-root "$EXEC" \
    -H "unix://$SOCK" --pidfile "$D/dockerd.pid" \
    --add-runtime "$RTNAME=$RT_WRAP" \
    --iptables=false --ip-masq=false --bridge=none --userland-proxy=false \
    --storage-driver overlay2 --cgroup-parent "$CG" >"$D/dockerd.log" 2>&1 &
DOCKERD_PID=$!
for _ in $(seq 300); do
    dk version >/dev/null 2>&1 && break
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    sleep 0.1
done
if ! dk version >/dev/null 2>&1; then
    fail daemon-start "dockerd did not come up; see $D/dockerd.log: $(tail -3 "$D/dockerd.log")"
    exit 1
fi
if ! out=$(dk load -i "$WORK/images/busybox-docker.tar" 2>&1); then
    fail image-load "$out"
    exit 1
fi

id=d$$
state_of() { dk inspect -f '{{.State.Status}}' "$1" 2>&1; }
exit_of() { dk inspect -f '{{.State.ExitCode}}' "$1" 2>&1; }

mark
out=$(drun --rm "$IMG" echo hello from the container 2>&1)
expect output "hello from the container" "$out"

mark
drun --rm "$IMG" sh -c 'exit 7' >/dev/null 2>&1
expect exit-code 7 "$?"

# Docker reports 127 when the runtime's error says the executable is missing.
mark
out=$(drun --rm "$IMG" /no/such/binary 2>&1)
rc=$?
if [[ $rc == 127 ]]; then pass missing-exe; else fail missing-exe "exit $rc (want 127): $out"; fi

mark
if out=$(drun -d --name "$id-det" "$IMG" sleep 1000 2>&1); then
    out=$(dk exec "$id-det" echo hi 2>&1)
    expect exec-output hi "$out"
    mark
    dk exec "$id-det" sh -c 'exit 3' >/dev/null 2>&1
    expect exec-exit-code 3 "$?"

    mark
    out=$(dk top "$id-det" 2>&1)
    if [[ $out == *"sleep 1000"* ]]; then pass ps; else fail ps "docker top: $out"; fi

    mark
    out=$(dk pause "$id-det" 2>&1)
    st=$(state_of "$id-det")
    if [[ $st == paused ]]; then pass pause; else fail pause "$out; state $st"; fi
    mark
    out=$(dk unpause "$id-det" 2>&1)
    st=$(state_of "$id-det")
    if [[ $st == running && $(dk exec "$id-det" echo alive 2>&1) == alive ]]; then
        pass unpause
    else
        fail unpause "$out; state $st"
    fi
    # docker update -> runtime `update --resources -`; checked on the host.
    mark
    out=$(dk update -m 128m --memory-swap 256m --pids-limit 60 --cpu-shares 512 "$id-det" 2>&1)
    cid=$(dk inspect -f '{{.Id}}' "$id-det" 2>/dev/null)
    got="$(cat "/sys/fs/cgroup/memory$CG/$cid/memory.limit_in_bytes" 2>&1) $(cat "/sys/fs/cgroup/pids$CG/$cid/pids.max" 2>&1) $(cat "/sys/fs/cgroup/cpu$CG/$cid/cpu.shares" 2>&1)"
    if [[ $got == "134217728 60 512" ]]; then pass update; else fail update "$out; memory, pids, cpu shares: $got (want 134217728 60 512)"; fi

    mark
    out=$(timeout 60 script -qec "/usr/bin/docker -H unix://$SOCK exec -t $id-det sh -c 'tty; stty size >/dev/null && echo tty-ok'" /dev/null </dev/null 2>&1)
    out=$(tr -d '\r' <<<"$out")
    if [[ $out == *"/dev/pts/"*"tty-ok"* ]]; then pass exec-tty; else fail exec-tty "$out"; fi

    # restart: stop (sleep ignores SIGTERM: killed after 1 s), then create
    # and start again under the same id.
    mark
    out=$(dk restart -t 1 "$id-det" 2>&1)
    st=$(state_of "$id-det")
    if [[ $st == running && $(dk exec "$id-det" echo alive 2>&1) == alive ]]; then
        pass restart
    else
        fail restart "$out; state $st"
    fi
    dk rm -f "$id-det" >/dev/null 2>&1
else
    fail exec-output "docker run -d: $out"
    for c in exec-exit-code ps pause unpause update exec-tty restart; do fail_dep "$c" "detached run failed"; done
fi

# docker kill -s: the signal reaches the container's process.
mark
if out=$(drun -d --name "$id-usr1" "$IMG" sh -c 'trap "exit 43" USR1; echo ready; while :; do sleep 0.1; done' 2>&1); then
    for _ in $(seq 50); do dk logs "$id-usr1" 2>/dev/null | grep -q ready && break; sleep 0.1; done
    out=$(dk kill -s USR1 "$id-usr1" 2>&1)
    code=$(timeout 20 /usr/bin/docker -H "unix://$SOCK" wait "$id-usr1" 2>&1)
    expect kill-signal 43 "$code"
    dk rm -f "$id-usr1" >/dev/null 2>&1
else
    fail kill-signal "docker run -d: $out"
fi

# docker stop: SIGTERM reaches a process that handles it (exit code 42,
# well before the timeout); a PID 1 that ignores it is killed after -t.
mark
if out=$(drun -d --name "$id-trap" "$IMG" sh -c 'trap "exit 42" TERM; echo ready; while :; do sleep 0.1; done' 2>&1); then
    for _ in $(seq 50); do dk logs "$id-trap" 2>/dev/null | grep -q ready && break; sleep 0.1; done
    t0=$SECONDS
    out=$(dk stop -t 20 "$id-trap" 2>&1)
    took=$((SECONDS - t0))
    code=$(exit_of "$id-trap")
    if [[ $code == 42 && $took -lt 10 ]]; then pass stop-signal; else fail stop-signal "exit $code (want 42) after ${took}s: $out"; fi
    dk rm -f "$id-trap" >/dev/null 2>&1
else
    fail stop-signal "docker run -d: $out"
fi

mark
if out=$(drun -d --name "$id-kill" "$IMG" sleep 1000 2>&1); then
    t0=$(date +%s.%N)
    out=$(dk stop -t 2 "$id-kill" 2>&1)
    t1=$(date +%s.%N)
    code=$(exit_of "$id-kill")
    took=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
    if [[ $code == 137 ]] && awk -v t="$took" 'BEGIN {exit !(t >= 1.8 && t < 30)}'; then
        pass stop-timeout
    else
        fail stop-timeout "exit $code (want 137) after ${took}s (want ~2): $out"
    fi
    dk rm -f "$id-kill" >/dev/null 2>&1
else
    fail stop-timeout "docker run -d: $out"
fi

mark
out=$(drun --rm -e FOO=bar -w /tmp "$IMG" sh -c 'echo "$FOO $(pwd)"' 2>&1)
expect env-cwd "bar /tmp" "$out"

mark
out=$(drun --rm -u 1000:1000 "$IMG" sh -c 'echo "$(id -u):$(id -g)"' 2>&1)
expect user 1000:1000 "$out"

mark
out=$(drun --rm --read-only "$IMG" sh -c 'touch /probe 2>&1; echo rc=$?' 2>&1)
if [[ $out == *"Read-only file system"*"rc=1"* ]]; then pass read-only; else fail read-only "$out"; fi

mark
out=$(drun --rm -m 64m --pids-limit 50 "$IMG" sh -c \
    'echo "$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes) $(cat /sys/fs/cgroup/pids/pids.max)"' 2>&1)
out=$(grep -v WARNING <<<"$out")
expect memory-limit 67108864 "${out%% *}"
expect pids-limit 50 "${out#* }"

# Capabilities: only what --cap-add gives after --cap-drop ALL.
# (--privileged cannot run here: the host lacks CAP_SYS_RESOURCE.)
mark
out=$(drun --rm --cap-drop ALL --cap-add NET_BIND_SERVICE "$IMG" sh -c 'grep -E "^Cap(Eff|Bnd)" /proc/self/status' 2>&1)
if [[ $(awk '{print $2}' <<<"$out" | sort -u) == 0000000000000400 ]]; then pass caps; else fail caps "$out (want 0000000000000400)"; fi

mark
out=$(timeout 60 script -qec "/usr/bin/docker -H unix://$SOCK run --runtime $RTNAME --network none --rm -t $IMG sh -c 'tty; stty size >/dev/null && echo tty-ok'" /dev/null </dev/null 2>&1)
out=$(tr -d '\r' <<<"$out")
if [[ $out == *"/dev/pts/"*"tty-ok"* ]]; then pass tty; else fail tty "$out"; fi

# docker rm leaves no runtime state dir, mount or cgroup.
mark
before=$(mounts_under "$D")
if cid=$(drun -d --name "$id-rm" "$IMG" sleep 1000 2>&1); then
    running_state=$(ls -d "$EXEC"/runtime-*/moby/"$cid" 2>/dev/null)
    running_cg=$(cgroup_dirs "$CG" "$cid" | head -1)
    out=$(dk rm -f "$id-rm" 2>&1)
    left=$(ls -d "$EXEC"/runtime-*/moby/"$cid" 2>/dev/null)
    left_cg=$(cgroup_dirs "$CG" "$cid")
    after=$(mounts_under "$D")
    if [[ -z $running_state || -z $running_cg ]]; then
        fail rm-clean "while running: state dir '$running_state', cgroup '$running_cg' (expected both)"
    elif [[ -n $left || -n $left_cg || $before != "$after" ]]; then
        fail rm-clean "$out; left: state '$left' cgroups '$left_cg' mounts '$(comm -13 <(echo "$before") <(echo "$after"))'"
    else
        pass rm-clean
    fi
else
    fail rm-clean "docker run -d: $cid"
fi
exit 0
