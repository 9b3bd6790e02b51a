#!/bin/bash
# Runs run.sh for berth, runc and crun and writes a table of checks x runtimes.
#
#   compare.sh [--engines containerd,docker,podman] [--berth PATH]
#              [--out FILE]
#
# --berth    berth binary (default: run.sh's default, the newer of
#            target/release/berth and target/debug/berth)
# --out      the markdown table (default: conformance/engines/work/compare.md)
#
# Each runtime's results and runtime call log stay in
# conformance/engines/work/<runtime>/. runc and crun are Debian's
# (/usr/sbin/runc, /usr/bin/crun). Exit 0 when the table was written.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

ENGINES=containerd,docker,podman
BERTH=
OUT=$HERE/work/compare.md
while (($#)); do
    case $1 in
    --engines) ENGINES=$2; shift 2 ;;
    --berth) BERTH=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -uo/{/^#/s/^# \{0,1\}//p}' "$0" >&2; exit 2 ;;
    *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [[ -z $BERTH ]]; then
    for c in "$ROOT/target/release/berth" "$ROOT/target/debug/berth"; do
        [[ -x $c && ( -z $BERTH || $c -nt $BERTH ) ]] && BERTH=$c
    done
fi

runtimes=("$BERTH" /usr/sbin/runc /usr/bin/crun)
names=()
for rt in "${runtimes[@]}"; do
    name=$(basename "$rt")
    names+=("$name")
    echo "=== $name ($rt)"
    "$HERE/run.sh" --runtime "$rt" --engines "$ENGINES" --out "$HERE/work/$name" |
        grep -E '^(FAIL|N/A|# time|[0-9]+ passed)'
done

mkdir -p "$(dirname "$OUT")"
python3 - "$OUT" "$HERE/work" "${names[@]}" <<'EOF'
import sys, os, datetime
out, workdir, names = sys.argv[1], sys.argv[2], sys.argv[3:]
results, times, order = {}, {}, []
for n in names:
    path = os.path.join(workdir, n, "results.tsv")
    if not os.path.exists(path):
        continue
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if f[0] == "#time":
            times[(f[1], n)] = f[2]
            continue
        if len(f) < 3:
            continue
        key = (f[0], f[1])
        if key not in order:
            order.append(key)
        results[(key, n)] = (f[2], f[3] if len(f) > 3 else "")
mark = {"PASS": "pass", "FAIL": "**FAIL**", "N/A": "n/a"}
rows = ["| engine | check | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names)]
for key in order:
    cells = []
    for n in names:
        st = results.get((key, n))
        cells.append(mark.get(st[0], st[0]) if st else "-")
    rows.append("| %s | %s | %s |" % (key[0], key[1], " | ".join(cells)))
totals = []
for n in names:
    p = sum(1 for (k, m), v in results.items() if m == n and v[0] == "PASS")
    f = sum(1 for (k, m), v in results.items() if m == n and v[0] == "FAIL")
    totals.append("%d/%d" % (p, p + f))
rows.append("| **total** | passed | " + " | ".join(totals) + " |")
engines = sorted({e for (e, n) in times})
for e in engines:
    rows.append("| %s | seconds | %s |" % (e, " | ".join(times.get((e, n), "-") for n in names)))
fails = []
for key in order:
    for n in names:
        st = results.get((key, n))
        if st and st[0] != "PASS":
            fails.append("- %s %s/%s: %s" % (n, key[0], key[1], st[1] or st[0]))
text = "\n".join(rows) + "\n"
if fails:
    text += "\nNot passed:\n\n" + "\n".join(fails) + "\n"
open(out, "w").write(text)
print(text)
EOF
echo "table written to $OUT"
