#!/bin/sh
# PID 1 of the cgroup v2 guest (conformance/cgroupv2/run.sh builds the
# initramfs). Mounts proc, sys, devtmpfs and cgroup2 at /sys/fs/cgroup,
# runs berth against a busybox bundle and checks what it did by reading the
# container's cgroup files (never berth's own report), one PASS/FAIL line
# per check, then "N passed, N failed", and powers off.
export PATH=/bin

# pivot_root cannot leave the initramfs (rootfs has no parent mount):
# copy everything to a tmpfs and switch to it first.
if [ ! -e /.switched ]; then
    mount -t devtmpfs devtmpfs /dev
    exec </dev/console >/dev/console 2>&1
    mount -t tmpfs -o mode=755 tmpfs /mnt
    for d in bin lib lib64 bundle init; do
        [ -e "/$d" ] && cp -a "/$d" /mnt/
    done
    mkdir -p /mnt/proc /mnt/sys /mnt/dev /mnt/run /mnt/tmp /mnt/mnt
    touch /mnt/.switched
    mount --move /dev /mnt/dev
    exec switch_root /mnt /init
fi

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
T0=$(cut -d' ' -f1 /proc/uptime)

. /bin/lane-checks.sh
finish() {
    report
    poweroff -f
    sleep 5
}

# --- the host side of a cgroup v2 machine ------------------------------------
# A service manager (systemd) enables the controllers at the root; berth
# only enables them in cgroups it makes and in the configured parent.
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
    echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control
done
info "kernel $(uname -r); controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control)"

# Two null_blk disks (blk-mq, so iocost can run on them) for io.max,
# io.weight and the device filter; iocost enabled on the first, as an
# administrator would.
for m in configfs "null_blk nr_devices=2"; do
    # shellcheck disable=SC2086
    set -- $m
    insmod /lib/modules/$1.ko "$2" 2>/tmp/insmod.err || info "insmod $1: $(cat /tmp/insmod.err)"
done
NB0=$(cat /sys/block/nullb0/dev 2>/dev/null)
NB1=$(cat /sys/block/nullb1/dev 2>/dev/null)
MAJ=${NB0%:*}
[ -n "$NB0" ] || info "no null_blk disk"
echo "$NB0 enable=1" >/sys/fs/cgroup/io.cost.qos 2>/dev/null || info "iocost not enabled on $NB0"
# Soft-RoCE on a dummy netdev, for rdma.max (rxe needs the crc32 hash).
for m in crc32_generic udp_tunnel ip6_udp_tunnel ib_core ib_uverbs rdma_rxe dummy; do
    insmod /lib/modules/$m.ko 2>/tmp/insmod.err || info "insmod $m: $(cat /tmp/insmod.err)"
done
ip link add dummy0 type dummy 2>/dev/null
ip link set dummy0 up 2>/dev/null
RDMA=""
if [ -x /bin/rdma ] && rdma link add rxe0 type rxe netdev dummy0 2>/tmp/rdma.err; then
    RDMA=rxe0
else
    info "no RDMA device: $(cat /tmp/rdma.err 2>/dev/null)"
fi

# --- helpers -----------------------------------------------------------------
B=/bin/berth
CG=/sys/fs/cgroup/berth-test
# config ID ARGS_JSON RESOURCES_JSON [DEVICES_JSON]: writes /b/ID/config.json
# (the values are escaped for sed: \, | and &)
esc() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }
config() {
    mkdir -p "/b/$1"
    sed -e "s|@ARGS@|$(esc "$2")|" -e "s|@CGPATH@|$(esc "${CGPATH:-/berth-test/$1}")|" \
        -e "s|@RESOURCES@|$(esc "$3")|" -e "s|@DEVICES@|$(esc "${4:-[]}")|" \
        "${TEMPLATE:-/bundle/config.template}" >"/b/$1/config.json"
}
create() { $B create --bundle "/b/$1" "$1" 2>/tmp/err; }
# cgfile ID FILE: the file's lines joined with ";" (trailing blanks dropped)
cgfile() { sed 's/[[:space:]]*$//' "$CG/$1/$2" 2>/dev/null | tr '\n' ';' | sed 's/;$//'; }
# expect_error NAME ID WANT_SUBSTRING: create must fail with WANT in its
# message and leave no container and no cgroup behind.
expect_error() {
    if create "$2"; then
        bad "$1: create succeeded"
        $B delete -f "$2" 2>/dev/null
        return
    fi
    msg=$(cat /tmp/err)
    if ! echo "$msg" | grep -qF "$3"; then
        bad "$1: error '$msg' lacks '$3'"
    elif [ -e "$CG/$2" ] || [ -e "/run/berth/$2" ]; then
        bad "$1: left $CG/$2 or /run/berth/$2 behind"
    else
        ok "$1: $(grep -F "$3" /tmp/err | head -n1)"
    fi
}

SLEEP='["sleep","1000"]'

# --- every resource, read back from the cgroup files ------------------------------
RES='{"memory":{"limit":67108864,"reservation":33554432,"swap":100663296},
 "cpu":{"shares":512,"quota":50000,"period":100000,"burst":10000,"cpus":"0","mems":"0"},
 "pids":{"limit":64},
 "blockIO":{"weight":500,
   "weightDevice":[{"major":MAJ,"minor":0,"weight":200}],
   "throttleReadBpsDevice":[{"major":MAJ,"minor":0,"rate":1048576}],
   "throttleWriteBpsDevice":[{"major":MAJ,"minor":0,"rate":2097152}],
   "throttleReadIOPSDevice":[{"major":MAJ,"minor":0,"rate":300}],
   "throttleWriteIOPSDevice":[{"major":MAJ,"minor":0,"rate":100}]},
 "hugepageLimits":[{"pageSize":"2MB","limit":4194304}],'
if [ -n "$RDMA" ]; then
    RES="$RES \"rdma\":{\"$RDMA\":{\"hcaHandles\":10,\"hcaObjects\":100}},"
fi
RES="$RES \"unified\":{\"memory.high\":\"50331648\",\"memory.oom.group\":\"1\",\"pids.max\":\"60\"}}"
RES=$(echo "$RES" | tr -d '\n' | sed "s/MAJ/$MAJ/g")
config res "$SLEEP" "$RES"
if create res && $B start res; then
    ok "create and start with every resource"
    check "memory.max (memory.limit)" 67108864 "$(cgfile res memory.max)"
    check "memory.low (memory.reservation)" 33554432 "$(cgfile res memory.low)"
    check "memory.swap.max (memory.swap - memory.limit)" 33554432 "$(cgfile res memory.swap.max)"
    check "memory.high (unified)" 50331648 "$(cgfile res memory.high)"
    check "memory.oom.group (unified)" 1 "$(cgfile res memory.oom.group)"
    check "cpu.weight (cpu.shares 512, runc's conversion)" 20 "$(cgfile res cpu.weight)"
    check "cpu.max (cpu.quota, cpu.period)" "50000 100000" "$(cgfile res cpu.max)"
    check "cpu.max.burst (cpu.burst)" 10000 "$(cgfile res cpu.max.burst)"
    check "cpuset.cpus" 0 "$(cgfile res cpuset.cpus)"
    check "cpuset.mems" 0 "$(cgfile res cpuset.mems)"
    check "pids.max (unified overrides pids.limit 64)" 60 "$(cgfile res pids.max)"
    check "io.weight (blockIO.weight 500, weightDevice $NB0 200)" "default 4950;$NB0 1920" \
        "$(cgfile res io.weight)"
    check "io.max (blockIO.throttle*)" "$NB0 rbps=1048576 wbps=2097152 riops=300 wiops=100" \
        "$(cgfile res io.max)"
    check "hugetlb.2MB.max" 4194304 "$(cgfile res hugetlb.2MB.max)"
    if [ -n "$RDMA" ]; then
        check "rdma.max" "$RDMA hca_handle=10 hca_object=100" "$(cgfile res rdma.max)"
    else
        bad "rdma.max: no RDMA device in the guest"
    fi
    pid=$($B state res | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
    check "init is in the container's cgroup" "0::/berth-test/res" "$(cat /proc/$pid/cgroup)"
    check "controllers enabled in the parent berth made" \
        "cpuset cpu io memory hugetlb pids rdma misc" "$(cat $CG/cgroup.subtree_control)"
else
    bad "create and start with every resource: $(cat /tmp/err)"
fi

config idle "$SLEEP" '{"cpu":{"idle":1}}'
if create idle; then
    check "cpu.idle" 1 "$(cgfile idle cpu.idle)"
    $B delete -f idle
else
    bad "cpu.idle: $(cat /tmp/err)"
fi

# A relative cgroupsPath lands below the parent of the runtime's cgroup
# (the root here); berth makes "relgrp" and enables controllers in it.
CGPATH=relgrp/rel config rel "$SLEEP" '{"memory":{"limit":33554432}}'
if create rel; then
    check "relative cgroupsPath: memory.max" 33554432 \
        "$(cat /sys/fs/cgroup/relgrp/rel/memory.max 2>/dev/null)"
    $B delete -f rel
    [ -e /sys/fs/cgroup/relgrp/rel ] && bad "relative cgroupsPath: delete left the cgroup"
    rmdir /sys/fs/cgroup/relgrp
else
    bad "relative cgroupsPath: $(cat /tmp/err)"
fi

# --- update ----------------------------------------------------------------------
if $B update --memory 128m --memory-swap 192m --pids-limit 32 --cpu-quota 20000 res 2>/tmp/err; then
    check "update: memory.max" 134217728 "$(cgfile res memory.max)"
    check "update: memory.swap.max" 67108864 "$(cgfile res memory.swap.max)"
    check "update: pids.max" 32 "$(cgfile res pids.max)"
    check "update: cpu.max" "20000 100000" "$(cgfile res cpu.max)"
else
    bad "update: $(cat /tmp/err)"
fi
echo '{"memory":{"limit":-1},"unified":{"memory.high":"max"}}' >/tmp/upd.json
if $B update -r /tmp/upd.json res 2>/tmp/err; then
    check "update -r: memory.max" max "$(cgfile res memory.max)"
    check "update -r: memory.swap.max follows an unlimited memory.max" max \
        "$(cgfile res memory.swap.max)"
    check "update -r: memory.high (unified)" max "$(cgfile res memory.high)"
else
    bad "update -r: $(cat /tmp/err)"
fi

# --- pause and resume ------------------------------------------------------------
# A ticker counts in /dev/shm every 50 ms: frozen, it stops.
frozen() { sed -n 's/^frozen //p' "$CG/$1/cgroup.events"; }
config tick '["sh","-c","i=0; while :; do i=$((i+1)); echo $i >/dev/shm/t; sleep 0.05; done"]' '{}'
if create tick && $B start tick; then
    tpid=$($B state tick | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
    tfile=/proc/$tpid/root/dev/shm/t
    sleep 0.3
    if $B pause tick 2>/tmp/err; then
        check "pause: cgroup.freeze" 1 "$(cgfile tick cgroup.freeze)"
        check "pause: cgroup.events frozen" 1 "$(frozen tick)"
        a=$(cat $tfile)
        sleep 0.5
        check "pause: the ticker stands still" "$a" "$(cat $tfile)"
        $B resume tick 2>/tmp/err || bad "resume: $(cat /tmp/err)"
        check "resume: cgroup.freeze" 0 "$(cgfile tick cgroup.freeze)"
        check "resume: cgroup.events frozen" 0 "$(frozen tick)"
        sleep 0.5
        b=$(cat $tfile)
        if [ "$b" != "$a" ]; then ok "resume: the ticker runs again"; else bad "resume: the ticker stands still"; fi
        # delete --force of a paused container
        $B pause tick
    else
        bad "pause: $(cat /tmp/err)"
    fi
    $B delete -f tick 2>/tmp/err || bad "delete -f of a paused container: $(cat /tmp/err)"
    if [ -e "$CG/tick" ]; then bad "delete -f of a paused container left $CG/tick"; else ok "delete -f of a paused container leaves no cgroup"; fi
else
    bad "tick: $(cat /tmp/err)"
fi

# --- statistics (compared with the files) ----------------------------------------------
stats=$($B events --stats res 2>/tmp/err)
cur=$(cgfile res pids.current)
if echo "$stats" | grep -q "\"pids\":{\"current\":$cur"; then
    ok "events --stats: pids.current $cur as in the cgroup"
else
    bad "events --stats: pids.current $cur not in: $stats $(cat /tmp/err)"
fi

# --- delete: cgroup.kill, nothing left -----------------------------------------------
config forks '["sh","-c","sleep 1000 & sleep 1000 & sleep 1000 & wait"]' '{"pids":{"limit":10}}'
if create forks && $B start forks; then
    sleep 0.3
    n=$(wc -l <"$CG/forks/cgroup.procs")
    $B delete -f forks 2>/tmp/err || bad "delete -f forks: $(cat /tmp/err)"
    if [ -e "$CG/forks" ]; then bad "delete: $CG/forks still exists"; else ok "delete -f of a container with $n processes leaves no cgroup"; fi
else
    bad "forks: $(cat /tmp/err)"
fi
$B delete -f res 2>/tmp/err || bad "delete res: $(cat /tmp/err)"
if [ -e "$CG/res" ]; then bad "delete: $CG/res still exists"; else ok "delete -f leaves no cgroup (res)"; fi

# --- OOM ---------------------------------------------------------------------------
config oom '["dd","if=/dev/zero","of=/dev/null","bs=64M","count=1"]' \
    '{"memory":{"limit":16777216,"swap":16777216}}'
if create oom; then
    # Start once the event stream runs (its first stats event is out).
    $B events --interval 100ms oom >/tmp/oom.events 2>/tmp/oom.err &
    evpid=$!
    i=0
    while [ $i -lt 100 ] && ! grep -q '"type":"stats"' /tmp/oom.events; do sleep 0.1; i=$((i + 1)); done
    $B start oom
    i=0
    while [ $i -lt 100 ] && kill -0 $evpid 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
    kill $evpid 2>/dev/null
    kills=$(sed -n 's/^oom_kill //p' "$CG/oom/memory.events")
    if [ "${kills:-0}" -ge 1 ]; then ok "OOM: memory.events oom_kill $kills"; else bad "OOM: memory.events: $(cgfile oom memory.events)"; fi
    if grep -q '"type":"oom"' /tmp/oom.events; then
        ok "OOM: berth events reports it ($(grep -c '"type":"oom"' /tmp/oom.events) oom event)"
    else
        bad "OOM: no oom event in '$(cat /tmp/oom.events)' $(cat /tmp/oom.err)"
    fi
    $B delete -f oom
else
    bad "oom: $(cat /tmp/err)"
fi

# --- devices: the eBPF filter ----------------------------------------------------------
# Both null_blk disks are in the container; the rules allow reading the
# first only. /dev/null (runc's default list) is open for reading and
# writing.
DEVS="[{\"path\":\"/dev/disk0\",\"type\":\"b\",\"major\":$MAJ,\"minor\":0,\"fileMode\":432},
 {\"path\":\"/dev/disk1\",\"type\":\"b\",\"major\":$MAJ,\"minor\":1,\"fileMode\":432}]"
DEVS=$(echo "$DEVS" | tr -d '\n')
DEVRES="{\"devices\":[{\"allow\":false,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"b\",\"major\":$MAJ,\"minor\":0,\"access\":\"r\"}]}"
probe='["sh","-c","for t in r:/dev/disk0 w:/dev/disk0 r:/dev/disk1 r:/dev/null w:/dev/null; do f=${t#*:}; if [ ${t%%:*} = r ]; then dd if=$f of=/dev/null bs=512 count=1 2>/dev/null; else dd if=/dev/zero of=$f bs=512 count=1 2>/dev/null; fi && echo $t=ok || echo $t=denied; done"]'
config dev "$probe" "$DEVRES" "$DEVS"
out=$($B run --bundle /b/dev dev 2>/tmp/err | tr '\n' ' ')
info "device probe: $out $(cat /tmp/err)"
has() { echo "$out" | grep -q "$1" && echo yes; }
check "devices: read of $NB0 (allowed r) works" yes "$(has 'r:/dev/disk0=ok')"
check "devices: write of $NB0 (allowed r only) denied" yes "$(has 'w:/dev/disk0=denied')"
check "devices: read of $NB1 (no rule) denied" yes "$(has 'r:/dev/disk1=denied')"
check "devices: /dev/null (default list) readable and writable" yes \
    "$(has 'r:/dev/null=ok w:/dev/null=ok')"
[ -e "$CG/dev" ] && bad "devices: run left $CG/dev"

# update replaces the filter: writing /dev/ram0 is refused, then allowed.
config devup "$SLEEP" "$DEVRES" "$DEVS"
if create devup && $B start devup; then
    w() { $B exec devup dd if=/dev/zero of=/dev/disk0 bs=512 count=1 2>/dev/null && echo ok || echo denied; }
    check "devices: write before update" denied "$(w)"
    echo "{\"devices\":[{\"allow\":false,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"b\",\"major\":$MAJ,\"minor\":0,\"access\":\"rw\"}]}" >/tmp/dev.json
    if $B update -r /tmp/dev.json devup 2>/tmp/err; then
        check "devices: write after update (filter replaced)" ok "$(w)"
    else
        bad "devices: update: $(cat /tmp/err)"
    fi
    echo '{"devices":[{"allow":false,"access":"rwm"}]}' >/tmp/dev.json
    $B update -r /tmp/dev.json devup 2>/tmp/err
    check "devices: write after a second update (deny again)" denied "$(w)"
    $B delete -f devup
else
    bad "devup: $(cat /tmp/err)"
fi

# --- BFQ: weights go to io.bfq.weight as they are -------------------------------------
# (loaded late: once BFQ is there, every cgroup has io.bfq.weight)
if insmod /lib/modules/bfq.ko 2>/tmp/insmod.err; then
    echo bfq >/sys/block/nullb1/queue/scheduler
    config bfq "$SLEEP" "{\"blockIO\":{\"weight\":300,\"weightDevice\":[{\"major\":$MAJ,\"minor\":1,\"weight\":700}]}}"
    if create bfq; then
        check "io.bfq.weight (blockIO.weight 300, weightDevice $NB1 700)" "default 300;$NB1 700" \
            "$(cgfile bfq io.bfq.weight)"
        $B delete -f bfq
    else
        bad "io.bfq.weight: $(cat /tmp/err)"
    fi
else
    bad "io.bfq.weight: insmod bfq: $(cat /tmp/insmod.err)"
fi

# --- what v2 cannot express, and bad unified keys -----------------------------------------
config e1 "$SLEEP" '{"memory":{"kernel":1048576}}'
expect_error "memory.kernel refused" e1 "linux.resources.memory.kernel: cgroup v2 has no separate kernel memory limit"
config e2 "$SLEEP" '{"cpu":{"realtimeRuntime":1000}}'
expect_error "cpu.realtimeRuntime refused" e2 "linux.resources.cpu.realtimeRuntime: cgroup v2 has no realtime"
config e3 "$SLEEP" '{"network":{"classID":1}}'
expect_error "network.classID refused" e3 "linux.resources.network.classID: cgroup v2 has no net_cls"
config e4 "$SLEEP" '{"memory":{"swappiness":10}}'
expect_error "memory.swappiness refused" e4 "linux.resources.memory.swappiness"
config e5 "$SLEEP" '{"unified":{"memory.nonexistent":"1"}}'
expect_error "unified key for a missing file refused" e5 "linux.resources.unified.memory.nonexistent: the cgroup has no file memory.nonexistent"
config e6 "$SLEEP" '{"unified":{"../memory.max":"1"}}'
expect_error "unified key with .. refused" e6 "linux.resources.unified.../memory.max"
config e7 "$SLEEP" '{"unified":{"cgroup.procs":"1"}}'
expect_error "unified cgroup.procs refused" e7 "linux.resources.unified.cgroup.procs"
config e8 "$SLEEP" '{"unified":{"memory.max":"lots"}}'
expect_error "unified value the kernel refuses" e8 "linux.resources.unified.memory.max: writing \"lots\""

# A parent that does not hand the memory controller down (berth must not
# touch it): the error names where it stops.
mkdir /sys/fs/cgroup/limited
echo +pids >/sys/fs/cgroup/limited/cgroup.subtree_control
CGPATH=/limited/sub/c config lim '["true"]' '{"memory":{"limit":16777216}}'
if create lim; then
    bad "memory below a parent without it: create succeeded"
    $B delete -f lim
else
    check "memory below a parent without it: error" yes \
        "$(grep -qF 'linux.resources.memory.limit: the memory controller is not enabled for /sys/fs/cgroup/limited/sub: /sys/fs/cgroup/limited/cgroup.subtree_control does not hand it down' /tmp/err && echo yes)"
    check "the parent's subtree_control untouched" pids "$(cat /sys/fs/cgroup/limited/cgroup.subtree_control)"
fi

# --- init is born in its cgroup (clone3 CLONE_INTO_CGROUP) ---------------------------
# berth runs in a cgroup with room for two tasks: itself and an intermediate
# process (there is none here: init is cloned straight into its
# namespaces). A plain clone of init would be charged to that cgroup and refused
# (EAGAIN); a clone into the container's cgroup is charged there only.
RUNNER=/sys/fs/cgroup/runner
mkdir -p $RUNNER
echo 2 >$RUNNER/pids.max
# in_runner CMD...: runs CMD in $RUNNER
in_runner() { sh -c 'echo $$ >'$RUNNER'/cgroup.procs && exec "$@"' sh "$@"; }
config born '["sleep","1000"]' '{"pids":{"limit":10}}'
if in_runner $B --debug create --bundle /b/born born 2>/tmp/err; then
    ok "create with berth in a cgroup with pids.max 2 (no room for init there)"
    pid=$($B state born | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
    check "clone3: init is in the container's cgroup" "0::/berth-test/born" "$(cat /proc/$pid/cgroup)"
    if grep -q 'born in its cgroup (clone3 CLONE_INTO_CGROUP)' /tmp/err; then
        ok "clone3: --debug says init was born in its cgroup"
    else
        bad "clone3: no such line in the debug log: $(grep -i cgroup /tmp/err | tail -n3)"
    fi
    check "clone3: nothing refused in the runtime's cgroup (pids.events)" "max 0" "$(cat $RUNNER/pids.events)"
    # exec is born in the container's cgroup too, and joins the container's
    # cgroup namespace after (the guest mounts cgroup2 with nsdelegate, which
    # refuses clone3 from inside it). In the tight runner a plain clone of the
    # exec'd process would be refused.
    $B start born 2>/tmp/err || bad "clone3: start: $(cat /tmp/err)"
    if out=$(in_runner $B --debug exec born cat /proc/self/cgroup 2>/tmp/err); then
        check "exec clone3: the process is at its cgroup namespace's root" "0::/" "$out"
        if grep -q 'born in its cgroup (clone3 CLONE_INTO_CGROUP)' /tmp/err; then
            ok "exec clone3: --debug says the process was born in the container's cgroup"
        else
            bad "exec clone3: no such line in the debug log: $(grep -i cgroup /tmp/err | tail -n3)"
        fi
        check "exec clone3: nothing refused in the runtime's cgroup (pids.events)" "max 0" \
            "$(cat $RUNNER/pids.events)"
    else
        bad "exec clone3: exec with berth in a cgroup without room for the process: $(tail -n3 /tmp/err)"
    fi
    $B delete -f born
else
    bad "clone3: create in a cgroup without room for init: $(tail -n3 /tmp/err)"
fi
# The fallback: a user namespace mapped to unprivileged ids may not write
# the cgroup's cgroup.procs, so berth clones init plainly and moves it. In
# the tight runner that clone is refused, which shows the check above can
# fail.
TEMPLATE=/bundle/config.userns.template config fallback '["sleep","1000"]' '{"pids":{"limit":10}}'
if in_runner $B create --bundle /b/fallback fallback 2>/tmp/err; then
    bad "clone3 fallback: init was cloned in a cgroup without room for it"
    $B delete -f fallback
else
    check "clone3 fallback: a plain clone in the tight cgroup is refused (pids.events)" "max 1" \
        "$(cat $RUNNER/pids.events)"
    [ -e "$CG/fallback" ] && bad "clone3 fallback: the failed create left $CG/fallback"
fi
if $B --debug create --bundle /b/fallback fallback 2>/tmp/err; then
    pid=$($B state fallback | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
    check "clone3 fallback: init is in the container's cgroup" "0::/berth-test/fallback" "$(cat /proc/$pid/cgroup)"
    if grep -q 'cgroup.procs is not writable from here' /tmp/err && grep -q 'moving init into its cgroup' /tmp/err; then
        ok "clone3 fallback: $(grep -o 'cgroup.procs is not writable from here.*' /tmp/err | head -n1)"
    else
        bad "clone3 fallback: not in the debug log: $(grep -i cgroup /tmp/err | tail -n3)"
    fi
    $B start fallback 2>/tmp/err || bad "clone3 fallback: start: $(cat /tmp/err)"
    $B delete -f fallback
else
    bad "clone3 fallback: create: $(tail -n3 /tmp/err)"
fi
# The helper path (a library caller with threads): the `berth init` helper
# is the intermediate process and clones init, and then the exec'd process,
# into the container's cgroup. The runner holds the caller's two threads and
# the helper; a plain clone of either container process would be refused.
echo 3 >$RUNNER/pids.max
refused_before=$(cat $RUNNER/pids.events)
config thr '["sleep","1000"]' '{"pids":{"limit":10}}'
if out=$(in_runner /bin/threaded /run/threaded /b/thr thr 2>/tmp/err); then
    ok "helper path: $(echo "$out" | head -n1) from a caller with threads in a cgroup without room"
    check "helper path: exec'd process at its cgroup namespace's root" "0::/" "$(echo "$out" | tail -n1)"
    check "helper path: nothing refused in the caller's cgroup (pids.events)" "$refused_before" \
        "$(cat $RUNNER/pids.events)"
else
    bad "helper path: $(tail -n3 /tmp/err) $(echo "$out" | tail -n2)"
fi
check "helper path: no state left" "" "$(ls /run/threaded 2>/dev/null | tr '\n' ' ')"
# clone3 refused (a cgroup that hands controllers down may hold no
# process: EBUSY). Cloned straight from the runtime, nothing is spoilt:
# berth clones plainly and its cgroup.procs write is refused as well; the
# error says so and nothing is left.
mkdir -p $CG/busy
echo +memory >$CG/busy/cgroup.subtree_control
config busy '["true"]' '{}'
if $B --debug create --bundle /b/busy busy 2>/tmp/err; then
    bad "clone3 refused: create in a cgroup that hands controllers down succeeded"
    $B delete -f busy
else
    if grep -q 'clone3(CLONE_INTO_CGROUP) failed.*init will be moved' /tmp/err &&
        grep -q 'init cloned straight into its namespaces' /tmp/err; then
        ok "clone3 refused: $(grep -o 'clone3(CLONE_INTO_CGROUP) failed.*' /tmp/err | head -n1)"
    else
        bad "clone3 refused: not in the debug log: $(grep -i clone /tmp/err | tail -n3)"
    fi
    info "busy: $(tail -n1 /tmp/err)"
    check "clone3 refused: no state left" "" "$(ls /run/berth 2>/dev/null | tr '\n' ' ')"
fi
# Through the intermediate process (a namespace to join), a clone3 refused
# after init's pid was allocated spoils the intermediate's new pid
# namespace: berth starts over with a new intermediate and a plain clone.
mkdir -p $CG/busy
echo +memory >$CG/busy/cgroup.subtree_control
TEMPLATE=/bundle/config.joins.template config busy '["true"]' '{}'
if $B --debug create --bundle /b/busy busy 2>/tmp/err; then
    bad "clone3 start over: create in a cgroup that hands controllers down succeeded"
    $B delete -f busy
else
    if grep -q 'starting again without it' /tmp/err; then
        ok "clone3 start over: $(grep -o 'clone3(CLONE_INTO_CGROUP) failed.*' /tmp/err | head -n1)"
    else
        bad "clone3 start over: not in the debug log: $(grep -i clone /tmp/err | tail -n3)"
    fi
    info "busy: $(tail -n1 /tmp/err)"
    check "clone3 start over: no state left" "" "$(ls /run/berth 2>/dev/null | tr '\n' ' ')"
fi
rmdir $CG/busy 2>/dev/null
rmdir $RUNNER 2>/dev/null || bad "clone3: $RUNNER still has processes: $(cat $RUNNER/cgroup.procs)"

# --- nothing left ----------------------------------------------------------------------
left=$(find $CG -mindepth 1 -type d 2>/dev/null | tr '\n' ' ')
check "no container cgroup left under $CG" "" "$left"
check "no container state left" "" "$(ls /run/berth 2>/dev/null | tr '\n' ' ')"

finish
