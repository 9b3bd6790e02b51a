#!/usr/bin/env python3
"""Turn bench.sh's raw measurements into the benchmark's summary.

Usage: summarize.py RESULTS_DIR

Reads RESULTS_DIR/raw/: hyperfine exports BENCH.rK.json (the rounds of one
benchmark are merged: every timed run counts once), na.tsv (benchmark,
runtime, reason), rss.tsv (runtime, measurement, KiB) and machine.json.
Writes RESULTS_DIR/summary.json and RESULTS_DIR/summary.csv with median,
mean, stddev, min, max (and quartiles) per runtime per benchmark, and the
median ratios berth/crun, berth/runc and berth/floor.
"""
import csv
import glob
import json
import os
import re
import statistics
import sys

# (id, title, what is timed, unit, scale from seconds)
BENCHMARKS = [
    ("run", "run /bin/true",
     "`run` of a /bin/true container: create, start, wait, delete", "ms", 1e3),
    ("create", "create", "`create` (container left waiting for start)", "ms", 1e3),
    ("start", "start", "`start` of a created container", "ms", 1e3),
    ("state", "state", "`state` of a created container", "ms", 1e3),
    ("delete", "delete", "`delete` of a stopped container", "ms", 1e3),
    ("exec", "exec /bin/true", "`exec` of /bin/true in a running container", "ms", 1e3),
    ("seccomp", "run with seccomp",
     "`run` of /bin/true with a Docker-like default seccomp profile", "ms", 1e3),
    ("throughput", "throughput", "Wall time of a batch of containers, each `run`, in parallel",
     "s", 1.0),
]
RUNTIMES = ["berth", "crun", "runc"]
REFERENCES = ["floor", "wrapper"]
RATIOS = [("berth", "crun"), ("berth", "runc"), ("berth", "floor"),
          ("crun", "floor"), ("runc", "floor")]


def stats(values):
    values = sorted(values)
    n = len(values)
    q = statistics.quantiles(values, n=4, method="inclusive") if n >= 2 else [values[0]] * 3
    return {
        "n": n,
        "median": statistics.median(values),
        "mean": statistics.fmean(values),
        "stddev": statistics.stdev(values) if n >= 2 else 0.0,
        "min": values[0],
        "max": values[-1],
        "q1": q[0],
        "q3": q[2],
    }


def read_tsv(path, fields):
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == fields:
                    rows.append(parts)
    return rows


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    results = argv[1]
    raw = os.path.join(results, "raw")
    with open(os.path.join(raw, "machine.json")) as f:
        summary = json.load(f)

    load = os.path.join(raw, "load.txt")
    if os.path.exists(load):
        with open(load) as f:
            for line in f:
                when, _, avg = line.strip().partition(" ")
                summary["machine"][f"load_{when}"] = avg
    duration = os.path.join(raw, "duration.txt")
    if os.path.exists(duration):
        with open(duration) as f:
            summary["machine"]["duration_s"] = int(f.read().strip())

    times = {}
    for path in sorted(glob.glob(os.path.join(raw, "*.r*.json"))):
        bench = re.sub(r"\.r\d+\.json$", "", os.path.basename(path))
        with open(path) as f:
            for res in json.load(f)["results"]:
                times.setdefault(bench, {}).setdefault(res["command"], []).extend(res["times"])
    na = {}
    for bench, runtime, reason in read_tsv(os.path.join(raw, "na.tsv"), 3):
        na.setdefault(bench, {})[runtime] = reason

    benchmarks = []
    for bid, title, what, unit, scale in BENCHMARKS:
        if bid not in times and bid not in na:
            continue
        entry = {"id": bid, "title": title, "what": what, "unit": unit, "results": {},
                 "ratios": {}}
        for label in RUNTIMES + REFERENCES:
            if label in times.get(bid, {}):
                entry["results"][label] = {
                    k: (v * scale if k != "n" else v)
                    for k, v in stats(times[bid][label]).items()}
            elif label in na.get(bid, {}):
                entry["results"][label] = {"na": na[bid][label]}
        for a, b in RATIOS:
            ra, rb = entry["results"].get(a, {}), entry["results"].get(b, {})
            if "median" in ra and "median" in rb and rb["median"] > 0:
                entry["ratios"][f"{a}/{b}"] = ra["median"] / rb["median"]
        if bid == "throughput":
            n = summary["config"]["throughput_containers"]
            entry["title"] = (f"throughput: {n} containers, "
                              f"{summary['config']['throughput_parallel']} at a time")
            entry["containers_per_second"] = {
                k: n / v["median"] for k, v in entry["results"].items() if "median" in v}
        benchmarks.append(entry)
    summary["benchmarks"] = benchmarks

    rss = {}
    for runtime, what, kib in read_tsv(os.path.join(raw, "rss.tsv"), 3):
        if kib.strip().isdigit():
            rss.setdefault(what, {}).setdefault(runtime, []).append(int(kib))
    summary["rss_kib"] = {
        what: {rt: stats(v) for rt, v in by_rt.items()} for what, by_rt in rss.items()}

    with open(os.path.join(results, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")

    fields = ["benchmark", "runtime", "unit", "n", "median", "mean", "stddev", "min",
              "max", "q1", "q3", "note"]
    with open(os.path.join(results, "summary.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for b in benchmarks:
            for label, r in b["results"].items():
                row = {"benchmark": b["id"], "runtime": label, "unit": b["unit"]}
                if "na" in r:
                    row["note"] = "n/a: " + r["na"]
                else:
                    row.update({k: round(v, 4) for k, v in r.items()})
                w.writerow(row)
            for name, value in b["ratios"].items():
                w.writerow({"benchmark": b["id"], "runtime": name, "unit": "ratio",
                            "median": round(value, 3), "note": "ratio of medians"})
        for what, by_rt in summary["rss_kib"].items():
            for label, r in by_rt.items():
                row = {"benchmark": f"rss-{what}", "runtime": label, "unit": "KiB"}
                row.update({k: round(v, 1) for k, v in r.items()})
                w.writerow(row)

    for b in benchmarks:
        line = ", ".join(
            f"{k} {v['median']:.4g}" if "median" in v else f"{k} n/a"
            for k, v in b["results"].items())
        ratios = ", ".join(f"{k} {v:.2f}" for k, v in b["ratios"].items() if k.startswith("berth"))
        print(f"  {b['id']:<10} median {b['unit']}: {line}" + (f"  [{ratios}]" if ratios else ""))
    for what, by_rt in summary["rss_kib"].items():
        print(f"  rss {what:<12} median KiB: " + ", ".join(
            f"{k} {v['median']:.0f}" for k, v in by_rt.items()))
    print(f"  wrote {results}/summary.json and summary.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
