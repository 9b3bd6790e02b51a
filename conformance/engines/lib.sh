# shellcheck shell=bash disable=SC2034
# Shared helpers for the engine checks. Sourced by run.sh and by the
# per-engine scripts (containerd.sh, docker.sh, podman.sh).
#
# Variables the engine scripts expect (set by run.sh):
#   WORK       this run's temporary directory (short path: socket paths)
#   RT_NAME    runtime name (basename of the binary: berth, runc, crun)
#   RT_WRAP    the logging wrapper in front of the runtime ($WORK/bin/$RT_NAME)
#   CALLS      file the wrapper appends every runtime call and exit code to
#   RESULTS    TSV file: engine, check, PASS|FAIL|N/A, detail
#   ENGINE     set by each engine script

# --- reporting ------------------------------------------------------------

_record() { # status check detail
    local status=$1 check=$2 detail=${3-}
    detail=${detail//$'\n'/ }
    detail=${detail//$'\t'/ }
    ((${#detail} > 300)) && detail="${detail:0:300}..."
    printf '%s\t%s\t%s\t%s\n' "$ENGINE" "$check" "$status" "$detail" >>"$RESULTS"
    if [[ -n $detail ]]; then
        printf '%s %s/%s: %s\n' "$status" "$ENGINE" "$check" "$detail"
    else
        printf '%s %s/%s\n' "$status" "$ENGINE" "$check"
    fi
}
pass() { _record PASS "$1" "${2-}"; }
fail() {
    _record FAIL "$1" "${2-}"
    # Point at the runtime calls made since the check started.
    if [[ -n ${CHECK_MARK-} && -f $CALLS ]]; then
        echo "     runtime calls during this check (from $CALLS):"
        tail -n +"$CHECK_MARK" "$CALLS" | tail -n 12 | sed 's/^/       /'
    fi
}
na() { _record N/A "$1" "${2-}"; }

# Remember where the runtime call log stands, so that a failure can show the
# calls made by the engine for this check.
mark() {
    CHECK_MARK=$(($(wc -l <"$CALLS" 2>/dev/null || echo 0) + 1))
}

# expect CHECK EXPECTED ACTUAL: PASS when equal (after trimming CR/space).
expect() {
    local check=$1 want=$2 got=$3
    got=$(printf '%s' "$got" | tr -d '\r' | sed -e 's/[[:space:]]*$//')
    if [[ $got == "$want" ]]; then
        pass "$check"
    else
        fail "$check" "want '$want', got '$got'"
    fi
}

# --- processes and cleanup ------------------------------------------------

# Wait until a pid is gone (up to $2 seconds).
wait_gone() {
    local pid=$1 secs=${2:-20} i
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

# Stop a daemon we started: SIGTERM, then SIGKILL after a grace period.
stop_pid() {
    local pid=$1 what=${2:-process}
    [[ -n $pid ]] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    if ! wait_gone "$pid" 20; then
        echo "note: $what ($pid) ignored SIGTERM, sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null
        wait_gone "$pid" 5
    fi
}

# Processes started on behalf of this run (shims, conmon, container inits
# reparented to us) are recognised by their command line naming $WORK.
# Kill those, by pid, after their daemon is gone.
kill_leftovers_under() {
    local dir=$1 p cmd
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [[ $p == "$$" || $p == "$BASHPID" ]] && continue
        cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline") || continue
        [[ $cmd == *"$dir"* ]] || continue
        case $cmd in
        *containerd-shim*)
            echo "note: stopping leftover pid $p: ${cmd:0:120}" >&2
            remove_shim_socket "$p"
            kill -KILL "$p" 2>/dev/null
            ;;
        *conmon* | *containerd* | *dockerd*)
            echo "note: stopping leftover pid $p: ${cmd:0:120}" >&2
            kill -KILL "$p" 2>/dev/null
            ;;
        esac
    done
}

# A containerd 1.6 shim listens on /run/containerd/s/<sha256 of
# address/namespace/id>; a killed shim leaves that socket behind.
remove_shim_socket() { # pid (call before killing it)
    local -a a
    local i addr='' ns='' id='' sum
    mapfile -d '' -t a 2>/dev/null </proc/"$1"/cmdline || return 0
    for ((i = 0; i < ${#a[@]} - 1; i++)); do
        case ${a[i]} in
        -address) addr=${a[i + 1]} ;;
        -namespace) ns=${a[i + 1]} ;;
        -id) id=${a[i + 1]} ;;
        esac
    done
    [[ -n $addr && -n $ns && -n $id ]] || return 0
    sum=$(printf '%s' "$addr/$ns/$id" | sha256sum | cut -d' ' -f1)
    [[ -S /run/containerd/s/$sum ]] && rm -f "/run/containerd/s/$sum"
}

# Unmount everything below a directory (deepest first); used only on our
# own temporary directories.
umount_under() {
    local dir=$1
    awk -v d="$dir" '$5 == d || index($5, d "/") == 1 {print $5}' /proc/self/mountinfo |
        sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
}

# cgroup v1 controllers we look at for leftovers.
CG_CTRLS=(cpu cpuacct cpuset memory devices freezer blkio pids systemd unified)

# Echo the cgroup directories named NAME below PARENT (e.g. /docker) in any
# controller. Never looks outside PARENT.
cgroup_dirs() { # parent name
    local parent=$1 name=$2 c
    for c in "${CG_CTRLS[@]}"; do
        [[ -d /sys/fs/cgroup/$c$parent ]] || continue
        find "/sys/fs/cgroup/$c$parent" -mindepth 1 -maxdepth 3 -type d -name "*$name*" 2>/dev/null
    done
}

# Record which engine parent cgroups exist before we start, so that the
# ones the engine created can be removed (when empty) at the end.
cgroup_parents_before() { # parent...
    local p c
    CG_PREEXIST=()
    for p in "$@"; do
        for c in "${CG_CTRLS[@]}"; do
            [[ -d /sys/fs/cgroup/$c$p ]] && CG_PREEXIST+=("/sys/fs/cgroup/$c$p")
        done
    done
}
cgroup_parents_cleanup() { # parent...
    local p c d x keep pid killed=0
    # Processes still in a parent cgroup that we created are containers of
    # this run the engine lost track of (e.g. after a failed start): kill
    # them by pid first. A parent that existed before is left alone.
    for p in "$@"; do
        d=/sys/fs/cgroup/pids$p
        [[ -d $d ]] || continue
        keep=0
        for x in "${CG_PREEXIST[@]}"; do [[ $x == "$d" ]] && keep=1; done
        ((keep)) && continue
        while read -r pid; do
            [[ -n $pid ]] || continue
            echo "note: killing leftover container process $pid ($(tr '\0' ' ' 2>/dev/null </proc/"$pid"/cmdline | cut -c1-80))" >&2
            kill -KILL "$pid" 2>/dev/null && killed=1
        done < <(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)
    done
    ((killed)) && sleep 0.5
    for p in "$@"; do
        for c in "${CG_CTRLS[@]}"; do
            d=/sys/fs/cgroup/$c$p
            [[ -d $d ]] || continue
            keep=0
            for x in "${CG_PREEXIST[@]}"; do [[ $x == "$d" ]] && keep=1; done
            ((keep)) && continue
            # Empty leaf directories first, then the parent itself.
            find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
        done
    done
}

# Mount points below DIR, one per line (to compare before/after).
mounts_under() {
    awk -v d="$1" 'index($5, d "/") == 1 {print $5}' /proc/self/mountinfo | sort
}

# --- the images ------------------------------------------------------------

# A busybox rootfs tarball: bin/busybox and one link per applet, a passwd
# with root and tester (1000:1000), and the usual empty mount points.
build_rootfs_tar() { # dir
    local dir=$1 r=$1/rootfs a
    rm -rf "$r"
    mkdir -p "$r"/{bin,etc,proc,sys,dev,tmp,root,run,home/tester,var}
    cp /bin/busybox "$r/bin/busybox"
    for a in $("$r/bin/busybox" --list); do
        [[ $a == busybox ]] || ln -s busybox "$r/bin/$a"
    done
    cat >"$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
tester:x:1000:1000:tester:/home/tester:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
    cat >"$r/etc/group" <<'EOF'
root:x:0:
tester:x:1000:
nogroup:x:65534:
EOF
    chmod 1777 "$r/tmp"
    chown 1000:1000 "$r/home/tester"
    tar -C "$r" -cf "$dir/rootfs.tar" .
}

# A check that could not run because an earlier step failed (the calls were
# already shown with that step's failure).
fail_dep() {
    local m=${CHECK_MARK-}
    CHECK_MARK=
    fail "$@"
    CHECK_MARK=$m
}

# Directories an engine creates at a fixed place outside its configured
# roots: note which are missing before, rmdir them (if empty) after.
run_dirs_before() {
    local d
    RUN_DIRS_NEW=()
    for d in "$@"; do [[ -e $d ]] || RUN_DIRS_NEW+=("$d"); done
}
run_dirs_cleanup() {
    local i
    for ((i = ${#RUN_DIRS_NEW[@]} - 1; i >= 0; i--)); do
        rmdir "${RUN_DIRS_NEW[i]}" 2>/dev/null
    done
}
