#!/usr/bin/env bash
# Usage: scripts/mkbundle.sh DIR [ARG...]
# Make a busybox OCI bundle in DIR: DIR/rootfs and DIR/config.json (from
# `berth spec`, adjusted with jq). The container runs ARG... (default: sh).
# berth is $BERTH, else target/release/berth.
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 DIR [ARG...]" >&2
    exit 2
fi
dir=$1
shift
args=("$@")
((${#args[@]})) || args=(sh)

here=$(cd "$(dirname "$0")/.." && pwd)
berth=${BERTH:-$here/target/release/berth}
[[ -x $berth ]] || { echo "mkbundle.sh: $berth not found (make build, or set BERTH)" >&2; exit 1; }
[[ -x /bin/busybox ]] || { echo "mkbundle.sh: /bin/busybox missing (scripts/deps.sh)" >&2; exit 1; }

rm -rf "$dir"
mkdir -p "$dir/rootfs"
rootfs=$(cd "$dir/rootfs" && pwd)

mkdir -p "$rootfs"/{bin,etc,proc,sys,dev,mnt,root,tmp}
chmod 1777 "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
    # `busybox --list` names busybox itself: keep the real binary.
    [[ $applet == busybox || $applet == */* ]] && continue
    ln -sf busybox "$rootfs/bin/$applet"
done
cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP

"$berth" spec --bundle "$dir"
args_json=$(jq -cn '$ARGS.positional' --args -- "${args[@]}")
name=$(basename "$(cd "$dir" && pwd)")
jq --argjson args "$args_json" --arg cg "/berth-demo/$name-$$" '
    .process.terminal = false
    | .process.args = $args
    | .hostname = "berth-demo"
    | .linux.cgroupsPath = $cg
' "$dir/config.json" >"$dir/config.json.tmp"
mv "$dir/config.json.tmp" "$dir/config.json"
echo "bundle ready: $dir (runs: ${args[*]})"
