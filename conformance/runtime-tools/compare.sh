#!/bin/bash
# Runs the validation suite against berth, runc and crun one after the other
# and prints a markdown table program x runtime (also written to
# work/compare.md).
#
#   compare.sh [program...]
#
# Environment:
#   BERTH   berth binary (default: target/release/berth of this workspace,
#           built with scripts/build-release.sh if missing)
#   RUNC    runc binary (default /usr/sbin/runc, Debian's runc package)
#   CRUN    crun command (default: crun-wrapper.sh beside this script, which
#           runs /usr/bin/crun with the cgroup2 mount hidden)
#   TIMEOUT seconds per program, passed to run.sh
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=$HERE/work

die() {
    echo "compare.sh: error: $*" >&2
    exit 2
}

BERTH=${BERTH:-$ROOT/target/release/berth}
RUNC=${RUNC:-/usr/sbin/runc}
CRUN=${CRUN:-$HERE/crun-wrapper.sh}

if [ ! -x "$BERTH" ]; then
    echo "compare.sh: $BERTH missing; building it" >&2
    (cd "$ROOT" && scripts/build-release.sh) || die "scripts/build-release.sh failed"
fi
[ -x "$RUNC" ] || die "$RUNC not found (apt-get install runc)"
[ -x /usr/bin/crun ] || die "/usr/bin/crun not found (apt-get install crun)"

"$HERE/setup.sh" || die "setup.sh failed"

names=(berth runc crun)
bins=("$BERTH" "$RUNC" "$CRUN")
secs=()
for i in 0 1 2; do
    echo "compare.sh: running the suite against ${names[$i]} (${bins[$i]})" >&2
    start=$(date +%s)
    RUNTIME=${bins[$i]} RUNTIME_NAME=${names[$i]} "$HERE/run.sh" "$@" >&2
    [ $? -le 1 ] || die "run.sh failed for ${names[$i]}"
    secs+=($(($(date +%s) - start)))
done

# result of program $2 for runtime $1, from its summary.tsv
result() { awk -F'\t' -v p="$2" 'NR > 1 && $1 == p {print $2; exit}' "$WORK/results/$1/summary.tsv"; }
count() { awk -F'\t' 'NR > 1 && $2 == "PASS"' "$WORK/results/$1/summary.tsv" | wc -l; }
total() { awk -F'\t' 'NR > 1' "$WORK/results/$1/summary.tsv" | wc -l; }

mark() {
    case $1 in
    PASS) echo "pass" ;;
    FAIL) echo "**FAIL**" ;;
    TIMEOUT) echo "**TIMEOUT**" ;;
    *) echo "-" ;;
    esac
}

out=$WORK/compare.md
{
    echo "| program | berth | runc | crun |"
    echo "| --- | --- | --- | --- |"
    awk -F'\t' 'NR > 1 {print $1}' "$WORK/results/berth/summary.tsv" | while read -r p; do
        echo "| $p | $(mark "$(result berth "$p")") | $(mark "$(result runc "$p")") | $(mark "$(result crun "$p")") |"
    done
    echo "| **passed** | **$(count berth)/$(total berth)** | **$(count runc)/$(total runc)** | **$(count crun)/$(total crun)** |"
    echo
    echo "Run on $(date -u +%Y-%m-%d), kernel $(uname -r); berth $("$BERTH" --version 2>/dev/null | head -n1 || echo '?'), $("$RUNC" --version | head -n1), $(/usr/bin/crun --version | head -n1). Wall time: berth ${secs[0]} s, runc ${secs[1]} s, crun ${secs[2]} s."
} | tee "$out"
echo "compare.sh: table written to $out" >&2
