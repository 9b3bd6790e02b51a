# Sourced by lane.sh when systemd booted on cgroup v1 (hybrid: the v1
# controllers under /sys/fs/cgroup, systemd's own tree in cgroup2 at
# /sys/fs/cgroup/unified): the same driver, read from systemctl and the
# v1 files. systemd makes the scope only in the hierarchies it manages;
# berth makes it in the others (cpuset, freezer …) and moves init there.
V1=/sys/fs/cgroup
in_v1() { if grep -q "^[0-9]*:$2:/$3\$" "/proc/$1/cgroup"; then echo yes; else echo no; fi; }
status() { /lane/berth state "$1" | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p'; }

RES='{"memory":{"limit":67108864,"reservation":33554432},"pids":{"limit":32},
 "cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0"},
 "devices":[{"allow":false,"access":"rwm"}]}'
RES=$(echo "$RES" | tr -d '\n')
config sd1 system.slice:berth:sd1 '["sleep","1000"]' "$RES"
S=berth-sd1.scope
P=system.slice/$S
if $B create --bundle /b/sd1 sd1 2>/tmp/err; then
    ok "v1: create with cgroupsPath system.slice:berth:sd1"
    check "v1: systemctl: $S is active" active "$(systemctl is-active $S)"
    check "v1: systemctl: Delegate" yes "$(show $S Delegate)"
    check "v1: systemctl: MemoryLimit (memory.limit)" 67108864 "$(show $S MemoryLimit)"
    check "v1: systemctl: CPUShares (cpu.shares)" 512 "$(show $S CPUShares)"
    check "v1: systemctl: TasksMax (pids.limit)" 32 "$(show $S TasksMax)"
    pid=$(statepid sd1)
    for c in name=systemd memory pids cpu,cpuacct cpuset freezer devices blkio; do
        check "v1: init in $c:/$P" yes "$(in_v1 "$pid" "$c" "$P")"
    done
    check "v1: memory.limit_in_bytes" 67108864 "$(cgfile $V1/memory/$P/memory.limit_in_bytes)"
    check "v1: pids.max" 32 "$(cgfile $V1/pids/$P/pids.max)"
    check "v1: cpu.shares" 512 "$(cgfile $V1/cpu,cpuacct/$P/cpu.shares)"
    check "v1: cpu.cfs_quota_us" 50000 "$(cgfile $V1/cpu,cpuacct/$P/cpu.cfs_quota_us)"
    check "v1: cpuset.cpus (a hierarchy systemd does not manage)" 0 "$(cgfile $V1/cpuset/$P/cpuset.cpus)"
    $B start sd1 2>/tmp/err || bad "v1: start sd1: $(cat /tmp/err)"
    # The container's device rules (as in the default spec: all denied but
    # the standard nodes) stay in force when systemd rewrites the scope's
    # cgroup (at a daemon-reload; at update, which sets properties).
    check "v1: devices.list denies by default" no "$(grep -qx 'a \*:\* rwm' $V1/devices/$P/devices.list && echo yes || echo no)"
    systemctl daemon-reload
    check "v1: after daemon-reload: the limits as berth wrote them" "67108864 33554432 32 512 50000 0" \
        "$(for f in memory/memory.limit_in_bytes memory/memory.soft_limit_in_bytes pids/pids.max \
            cpu,cpuacct/cpu.shares cpu,cpuacct/cpu.cfs_quota_us cpuset/cpuset.cpus; do
            cgfile "$V1/${f%%/*}/$P/${f#*/}"; echo; done | tr '\n' ' ' | sed 's/ $//')"
    check "v1: after daemon-reload: devices.list still denies by default" no "$(grep -qx 'a \*:\* rwm' $V1/devices/$P/devices.list && echo yes || echo no)"
    check "v1: systemctl: DevicePolicy (the config's device rules as DeviceAllow)" strict "$(show $S DevicePolicy)"
    check "v1: after daemon-reload: the disk's node cannot be opened" denied "$(disk_probe sd1)"
    check "v1: after daemon-reload: /dev/null allowed" yes "$(grep -qx 'c 1:3 rwm' $V1/devices/$P/devices.list && echo yes || echo no)"
    if $B update --memory 128m --pids-limit 16 sd1 2>/tmp/err; then
        check "v1: update: memory.limit_in_bytes" 134217728 "$(cgfile $V1/memory/$P/memory.limit_in_bytes)"
        check "v1: update: pids.max" 16 "$(cgfile $V1/pids/$P/pids.max)"
        check "v1: update: systemctl MemoryLimit" 134217728 "$(show $S MemoryLimit)"
        check "v1: update: systemctl TasksMax" 16 "$(show $S TasksMax)"
        check "v1: update: devices.list still denies by default" no "$(grep -qx 'a \*:\* rwm' $V1/devices/$P/devices.list && echo yes || echo no)"
    else
        bad "v1: update: $(cat /tmp/err)"
    fi
    if $B pause sd1 2>/tmp/err; then
        check "v1: pause: freezer.state" FROZEN "$(cgfile $V1/freezer/$P/freezer.state)"
        check "v1: pause: state" paused "$(status sd1)"
        $B resume sd1 2>/tmp/err || bad "v1: resume: $(cat /tmp/err)"
        check "v1: resume: freezer.state" THAWED "$(cgfile $V1/freezer/$P/freezer.state)"
    else
        bad "v1: pause: $(cat /tmp/err)"
    fi
    # exec joins every hierarchy: the root of the container's cgroup namespace
    check "v1: exec: the process is in the scope's memory and cpuset cgroups" "/ /" \
        "$($B exec sd1 sh -c "grep -E ':(memory|cpuset):' /proc/self/cgroup | cut -d: -f3 | tr '\n' ' ' | sed 's/ \$//'" 2>/tmp/err)"
    check "v1: ps --format json" "[$pid]" "$($B ps --format json sd1 | tr -d ' \n')"
    $B delete -f sd1 2>/tmp/err || bad "v1: delete -f sd1: $(cat /tmp/err)"
    sleep 0.2
    check "v1: delete: $S gone from systemctl" "" "$(units $S)"
    left=""
    for c in name=systemd memory pids cpu,cpuacct cpuset freezer devices blkio; do
        d=$V1/${c#name=}/$P
        [ -e "$d" ] && left="$left $d"
    done
    check "v1: delete: no cgroup of the scope in any hierarchy" "" "$left"
else
    bad "v1: create sd1: $(cat /tmp/err)"
fi

# run: the exit code, the container's own view of its v1 limits, no scope left
config sd2 :berth:sd2 '["sh","-c","cat /sys/fs/cgroup/pids/pids.max; exit 7"]' '{"pids":{"limit":8}}'
out=$($B run --bundle /b/sd2 sd2 2>/tmp/err)
check "v1: run: the container's exit code" 7 "$?"
check "v1: run: the container sees its pids.max" 8 "$out"
check "v1: run: berth-sd2.scope gone afterwards" "" "$(units berth-sd2.scope)"

# A user's manager gets no controllers on v1: refused before anything exists.
useradd -M -u 1500 lanerl 2>/dev/null
out=$(runuser -u lanerl -- /lane/berth --root /tmp/rl-root --systemd-cgroup run --bundle /b/sd2 rlv1 2>&1)
check "v1: rootless --systemd-cgroup refused, naming cgroup v2" yes \
    "$(echo "$out" | grep -q 'needs a cgroup v2 host' && echo yes || echo "no: $out")"
check "v1: rootless refusal left no state" "" "$(ls /tmp/rl-root 2>/dev/null)"

check "v1: no berth scope left" "" "$(units 'berth-*.scope')"
check "v1: no container state left" "" "$(ls /run/berth 2>/dev/null | tr '\n' ' ')"
