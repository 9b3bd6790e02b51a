#!/bin/bash
# The cgroup v2 lane: boots Debian's kernel in QEMU (TCG, no KVM needed)
# with an initramfs holding busybox, a static berth, a busybox bundle and
# init.sh, which mounts cgroup2 at /sys/fs/cgroup, runs the checks and
# powers off. Each check prints one PASS/FAIL line, then "N passed, N failed".
#
# Usage: conformance/cgroupv2/run.sh [--berth PATH] [--keep] [--timeout SECONDS]
#   --berth PATH   the berth to test, static or dynamic (its libraries are
#                  copied; default: the static release build of
#                  scripts/build-release.sh)
#   --keep         keep the work directory (initramfs, console log)
#   --timeout S    stop the guest after S seconds (default 300)
# Needs root only to install missing packages (qemu-system-x86,
# linux-image-amd64, busybox-static, iproute2, cpio); installs nothing when
# they are there. Exit status: 0 when every check passed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib/guest.sh
. "$here/../lib/guest.sh"
top=$(cd "$here/../.." && pwd)
lane_options "$@"
t0=$(date +%s)

# --- packages --------------------------------------------------------------
ensure_packages "cgroupv2" qemu-system-x86 linux-image-amd64 busybox-static iproute2 cpio xz-utils jq

# The newest Debian kernel installed, with its modules.
kernel=$(ls -1 /boot/vmlinuz-*-amd64 2>/dev/null | sort -V | tail -n1)
[[ -n $kernel ]] || { echo "cgroupv2: no /boot/vmlinuz-*-amd64 (linux-image-amd64)" >&2; exit 1; }
kver=${kernel#/boot/vmlinuz-}
modules=/lib/modules/$kver
[[ -r $kernel ]] || { echo "cgroupv2: $kernel is not readable" >&2; exit 1; }

# --- berth -----------------------------------------------------------------
if [[ -z $berth ]]; then
    berth=$(release_berth "cgroupv2" "$top")
fi
[[ -x $berth ]] || { echo "cgroupv2: $berth is not executable" >&2; exit 1; }

# --- the initramfs -----------------------------------------------------------
work=$(mktemp -d /tmp/berth-cgroupv2.XXXXXX)
cleanup() { if ((keep)); then echo "cgroupv2: kept $work" >&2; else rm -rf "$work"; fi; }
trap cleanup EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,run,tmp,mnt,lib/modules,lib64,lib/x86_64-linux-gnu}
busybox_bin "$root"
# A dynamic berth (the debug build `make test` has) goes in with its
# libraries, without its debug info.
if command -v strip >/dev/null; then
    strip -o "$root/bin/berth" "$berth"
else
    cp "$berth" "$root/bin/berth"
fi
copy_libs "$root" "$berth"
# A program with two threads driving the library, so that berth launches
# through its helper (`berth init`, found in PATH): init.sh checks that the
# helper clones into the container's cgroup too.
(cd "$top" && ${CARGO:-cargo} build -q --example threaded -p berth)
threaded=${CARGO_TARGET_DIR:-$top/target}/debug/examples/threaded
if command -v strip >/dev/null; then
    strip -o "$root/bin/threaded" "$threaded"
else
    cp "$threaded" "$root/bin/threaded"
fi
copy_libs "$root" "$threaded"
cp "$here/init.sh" "$root/init"
install_checks "$root/bin/lane-checks.sh"
chmod 755 "$root/init"

# Kernel modules the checks need: null_blk disks for io.* and the device
# filter, the BFQ scheduler for io.bfq.weight, a dummy
# netdev and soft-RoCE for rdma.max. Copied decompressed (busybox insmod).
for m in kernel/fs/configfs/configfs.ko kernel/drivers/block/null_blk/null_blk.ko kernel/block/bfq.ko \
    kernel/drivers/net/dummy.ko \
    kernel/crypto/crc32_generic.ko kernel/net/ipv4/udp_tunnel.ko kernel/net/ipv6/ip6_udp_tunnel.ko \
    kernel/drivers/infiniband/core/ib_core.ko kernel/drivers/infiniband/core/ib_uverbs.ko \
    kernel/drivers/infiniband/sw/rxe/rdma_rxe.ko; do
    for f in "$modules/$m" "$modules/$m.xz" "$modules/$m.zst"; do
        [[ -e $f ]] || continue
        base=$(basename "$m")
        case $f in
        *.xz) xz -dc "$f" >"$root/lib/modules/$base" ;;
        *.zst) zstd -dcq "$f" >"$root/lib/modules/$base" ;;
        *) cp "$f" "$root/lib/modules/$base" ;;
        esac
    done
done
# iproute2's rdma (for `rdma link add`), with its libraries.
if command -v rdma >/dev/null; then
    cp "$(command -v rdma)" "$root/bin/rdma"
    copy_libs "$root" "$(command -v rdma)"
fi

# The bundle: a busybox rootfs and a config template (init.sh fills in the
# process, the cgroup path, the resources and the device nodes).
bundle=$root/bundle
busybox_rootfs "$bundle/rootfs"
"$berth" spec --bundle "$bundle"
jq '.process.terminal = false
    | .process.args = "@ARGS@"
    | .hostname = "cgv2"
    | .linux.cgroupsPath = "@CGPATH@"
    | .linux.resources = "@RESOURCES@"
    | .linux.devices = "@DEVICES@"
    | .root.path = "/bundle/rootfs"' \
    "$bundle/config.json" |
    sed -e 's/"@ARGS@"/@ARGS@/' -e 's/"@RESOURCES@"/@RESOURCES@/' \
        -e 's/"@DEVICES@"/@DEVICES@/' >"$bundle/config.template"
# The same in a user namespace mapped to unprivileged host ids (init.sh
# uses it for the clone3 fallback: such a namespace may not write the
# container cgroup's cgroup.procs itself).
sed -e 's/@ARGS@/"@ARGS@"/' -e 's/@RESOURCES@/"@RESOURCES@"/' -e 's/@DEVICES@/"@DEVICES@"/' \
    "$bundle/config.template" |
    jq '.linux.namespaces += [{"type":"user"}]
        | .linux.uidMappings = [{"containerID":0,"hostID":100000,"size":65536}]
        | .linux.gidMappings = [{"containerID":0,"hostID":100000,"size":65536}]' |
    sed -e 's/"@ARGS@"/@ARGS@/' -e 's/"@RESOURCES@"/@RESOURCES@/' \
        -e 's/"@DEVICES@"/@DEVICES@/' >"$bundle/config.userns.template"
# The same joining the guest's UTS namespace: joining needs the
# intermediate process (without it init is cloned straight into its
# namespaces), so init.sh reaches the intermediate's clone3 path with it.
sed -e 's/@ARGS@/"@ARGS@"/' -e 's/@RESOURCES@/"@RESOURCES@"/' -e 's/@DEVICES@/"@DEVICES@"/' \
    "$bundle/config.template" |
    jq '.linux.namespaces = [.linux.namespaces[] | select(.type != "uts")]
            + [{"type":"uts","path":"/proc/1/ns/uts"}]
        | del(.hostname)' |
    sed -e 's/"@ARGS@"/@ARGS@/' -e 's/"@RESOURCES@"/@RESOURCES@/' \
        -e 's/"@DEVICES@"/@DEVICES@/' >"$bundle/config.joins.template"
rm "$bundle/config.json"

# --- boot ----------------------------------------------------------------------
boot_initramfs "cgroupv2" "$root" "$kernel" 512 "$work" || exit 1
