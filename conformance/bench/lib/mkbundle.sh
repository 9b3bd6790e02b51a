#!/usr/bin/env bash
# mkbundle.sh: the benchmark's busybox rootfs and config templates.
#
#   $BENCH_WORK/rootfs             /bin/busybox (busybox-static) + applet
#                                  symlinks, etc/passwd, etc/group, proc/
#                                  sys/ dev/ tmp/
#   $BENCH_WORK/config-true.json   `runc spec` + terminal false, args
#                                  ["/bin/true"], absolute root.path, and
#                                  cgroupsPath /$BENCH_CGROUP/@ID@
#   $BENCH_WORK/config-sleep.json  the same running /bin/sleep 3600 (exec target)
#   $BENCH_WORK/config-seccomp.json  config-true + the Docker-like profile
# new_bundle (common.sh) turns a template into a container's bundle by
# replacing @ID@ with the container id.
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "$0")/common.sh"

busybox=$(command -v busybox || true)
[[ -n $busybox ]] && file_is_static=$(ldd "$busybox" 2>&1 || true)
[[ -n $busybox && $file_is_static == *"not a dynamic executable"* ]] ||
    bench_die "a static busybox is needed (apt-get install busybox-static)"

rootfs=$BENCH_WORK/rootfs
rm -rf "$rootfs"
mkdir -p "$rootfs"/{bin,etc,proc,sys,dev,tmp,root}
chmod 1777 "$rootfs/tmp"
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
    # `busybox --list` includes "busybox": a symlink would replace the binary.
    [[ $applet == busybox || $applet == */* ]] && continue
    ln -s busybox "$rootfs/bin/$applet"
done
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' \
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$rootfs/etc/passwd"
printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$rootfs/etc/group"

spec_dir=$(mktemp -d)
trap 'rm -rf "$spec_dir"' EXIT
(cd "$spec_dir" && "$RUNC" spec)

jq --arg root "$rootfs" --arg cg "/$BENCH_CGROUP/@ID@" '
    .process.terminal = false
    | .process.args = ["/bin/true"]
    | .root.path = $root
    | .hostname = "bench"
    | .linux.cgroupsPath = $cg
' "$spec_dir/config.json" >"$BENCH_WORK/config-true.json"

jq '.process.args = ["/bin/sleep", "3600"]' \
    "$BENCH_WORK/config-true.json" >"$BENCH_WORK/config-sleep.json"

python3 "$BENCH_LIB/seccomp_profile.py" >"$BENCH_WORK/seccomp.json" 2>"$BENCH_WORK/seccomp.txt"
jq --slurpfile prof "$BENCH_WORK/seccomp.json" '.linux.seccomp = $prof[0]' \
    "$BENCH_WORK/config-true.json" >"$BENCH_WORK/config-seccomp.json"

echo "bundle: rootfs $rootfs ($(find "$rootfs/bin" -type l | wc -l) applets); seccomp profile: $(cat "$BENCH_WORK/seccomp.txt")"
