#!/bin/bash
# The CRIU lane: checkpoint/restore where CRIU works. Debian 12's criu 3.17
# cannot dump on newer host kernels (6.18 here: "vdso: Unexpected rt vDSO
# area bounds"), so this boots Debian's own 6.1 kernel in QEMU (TCG, no KVM
# needed) with an initramfs holding busybox, berth, criu with its shared
# libraries, GNU tar and gzip (CRIU archives tmpfs mounts with them), a
# busybox bundle and init.sh, which runs the checks and powers off. Each
# check prints one PASS/FAIL line, then "N passed, N failed".
#
# Usage: conformance/criu/run.sh [--berth PATH] [--keep] [--timeout SECONDS]
#   --berth PATH   the berth to test, static or dynamic (its libraries are
#                  copied; default: the static release build of
#                  scripts/build-release.sh)
#   --keep         keep the work directory (initramfs, console log)
#   --timeout S    stop the guest after S seconds (default 300)
# Needs root only to install missing packages (qemu-system-x86,
# linux-image-amd64, busybox-static, criu, cpio, jq); installs nothing when
# they are there. Exit status: 0 when every check passed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib/guest.sh
. "$here/../lib/guest.sh"
top=$(cd "$here/../.." && pwd)
lane_options "$@"
t0=$(date +%s)

# --- packages --------------------------------------------------------------
ensure_packages "criu lane" qemu-system-x86 linux-image-amd64 busybox-static criu cpio tar gzip xz-utils kmod jq

# Debian 12's own kernel (6.1), the one its criu works with.
kernel=$(ls -1 /boot/vmlinuz-6.1.*-amd64 2>/dev/null | sort -V | tail -n1)
[[ -n $kernel ]] || kernel=$(ls -1 /boot/vmlinuz-*-amd64 2>/dev/null | sort -V | tail -n1)
[[ -n $kernel ]] || { echo "criu lane: no /boot/vmlinuz-*-amd64 (linux-image-amd64)" >&2; exit 1; }
[[ -r $kernel ]] || { echo "criu lane: $kernel is not readable" >&2; exit 1; }
kver=${kernel#/boot/vmlinuz-}
criu=$(command -v criu || echo /usr/sbin/criu)
[[ -x $criu ]] || { echo "criu lane: criu not found" >&2; exit 1; }

# --- berth -----------------------------------------------------------------
if [[ -z $berth ]]; then
    berth=$(release_berth "criu lane" "$top")
fi
[[ -x $berth ]] || { echo "criu lane: $berth is not executable" >&2; exit 1; }

# --- the initramfs -----------------------------------------------------------
work=$(mktemp -d /tmp/berth-criu.XXXXXX)
cleanup() { if ((keep)); then echo "criu lane: kept $work" >&2; else rm -rf "$work"; fi; }
trap cleanup EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,run,tmp,mnt,lib64,lib/x86_64-linux-gnu}
busybox_bin "$root"
if command -v strip >/dev/null; then
    strip -o "$root/bin/berth" "$berth"
else
    cp "$berth" "$root/bin/berth"
fi
copy_libs "$root" "$berth"
# criu, and the GNU tar and gzip it runs to save and restore tmpfs mounts
# (busybox's lack the options it passes); /usr/bin comes first in PATH.
cp "$criu" "$root/usr/sbin/criu"
copy_libs "$root" "$criu"
for tool in tar gzip; do
    cp "$(command -v $tool)" "$root/usr/bin/$tool"
    copy_libs "$root" "$(command -v $tool)"
done
cp "$here/init.sh" "$root/init"
install_checks "$root/bin/lane-checks.sh"
chmod 755 "$root/init"

# Kernel modules CRIU needs here: the sock_diag ones to find a task's
# sockets, tun, veth and nf_tables, which it probes at start, and
# nf_conntrack_netlink, through which it dumps a network namespace's
# connection tracking (even with --empty-ns net). Their
# dependencies come first (modprobe's order), decompressed for busybox's
# insmod; init.sh loads lib/modules/order.
modules_wanted=(unix_diag inet_diag tcp_diag udp_diag raw_diag netlink_diag af_packet_diag tun veth nf_tables nf_conntrack_netlink)
mkdir -p "$root/lib/modules"
: >"$root/lib/modules/order"
for m in "${modules_wanted[@]}"; do
    modprobe -S "$kver" --show-depends "$m" 2>/dev/null | awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++' | while read -r f; do
    base=$(basename "$f")
    base=${base%.xz}
    base=${base%.zst}
    case $f in
    *.xz) xz -dc "$f" >"$root/lib/modules/$base" ;;
    *.zst) zstd -dcq "$f" >"$root/lib/modules/$base" ;;
    *) cp "$f" "$root/lib/modules/$base" ;;
    esac
    echo "$base" >>"$root/lib/modules/order"
done

# The bundle: a busybox rootfs (each container gets a copy) and a config
# template; init.sh fills in the rootfs path and the cgroup path.
bundle=$root/bundle
busybox_rootfs "$bundle/rootfs"
"$berth" spec --bundle "$bundle"
# The counter: one number per line in /count, five a second.
jq '.process.terminal = false
    | .process.args = ["sh", "-c", "i=0; while true; do echo $i >> /count; i=$((i+1)); sleep 0.2; done"]
    | .hostname = "criu"
    | .root.path = "@ROOT@"
    | .root.readonly = false
    | .linux.cgroupsPath = "@CGPATH@"' \
    "$bundle/config.json" >"$bundle/config.template"
rm "$bundle/config.json"
# Restore's runtime hooks: one that records what it saw (the pid it was
# given, that process's name, the counter's last line) and one that fails.
cat >"$root/bin/record-hook" <<'HOOK'
#!/bin/sh
pid=$(sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
echo "$pid $(cat "/proc/$pid/comm" 2>/dev/null) $(tail -n1 "$2/count")" >"/tmp/hook-$1"
HOOK
chmod +x "$root/bin/record-hook"
jq '.hooks = {"prestart": [{"path": "/bin/record-hook", "args": ["record-hook", "prestart", "@ROOT@"]}],
              "createRuntime": [{"path": "/bin/record-hook", "args": ["record-hook", "createRuntime", "@ROOT@"]}]}' \
    "$bundle/config.template" >"$bundle/config.hooks"
jq '.hooks = {"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}]}' \
    "$bundle/config.template" >"$bundle/config.failing-hook"

# --- boot ----------------------------------------------------------------------
boot_initramfs "criu lane" "$root" "$kernel" 768 "$work" || exit 1
