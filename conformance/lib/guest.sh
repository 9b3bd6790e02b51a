# Shared by the QEMU lanes (cgroupv2, systemd, criu): boot a guest under TCG
# with a serial console, show its check lines as they come, and turn its
# closing "N passed, N failed" line into the lane's exit status.
# Source it, then: lane_options for the command line; ensure_packages,
# release_berth, copy_libs, busybox_bin, busybox_rootfs and install_checks
# (the check helpers the guest scripts source, checks.sh) to build the
# guest; boot_initramfs, or run_guest LOG LIMIT QEMU_ARGS... and
# guest_verdict NAME LOG KEEP, to run it.

# lane_options ARG...: the lanes' command line. Sets berth (--berth PATH;
# empty: the lane builds the release berth), keep (--keep: 1, keep the
# run's files) and limit (--timeout SECONDS, default 300).
lane_options() {
    berth="" keep=0 limit=300
    while (($#)); do
        case $1 in
        --berth) berth=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        --timeout) limit=$2; shift 2 ;;
        *) echo "usage: $0 [--berth PATH] [--keep] [--timeout SECONDS]" >&2; exit 2 ;;
        esac
    done
}

# run_guest LOG LIMIT QEMU_ARGS...: boots qemu-system-x86_64 (one vCPU) with
# QEMU_ARGS, stopped after LIMIT seconds; the console goes to LOG. Sets
# GUEST_RC to qemu's exit status.
run_guest() {
    local log=$1 limit=$2
    shift 2
    set +e
    timeout --foreground -k 5 "$limit" qemu-system-x86_64 -accel tcg -smp 1 "$@" \
        -nographic -no-reboot -monitor none </dev/null 2>&1 |
        tr -d '\r' | tee "$log" | grep --line-buffered -E '^(PASS|FAIL|SKIP|INFO|[0-9]+ passed)'
    GUEST_RC=${PIPESTATUS[0]}
    set -e
}

# boot_initramfs NAME ROOT KERNEL MEMORY WORK: packs ROOT into an
# initramfs in WORK, boots KERNEL with it and MEMORY MiB (the console log
# goes to WORK/console.log), says how long each part took since t0 (set
# when the lane started) and returns guest_verdict's answer. Uses the
# lane_options settings limit and keep.
boot_initramfs() {
    local name=$1 root=$2 kernel=$3 memory=$4 work=$5 t1 t2
    (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initramfs.gz"
    t1=$(date +%s)
    echo "$name: initramfs $(du -h "$work/initramfs.gz" | cut -f1) ready in $((t1 - t0))s; booting ${kernel#/boot/vmlinuz-}" >&2
    run_guest "$work/console.log" "$limit" -m "$memory" \
        -kernel "$kernel" -initrd "$work/initramfs.gz" \
        -append "console=ttyS0 panic=-1 quiet"
    t2=$(date +%s)
    echo "$name: guest ran $((t2 - t1))s (qemu exit $GUEST_RC), lane total $((t2 - t0))s" >&2
    guest_verdict "$name" "$work/console.log" "$keep"
}

# guest_verdict NAME LOG KEEP: returns 0 when LOG ends the checks with
# "N passed, 0 failed" (N > 0); otherwise says why (NAME prefixes the
# messages; KEEP=1 names the kept console log) and returns 1.
guest_verdict() {
    local name=$1 log=$2 keep=$3 summary failed passed
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n1 || true)
    if [[ -z $summary ]]; then
        echo "$name: the guest printed no summary (timeout or crash); last lines:" >&2
        tail -n 30 "$log" >&2
        return 1
    fi
    failed=$(echo "$summary" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    passed=$(echo "$summary" | sed -E 's/^([0-9]+) passed.*/\1/')
    if ((failed > 0 || passed == 0)); then
        if ((keep)); then echo "$name: console log: $log" >&2; fi
        return 1
    fi
}

# ensure_packages NAME PKG...: installs the Debian packages that are
# missing (as root, with apt; an update only when the first try fails).
ensure_packages() {
    local name=$1 p missing=()
    shift
    for p in "$@"; do
        dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    [[ $(id -u) -eq 0 ]] || { echo "$name: missing ${missing[*]}; run as root" >&2; return 1; }
    echo "$name: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "${missing[@]}" >&2; then
        apt-get -o DPkg::Lock::Timeout=900 update -q >&2
        apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "${missing[@]}" >&2
    fi
}

# release_berth NAME TOP: builds the static release berth of the tree TOP
# (scripts/build-release.sh) and prints its path.
release_berth() {
    echo "$1: building a static berth" >&2
    (cd "$2" && scripts/build-release.sh -q >&2) || return 1
    echo "$2/target/release/berth"
}

# copy_libs ROOT BINARY: copies the shared libraries BINARY needs into ROOT
# at their paths (none for a static binary, for which ldd fails).
copy_libs() {
    local root=$1 lib
    { ldd "$2" 2>/dev/null || true; } | awk '/=> \//{print $3} /^[ \t]*\/lib/{print $1}' |
        while read -r lib; do
            mkdir -p "$root$(dirname "$lib")"
            cp -L "$lib" "$root$lib"
        done
}

# busybox_bin DIR: /bin/busybox (busybox-static) and a symlink for each of
# its applets in DIR/bin.
busybox_bin() {
    local dir=$1 applet
    mkdir -p "$dir/bin"
    cp /bin/busybox "$dir/bin/busybox"
    for applet in $(/bin/busybox --list); do
        # `busybox --list` names busybox itself: keep the real binary.
        [[ $applet == busybox || $applet == */* ]] && continue
        ln -sf busybox "$dir/bin/$applet"
    done
}

# busybox_rootfs DIR: a container root filesystem in DIR: busybox, root in
# etc/passwd and etc/group, an open tmp.
busybox_rootfs() {
    local dir=$1
    mkdir -p "$dir"/{bin,etc,proc,sys,dev,tmp,root}
    chmod 1777 "$dir/tmp"
    busybox_bin "$dir"
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$dir/etc/passwd"
    printf 'root:x:0:\n' >"$dir/etc/group"
}

# install_checks DEST: the guest scripts' shared check helpers
# (checks.sh) at DEST, where the guest script sources them.
install_checks() {
    cp "$(dirname "${BASH_SOURCE[0]}")/checks.sh" "$1"
}
