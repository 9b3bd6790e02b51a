#!/bin/bash
# The systemd-driver lane: boots a Debian 12 root with systemd as PID 1 in
# QEMU (TCG, no KVM needed) and runs `berth --systemd-cgroup` there
# (lane.sh): the transient scope in systemctl, the limits in its cgroup
# files, update/pause/ps/events through it, exit codes, and that delete
# removes the scope; on v2 also as a user, through the user's own manager
# (rootless). It boots twice: systemd on cgroup v2, then on cgroup v1
# (hybrid, systemd.unified_cgroup_hierarchy=0; lane-v1.sh). One PASS/FAIL
# line per check, then "N passed, N failed", per boot.
#
# Usage: conformance/systemd/run.sh [--berth PATH] [--keep] [--timeout SECONDS]
#   --berth PATH   the berth to test (default: target/debug/berth, built if
#                  missing); a dynamic build runs on the guest's own Debian 12
#                  libraries
#   --keep         keep this run's files (lane disk, console log)
#   --timeout S    stop the guest after S seconds (default 300)
#
# The root is built once with debootstrap from the Debian archive into
# conformance/systemd/work/ (gitignored) and reused: work/base.img, an ext4
# image made with mkfs.ext4 -d. The guest boots Debian's kernel from /boot
# with a small cached initramfs (virtio and ext4 modules, switch_root to
# systemd) and runs with -snapshot, so the image stays clean. Each run only makes a small second disk with berth, a
# busybox bundle and lane.sh. Needs root (debootstrap, package installs).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib/guest.sh
. "$here/../lib/guest.sh"
top=$(cd "$here/../.." && pwd)
lane_options "$@"
t0=$(date +%s)
[[ $(id -u) -eq 0 ]] || { echo "systemd lane: run as root (debootstrap, mkfs)" >&2; exit 1; }

# --- packages --------------------------------------------------------------
ensure_packages "systemd lane" qemu-system-x86 linux-image-amd64 debootstrap e2fsprogs busybox-static jq cpio xz-utils
kernel=$(ls -1 /boot/vmlinuz-*-amd64 2>/dev/null | sort -V | tail -n1)
[[ -n $kernel ]] || { echo "systemd lane: no /boot/vmlinuz-*-amd64" >&2; exit 1; }
kver=${kernel#/boot/vmlinuz-}
modules=/lib/modules/$kver

# --- the Debian root (cached) --------------------------------------------------
work=$here/work
mkdir -p "$work"
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
include=systemd,systemd-sysv,dbus,libpam-systemd,libseccomp2
# The unit that runs the checks: mounts the lane disk and runs lane.sh on
# the serial console once dbus is up.
unit='[Unit]
Description=berth systemd-driver lane
Wants=dbus.service
After=dbus.service basic.target
[Service]
Type=oneshot
ExecStart=/bin/sh -c "mkdir -p /lane && mount /dev/vdb /lane && exec /lane/lane.sh"
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
[Install]
WantedBy=multi-user.target'
recipe="bookworm $include $mirror $(printf '%s' "$unit" | md5sum | cut -d' ' -f1)"
if [[ ! -f $work/base.img || "$(cat "$work/base.stamp" 2>/dev/null)" != "$recipe" ]]; then
    tb=$(date +%s)
    rm -rf "$work/base" "$work/base.img" "$work/base.stamp"
    echo "systemd lane: debootstrap bookworm into $work/base (once)" >&2
    debootstrap --variant=minbase --include="$include" bookworm "$work/base" "$mirror" \
        >"$work/debootstrap.log" 2>&1 || {
        echo "systemd lane: debootstrap failed; see $work/debootstrap.log" >&2
        tail -n 20 "$work/debootstrap.log" >&2
        exit 1
    }
    printf '%s\n' "$unit" >"$work/base/etc/systemd/system/berth-lane.service"
    ln -sf /etc/systemd/system/berth-lane.service \
        "$work/base/etc/systemd/system/multi-user.target.wants/berth-lane.service"
    echo berth-lane >"$work/base/etc/hostname"
    : >"$work/base/etc/fstab"
    # Nothing else on the console, no login prompt.
    ln -sf /dev/null "$work/base/etc/systemd/system/serial-getty@ttyS0.service"
    ln -sf /dev/null "$work/base/etc/systemd/system/getty@tty1.service"
    rm -rf "$work/base/var/cache/apt/archives/"*.deb
    mkfs.ext4 -q -F -L berth-root -d "$work/base" "$work/base.img" 1G
    rm -rf "$work/base" # the image is the cache
    echo "$recipe" >"$work/base.stamp"
    echo "systemd lane: root image ready in $(($(date +%s) - tb))s" >&2
fi

# A small initramfs (cached): Debian's own initrd takes ~30 s to reach
# systemd under TCG; this one loads virtio and ext4, mounts /dev/vda and
# hands over to systemd in a few seconds.
initrd=$work/initramfs-$kver.v2.gz
if [[ ! -f $initrd ]]; then
    ir=$(mktemp -d /tmp/berth-systemd-initrd.XXXXXX)
    mkdir -p "$ir"/{bin,dev,proc,root,lib/modules}
    cp /bin/busybox "$ir/bin/busybox"
    for a in sh mount umount insmod switch_root sleep poweroff; do ln -s busybox "$ir/bin/$a"; done
    mods="drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev
        drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci drivers/block/virtio_blk
        lib/crc16 fs/mbcache fs/jbd2/jbd2 crypto/crc32c_generic fs/ext4/ext4"
    order=""
    for m in $mods; do
        base=$(basename "$m")
        for f in "$modules/kernel/$m.ko" "$modules/kernel/$m.ko.xz" "$modules/kernel/$m.ko.zst"; do
            [[ -e $f ]] || continue
            case $f in
            *.xz) xz -dc "$f" >"$ir/lib/modules/$base.ko" ;;
            *.zst) zstd -dcq "$f" >"$ir/lib/modules/$base.ko" ;;
            *) cp "$f" "$ir/lib/modules/$base.ko" ;;
            esac
        done
        order="$order $base"
    done
    # Built-in drivers (another kernel config) make insmod fail harmlessly.
    cat >"$ir/init" <<INIT
#!/bin/sh
export PATH=/bin
mount -t devtmpfs devtmpfs /dev
for m in $order; do [ -e /lib/modules/\$m.ko ] && insmod /lib/modules/\$m.ko; done
i=0
while [ ! -b /dev/vda ] && [ \$i -lt 200 ]; do sleep 0.05; i=\$((i + 1)); done
mount -t ext4 -o rw /dev/vda /root || { echo "initramfs: cannot mount /dev/vda"; poweroff -f; }
mount --move /dev /root/dev
exec switch_root /root /sbin/init
INIT
    chmod 755 "$ir/init"
    (cd "$ir" && find . | cpio -o -H newc --quiet | gzip -1) >"$initrd"
    rm -rf "$ir"
fi

# --- berth -----------------------------------------------------------------
if [[ -z $berth ]]; then
    berth=$top/target/debug/berth
    [[ -x $berth ]] || (cd "$top" && ${CARGO:-cargo} build -q -p berth-runtime)
fi
[[ -x $berth ]] || { echo "systemd lane: $berth is not executable" >&2; exit 1; }

# --- the lane disk: berth, a busybox bundle, lane.sh -----------------------------
run=$(mktemp -d /tmp/berth-systemd.XXXXXX)
cleanup() { if ((keep)); then echo "systemd lane: kept $run" >&2; else rm -rf "$run"; fi; }
trap cleanup EXIT
lane=$run/lane
mkdir -p "$lane"
if command -v strip >/dev/null; then strip -o "$lane/berth" "$berth"; else cp "$berth" "$lane/berth"; fi
cp "$here/lane.sh" "$here/lane-v1.sh" "$lane/"
install_checks "$lane/lane-checks.sh"
chmod 755 "$lane/lane.sh"
rootfs=$lane/bundle/rootfs
busybox_rootfs "$rootfs"
"$berth" spec --bundle "$lane/bundle"
# A template for lane.sh (the guest has no jq): process args, cgroupsPath
# and resources are filled in with sed.
jq '.process.terminal = false
    | .process.args = "@ARGS@"
    | .linux.cgroupsPath = "@CGPATH@"
    | .linux.resources = "@RESOURCES@"
    | .root.path = "/lane/bundle/rootfs"' \
    "$lane/bundle/config.json" |
    sed -e 's/"@ARGS@"/@ARGS@/' -e 's/"@RESOURCES@"/@RESOURCES@/' >"$lane/bundle/config.template"
rm "$lane/bundle/config.json"
# The same for a rootless container of the guest's user 1500 (lane.sh).
"$berth" spec --rootless --bundle "$run"
jq '.process.terminal = false
    | .process.args = "@ARGS@"
    | .linux.cgroupsPath = "@CGPATH@"
    | .linux.resources = "@RESOURCES@"
    | .root.path = "/lane/bundle/rootfs"
    | .linux.uidMappings[0].hostID = 1500
    | .linux.gidMappings[0].hostID = 1500' \
    "$run/config.json" |
    sed -e 's/"@ARGS@"/@ARGS@/' -e 's/"@RESOURCES@"/@RESOURCES@/' >"$lane/bundle/config.rootless"
rm "$run/config.json"
mkfs.ext4 -q -F -d "$lane" "$run/lane.img" 128M
echo "systemd lane: disks ready in $(($(date +%s) - t0))s; booting $kver with systemd" >&2

# --- boot: systemd on cgroup v2, then on v1 (hybrid) -------------------------------
verdict=0
for mode in unified hybrid; do
    append="root=/dev/vda rw console=ttyS0 quiet panic=-1 systemd.show_status=0"
    # systemd 252 mounts the v1 controllers beside its own cgroup2 tree.
    [[ $mode == hybrid ]] && append+=" systemd.unified_cgroup_hierarchy=0"
    log=$run/console-$mode.log
    t1=$(date +%s)
    run_guest "$log" "$limit" -m 1024 \
        -kernel "$kernel" -initrd "$initrd" \
        -append "$append" \
        -drive "file=$work/base.img,format=raw,if=virtio" \
        -drive "file=$run/lane.img,format=raw,if=virtio" -snapshot
    qemu_rc=$GUEST_RC
    t2=$(date +%s)
    echo "systemd lane ($mode): guest ran $((t2 - t1))s (qemu exit $qemu_rc), lane total $((t2 - t0))s" >&2
    guest_verdict "systemd lane ($mode)" "$log" "$keep" || verdict=1
done
exit $verdict
