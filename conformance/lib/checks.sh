# shellcheck shell=sh
# Sourced by the QEMU lanes' guest scripts (cgroupv2/init.sh, criu/init.sh,
# systemd/lane.sh; each lane installs it as lane-checks.sh): one PASS/FAIL
# line per check and the closing "N passed, N failed" line that guest.sh's
# guest_verdict turns into the lane's exit status. The caller sets T0, the
# guest's uptime when the checks began, and defines finish (report, then
# its own way to power off).
pass=0
fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
info() { echo "INFO $*"; }
# check NAME WANT GOT
check() {
    if [ "$3" = "$2" ]; then ok "$1 = $3"; else bad "$1: want '$2', got '$3'"; fi
}
# report: how long the checks took, the closing line, and a sync.
report() {
    info "checks took $(awk "BEGIN{print $(cut -d' ' -f1 /proc/uptime) - $T0}")s of guest time"
    echo "$pass passed, $fail failed"
    sync
}
