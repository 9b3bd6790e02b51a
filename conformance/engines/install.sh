#!/bin/bash
# Installs what the engine checks need from Debian 12 (as root): containerd
# (ctr and the CRI plugin), docker.io, podman (with conmon), python3-grpcio
# for the CRI client, busybox-static for the image, runc and crun to compare.
# Quick when everything is there. The packages' init scripts must not start
# daemons with the default roots (/var/lib/docker ...): while installing, a
# policy-rc.d that forbids starting services is put in place if there is none.
set -euo pipefail

PACKAGES=(containerd docker.io podman conmon python3-grpcio busybox-static runc crun
    util-linux procps tar)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]})) || exit 0

[[ $(id -u) -eq 0 ]] || { echo "install.sh: missing ${missing[*]}; run as root" >&2; exit 1; }
echo "install.sh: installing ${missing[*]}" >&2

policy=/usr/sbin/policy-rc.d
added_policy=0
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    added_policy=1
fi
trap 'if ((added_policy)); then rm -f "$policy"; fi' EXIT

export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -o DPkg::Lock::Timeout=900 "$@"; }
if ! apt_get install -y -q --no-install-recommends "${missing[@]}" >&2; then
    apt_get update -q >&2
    apt_get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
