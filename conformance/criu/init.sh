#!/bin/sh
# PID 1 of the CRIU guest (conformance/criu/run.sh builds the initramfs).
# Checkpoints and restores a busybox counter container with berth and
# checks what a user would: the processes are gone after a checkpoint,
# the restored container runs in its cgroup and counts on from where it
# stopped. One PASS/FAIL line per check, then "N passed, N failed".
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

# pivot_root cannot leave the initramfs (rootfs has no parent mount):
# copy everything to a tmpfs and switch to it first.
if [ ! -e /.switched ]; then
    mount -t devtmpfs devtmpfs /dev
    exec </dev/console >/dev/console 2>&1
    mount -t tmpfs -o mode=755 tmpfs /mnt
    for d in bin sbin usr lib lib64 bundle init; do
        [ -e "/$d" ] && cp -a "/$d" /mnt/
    done
    mkdir -p /mnt/proc /mnt/sys /mnt/dev /mnt/run /mnt/tmp /mnt/mnt /mnt/etc
    touch /mnt/.switched
    mount --move /dev /mnt/dev
    exec switch_root /mnt /init
fi

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /dev/pts /etc/criu
mount -t devpts devpts /dev/pts
# CRIU probes TCP repair over loopback.
ip link set lo up
# CRIU locks the network during a dump with iptables by default; this
# guest has no iptables binaries, so its configuration file (which CRIU
# reads by itself, as an administrator would set it) picks nftables.
echo "network-lock nftables" >/etc/criu/default.conf
T0=$(cut -d' ' -f1 /proc/uptime)

. /bin/lane-checks.sh
finish() {
    report
    poweroff -f
    sleep 5
}
# A service manager enables the controllers at the root.
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
    echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control
done
info "kernel $(uname -r); $(criu --version | head -n1)"
# The modules CRIU needs, in dependency order (run.sh lists them).
while read -r m; do
    insmod "/lib/modules/$m" 2>/tmp/insmod.err || info "insmod $m: $(cat /tmp/insmod.err)"
done </lib/modules/order
if criu check >/tmp/check 2>&1; then
    info "criu check: $(tail -n1 /tmp/check)"
else
    info "criu check complains: $(grep -m1 Error /tmp/check)"
fi

B=/bin/berth
CG=/sys/fs/cgroup/berth-test
# bundle ID ROOTFS [CONFIG]: /b/ID/config.json on ROOTFS (a fresh copy of
# the busybox rootfs unless it exists), cgroup /berth-test/ID, from
# /bundle/CONFIG (config.template, config.hooks, config.failing-hook).
bundle() {
    mkdir -p "/b/$1"
    [ -d "$2" ] || cp -a /bundle/rootfs "$2"
    sed -e "s|@ROOT@|$2|g" -e "s|@CGPATH@|/berth-test/$1|" "/bundle/${3:-config.template}" >"/b/$1/config.json"
}
field() { $B state "$1" 2>/dev/null | sed -n "s/.*\"$2\": \"*\([^\",]*\)\"*,*$/\1/p"; }
last() { tail -n1 "$1/count" 2>/dev/null; }
lines() { wc -l <"$1/count" 2>/dev/null || echo 0; }
# wait_lines ROOTFS N: until the counter wrote N lines (20 s at most).
wait_lines() {
    n=0
    while [ "$(lines "$1")" -lt "$2" ] && [ $n -lt 100 ]; do sleep 0.2; n=$((n + 1)); done
}
# contiguous ROOTFS: "yes" when the file counts 0, 1, 2 … without a gap
# or a restart.
contiguous() {
    awk 'NR == 1 && $1 != 0 { bad = 1 } NR > 1 && $1 != prev + 1 { bad = NR } { prev = $1 }
         END { if (bad) print "no (line " bad ")"; else print "yes" }' "$1/count"
}
alive() { if kill -0 "$1" 2>/dev/null; then echo alive; else echo gone; fi; }
exists() { if [ -e "$1" ]; then echo yes; else echo no; fi; }
in_cgroup() { if grep -qx "$2" "$CG/$1/cgroup.procs" 2>/dev/null; then echo yes; else echo no; fi; }
run_counter() {
    bundle "$1" "$2"
    if $B run -d --bundle "/b/$1" "$1" </dev/null >/dev/null 2>/tmp/err; then
        wait_lines "$2" 5
    else
        bad "run $1: $(cat /tmp/err)"
    fi
}
# try NAME COMMAND…: PASS when it exits 0, else FAIL with its stderr
# (and a non-zero status, so a scenario can stop there).
try() {
    name=$1
    shift
    if "$@" </dev/null >/dev/null 2>/tmp/err; then
        ok "$name"
    else
        bad "$name: $(tail -n3 /tmp/err | tr '\n' ' ')"
        return 1
    fi
}
# give_up ID…: a step failed; the rest of the scenario would prove nothing.
# CRIU's errors (with the lines before them) go to the console log.
give_up() {
    log=$(sed -n "s/.*CRIU's log: \([^ ]*\).*/\1/p" /tmp/err | head -n1)
    if [ -n "$log" ] && [ -f "$log" ]; then
        grep -v "^(.*) *\(vdso\|cpu\):" "$log" | grep -B40 "Error" | tail -n 80 | sed "s/^/CRIU-LOG /"
    fi
    for id in "$@"; do $B delete -f "$id" >/dev/null 2>&1; done
    return 0
}

# --- checkpoint, processes gone, restore, counting resumes ---------------------
same_id() {
    run_counter c1 /r1
    P1=$(field c1 pid)
    try "checkpoint c1 (pid $P1)" $B checkpoint --image-path /img/c1 --work-path /work/c1 c1 || { give_up c1; return; }
    check "after checkpoint: init $P1" gone "$(alive "$P1")"
    check "after checkpoint: c1 is no longer listed (as runc)" "" "$($B list -q)"
    check "after checkpoint: its cgroup removed" no "$(exists $CG/c1)"
    check "images in --image-path" yes "$(exists /img/c1/inventory.img)"
    check "CRIU's log in --work-path" yes "$(exists /work/c1/dump.log)"
    L1=$(last /r1)
    sleep 1
    check "the counter stopped" "$L1" "$(last /r1)"
    try "restore c1" $B restore -d --image-path /img/c1 --work-path /work/c1 --bundle /b/c1 --pid-file /tmp/c1.pid c1 || { give_up c1; return; }
    P2=$(field c1 pid)
    check "restored: status" running "$(field c1 status)"
    check "restored: a new init process" yes "$([ -n "$P2" ] && [ "$P2" != "$P1" ] && echo yes)"
    check "restored: --pid-file holds the state's pid" "$P2" "$(cat /tmp/c1.pid 2>/dev/null)"
    check "restored: init in /berth-test/c1" yes "$(in_cgroup c1 "$P2")"
    check "restored: init is PID 1 of its pid namespace" 1 "$(awk '/^NSpid/ {print $NF}' /proc/"$P2"/status 2>/dev/null)"
    check "restore log in --work-path" yes "$(exists /work/c1/restore.log)"
    wait_lines /r1 $((L1 + 6))
    check "resumed after $L1" "$((L1 + 1))" "$(sed -n "$((L1 + 2))p" /r1/count)"
    check "counts on without a restart from 0" yes "$(contiguous /r1)"
    check "exec in the restored container sees the counter as PID 1" "sh" \
        "$($B exec c1 cat /proc/1/comm 2>/tmp/err || cat /tmp/err)"
    try "delete -f the restored c1" $B delete -f c1
    check "after delete: init $P2" gone "$(alive "$P2")"
    check "after delete: cgroup removed" no "$(exists $CG/c1)"
}

# --- --leave-running -------------------------------------------------------------
leave_running() {
    run_counter c2 /r2
    P=$(field c2 pid)
    try "checkpoint --leave-running c2" $B checkpoint --leave-running --image-path /img/c2 c2 || { give_up c2; return; }
    check "leave-running: same init, still running" "$P running" "$(field c2 pid) $(field c2 status)"
    N=$(lines /r2)
    sleep 1
    check "leave-running: still counting" yes "$([ "$(lines /r2)" -gt "$N" ] && echo yes)"
    check "leave-running: images written" yes "$(exists /img/c2/inventory.img)"
    $B delete -f c2
    D=$(last /r2)
    try "restore c2 from the --leave-running images" $B restore -d --image-path /img/c2 --bundle /b/c2 c2 || { give_up c2; return; }
    wait_lines /r2 $((D + 4))
    V=$(sed -n "$((D + 2))p" /r2/count)
    check "restored from the dump point (first new number in 1..$D)" yes \
        "$([ -n "$V" ] && [ "$V" -gt 0 ] && [ "$V" -le "$D" ] && echo yes || echo "no ($V)")"
    try "delete -f c2" $B delete -f c2
}

# --- restore under another ID ------------------------------------------------------
other_id() {
    run_counter c3 /r3
    try "checkpoint c3" $B checkpoint --image-path /img/c3 c3 || { give_up c3; return; }
    L3=$(last /r3)
    # A failing prestart hook: CRIU stops before restoring anything.
    bundle c3x /r3 config.failing-hook
    $B restore -d --image-path /img/c3 --bundle /b/c3x c3x </dev/null >/dev/null 2>/tmp/err
    check "restore with a failing prestart hook fails" 1 "$?"
    check "its error names the hook" yes "$(grep -q 'hooks.prestart\[0\]' /tmp/err && echo yes)"
    check "it left no container" "" "$($B list -q)"
    check "it left no cgroup" no "$(exists $CG/c3x)"
    check "the counter did not resume" "$L3" "$(last /r3)"
    bundle c3b /r3 config.hooks
    try "restore c3's images as c3b" $B restore -d --image-path /img/c3 --bundle /b/c3b c3b || { give_up c3b; return; }
    P=$(field c3b pid)
    check "c3b: status" running "$(field c3b status)"
    check "c3b: the only container" c3b "$($B list -q | tr '\n' ' ' | sed 's/ $//')"
    check "c3b: init in /berth-test/c3b" yes "$(in_cgroup c3b "$P")"
    # Before the processes were restored: the pid is still CRIU's own
    # child, and the counter has not moved on.
    for kind in prestart createRuntime; do
        check "c3b: $kind hook got init's pid, not yet restored, counter at $L3" \
            "$P criu $L3" "$(cat /tmp/hook-$kind 2>/dev/null)"
    done
    wait_lines /r3 $((L3 + 6))
    check "c3b resumed c3's count after $L3" "$((L3 + 1))" "$(sed -n "$((L3 + 2))p" /r3/count)"
    check "c3b counts on without a restart" yes "$(contiguous /r3)"
    try "delete -f c3b" $B delete -f c3b
}

# --- --pre-dump, then a dump on top of it (--parent-path) ---------------------------
pre_dump() {
    run_counter c4 /r4
    try "checkpoint --pre-dump c4" $B checkpoint --pre-dump --image-path /img/c4/pre c4 || { give_up c4; return; }
    check "pre-dump: c4 still running" running "$(field c4 status)"
    try "checkpoint --parent-path ../pre c4" $B checkpoint --image-path /img/c4/final --parent-path ../pre c4 || { give_up c4; return; }
    check "the final dump links its parent" yes "$(exists /img/c4/final/parent)"
    L4=$(last /r4)
    try "restore c4 from the incremental images" $B restore -d --image-path /img/c4/final --bundle /b/c4 c4 || { give_up c4; return; }
    wait_lines /r4 $((L4 + 6))
    check "c4 resumed after $L4" "$((L4 + 1))" "$(sed -n "$((L4 + 2))p" /r4/count)"
    check "c4 counts on without a restart" yes "$(contiguous /r4)"
    try "delete -f c4" $B delete -f c4
}

# --- foreground restore: waits for the container and deletes it ----------------------
foreground() {
    run_counter c5 /r5
    try "checkpoint c5" $B checkpoint --image-path /img/c5 c5 || { give_up c5; return; }
    rm -f /tmp/c5.rc
    ($B restore --image-path /img/c5 --bundle /b/c5 c5 </dev/null >/dev/null 2>/tmp/c5.err; echo $? >/tmp/c5.rc) &
    n=0
    while [ "$(field c5 status)" != running ] && [ ! -s /tmp/c5.rc ] && [ $n -lt 100 ]; do sleep 0.2; n=$((n + 1)); done
    check "foreground restore: c5 running" running "$(field c5 status)"
    $B kill c5 KILL
    n=0
    while [ ! -s /tmp/c5.rc ] && [ $n -lt 50 ]; do sleep 0.2; n=$((n + 1)); done
    check "foreground restore exits with the container's status (KILL)" 137 \
        "$(cat /tmp/c5.rc 2>/dev/null)$([ -s /tmp/c5.err ] && echo " ($(cat /tmp/c5.err))")"
    check "foreground restore deleted c5" "" "$($B list -q)"
    give_up c5
}

# --- stdout a pipe (as engines pass it): the restored process writes to
# the restoring caller's pipe ---------------------------------------------------
pipes() {
    bundle c6 /r6
    sed -i 's|echo \$i >> /count;|echo $i >> /count; echo $i;|' /b/c6/config.json
    ($B run -d --bundle /b/c6 c6 </dev/null 2>/tmp/c6.runerr | cat >/tmp/c6.before) &
    wait_lines /r6 5
    check "stdout pipe: the container writes to it" yes "$([ -s /tmp/c6.before ] && echo yes)"
    try "checkpoint c6 (stdout a pipe, stderr a file of the host)" $B checkpoint --image-path /img/c6 c6 ||
        { give_up c6; return; }
    check "descriptors.json records the pipe" yes "$(grep -q 'pipe:' /img/c6/descriptors.json && echo yes)"
    L=$(last /r6)
    rm -f /tmp/c6.rc
    ( $B restore -d --image-path /img/c6 --bundle /b/c6 c6 </dev/null 2>/tmp/c6.err; echo $? >/tmp/c6.rc ) |
        cat >/tmp/c6.after &
    n=0
    while [ ! -s /tmp/c6.rc ] && [ $n -lt 100 ]; do sleep 0.2; n=$((n + 1)); done
    check "restore c6 with stdout a new pipe" 0 "$(cat /tmp/c6.rc 2>/dev/null)$([ -s /tmp/c6.err ] && echo " ($(cat /tmp/c6.err))")"
    wait_lines /r6 $((L + 6))
    sleep 0.5
    check "the new pipe gets the count from $((L + 1))" "$((L + 1))" "$(head -n1 /tmp/c6.after)"
    try "delete -f c6" $B delete -f c6
}

# --- a paused container ---------------------------------------------------------
paused() {
    run_counter c7 /r7
    try "pause c7" $B pause c7 || { give_up c7; return; }
    L=$(last /r7)
    try "checkpoint the paused c7" $B checkpoint --image-path /img/c7 c7 || { give_up c7; return; }
    check "paused c7: checkpointed, its cgroup removed" no "$(exists $CG/c7)"
    try "restore c7" $B restore -d --image-path /img/c7 --bundle /b/c7 c7 || { give_up c7; return; }
    check "restored c7: status" running "$(field c7 status)"
    wait_lines /r7 $((L + 4))
    check "restored c7 counts on after $L" "$((L + 1))" "$(sed -n "$((L + 2))p" /r7/count)"
    try "delete -f c7" $B delete -f c7
}

same_id
pipes
paused
leave_running
other_id
pre_dump
foreground

# --- nothing left ----------------------------------------------------------------------
left=$(find $CG -mindepth 1 -type d 2>/dev/null | tr '\n' ' ')
check "no container cgroup left under $CG" "" "$left"
check "no container state left" "" "$(ls /run/berth 2>/dev/null | tr '\n' ' ')"
check "no CRIU root bind left" "" "$(grep criu-root /proc/self/mountinfo)"

finish
