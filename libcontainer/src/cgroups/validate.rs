//! Checks of `linux.resources` before anything is written: the values
//! themselves ([`values`]) and whether this host has the controller every
//! set field needs ([`host`]). Each error names the field and the value.
//!
//! Zero means "not set" for the numeric fields runc treats that way
//! (memory limits, cpu shares/quota/period/realtime, pids.limit, blkio
//! weights), as engines send zeros for unset values.

use std::collections::HashMap;
use std::path::PathBuf;

use oci_spec::runtime::LinuxResources;

use crate::error::CgroupError;

fn err(field: impl Into<String>, message: impl Into<String>) -> CgroupError {
    CgroupError::Resource {
        field: field.into(),
        message: message.into(),
    }
}

/// `Some(v)` unless unset or zero.
pub(super) fn nz<T: Default + PartialEq>(v: Option<T>) -> Option<T> {
    v.filter(|x| *x != T::default())
}

const MEM: &str = "linux.resources.memory";
const CPU: &str = "linux.resources.cpu";
const BLKIO: &str = "linux.resources.blockIO";

/// Checks every value in `res`, without looking at the host.
pub fn values(res: &LinuxResources) -> Result<(), CgroupError> {
    if let Some(m) = res.memory() {
        for (name, v) in [
            ("limit", m.limit()),
            ("reservation", m.reservation()),
            ("swap", m.swap()),
            ("kernel", m.kernel()),
            ("kernelTCP", m.kernel_tcp()),
        ] {
            if let Some(v) = v.filter(|v| *v < -1) {
                return Err(err(
                    format!("{MEM}.{name}"),
                    format!("{v} is not a valid limit (a number of bytes, or -1 for no limit)"),
                ));
            }
        }
        if let (Some(limit), Some(swap)) = (nz(m.limit()), nz(m.swap())) {
            if limit > 0 && swap > 0 && swap < limit {
                return Err(err(
                    format!("{MEM}.swap"),
                    format!(
                        "{swap} is below {MEM}.limit ({limit}): swap limits memory plus swap, \
                         so it cannot be lower than the memory limit"
                    ),
                ));
            }
        }
        if let Some(s) = m.swappiness().filter(|s| *s > 100) {
            return Err(err(
                format!("{MEM}.swappiness"),
                format!("{s} is out of range (0 to 100)"),
            ));
        }
    }
    if let Some(c) = res.cpu() {
        if let Some(q) = nz(c.quota()).filter(|q| *q < -1 || (0..1000).contains(q)) {
            return Err(err(
                format!("{CPU}.quota"),
                format!("{q} is not a valid quota (-1 for no limit, or at least 1000 µs)"),
            ));
        }
        if let Some(p) = nz(c.period()).filter(|p| !(1000..=1_000_000).contains(p)) {
            return Err(err(
                format!("{CPU}.period"),
                format!("{p} is out of range (1000 to 1000000 µs)"),
            ));
        }
        if let (Some(b), Some(q)) = (c.burst(), nz(c.quota())) {
            if q > 0 && b > q as u64 {
                return Err(err(
                    format!("{CPU}.burst"),
                    format!(
                        "{b} exceeds {CPU}.quota ({q}): the burst cannot be larger than the quota"
                    ),
                ));
            }
        }
        if let Some(r) = c.realtime_runtime().filter(|r| *r < -1) {
            return Err(err(
                format!("{CPU}.realtimeRuntime"),
                format!("{r} is not a valid runtime (µs, or -1 for no limit)"),
            ));
        }
        if let Some(i) = c.idle().filter(|i| !matches!(i, 0 | 1)) {
            return Err(err(format!("{CPU}.idle"), format!("{i} is not 0 or 1")));
        }
        for (name, v) in [("cpus", c.cpus()), ("mems", c.mems())] {
            if let Some(list) = v.as_deref().filter(|s| !s.trim().is_empty()) {
                check_id_list(list).map_err(|m| err(format!("{CPU}.{name}"), m))?;
            }
        }
    }
    if let Some(p) = res.pids() {
        if p.limit() < -1 {
            return Err(err(
                "linux.resources.pids.limit",
                format!(
                    "{} is not a valid limit (a number of tasks, or -1 for no limit)",
                    p.limit()
                ),
            ));
        }
    }
    if let Some(b) = res.block_io() {
        for (name, w) in [("weight", b.weight()), ("leafWeight", b.leaf_weight())] {
            if let Some(w) = w.filter(|w| *w > 1000) {
                return Err(err(
                    format!("{BLKIO}.{name}"),
                    format!("{w} is out of range (weights go up to 1000)"),
                ));
            }
        }
        for (i, d) in b.weight_device().iter().flatten().enumerate() {
            let f = format!("{BLKIO}.weightDevice[{i}]");
            check_dev(&f, d.major(), d.minor())?;
            for (name, w) in [("weight", d.weight()), ("leafWeight", d.leaf_weight())] {
                if let Some(w) = w.filter(|w| *w > 1000) {
                    return Err(err(
                        format!("{f}.{name}"),
                        format!("{w} is out of range (weights go up to 1000)"),
                    ));
                }
            }
        }
        for (name, list) in throttles(b) {
            for (i, d) in list.iter().enumerate() {
                check_dev(&format!("{BLKIO}.{name}[{i}]"), d.major(), d.minor())?;
            }
        }
    }
    for (i, h) in res.hugepage_limits().iter().flatten().enumerate() {
        let f = format!("linux.resources.hugepageLimits[{i}]");
        if page_size_bytes(h.page_size()).is_none() {
            return Err(err(
                format!("{f}.pageSize"),
                format!("{:?} is not a page size like 2MB or 1GB", h.page_size()),
            ));
        }
        if h.limit() < 0 {
            return Err(err(
                format!("{f}.limit"),
                format!("{} is not a valid limit (a number of bytes)", h.limit()),
            ));
        }
    }
    if let Some(n) = res.network() {
        for (i, p) in n.priorities().iter().flatten().enumerate() {
            let name = p.name();
            if name.is_empty() || name.contains(['/', ' ', '\n', '\0']) {
                return Err(err(
                    format!("linux.resources.network.priorities[{i}].name"),
                    format!("{name:?} is not a network interface name"),
                ));
            }
        }
    }
    for (dev, r) in res.rdma().iter().flatten() {
        let f = format!("linux.resources.rdma.{dev}");
        if dev.is_empty() || dev.contains([' ', '\n', '/']) {
            return Err(err(f, "is not an RDMA device name"));
        }
        if r.hca_handles().is_none() && r.hca_objects().is_none() {
            return Err(err(f, "sets neither hcaHandles nor hcaObjects"));
        }
    }
    for key in res.unified().iter().flat_map(|u| u.keys()) {
        check_unified_key(key).map_err(|m| err(format!("linux.resources.unified.{key}"), m))?;
    }
    for (i, d) in res.devices().iter().flatten().enumerate() {
        super::devices::check_rule(d)
            .map_err(|m| err(format!("linux.resources.devices[{i}]"), m))?;
    }
    Ok(())
}

/// A `unified` key must name a file of the container's cgroup itself:
/// `<controller>.<file>`, no `/` or `..`, and none of the core `cgroup.*`
/// files that manage the cgroup (procs, subtree_control, freeze, kill …)
/// except the two limits.
pub(super) fn check_unified_key(key: &str) -> Result<(), String> {
    let shaped = key
        .split_once('.')
        .is_some_and(|(c, f)| !c.is_empty() && !f.is_empty())
        && !key.contains('/')
        && !key.contains("..")
        && !key.contains('\0');
    if !shaped {
        return Err("is not a controller file name like memory.high (no \"/\" or \"..\")".into());
    }
    if key.starts_with("cgroup.") && !matches!(key, "cgroup.max.depth" | "cgroup.max.descendants") {
        return Err(
            "is a core file that manages the cgroup itself; only cgroup.max.depth and \
             cgroup.max.descendants may be set"
                .into(),
        );
    }
    Ok(())
}

type Throttle = oci_spec::runtime::LinuxThrottleDevice;

/// The four throttle lists with their JSON names.
pub(super) fn throttles(b: &oci_spec::runtime::LinuxBlockIo) -> [(&'static str, &[Throttle]); 4] {
    fn l(v: &Option<Vec<Throttle>>) -> &[Throttle] {
        v.as_deref().unwrap_or_default()
    }
    [
        ("throttleReadBpsDevice", l(b.throttle_read_bps_device())),
        ("throttleWriteBpsDevice", l(b.throttle_write_bps_device())),
        ("throttleReadIOPSDevice", l(b.throttle_read_iops_device())),
        ("throttleWriteIOPSDevice", l(b.throttle_write_iops_device())),
    ]
}

fn check_dev(field: &str, major: i64, minor: i64) -> Result<(), CgroupError> {
    if major < 0 || minor < 0 {
        return Err(err(
            field,
            format!("{major}:{minor} is not a device number"),
        ));
    }
    Ok(())
}

/// Checks a cpuset list such as "0-3,5".
fn check_id_list(list: &str) -> Result<(), String> {
    for part in list.trim().split(',') {
        let part = part.trim();
        let parse = |s: &str| s.parse::<u32>().ok();
        let ok = match part.split_once('-') {
            Some((a, b)) => matches!((parse(a), parse(b)), (Some(a), Some(b)) if a <= b),
            None => parse(part).is_some(),
        };
        if !ok {
            return Err(format!(
                "{list:?} is not a list of numbers and ranges like \"0-3,5\" (at {part:?})"
            ));
        }
    }
    Ok(())
}

/// Bytes of a hugepage size written as in the spec ("2MB", "1GB", "64KB").
pub(super) fn page_size_bytes(s: &str) -> Option<u64> {
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok().filter(|n| *n > 0)?;
    let shift = match unit {
        "KB" => 10,
        "MB" => 20,
        "GB" => 30,
        "TB" => 40,
        "PB" => 50,
        _ => return None,
    };
    n.checked_mul(1u64 << shift)
}

/// Every set field of `res` (devices excepted) with the v1 controller it
/// needs. `unified` entries need cgroup v2 and are listed with "".
pub(super) fn set_fields(res: &LinuxResources) -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = Vec::new();
    let mut push = |set: bool, field: String, ctrl: &'static str| {
        if set {
            out.push((field, ctrl));
        }
    };
    if let Some(m) = res.memory() {
        for (name, set) in [
            ("limit", nz(m.limit()).is_some()),
            ("reservation", nz(m.reservation()).is_some()),
            ("swap", nz(m.swap()).is_some()),
            ("kernel", nz(m.kernel()).is_some()),
            ("kernelTCP", nz(m.kernel_tcp()).is_some()),
            ("swappiness", m.swappiness().is_some()),
            ("disableOOMKiller", m.disable_oom_killer().is_some()),
            ("useHierarchy", m.use_hierarchy().is_some()),
        ] {
            push(set, format!("{MEM}.{name}"), "memory");
        }
    }
    if let Some(c) = res.cpu() {
        for (name, set) in [
            ("shares", nz(c.shares()).is_some()),
            ("quota", nz(c.quota()).is_some()),
            ("period", nz(c.period()).is_some()),
            ("burst", c.burst().is_some()),
            ("realtimeRuntime", nz(c.realtime_runtime()).is_some()),
            ("realtimePeriod", nz(c.realtime_period()).is_some()),
            ("idle", c.idle().is_some()),
        ] {
            push(set, format!("{CPU}.{name}"), "cpu");
        }
        for (name, v) in [("cpus", c.cpus()), ("mems", c.mems())] {
            let set = v.as_deref().is_some_and(|s| !s.trim().is_empty());
            push(set, format!("{CPU}.{name}"), "cpuset");
        }
    }
    if let Some(p) = res.pids() {
        push(p.limit() != 0, "linux.resources.pids.limit".into(), "pids");
    }
    if let Some(b) = res.block_io() {
        push(nz(b.weight()).is_some(), format!("{BLKIO}.weight"), "blkio");
        push(
            nz(b.leaf_weight()).is_some(),
            format!("{BLKIO}.leafWeight"),
            "blkio",
        );
        for (i, _) in b.weight_device().iter().flatten().enumerate() {
            push(true, format!("{BLKIO}.weightDevice[{i}]"), "blkio");
        }
        for (name, list) in throttles(b) {
            for (i, _) in list.iter().enumerate() {
                push(true, format!("{BLKIO}.{name}[{i}]"), "blkio");
            }
        }
    }
    for (i, _) in res.hugepage_limits().iter().flatten().enumerate() {
        push(
            true,
            format!("linux.resources.hugepageLimits[{i}]"),
            "hugetlb",
        );
    }
    if let Some(n) = res.network() {
        push(
            n.class_id().is_some(),
            "linux.resources.network.classID".into(),
            "net_cls",
        );
        for (i, _) in n.priorities().iter().flatten().enumerate() {
            push(
                true,
                format!("linux.resources.network.priorities[{i}]"),
                "net_prio",
            );
        }
    }
    let mut rdma: Vec<&String> = res.rdma().iter().flat_map(|r| r.keys()).collect();
    rdma.sort();
    for dev in rdma {
        push(true, format!("linux.resources.rdma.{dev}"), "rdma");
    }
    let mut unified: Vec<&String> = res.unified().iter().flat_map(|u| u.keys()).collect();
    unified.sort();
    for key in unified {
        push(true, format!("linux.resources.unified.{key}"), "");
    }
    out
}

/// What this host's cgroups offer.
#[derive(Debug, Clone, Default)]
pub struct HostCgroups {
    /// /sys/fs/cgroup itself is cgroup2 (no v1 hierarchies apply).
    pub unified: bool,
    /// v1 controllers mounted, each with its mount point.
    pub v1: HashMap<String, PathBuf>,
    /// cgroup2 mounts and the controllers bound to them.
    pub v2: Vec<(PathBuf, Vec<String>)>,
    /// /proc/cgroups: controller name and whether it is enabled.
    pub known: HashMap<String, bool>,
}

impl HostCgroups {
    /// Reads mountinfo, /proc/cgroups and the cgroup2 controller lists.
    pub fn probe() -> HostCgroups {
        let mut h = HostCgroups {
            unified: super::is_unified_host(),
            ..Default::default()
        };
        for m in super::host_hierarchies() {
            if m.is_v2() {
                let ctrls = std::fs::read_to_string(m.mount_point.join("cgroup.controllers"))
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(String::from)
                    .collect();
                h.v2.push((m.mount_point.clone(), ctrls));
            } else {
                for c in m.options.split(',') {
                    h.v1.insert(c.to_string(), m.mount_point.clone());
                }
            }
        }
        let text = std::fs::read_to_string("/proc/cgroups").unwrap_or_default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if let (Some(name), Some(enabled)) = (f.first(), f.get(3)) {
                h.known.insert(name.to_string(), *enabled == "1");
            }
        }
        h
    }

    /// Why v1 controller `ctrl` cannot be used, e.g. "bound to the cgroup2
    /// hierarchy at /sys/fs/cgroup/unified".
    pub fn missing_reason(&self, ctrl: &str) -> String {
        if let Some((mp, _)) = self.v2.iter().find(|(_, c)| c.iter().any(|c| c == ctrl)) {
            return format!(
                "bound to the cgroup2 hierarchy at {} on this host, and berth applies \
                 resources through the v1 hierarchies on a hybrid host",
                mp.display()
            );
        }
        match self.known.get(ctrl) {
            Some(true) => "not mounted as a cgroup v1 hierarchy on this host".into(),
            Some(false) => {
                "disabled on this host (cgroup_disable on the kernel command line)".into()
            }
            None => "not built into this kernel".into(),
        }
    }
}

/// Checks that this host can apply every set field of `res`.
pub fn host(res: &LinuxResources, hc: &HostCgroups) -> Result<(), CgroupError> {
    if hc.unified {
        return v2_host(res, hc);
    }
    for (field, ctrl) in set_fields(res) {
        if ctrl.is_empty() {
            return Err(err(
                field,
                "unified resources apply to cgroup v2 only, and this host's resources are \
                 managed through cgroup v1 (hybrid layout)",
            ));
        }
        if !hc.v1.contains_key(ctrl) {
            return Err(err(
                field,
                format!("the {ctrl} controller is {}", hc.missing_reason(ctrl)),
            ));
        }
    }
    Ok(())
}

/// The controllers of cgroup v2 a `unified` key may belong to.
pub(super) const V2_CONTROLLERS: &[&str] = &[
    "cpu", "cpuset", "io", "memory", "hugetlb", "pids", "rdma", "misc",
];

/// The v2 controller a field from [`set_fields`] needs (`None`: none, or a
/// field v2 cannot express, refused by [`v2_unsupported`]).
pub(super) fn v2_controller(field: &str, v1: &'static str) -> Option<&'static str> {
    match v1 {
        "memory" | "cpu" | "cpuset" | "pids" | "hugetlb" | "rdma" => Some(v1),
        "blkio" => Some("io"),
        "" => {
            // unified: the key's controller, if it is one (the pressure
            // files belong to the core, whatever their prefix).
            let key = field.strip_prefix("linux.resources.unified.")?;
            if key.ends_with(".pressure") {
                return None;
            }
            let ctrl = key.split('.').next()?;
            V2_CONTROLLERS.iter().find(|c| **c == ctrl).copied()
        }
        _ => None,
    }
}

/// Fields cgroup v2 has no file for: an error naming the first one set.
pub fn v2_unsupported(res: &LinuxResources) -> Result<(), CgroupError> {
    const NO_KMEM: &str = "cgroup v2 has no separate kernel memory limit: kernel memory is \
                           charged to memory.max with the rest (leave the field out)";
    const NO_RT: &str = "cgroup v2 has no realtime group scheduling (cpu.rt_runtime_us and \
                         cpu.rt_period_us exist on cgroup v1 only)";
    const NO_LEAF: &str = "cgroup v2 has no leaf weights (blkio.leaf_weight was cgroup v1's CFQ)";
    const NO_NET: &str = "cgroup v2 has no net_cls or net_prio controller (classify traffic \
                          with nftables' socket cgroupv2 match or an eBPF program instead)";
    if let Some(m) = res.memory() {
        if nz(m.kernel()).is_some() {
            return Err(err(format!("{MEM}.kernel"), NO_KMEM));
        }
        if nz(m.kernel_tcp()).is_some() {
            return Err(err(format!("{MEM}.kernelTCP"), NO_KMEM));
        }
        if let Some(s) = m.swappiness() {
            return Err(err(
                format!("{MEM}.swappiness"),
                format!(
                    "{s}: cgroup v2 has no per-cgroup swappiness (memory.swappiness exists on \
                     cgroup v1 only); limit swap with {MEM}.swap instead"
                ),
            ));
        }
        if m.disable_oom_killer() == Some(true) {
            return Err(err(
                format!("{MEM}.disableOOMKiller"),
                "cgroup v2 cannot disable the OOM killer (memory.oom_control exists on cgroup v1 \
                 only); throttle with unified memory.high instead",
            ));
        }
        if m.use_hierarchy() == Some(false) {
            return Err(err(
                format!("{MEM}.useHierarchy"),
                "cgroup v2 accounts memory hierarchically, always",
            ));
        }
    }
    if let Some(c) = res.cpu() {
        if nz(c.realtime_runtime()).is_some() {
            return Err(err(format!("{CPU}.realtimeRuntime"), NO_RT));
        }
        if nz(c.realtime_period()).is_some() {
            return Err(err(format!("{CPU}.realtimePeriod"), NO_RT));
        }
    }
    if let Some(b) = res.block_io() {
        if nz(b.leaf_weight()).is_some() {
            return Err(err(format!("{BLKIO}.leafWeight"), NO_LEAF));
        }
        for (i, d) in b.weight_device().iter().flatten().enumerate() {
            if d.leaf_weight().is_some() {
                return Err(err(
                    format!("{BLKIO}.weightDevice[{i}].leafWeight"),
                    NO_LEAF,
                ));
            }
        }
    }
    if let Some(n) = res.network() {
        if n.class_id().is_some() {
            return Err(err("linux.resources.network.classID", NO_NET));
        }
        if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(err("linux.resources.network.priorities", NO_NET));
        }
    }
    Ok(())
}

/// On a cgroup v2 host: the fields v2 cannot express are refused, and every
/// other set field needs its controller on the hierarchy.
pub fn v2_host(res: &LinuxResources, hc: &HostCgroups) -> Result<(), CgroupError> {
    v2_unsupported(res)?;
    let (root, available) = hc
        .v2
        .first()
        .map(|(p, c)| (p.display().to_string(), c.clone()))
        .unwrap_or_else(|| (super::v2::ROOT.to_string(), Vec::new()));
    for (field, v1) in set_fields(res) {
        let Some(ctrl) = v2_controller(&field, v1) else {
            continue;
        };
        if !available.iter().any(|c| c == ctrl) {
            let why = match hc.known.get(ctrl) {
                Some(false) => " (disabled with cgroup_disable on the kernel command line)",
                None if !hc.known.is_empty() && ctrl != "misc" => " (not built into this kernel)",
                _ => "",
            };
            return Err(err(
                field,
                format!(
                    "the {ctrl} controller is not available on this host's cgroup v2 hierarchy \
                     (not in {root}/cgroup.controllers){why}"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res(v: serde_json::Value) -> LinuxResources {
        serde_json::from_value(v).unwrap()
    }

    fn fails(v: serde_json::Value, want: &str) {
        let e = values(&res(v.clone())).expect_err(&format!("{v} accepted"));
        assert!(e.to_string().starts_with(want), "{v}: {e}");
    }

    #[test]
    fn good_values_pass() {
        values(&res(json!({
            "memory": {"limit": 8388608, "reservation": -1, "swap": 16777216, "swappiness": 60,
                       "disableOOMKiller": true},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 1000,
                    "cpus": "0-1", "mems": "0", "idle": 0},
            "pids": {"limit": -1},
            "blockIO": {"weight": 500, "weightDevice": [{"major": 8, "minor": 0, "weight": 100}],
                        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
            "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
            "unified": {"memory.high": "max"}
        })))
        .unwrap();
        // Zeros are unset, as in runc.
        values(&res(
            json!({"memory": {"limit": 0}, "cpu": {"quota": 0, "period": 0}}),
        ))
        .unwrap();
    }

    #[test]
    fn bad_values_name_the_field() {
        fails(
            json!({"memory": {"limit": -5}}),
            "linux.resources.memory.limit: -5 is not a valid limit",
        );
        fails(
            json!({"memory": {"kernelTCP": -2}}),
            "linux.resources.memory.kernelTCP: -2",
        );
        fails(
            json!({"memory": {"limit": 16777216, "swap": 8388608}}),
            "linux.resources.memory.swap: 8388608 is below",
        );
        fails(
            json!({"memory": {"swappiness": 101}}),
            "linux.resources.memory.swappiness: 101",
        );
        fails(
            json!({"cpu": {"quota": -7}}),
            "linux.resources.cpu.quota: -7",
        );
        fails(
            json!({"cpu": {"quota": 500}}),
            "linux.resources.cpu.quota: 500",
        );
        fails(
            json!({"cpu": {"period": 999}}),
            "linux.resources.cpu.period: 999",
        );
        fails(
            json!({"cpu": {"period": 2000000}}),
            "linux.resources.cpu.period: 2000000",
        );
        fails(
            json!({"cpu": {"quota": 10000, "burst": 20000}}),
            "linux.resources.cpu.burst: 20000 exceeds",
        );
        fails(
            json!({"cpu": {"realtimeRuntime": -3}}),
            "linux.resources.cpu.realtimeRuntime",
        );
        fails(
            json!({"cpu": {"idle": 2}}),
            "linux.resources.cpu.idle: 2 is not 0 or 1",
        );
        fails(
            json!({"cpu": {"cpus": "1-0"}}),
            "linux.resources.cpu.cpus: \"1-0\"",
        );
        fails(json!({"cpu": {"mems": "a"}}), "linux.resources.cpu.mems");
        fails(
            json!({"pids": {"limit": -2}}),
            "linux.resources.pids.limit: -2",
        );
        fails(
            json!({"blockIO": {"weight": 1001}}),
            "linux.resources.blockIO.weight: 1001",
        );
        fails(
            json!({"blockIO": {"weightDevice": [{"major": -1, "minor": 0, "weight": 10}]}}),
            "linux.resources.blockIO.weightDevice[0]: -1:0",
        );
        fails(
            json!({"blockIO": {"throttleWriteIOPSDevice": [{"major": 8, "minor": -4, "rate": 1}]}}),
            "linux.resources.blockIO.throttleWriteIOPSDevice[0]",
        );
        fails(
            json!({"hugepageLimits": [{"pageSize": "2M", "limit": 1}]}),
            "linux.resources.hugepageLimits[0].pageSize",
        );
        fails(
            json!({"hugepageLimits": [{"pageSize": "2MB", "limit": -1}]}),
            "linux.resources.hugepageLimits[0].limit",
        );
        fails(
            json!({"network": {"priorities": [{"name": "", "priority": 1}]}}),
            "linux.resources.network.priorities[0].name",
        );
        fails(
            json!({"rdma": {"mlx5_0": {}}}),
            "linux.resources.rdma.mlx5_0",
        );
        fails(
            json!({"unified": {"../x": "1"}}),
            "linux.resources.unified.../x",
        );
        fails(
            json!({"devices": [{"allow": true, "access": "rwx"}]}),
            "linux.resources.devices[0]: access",
        );
        fails(
            json!({"devices": [{"allow": true, "type": "p"}]}),
            "linux.resources.devices[0]: type",
        );
    }

    #[test]
    fn page_sizes() {
        assert_eq!(page_size_bytes("2MB"), Some(2 << 20));
        assert_eq!(page_size_bytes("1GB"), Some(1 << 30));
        assert_eq!(page_size_bytes("64KB"), Some(64 << 10));
        for bad in ["", "MB", "0MB", "2mb", "2M", "2 MB", "-2MB"] {
            assert_eq!(page_size_bytes(bad), None, "{bad}");
        }
    }

    fn hybrid_host() -> HostCgroups {
        let mut h = HostCgroups::default();
        for c in [
            "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
        ] {
            h.v1.insert(c.into(), PathBuf::from(format!("/sys/fs/cgroup/{c}")));
        }
        h.v2.push(("/sys/fs/cgroup/unified".into(), vec!["hugetlb".into()]));
        for (c, on) in [("net_cls", true), ("hugetlb", true), ("memory", true)] {
            h.known.insert(c.into(), on);
        }
        h
    }

    #[test]
    fn host_check_names_the_missing_controller() {
        let h = hybrid_host();
        host(
            &res(json!({"memory": {"limit": 1}, "pids": {"limit": 5}})),
            &h,
        )
        .unwrap();
        let e = host(
            &res(json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]})),
            &h,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("linux.resources.hugepageLimits[0]: the hugetlb controller is bound to the cgroup2 hierarchy at /sys/fs/cgroup/unified"),
            "{e}"
        );
        let e = host(&res(json!({"network": {"classID": 1}})), &h)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("linux.resources.network.classID: the net_cls controller is not mounted"),
            "{e}"
        );
        let e = host(&res(json!({"rdma": {"mlx5_0": {"hcaHandles": 1}}})), &h)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("rdma controller is not built into this kernel"),
            "{e}"
        );
        let e = host(&res(json!({"unified": {"memory.high": "1G"}})), &h)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "linux.resources.unified.memory.high: unified resources apply to cgroup v2 only"
            ),
            "{e}"
        );
        // Unset (zero) values need nothing.
        let mut bare = HostCgroups::default();
        bare.known.insert("memory".into(), true);
        host(&res(json!({"memory": {"limit": 0}, "cpu": {}})), &bare).unwrap();
    }

    fn v2_host_with(ctrls: &[&str]) -> HostCgroups {
        let mut h = HostCgroups {
            unified: true,
            ..Default::default()
        };
        h.v2.push((
            "/sys/fs/cgroup".into(),
            ctrls.iter().map(|c| c.to_string()).collect(),
        ));
        for c in ["cpu", "cpuset", "io", "memory", "hugetlb", "pids", "rdma"] {
            h.known.insert(c.into(), true);
        }
        h
    }

    #[test]
    fn v2_hosts_check_controllers_and_refuse_what_v2_lacks() {
        let h = v2_host_with(&["cpu", "memory", "pids", "io"]);
        host(
            &res(json!({
                "devices": [{"allow": false, "access": "rwm"}],
                "cpu": {"shares": 2, "quota": 10000, "idle": 1},
                "memory": {"limit": 1048576, "swap": 2097152, "disableOOMKiller": false,
                           "useHierarchy": true},
                "blockIO": {"weight": 100},
                "pids": {"limit": 3},
                "unified": {"memory.high": "1M", "misc.pressure": "x",
                            "cpuset.pressure": "x"}
            })),
            &h,
        )
        .unwrap();
        let fails = |v: serde_json::Value, want: &str| {
            let e = host(&res(v.clone()), &h).unwrap_err().to_string();
            assert!(e.starts_with(want), "{v}: {e}");
        };
        fails(
            json!({"cpu": {"cpus": "0"}}),
            "linux.resources.cpu.cpus: the cpuset controller is not available on this host's \
             cgroup v2 hierarchy (not in /sys/fs/cgroup/cgroup.controllers)",
        );
        fails(
            json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}),
            "linux.resources.hugepageLimits[0]: the hugetlb controller is not available",
        );
        fails(
            json!({"unified": {"rdma.max": "x"}}),
            "linux.resources.unified.rdma.max: the rdma controller is not available",
        );
        fails(
            json!({"memory": {"kernel": 1048576}}),
            "linux.resources.memory.kernel: cgroup v2 has no separate kernel memory limit",
        );
        fails(
            json!({"memory": {"kernelTCP": 1048576}}),
            "linux.resources.memory.kernelTCP: cgroup v2 has no separate kernel memory limit",
        );
        fails(
            json!({"memory": {"swappiness": 10}}),
            "linux.resources.memory.swappiness: 10: cgroup v2 has no per-cgroup swappiness",
        );
        fails(
            json!({"memory": {"disableOOMKiller": true}}),
            "linux.resources.memory.disableOOMKiller: cgroup v2 cannot disable the OOM killer",
        );
        fails(
            json!({"memory": {"useHierarchy": false}}),
            "linux.resources.memory.useHierarchy: cgroup v2 accounts memory hierarchically",
        );
        fails(
            json!({"cpu": {"realtimeRuntime": 1000}}),
            "linux.resources.cpu.realtimeRuntime: cgroup v2 has no realtime group scheduling",
        );
        fails(
            json!({"cpu": {"realtimePeriod": 1000}}),
            "linux.resources.cpu.realtimePeriod: cgroup v2 has no realtime",
        );
        fails(
            json!({"blockIO": {"leafWeight": 100}}),
            "linux.resources.blockIO.leafWeight: cgroup v2 has no leaf weights",
        );
        fails(
            json!({"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "leafWeight": 10}]}}),
            "linux.resources.blockIO.weightDevice[0].leafWeight: cgroup v2 has no leaf weights",
        );
        fails(
            json!({"network": {"classID": 1}}),
            "linux.resources.network.classID: cgroup v2 has no net_cls or net_prio controller",
        );
        fails(
            json!({"network": {"priorities": [{"name": "eth0", "priority": 1}]}}),
            "linux.resources.network.priorities: cgroup v2 has no net_cls",
        );
    }

    #[test]
    fn unified_keys() {
        for good in [
            "memory.high",
            "memory.oom.group",
            "cpu.weight.nice",
            "cgroup.max.depth",
        ] {
            check_unified_key(good).unwrap();
        }
        for bad in [
            "memory",
            ".high",
            "memory.",
            "../memory.max",
            "memory/../../x",
            "a..b",
            "cgroup.procs",
            "cgroup.subtree_control",
            "cgroup.kill",
            "cgroup.freeze",
        ] {
            assert!(check_unified_key(bad).is_err(), "{bad}");
        }
    }
}
