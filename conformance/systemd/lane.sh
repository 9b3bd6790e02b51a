#!/bin/sh
# Runs in the systemd guest (conformance/systemd/run.sh), started by
# berth-lane.service once dbus is up: berth --systemd-cgroup against a
# busybox bundle, each check read from systemctl or the scope's cgroup
# files, never from berth's own report. One PASS/FAIL line per check, then
# "N passed, N failed", and the guest powers off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
T0=$(cut -d' ' -f1 /proc/uptime)
B="/lane/berth --systemd-cgroup"
CG=/sys/fs/cgroup
. /lane/lane-checks.sh
finish() {
    info "systemd reached the lane at ${T0}s of guest uptime"
    report
    systemctl poweroff --no-block
    exit 0
}
# disk_probe ID: makes a node of the guest's disk (/dev/vda: a block
# device no rule lets a container use) in the container and reads a byte
# of it: "opened" when the device rules let it through.
DISK=$(printf '%d %d' "0x$(stat -c %t /dev/vda)" "0x$(stat -c %T /dev/vda)")
disk_probe() {
    /lane/berth exec --cap CAP_MKNOD "$1" sh -c \
        "mknod /dev/probe b $DISK 2>/dev/null; if head -c1 /dev/probe >/dev/null 2>&1; then echo opened; else echo denied; fi; rm -f /dev/probe"
}
esc() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }
# config ID CGPATH ARGS_JSON RESOURCES_JSON: writes /b/ID/config.json
config() {
    mkdir -p "/b/$1"
    sed -e "s|@ARGS@|$(esc "$3")|" -e "s|@CGPATH@|$(esc "$2")|" -e "s|@RESOURCES@|$(esc "$4")|" \
        /lane/bundle/config.template >"/b/$1/config.json"
}
show() { systemctl show -p "$2" --value "$1" 2>/dev/null; }
units() { systemctl list-units --all --plain --no-legend "$1" 2>/dev/null | awk '{print $1}' | tr '\n' ' ' | sed 's/ $//'; }
cgfile() { tr '\n' ';' 2>/dev/null <"$1" | sed 's/;$//'; }
statepid() { /lane/berth state "$1" | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p'; }

info "PID 1 is $(cat /proc/1/comm), systemd $(systemctl --version | head -n1 | cut -d' ' -f2), kernel $(uname -r), $(stat -fc %T /sys/fs/cgroup)"
[ "$(cat /proc/1/comm)" = systemd ] || { bad "PID 1 is not systemd"; finish; }
if [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ]; then
    . /lane/lane-v1.sh
    finish
fi

# --- a scope with limits ----------------------------------------------------------
RES='{"memory":{"limit":67108864,"swap":100663296,"reservation":16777216},"pids":{"limit":32},
 "cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0"},"blockIO":{"weight":500},
 "devices":[{"allow":false,"access":"rwm"}],
 "unified":{"memory.high":"50331648"}}'
RES=$(echo "$RES" | tr -d '\n')
config sd1 system.slice:berth:sd1 '["sleep","1000"]' "$RES"
S=berth-sd1.scope
D=$CG/system.slice/$S
if $B create --bundle /b/sd1 sd1 2>/tmp/err; then
    ok "create with cgroupsPath system.slice:berth:sd1"
    check "systemctl: $S is active" active "$(systemctl is-active $S)"
    check "systemctl: Slice" system.slice "$(show $S Slice)"
    check "systemctl: Delegate" yes "$(show $S Delegate)"
    check "systemctl: MemoryMax (memory.limit)" 67108864 "$(show $S MemoryMax)"
    check "systemctl: MemorySwapMax (memory.swap - memory.limit)" 33554432 "$(show $S MemorySwapMax)"
    check "systemctl: TasksMax (pids.limit)" 32 "$(show $S TasksMax)"
    check "systemctl: CPUWeight (cpu.shares 512)" 20 "$(show $S CPUWeight)"
    check "systemctl: CPUQuotaPerSecUSec (cpu.quota/cpu.period)" 500ms "$(show $S CPUQuotaPerSecUSec)"
    pid=$(statepid sd1)
    check "init is in the scope's cgroup" "0::/system.slice/$S" "$(cat "/proc/$pid/cgroup")"
    check "memory.max" 67108864 "$(cgfile $D/memory.max)"
    check "memory.swap.max" 33554432 "$(cgfile $D/memory.swap.max)"
    check "pids.max" 32 "$(cgfile $D/pids.max)"
    check "cpu.max" "50000 100000" "$(cgfile $D/cpu.max)"
    check "cpu.weight" 20 "$(cgfile $D/cpu.weight)"
    check "memory.high (unified)" 50331648 "$(cgfile $D/memory.high)"
    check "systemctl: MemoryHigh (unified memory.high)" 50331648 "$(show $S MemoryHigh)"
    $B start sd1 2>/tmp/err || bad "start sd1: $(cat /tmp/err)"
    # systemd rewrites the scope's cgroup when it applies the unit's settings
    # (a daemon-reload): the container's limits stay.
    for f in memory.max memory.swap.max memory.low memory.high pids.max cpu.max cpu.weight cpuset.cpus io.weight; do
        eval "before_$(echo $f | tr . _)=\"\$(cgfile $D/$f)\""
    done
    check "device rules: the disk's node cannot be opened" denied "$(disk_probe sd1)"
    systemctl daemon-reload
    check "after daemon-reload: the disk's node still cannot be opened" denied "$(disk_probe sd1)"
    for f in memory.max memory.swap.max memory.low memory.high pids.max cpu.max cpu.weight cpuset.cpus io.weight; do
        check "after daemon-reload: $f as berth wrote it" "$(eval echo \"\$before_$(echo $f | tr . _)\")" "$(cgfile $D/$f)"
    done
    # update: the files and systemd's properties
    if $B update --memory 128m --pids-limit 16 sd1 2>/tmp/err; then
        check "update: memory.max" 134217728 "$(cgfile $D/memory.max)"
        check "update: pids.max" 16 "$(cgfile $D/pids.max)"
        check "update: systemctl MemoryMax" 134217728 "$(show $S MemoryMax)"
        check "update: systemctl TasksMax" 16 "$(show $S TasksMax)"
    else
        bad "update: $(cat /tmp/err)"
    fi
    # pause / resume
    if $B pause sd1 2>/tmp/err; then
        check "pause: cgroup.freeze" 1 "$(cgfile $D/cgroup.freeze)"
        check "pause: state" paused "$(/lane/berth state sd1 | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p')"
        $B resume sd1 2>/tmp/err || bad "resume: $(cat /tmp/err)"
        check "resume: cgroup.freeze" 0 "$(cgfile $D/cgroup.freeze)"
    else
        bad "pause: $(cat /tmp/err)"
    fi
    # exec joins the scope: at the root of the container's cgroup namespace
    check "exec: the process is in the scope (cgroup namespace root)" "0::/" \
        "$($B exec sd1 cat /proc/self/cgroup 2>/tmp/err)"
    # ps and events read the scope
    check "ps --format json" "[$pid]" "$($B ps --format json sd1 | tr -d ' \n')"
    cur=$(cgfile $D/pids.current)
    if $B events --stats sd1 2>/tmp/err | grep -q "\"pids\":{\"current\":$cur"; then
        ok "events --stats: pids.current $cur"
    else
        bad "events --stats: no pids.current $cur: $(cat /tmp/err)"
    fi
    # delete stops the scope
    $B delete -f sd1 2>/tmp/err || bad "delete -f sd1: $(cat /tmp/err)"
    sleep 0.2
    check "delete: $S gone from systemctl" "" "$(units $S)"
    if [ -e "$D" ]; then bad "delete: $D still exists"; else ok "delete: no cgroup $D"; fi
else
    bad "create sd1: $(cat /tmp/err)"
fi

# --- the device probe's control: with every device allowed the node opens --------
config sdp system.slice:berth:sdp '["sleep","1000"]' '{"devices":[{"allow":true,"access":"rwm"}]}'
if $B create --bundle /b/sdp sdp 2>/tmp/err && $B start sdp 2>>/tmp/err; then
    check "device probe control: with every device allowed the disk's node opens" opened "$(disk_probe sdp)"
    $B delete -f sdp 2>/tmp/err || bad "delete -f sdp: $(cat /tmp/err)"
else
    bad "create sdp: $(cat /tmp/err)"
fi

# --- run: exit codes, the default slice, the scope goes ---------------------------
config sd2 :berth:sd2 '["sh","-c","exit 7"]' '{"pids":{"limit":8}}'
$B run --bundle /b/sd2 sd2 2>/tmp/err
check "run: the container's exit code" 7 "$?"
check "run: berth-sd2.scope gone afterwards" "" "$(units berth-sd2.scope)"
config sd2b :berth:sd2b '["sh","-c","cat /sys/fs/cgroup/pids.max"]' '{"pids":{"limit":8}}'
out=$($B run --bundle /b/sd2b sd2b 2>/tmp/err)
check "run: an empty slice means system.slice; the container sees its pids.max" 8 "$out"

# --- a slice of its own ---------------------------------------------------------------
# (init traps SIGTERM: a namespace's PID 1 ignores it otherwise, and
# systemd would wait 90 s before SIGKILL)
config sd3 berth.slice:test:sd3 '["sh","-c","trap \"exit 0\" TERM; while :; do sleep 0.1; done"]' \
    '{"memory":{"limit":33554432}}'
if $B create --bundle /b/sd3 sd3 2>/tmp/err && $B start sd3 2>>/tmp/err; then
    check "a slice of its own: test-sd3.scope in berth.slice" berth.slice "$(show test-sd3.scope Slice)"
    check "a slice of its own: memory.max" 33554432 "$(cgfile $CG/berth.slice/test-sd3.scope/memory.max)"
    # systemd stopping the scope ends the container
    systemctl stop test-sd3.scope
    check "systemctl stop: state" stopped "$(/lane/berth state sd3 | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p')"
    $B delete sd3 2>/tmp/err || bad "delete after systemctl stop: $(cat /tmp/err)"
    check "delete after systemctl stop: no state" "" "$(ls /run/berth 2>/dev/null)"
else
    bad "create sd3: $(cat /tmp/err)"
fi

# --- bad paths: a clear error, nothing left ----------------------------------------------
for p in /berth/abs system.slice:berth no-slice:berth:x; do
    config bad "$p" '["true"]' '{}'
    if $B create --bundle /b/bad bad 2>/tmp/err; then
        bad "cgroupsPath $p: create succeeded"
        $B delete -f bad
    elif grep -qF "linux.cgroupsPath: \"$p\"" /tmp/err && [ ! -e /run/berth/bad ]; then
        ok "cgroupsPath $p refused: $(cat /tmp/err)"
    else
        bad "cgroupsPath $p: '$(cat /tmp/err)', state: $(ls /run/berth 2>/dev/null)"
    fi
done

# A value the kernel refuses once the scope exists: create fails naming
# it, and the scope it started is stopped again.
config bad2 system.slice:berth:bad2 '["true"]' '{"unified":{"memory.max":"lots"}}'
if $B create --bundle /b/bad2 bad2 2>/tmp/err; then
    bad "unified memory.max lots: create succeeded"
    $B delete -f bad2
else
    if grep -qF 'linux.resources.unified.memory.max: writing "lots"' /tmp/err; then
        ok "a value the kernel refuses: $(cat /tmp/err)"
    else
        bad "a value the kernel refuses: $(cat /tmp/err)"
    fi
    check "the failed create stopped its scope" "" "$(units berth-bad2.scope)"
    check "the failed create left no state" "" "$(ls /run/berth 2>/dev/null)"
fi

# --- the system bus: systemd's private socket out of reach -----------------------------
# In a mount namespace where /dev/null covers /run/systemd/private, berth
# falls back to the system bus (dbus-daemon, Hello first).
config sd5 :berth:sd5 '["sh","-c","cat /sys/fs/cgroup/pids.max"]' '{"pids":{"limit":9}}'
out=$(unshare -m sh -c 'mount --bind /dev/null /run/systemd/private && exec /lane/berth --debug --systemd-cgroup run --bundle /b/sd5 sd5' 2>/tmp/err)
check "system bus: run, the container sees its pids.max" 9 "$out"
if grep -q "using the system bus" /tmp/err; then
    ok "system bus: berth fell back to it"
else
    bad "system bus: no fallback logged: $(tail -n 3 /tmp/err)"
fi
check "system bus: berth-sd5.scope gone afterwards" "" "$(units berth-sd5.scope)"

# --- systemd refuses: its error name and message, the other scope untouched --------------
config dupa system.slice:berth:dup '["sleep","1000"]' '{}'
config dupb system.slice:berth:dup '["sleep","1000"]' '{}'
if $B create --bundle /b/dupa dupa 2>/tmp/err; then
    if $B create --bundle /b/dupb dupb 2>/tmp/err; then
        bad "a second container for berth-dup.scope: create succeeded"
        $B delete -f dupb
    elif grep -qF "org.freedesktop.systemd1.UnitExists" /tmp/err; then
        ok "a scope that exists: $(cat /tmp/err)"
    else
        bad "a scope that exists: $(cat /tmp/err)"
    fi
    check "the refused create left berth-dup.scope active" active "$(systemctl is-active berth-dup.scope)"
    check "the refused create left no state of its own" dupa "$(ls /run/berth 2>/dev/null | tr '\n' ' ' | sed 's/ $//')"
    $B delete -f dupa 2>/tmp/err || bad "delete -f dupa: $(cat /tmp/err)"
else
    bad "create dupa: $(cat /tmp/err)"
fi

# --- rootless: a user's own systemd (user@UID.service) -------------------------------
RU=1500
as_user() { runuser -u lanerl -- env XDG_RUNTIME_DIR=/run/user/$RU "$@"; }
RB="/lane/berth --root /run/user/$RU/berth"
if useradd -M -u $RU lanerl 2>/tmp/err && loginctl enable-linger lanerl 2>>/tmp/err; then
    n=0
    while [ ! -S /run/user/$RU/systemd/private ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
    mkdir -p /b/rl
    sed -e "s|@CGPATH@|:berth:rl|" -e 's|@ARGS@|["sleep","1000"]|' \
        -e 's|@RESOURCES@|{"pids":{"limit":12},"memory":{"limit":33554432}}|' \
        /lane/bundle/config.rootless >/b/rl/config.json
    U=/user.slice/user-$RU.slice/user@$RU.service/user.slice/berth-rl.scope
    if as_user $RB --systemd-cgroup create --bundle /b/rl rl </dev/null >/dev/null 2>/tmp/err; then
        ok "rootless: create as uid $RU with --systemd-cgroup"
        pid=$(as_user $RB state rl | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
        check "rootless: init in a scope of the user's manager (user.slice by default)" "0::$U" "$(cat "/proc/$pid/cgroup")"
        check "rootless: pids.max" 12 "$(cgfile $CG$U/pids.max)"
        check "rootless: memory.max" 33554432 "$(cgfile $CG$U/memory.max)"
        as_user $RB delete -f rl 2>/tmp/err || bad "rootless: delete -f: $(cat /tmp/err)"
        sleep 0.2
        check "rootless: delete: the scope's cgroup is gone" no "$([ -e "$CG$U" ] && echo yes || echo no)"
        check "rootless: delete: no state" "" "$(ls /run/user/$RU/berth 2>/dev/null)"
    else
        bad "rootless: create: $(cat /tmp/err)"
        info "user@$RU: $(systemctl is-active user@$RU.service) $(ls -la /run/user/$RU 2>&1 | tr '\n' ' ')"
        info "$(journalctl -b --no-pager -u user@$RU.service -u systemd-logind 2>&1 | tail -n 15 | tr '\n' '|')"
    fi
    loginctl disable-linger lanerl
else
    bad "rootless: no lingering user: $(cat /tmp/err)"
fi

# --- nothing left ---------------------------------------------------------------------
check "no berth scope left" "" "$(units 'berth-*.scope'; units 'test-*.scope')"
check "no container state left" "" "$(ls /run/berth 2>/dev/null | tr '\n' ' ')"
finish
