//! Container statistics in the JSON shape of runc's `events` (its
//! `types.Stats`), read from the v1 controllers' files or from the v2
//! cgroup's.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::CgroupManager;

fn zero(v: &u64) -> bool {
    *v == 0
}

/// One line of `berth events`: `{"type":"stats","id":…,"data":{…}}` or
/// `{"type":"oom","id":…}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// "stats" or "oom".
    #[serde(rename = "type")]
    pub kind: String,
    /// Container ID.
    pub id: String,
    /// The statistics of a "stats" event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Stats>,
}

/// Everything `events --stats` reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    /// CPU time and throttling.
    pub cpu: Cpu,
    /// The cpuset.
    pub cpuset: CpuSet,
    /// Memory, swap and kernel memory.
    pub memory: Memory,
    /// Tasks.
    pub pids: Pids,
    /// Block I/O.
    pub blkio: Blkio,
    /// Per hugepage size ("2MB").
    pub hugetlb: BTreeMap<String, Hugetlb>,
    /// Intel RDT (never filled: berth has no resctrl support).
    pub intel_rdt: IntelRdt,
    /// Network interfaces (runc leaves this null as well).
    pub network_interfaces: Option<Vec<serde_json::Value>>,
}

/// CPU usage in nanoseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CpuUsage {
    /// Total CPU time.
    #[serde(default, skip_serializing_if = "zero")]
    pub total: u64,
    /// Per CPU.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    /// Per CPU, kernel mode.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    /// Per CPU, user mode.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    /// Kernel mode.
    pub kernel: u64,
    /// User mode.
    pub user: u64,
}

/// CFS bandwidth throttling.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Throttling {
    /// Enforcement periods elapsed.
    #[serde(default, skip_serializing_if = "zero")]
    pub periods: u64,
    /// Periods in which the cgroup was throttled.
    #[serde(default, rename = "throttledPeriods", skip_serializing_if = "zero")]
    pub throttled_periods: u64,
    /// Nanoseconds throttled.
    #[serde(default, rename = "throttledTime", skip_serializing_if = "zero")]
    pub throttled_time: u64,
}

/// CPU statistics.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Cpu {
    /// Usage.
    pub usage: CpuUsage,
    /// Throttling.
    pub throttling: Throttling,
}

/// The cpuset's settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct CpuSet {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    pub cpu_exclusive: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    pub mem_hardwall: u64,
    pub mem_exclusive: u64,
    pub memory_migrate: u64,
    pub memory_spread_page: u64,
    pub memory_spread_slab: u64,
    pub memory_pressure: u64,
    pub sched_load_balance: u64,
    pub sched_relax_domain_level: i64,
}

/// One memory counter family (usage, swap, kernel, kernelTCP).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MemoryEntry {
    /// The limit in bytes.
    pub limit: u64,
    /// Current usage.
    #[serde(default, skip_serializing_if = "zero")]
    pub usage: u64,
    /// Peak usage.
    #[serde(default, skip_serializing_if = "zero")]
    pub max: u64,
    /// How often the limit was hit.
    pub failcnt: u64,
}

/// Memory statistics.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Memory {
    /// Page cache.
    #[serde(default, skip_serializing_if = "zero")]
    pub cache: u64,
    /// Memory.
    pub usage: MemoryEntry,
    /// Memory plus swap (v1's memsw).
    pub swap: MemoryEntry,
    /// Kernel memory.
    pub kernel: MemoryEntry,
    /// Kernel TCP buffers.
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// memory.stat as it is.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// Tasks.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Pids {
    /// Tasks now.
    #[serde(default, skip_serializing_if = "zero")]
    pub current: u64,
    /// The limit (0: none).
    #[serde(default, skip_serializing_if = "zero")]
    pub limit: u64,
}

/// One block I/O counter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioEntry {
    /// Device major.
    #[serde(default, skip_serializing_if = "zero")]
    pub major: u64,
    /// Device minor.
    #[serde(default, skip_serializing_if = "zero")]
    pub minor: u64,
    /// "Read", "Write", "Sync", "Async", "Discard", "Total".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub op: String,
    /// The count.
    #[serde(default, skip_serializing_if = "zero")]
    pub value: u64,
}

/// Block I/O statistics.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Blkio {
    #[serde(
        default,
        rename = "ioServiceBytesRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(
        default,
        rename = "ioServicedRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_serviced_recursive: Vec<BlkioEntry>,
    #[serde(
        default,
        rename = "ioQueueRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_queued_recursive: Vec<BlkioEntry>,
    #[serde(
        default,
        rename = "ioServiceTimeRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_service_time_recursive: Vec<BlkioEntry>,
    #[serde(
        default,
        rename = "ioWaitTimeRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_wait_time_recursive: Vec<BlkioEntry>,
    #[serde(
        default,
        rename = "ioMergedRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_merged_recursive: Vec<BlkioEntry>,
    #[serde(
        default,
        rename = "ioTimeRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_time_recursive: Vec<BlkioEntry>,
    #[serde(
        default,
        rename = "sectorsRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub sectors_recursive: Vec<BlkioEntry>,
}

/// One hugepage size.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Hugetlb {
    /// Bytes in use.
    #[serde(default, skip_serializing_if = "zero")]
    pub usage: u64,
    /// Peak bytes.
    #[serde(default, skip_serializing_if = "zero")]
    pub max: u64,
    /// Allocation failures.
    pub failcnt: u64,
}

/// Intel RDT statistics (empty).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IntelRdt {}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_default()
}

fn num(dir: &Path, file: &str) -> u64 {
    read(dir, file).trim().parse().unwrap_or(0)
}

/// "key value" lines (memory.stat, cpu.stat, cpuacct.stat).
pub(super) fn key_values(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (k, v) = (it.next()?, it.next()?.parse().ok()?);
            Some((k.to_string(), v))
        })
        .collect()
}

/// "0-2,5" as [0, 1, 2, 5].
pub(super) fn id_list(text: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<u16>().ok()),
        }
    }
    out
}

/// blkio "8:0 Read 4096" lines ("Total N" lines are dropped, as runc does).
pub(super) fn blkio_entries(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (dev, op, value) = match f.as_slice() {
                [dev, op, value] => (*dev, op.to_string(), *value),
                [dev, value] if dev.contains(':') => (*dev, String::new(), *value),
                _ => return None,
            };
            let (major, minor) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op,
                value: value.parse().ok()?,
            })
        })
        .collect()
}

const NS_PER_SEC: u64 = 1_000_000_000;
/// USER_HZ: cpuacct.stat counts in these ticks on every Linux ABI.
const CLOCK_TICKS: u64 = 100;

/// Reads the statistics of every mounted controller; missing files read
/// as zero, like runc.
pub(super) fn collect(mgr: &CgroupManager) -> Stats {
    let mut s = Stats::default();
    if let Some(dir) = mgr.dir("cpuacct") {
        let u = &mut s.cpu.usage;
        u.total = num(dir, "cpuacct.usage");
        let list = |f: &str| -> Vec<u64> {
            read(dir, f)
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect()
        };
        u.percpu = list("cpuacct.usage_percpu");
        u.percpu_kernel = list("cpuacct.usage_percpu_sys");
        u.percpu_user = list("cpuacct.usage_percpu_user");
        let st = key_values(&read(dir, "cpuacct.stat"));
        let ns = |ticks: u64| ticks.saturating_mul(NS_PER_SEC) / CLOCK_TICKS;
        u.user = ns(st.get("user").copied().unwrap_or(0));
        u.kernel = ns(st.get("system").copied().unwrap_or(0));
    }
    if let Some(dir) = mgr.dir("cpu") {
        let st = key_values(&read(dir, "cpu.stat"));
        let t = &mut s.cpu.throttling;
        t.periods = st.get("nr_periods").copied().unwrap_or(0);
        t.throttled_periods = st.get("nr_throttled").copied().unwrap_or(0);
        t.throttled_time = st.get("throttled_time").copied().unwrap_or(0);
    }
    if let Some(dir) = mgr.dir("cpuset") {
        let c = &mut s.cpuset;
        c.cpus = id_list(&read(dir, "cpuset.cpus"));
        c.mems = id_list(&read(dir, "cpuset.mems"));
        c.cpu_exclusive = num(dir, "cpuset.cpu_exclusive");
        c.mem_hardwall = num(dir, "cpuset.mem_hardwall");
        c.mem_exclusive = num(dir, "cpuset.mem_exclusive");
        c.memory_migrate = num(dir, "cpuset.memory_migrate");
        c.memory_spread_page = num(dir, "cpuset.memory_spread_page");
        c.memory_spread_slab = num(dir, "cpuset.memory_spread_slab");
        c.memory_pressure = num(dir, "cpuset.memory_pressure");
        c.sched_load_balance = num(dir, "cpuset.sched_load_balance");
        c.sched_relax_domain_level = read(dir, "cpuset.sched_relax_domain_level")
            .trim()
            .parse()
            .unwrap_or(0);
    }
    if let Some(dir) = mgr.dir("memory") {
        let m = &mut s.memory;
        m.raw = key_values(&read(dir, "memory.stat"));
        m.cache = m.raw.get("cache").copied().unwrap_or(0);
        let entry = |prefix: &str| MemoryEntry {
            limit: num(dir, &format!("{prefix}.limit_in_bytes")),
            usage: num(dir, &format!("{prefix}.usage_in_bytes")),
            max: num(dir, &format!("{prefix}.max_usage_in_bytes")),
            failcnt: num(dir, &format!("{prefix}.failcnt")),
        };
        m.usage = entry("memory");
        m.swap = entry("memory.memsw");
        m.kernel = entry("memory.kmem");
        m.kernel_tcp = entry("memory.kmem.tcp");
    }
    if let Some(dir) = mgr.dir("pids") {
        s.pids.current = num(dir, "pids.current");
        s.pids.limit = num(dir, "pids.max"); // "max" reads as 0: no limit
    }
    if let Some(dir) = mgr.dir("blkio") {
        let b = &mut s.blkio;
        let e = |f: &str| blkio_entries(&read(dir, f));
        if dir.join("blkio.io_serviced_recursive").exists() {
            // CFQ
            b.io_service_bytes_recursive = e("blkio.io_service_bytes_recursive");
            b.io_serviced_recursive = e("blkio.io_serviced_recursive");
            b.io_queued_recursive = e("blkio.io_queued_recursive");
            b.io_service_time_recursive = e("blkio.io_service_time_recursive");
            b.io_wait_time_recursive = e("blkio.io_wait_time_recursive");
            b.io_merged_recursive = e("blkio.io_merged_recursive");
            b.io_time_recursive = e("blkio.time_recursive");
            b.sectors_recursive = e("blkio.sectors_recursive");
        } else if dir.join("blkio.bfq.io_serviced_recursive").exists() {
            b.io_service_bytes_recursive = e("blkio.bfq.io_service_bytes_recursive");
            b.io_serviced_recursive = e("blkio.bfq.io_serviced_recursive");
        } else {
            b.io_service_bytes_recursive = e("blkio.throttle.io_service_bytes_recursive");
            b.io_serviced_recursive = e("blkio.throttle.io_serviced_recursive");
        }
    }
    if let Some(dir) = mgr.dir("hugetlb") {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(size) = name
                .strip_prefix("hugetlb.")
                .and_then(|n| n.strip_suffix(".usage_in_bytes"))
                .filter(|n| !n.contains('.'))
            else {
                continue;
            };
            s.hugetlb.insert(
                size.to_string(),
                Hugetlb {
                    usage: num(dir, &format!("hugetlb.{size}.usage_in_bytes")),
                    max: num(dir, &format!("hugetlb.{size}.max_usage_in_bytes")),
                    failcnt: num(dir, &format!("hugetlb.{size}.failcnt")),
                },
            );
        }
    }
    s
}

/// A v2 limit file: "max" as u64::MAX (runc's reading), else the number.
fn limit_v2(dir: &Path, file: &str) -> u64 {
    match read(dir, file).trim() {
        "max" => u64::MAX,
        s => s.parse().unwrap_or(0),
    }
}

/// io.stat lines ("8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0")
/// as runc's v2 entries: bytes and operations, Read and Write per device.
pub(super) fn io_stat_entries(text: &str) -> (Vec<BlkioEntry>, Vec<BlkioEntry>) {
    let (mut bytes, mut ops) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let Some((major, minor)) = it.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse::<u64>(), minor.parse::<u64>()) else {
            continue;
        };
        let kv: BTreeMap<&str, u64> = it
            .filter_map(|f| {
                let (k, v) = f.split_once('=')?;
                Some((k, v.parse().ok()?))
            })
            .collect();
        let entry = |op: &str, key: &str| BlkioEntry {
            major,
            minor,
            op: op.to_string(),
            value: kv.get(key).copied().unwrap_or(0),
        };
        bytes.push(entry("Read", "rbytes"));
        bytes.push(entry("Write", "wbytes"));
        ops.push(entry("Read", "rios"));
        ops.push(entry("Write", "wios"));
    }
    (bytes, ops)
}

/// Reads the statistics of a v2 cgroup into runc's shape: cpu.stat in
/// nanoseconds, memory.* (swap as memory plus swap, like v1's memsw),
/// pids.*, io.stat, hugetlb.*.
pub(super) fn collect_v2(dir: &Path) -> Stats {
    const NS_PER_USEC: u64 = 1000;
    let mut s = Stats::default();
    let cpu = key_values(&read(dir, "cpu.stat"));
    let get = |m: &BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
    s.cpu.usage.total = get(&cpu, "usage_usec") * NS_PER_USEC;
    s.cpu.usage.user = get(&cpu, "user_usec") * NS_PER_USEC;
    s.cpu.usage.kernel = get(&cpu, "system_usec") * NS_PER_USEC;
    s.cpu.throttling.periods = get(&cpu, "nr_periods");
    s.cpu.throttling.throttled_periods = get(&cpu, "nr_throttled");
    s.cpu.throttling.throttled_time = get(&cpu, "throttled_usec") * NS_PER_USEC;
    s.cpuset.cpus = id_list(&read(dir, "cpuset.cpus.effective"));
    s.cpuset.mems = id_list(&read(dir, "cpuset.mems.effective"));
    let m = &mut s.memory;
    m.raw = key_values(&read(dir, "memory.stat"));
    m.cache = get(&m.raw, "file");
    let events = key_values(&read(dir, "memory.events"));
    m.usage = MemoryEntry {
        limit: limit_v2(dir, "memory.max"),
        usage: num(dir, "memory.current"),
        max: num(dir, "memory.peak"),
        failcnt: get(&events, "max"),
    };
    if dir.join("memory.swap.current").exists() {
        let swap_limit = limit_v2(dir, "memory.swap.max");
        m.swap = MemoryEntry {
            limit: if swap_limit == u64::MAX || m.usage.limit == u64::MAX {
                u64::MAX
            } else {
                swap_limit.saturating_add(m.usage.limit)
            },
            usage: num(dir, "memory.swap.current").saturating_add(m.usage.usage),
            max: 0,
            failcnt: 0,
        };
    }
    s.pids.current = num(dir, "pids.current");
    s.pids.limit = num(dir, "pids.max"); // "max" reads as 0: no limit
    let (bytes, ops) = io_stat_entries(&read(dir, "io.stat"));
    s.blkio.io_service_bytes_recursive = bytes;
    s.blkio.io_serviced_recursive = ops;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(size) = name
            .strip_prefix("hugetlb.")
            .and_then(|n| n.strip_suffix(".current"))
            .filter(|n| !n.contains('.'))
        else {
            continue;
        };
        let ev = key_values(&read(dir, &format!("hugetlb.{size}.events")));
        s.hugetlb.insert(
            size.to_string(),
            Hugetlb {
                usage: num(dir, &format!("hugetlb.{size}.current")),
                max: 0,
                failcnt: get(&ev, "max"),
            },
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers() {
        assert_eq!(id_list("0-2,5\n"), vec![0, 1, 2, 5]);
        assert_eq!(id_list(""), Vec::<u16>::new());
        let kv = key_values("cache 4096\nrss 8192\nbad line x\n");
        assert_eq!(kv["cache"], 4096);
        assert_eq!(kv.len(), 2);
        let e = blkio_entries("8:0 Read 4096\n8:0 Write 0\nTotal 4096\n8:16 12\n");
        assert_eq!(e.len(), 3);
        assert_eq!(
            e[0],
            BlkioEntry {
                major: 8,
                minor: 0,
                op: "Read".into(),
                value: 4096
            }
        );
        assert_eq!(e[2].op, "");
    }

    #[test]
    fn io_stat_parses() {
        let (b, o) = io_stat_entries(
            "1:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n\
             bad\n254:16 rbytes=0 wbytes=0 rios=0 wios=0\n",
        );
        assert_eq!(b.len(), 4);
        assert_eq!(o.len(), 4);
        assert_eq!(
            b[1],
            BlkioEntry {
                major: 1,
                minor: 0,
                op: "Write".into(),
                value: 8192
            }
        );
        assert_eq!(o[0].value, 1);
        assert_eq!(b[2].major, 254);
    }

    #[test]
    fn events_serialise_like_runc() {
        let ev = Event {
            kind: "oom".into(),
            id: "c1".into(),
            data: None,
        };
        assert_eq!(
            serde_json::to_string(&ev).unwrap(),
            r#"{"type":"oom","id":"c1"}"#
        );
        let mut st = Stats::default();
        st.pids.current = 3;
        st.memory.usage.limit = 8 << 20;
        st.cpu.throttling.throttled_periods = 2;
        let ev = Event {
            kind: "stats".into(),
            id: "c1".into(),
            data: Some(st),
        };
        let v: serde_json::Value = serde_json::to_value(&ev).unwrap();
        assert_eq!(v["type"], "stats");
        assert_eq!(v["data"]["pids"]["current"], 3);
        assert!(v["data"]["pids"].get("limit").is_none());
        assert_eq!(v["data"]["memory"]["usage"]["limit"], 8 << 20);
        assert_eq!(v["data"]["memory"]["usage"]["failcnt"], 0);
        assert_eq!(v["data"]["cpu"]["throttling"]["throttledPeriods"], 2);
        assert_eq!(v["data"]["cpu"]["usage"]["kernel"], 0);
        assert!(v["data"]["memory"].get("kernelTCP").is_some());
        assert_eq!(v["data"]["intel_rdt"], serde_json::json!({}));
        assert!(v["data"]["network_interfaces"].is_null());
        assert!(v["data"]["hugetlb"].as_object().unwrap().is_empty());
    }
}
