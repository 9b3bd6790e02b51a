#!/bin/bash
# containerd checks, two ways of reaching the runtime:
#   containerd-ctr  `ctr run --runc-binary WRAPPER --runc-root DIR` (the
#                   io.containerd.runc.v2 shim with BinaryName set by ctr)
#   containerd-cri  the CRI plugin with a runtime handler whose options set
#                   BinaryName, driven over gRPC by cri.py
# Run by run.sh (which sets WORK, RT_NAME, RT_WRAP, CALLS, RESULTS).
# containerd's root, state, socket and the runtime roots live under
# $WORK/containerd; the daemon and any shim it left are stopped on exit.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh disable=SC2034
source "$HERE/lib.sh"

D=$WORK/containerd
SOCK=$D/c.sock
NS=berth-eng                  # containerd namespace for ctr
CG_CTR=/$NS                   # containerd's default cgroup parent: /<namespace>
CG_CRI=/berth-eng-cri         # cgroup_parent given to the CRI pod
CTR_RT=$D/rt-ctr              # --runc-root for ctr
CRI_RT=$D/rt-cri              # runtime handler's Root
IMG=localhost/berth-busybox:latest
PAUSE=localhost/berth-pause:latest
PY=/usr/bin/python3
CTRD_PID=

mkdir -p "$D" "$CTR_RT" "$CRI_RT" "$D/cni/bin" "$D/cni/conf" "$D/logs"
cgroup_parents_before "$CG_CTR" "$CG_CRI"
# containerd 1.6 puts the shims' sockets in /run/containerd/s whatever the
# config says; remove the (empty) directories afterwards if we made them.
run_dirs_before /run/containerd /run/containerd/s /run/containerd/fifo

ctr_() { timeout 60 ctr -a "$SOCK" -n "$NS" "$@"; }
ctr_run() { ctr_ run --fifo-dir "$D/fifo" --runc-binary "$RT_WRAP" --runc-root "$CTR_RT" "$@"; }
ctr_exec() { ctr_ task exec --fifo-dir "$D/fifo" "$@"; }
cri() { timeout 90 "$PY" "$HERE/cri.py" "$SOCK" "$@"; }

cleanup() {
    local c
    trap - EXIT INT TERM
    if [[ -n $CTRD_PID ]] && kill -0 "$CTRD_PID" 2>/dev/null; then
        for c in $(ctr -a "$SOCK" -n "$NS" tasks ls -q 2>/dev/null); do
            timeout 20 ctr -a "$SOCK" -n "$NS" tasks kill -s SIGKILL "$c" >/dev/null 2>&1
        done
        sleep 0.5
        for c in $(ctr -a "$SOCK" -n "$NS" containers ls -q 2>/dev/null); do
            timeout 20 ctr -a "$SOCK" -n "$NS" tasks rm -f "$c" >/dev/null 2>&1
            timeout 20 ctr -a "$SOCK" -n "$NS" containers rm "$c" >/dev/null 2>&1
        done
        [[ -n ${POD_ID-} ]] && { cri stop-pod "$POD_ID"; cri rm-pod "$POD_ID"; } >/dev/null 2>&1
    fi
    stop_pid "$CTRD_PID" containerd
    kill_leftovers_under "$D"
    umount_under "$D"
    cgroup_parents_cleanup "$CG_CTR" "$CG_CRI"
    run_dirs_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- start containerd ------------------------------------------------------
cat >"$D/config.toml" <<EOF
version = 2
root = "$D/root"
state = "$D/state"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$D/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$D/cni/bin"
    conf_dir = "$D/cni/conf"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "$RT_NAME"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.$RT_NAME]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.$RT_NAME.options]
      BinaryName = "$RT_WRAP"
      Root = "$CRI_RT"
EOF

ENGINE=containerd-ctr
containerd --config "$D/config.toml" >"$D/containerd.log" 2>&1 &
CTRD_PID=$!
for _ in $(seq 100); do
    ctr -a "$SOCK" version >/dev/null 2>&1 && break
    sleep 0.1
done
if ! ctr -a "$SOCK" version >/dev/null 2>&1; then
    fail daemon-start "containerd did not come up; see $D/containerd.log"
    exit 1
fi

# Images: the oci-archives run.sh made with podman save.
for ns in "$NS" k8s.io; do
    for f in "$WORK/images/busybox-oci.tar" "$WORK/images/pause-oci.tar"; do
        if ! out=$(timeout 120 ctr -a "$SOCK" -n "$ns" images import "$f" 2>&1); then
            fail image-import "$ns $f: $out"
            exit 1
        fi
    done
done

# --- ctr ---------------------------------------------------------------------
id=c$$

mark
out=$(ctr_run --rm "$IMG" "$id-out" echo hello from the container 2>&1)
expect output "hello from the container" "$out"

mark
ctr_run --rm "$IMG" "$id-exit" sh -c 'exit 7' >/dev/null 2>&1
expect exit-code 7 "$?"

# A detached container for exec, ps, pause/resume.
mark
if out=$(ctr_run -d "$IMG" "$id-det" sleep 1000 2>&1); then
    out=$(ctr_exec --exec-id e1 "$id-det" echo hi 2>&1)
    expect exec-output hi "$out"
    mark
    ctr_exec --exec-id e2 "$id-det" sh -c 'exit 3' >/dev/null 2>&1
    expect exec-exit-code 3 "$?"

    mark
    out=$(ctr_ task ps "$id-det" 2>&1)
    pids=$(awk 'NR > 1 {print $1}' <<<"$out")
    if [[ -n $pids ]] && grep -q sleep "/proc/${pids%%$'\n'*}/cmdline" 2>/dev/null; then
        pass ps
    else
        fail ps "ctr task ps: $out"
    fi

    mark
    if out=$(ctr_ task pause "$id-det" 2>&1) &&
        ctr_ task ls | awk -v i="$id-det" '$1 == i {print $3}' | grep -qx PAUSED; then
        pass pause
    else
        fail pause "$out $(ctr_ task ls 2>&1 | grep "$id-det")"
    fi
    mark
    if out=$(ctr_ task resume "$id-det" 2>&1) &&
        ctr_ task ls | awk -v i="$id-det" '$1 == i {print $3}' | grep -qx RUNNING &&
        [[ $(ctr_exec --exec-id e3 "$id-det" echo alive 2>&1) == alive ]]; then
        pass unpause
    else
        fail unpause "$out $(ctr_ task ls 2>&1 | grep "$id-det")"
    fi
    mark
    out=$(timeout 60 script -qec "ctr -a $SOCK -n $NS task exec --fifo-dir $D/fifo -t --exec-id e4 $id-det sh -c 'tty; stty size >/dev/null && echo tty-ok'" /dev/null </dev/null 2>&1)
    out=$(tr -d '\r' <<<"$out")
    if [[ $out == *"/dev/pts/"*"tty-ok"* ]]; then pass exec-tty; else fail exec-tty "$out"; fi

    ctr_ task kill -s SIGKILL "$id-det" >/dev/null 2>&1
    sleep 0.3
    ctr_ task rm -f "$id-det" >/dev/null 2>&1
    ctr_ containers rm "$id-det" >/dev/null 2>&1
else
    fail exec-output "ctr run -d: $out"
    for c in exec-exit-code ps pause unpause exec-tty; do fail_dep "$c" "detached run failed"; done
fi

# Stop: SIGTERM reaches a process that handles it (its exit code comes
# back); a PID 1 that ignores SIGTERM keeps running until SIGKILL (137).
mark
ctr_run --rm "$IMG" "$id-trap" sh -c 'trap "exit 42" TERM; echo ready; while :; do sleep 0.1; done' >"$D/trap.out" 2>&1 &
bg=$!
for _ in $(seq 50); do grep -q ready "$D/trap.out" && break; sleep 0.1; done
ctr_ task kill -s SIGTERM "$id-trap" >/dev/null 2>&1
wait "$bg"
expect stop-signal 42 "$?"

mark
ctr_run --rm "$IMG" "$id-kill" sleep 1000 >/dev/null 2>&1 &
bg=$!
for _ in $(seq 50); do [[ $(ctr_ task ls 2>/dev/null | awk -v i="$id-kill" '$1 == i {print $3}') == RUNNING ]] && break; sleep 0.1; done
ctr_ task kill -s SIGTERM "$id-kill" >/dev/null 2>&1
sleep 1
state=$(ctr_ task ls 2>/dev/null | awk -v i="$id-kill" '$1 == i {print $3}')
ctr_ task kill -s SIGKILL "$id-kill" >/dev/null 2>&1
wait "$bg"
rc=$?
if [[ $state == RUNNING && $rc == 137 ]]; then
    pass stop-timeout
else
    fail stop-timeout "after SIGTERM state '$state' (want RUNNING), after SIGKILL exit $rc (want 137)"
fi

mark
out=$(ctr_run --rm --env FOO=bar --cwd /tmp "$IMG" "$id-env" sh -c 'echo "$FOO $(pwd)"' 2>&1)
expect env-cwd "bar /tmp" "$out"

mark
out=$(ctr_run --rm --read-only "$IMG" "$id-ro" sh -c 'touch /probe 2>&1; echo rc=$?' 2>&1)
if [[ $out == *"Read-only file system"*"rc=1"* ]]; then pass read-only; else fail read-only "$out"; fi

# User and limits through a spec file (ctr has no --user and no pids flag):
# process.user 1000:1000, memory 64 MiB, pids 50. Checked from the host.
mark
"$PY" - "$D/spec.json" "$WORK/images/rootfs" "$CG_CTR/$id-lim" <<'EOF'
import json, subprocess, sys
spec = json.loads(subprocess.check_output(["ctr", "oci", "spec"]))
spec["process"]["args"] = ["sleep", "1000"]
spec["process"]["user"] = {"uid": 1000, "gid": 1000}
spec["process"]["env"] = ["PATH=/bin"]
spec["root"] = {"path": sys.argv[2], "readonly": True}
spec["linux"]["cgroupsPath"] = sys.argv[3]
spec["linux"].setdefault("resources", {})
spec["linux"]["resources"]["memory"] = {"limit": 64 << 20}
spec["linux"]["resources"]["pids"] = {"limit": 50}
json.dump(spec, open(sys.argv[1], "w"), indent=1)
EOF
if out=$(ctr_run -d --config "$D/spec.json" "$id-lim" 2>&1); then
    pid=$(ctr_ task ls | awk -v i="$id-lim" '$1 == i {print $2}')
    ids=$(awk '/^Uid:/ {u=$2} /^Gid:/ {g=$2} END {print u ":" g}' "/proc/$pid/status" 2>/dev/null)
    expect user 1000:1000 "$ids"
    expect memory-limit 67108864 "$(cat "/sys/fs/cgroup/memory$CG_CTR/$id-lim/memory.limit_in_bytes" 2>&1)"
    expect pids-limit 50 "$(cat "/sys/fs/cgroup/pids$CG_CTR/$id-lim/pids.max" 2>&1)"
    ctr_ task kill -s SIGKILL "$id-lim" >/dev/null 2>&1
    sleep 0.3
    ctr_ task rm -f "$id-lim" >/dev/null 2>&1
    ctr_ containers rm "$id-lim" >/dev/null 2>&1
else
    for c in user memory-limit pids-limit; do fail_dep "$c" "ctr run --config: $out"; done
fi

# A terminal: ctr -t needs its own stdin to be a terminal, script(1) gives one.
mark
out=$(timeout 60 script -qec "ctr -a $SOCK -n $NS run --fifo-dir $D/fifo --runc-binary $RT_WRAP --runc-root $CTR_RT --rm -t $IMG $id-tty sh -c 'tty; stty size >/dev/null && echo tty-ok'" /dev/null </dev/null 2>&1)
out=$(tr -d '\r' <<<"$out")
if [[ $out == *"/dev/pts/"*"tty-ok"* ]]; then pass tty; else fail tty "$out"; fi

# rm leaves no runtime state dir, no mount and no cgroup behind.
mark
before=$(mounts_under "$D")
if out=$(ctr_run -d "$IMG" "$id-rm" sleep 1000 2>&1); then
    running_state=$(find "$CTR_RT" -maxdepth 2 -name "$id-rm" | head -1)
    running_cg=$(cgroup_dirs "$CG_CTR" "$id-rm" | head -1)
    ctr_ task kill -s SIGKILL "$id-rm" >/dev/null 2>&1
    for _ in $(seq 50); do [[ $(ctr_ task ls 2>/dev/null | awk -v i="$id-rm" '$1 == i {print $3}') == STOPPED ]] && break; sleep 0.1; done
    ctr_ task rm "$id-rm" >/dev/null 2>&1
    ctr_ containers rm "$id-rm" >/dev/null 2>&1
    left=$(find "$CTR_RT" -maxdepth 2 -name "$id-rm")
    left_cg=$(cgroup_dirs "$CG_CTR" "$id-rm")
    after=$(mounts_under "$D")
    if [[ -z $running_state || -z $running_cg ]]; then
        fail rm-clean "while running: state dir '${running_state}', cgroup '${running_cg}' (expected both)"
    elif [[ -n $left || -n $left_cg || $before != "$after" ]]; then
        fail rm-clean "left: state '${left}' cgroups '${left_cg}' mounts '$(comm -13 <(echo "$before") <(echo "$after"))'"
    else
        pass rm-clean
    fi
else
    fail rm-clean "ctr run -d: $out"
fi

# --- CRI ---------------------------------------------------------------------
ENGINE=containerd-cri
mark
if ! out=$(cri version 2>&1); then
    fail cri-version "$out"
else
    pass cri-version "$out"
fi

before=$(mounts_under "$D")
pod=berth-pod-$$
mark
if ! POD_ID=$(cri run-pod "$pod" "$RT_NAME" "$D/logs" "$CG_CRI" 2>&1); then
    fail pod-run "RunPodSandbox: $POD_ID"
    POD_ID=
    for c in create-start output env-cwd user memory-limit exec-output exec-exit-code read-only update stop-timeout rm-clean; do
        fail_dep "$c" "no pod sandbox"
    done
    exit 0
fi
pass pod-run

mark
cid=
if cid=$(cri create "$POD_ID" "$pod" "$D/logs" "$CG_CRI" "$IMG" main \
    --env FOO=bar --cwd /tmp --user 1000:1000 --read-only --memory $((64 << 20)) --log main.log -- \
    sh -c 'echo "hello $FOO $(pwd) $(id -u):$(id -g)"; echo "mem $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"; exec sleep 1000' 2>&1) &&
    out=$(cri start "$cid" 2>&1); then
    pass create-start
    for _ in $(seq 50); do grep -q "mem " "$D/logs/main.log" 2>/dev/null && break; sleep 0.1; done
    log=$(cat "$D/logs/main.log" 2>&1)
    if [[ $log == *" stdout F hello bar /tmp"* ]]; then pass output; else fail output "log: $log"; fi
    if [[ $log == *"hello bar /tmp "* ]]; then pass env-cwd; else fail env-cwd "log: $log"; fi
    if [[ $log == *" 1000:1000"* ]]; then pass user; else fail user "log: $log"; fi
    # containerd 1.6 gives the container no /sys/fs/cgroup mount: host side.
    cg=$(cgroup_dirs "$CG_CRI" "$cid" | grep /memory/ | head -1)
    expect memory-limit 67108864 "$(cat "$cg/memory.limit_in_bytes" 2>&1)"

    mark
    out=$(cri exec "$cid" 10 echo hi 2>&1)
    expect exec-output hi "$out"
    mark
    cri exec "$cid" 10 sh -c 'exit 3' >/dev/null 2>&1
    expect exec-exit-code 3 "$?"
    mark
    out=$(cri exec "$cid" 10 touch /tmp/probe 2>&1)
    if [[ $out == *"Read-only file system"* ]]; then pass read-only; else fail read-only "$out"; fi

    # UpdateContainerResources -> runtime `update --resources -`.
    mark
    out=$(cri update "$cid" $((128 << 20)) 2>&1)
    expect update 134217728 "$(cat "$cg/memory.limit_in_bytes" 2>&1) $out"

    # PID 1 (sleep) ignores SIGTERM: StopContainer must SIGKILL after 2 s.
    mark
    t0=$(date +%s.%N)
    out=$(cri stop "$cid" 2 2>&1)
    t1=$(date +%s.%N)
    st=$(cri status "$cid" 2>&1)
    if [[ $st == *'"state": "EXITED"'* && $st == *'"exit_code": 137'* ]] &&
        awk -v a="$t0" -v b="$t1" 'BEGIN {exit !(b - a >= 1.8 && b - a < 30)}'; then
        pass stop-timeout
    else
        fail stop-timeout "stop: $out; status: $st; took $(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}') s"
    fi
else
    fail create-start "$cid $out"
    for c in output env-cwd user memory-limit exec-output exec-exit-code read-only update stop-timeout; do
        fail_dep "$c" "container did not start"
    done
fi

mark
errs=
[[ -n $cid ]] && { out=$(cri rm "$cid" 2>&1) || errs+="RemoveContainer: $out; "; }
out=$(cri stop-pod "$POD_ID" 2>&1) || errs+="StopPodSandbox: $out; "
out=$(cri rm-pod "$POD_ID" 2>&1) || errs+="RemovePodSandbox: $out; "
left=$(find "$CRI_RT" -mindepth 2 -maxdepth 2 2>/dev/null)
left_cg=$(cgroup_dirs "$CG_CRI" "${POD_ID:0:12}"; [[ -n $cid ]] && cgroup_dirs "$CG_CRI" "$cid")
after=$(mounts_under "$D")
if [[ -z $errs && -z $left && -z $left_cg && $before == "$after" ]]; then
    pass rm-clean
else
    fail rm-clean "${errs}state '$left' cgroups '$left_cg' mounts '$(comm -13 <(echo "$before") <(echo "$after"))'"
fi
POD_ID=
exit 0
