//! cgroup v2 (the unified hierarchy): making the container's cgroup with
//! the controllers it needs, applying every `linux.resources` field v2 can
//! express, freezing through `cgroup.freeze`, and killing through
//! `cgroup.kill`.
//!
//! Writes go through cgroups-rs' controllers (in their v2 mode) where they
//! write the right file the right way (memory.max, memory.swap.max,
//! cpu.weight, cpu.max, cpuset.*, pids.max, hugetlb.*.max, rdma.max);
//! directly where they do not (memory.low with -1, cpu.max.burst,
//! cpu.idle, io.*, the `unified` map), or where cgroups-rs is wrong on v2
//! (it writes swappiness to memory.swap.max and reads freezing state from
//! cgroup.freeze instead of cgroup.events).
//!
//! Controllers are enabled (`cgroup.subtree_control`) only in cgroups
//! berth made on the way to the container's, and in the container's
//! parent (the configured one); anything above is the host's business, and
//! a controller missing there is reported with the place it stops.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cgroups_rs::fs::cpu::CpuController;
use cgroups_rs::fs::cpuset::CpuSetController;
use cgroups_rs::fs::hugetlb::HugeTlbController;
use cgroups_rs::fs::memory::MemController;
use cgroups_rs::fs::pid::PidController;
use cgroups_rs::fs::rdma::RdmaController;
use cgroups_rs::fs::MaxValue;
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use super::v1::{describe, device_message, Fail};
use super::validate::{nz, set_fields, throttles, v2_controller};
use crate::error::CgroupError;

/// The key of the one directory in a v2 container's recorded cgroup paths.
pub const KEY: &str = "unified";

/// Where the cgroup2 hierarchy is mounted on a unified host.
pub(super) const ROOT: &str = "/sys/fs/cgroup";

fn res_err(field: impl Into<String>, message: impl Into<String>) -> CgroupError {
    CgroupError::Resource {
        field: field.into(),
        message: message.into(),
    }
}

fn op_err(path: &str, what: &'static str, message: impl Into<String>) -> CgroupError {
    CgroupError::Operation {
        path: path.to_string(),
        what,
        message: message.into(),
    }
}

fn read_str(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file))
        .ok()
        .map(|s| s.trim().to_string())
}

fn words(dir: &Path, file: &str) -> Vec<String> {
    read_str(dir, file)
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// The controllers a v2 cgroup has (its `cgroup.controllers`).
pub(super) fn controllers(dir: &Path) -> Vec<String> {
    words(dir, "cgroup.controllers")
}

fn write_raw(dir: &Path, file: &str, value: &str) -> Result<(), Fail> {
    std::fs::write(dir.join(file), value).map_err(|e| Fail {
        errno: e.raw_os_error(),
        text: format!("writing {value:?} to {file}: {e}"),
    })
}

// ---------------------------------------------------------------------------
// Creation.
// ---------------------------------------------------------------------------

/// Makes the container's cgroup `dir` (and any missing parent), enabling
/// controllers in the parent and in the parents berth made. Returns the
/// directories made, top-down.
pub(super) fn create(dir: &Path, display: &str) -> Result<Vec<PathBuf>, CgroupError> {
    let root = Path::new(ROOT);
    let rel = dir.strip_prefix(root).unwrap_or(dir);
    let mut made: Vec<PathBuf> = Vec::new();
    let mut cur = root.to_path_buf();
    for c in rel.components() {
        cur.push(c);
        match std::fs::create_dir(&cur) {
            Ok(()) => made.push(cur.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                undo(&made);
                return Err(op_err(
                    display,
                    "create",
                    format!("mkdir {}: {e}", cur.display()),
                ));
            }
        }
    }
    // Enable in the parent (the configured one, made or not) and in every
    // parent this call made, top-down, so each sees what the one above it
    // hands out. Best effort: a controller that cannot be enabled shows up
    // as an error naming the field that needs it.
    let mut enable: Vec<&Path> = made
        .iter()
        .map(PathBuf::as_path)
        .filter(|d| *d != dir)
        .collect();
    if let Some(parent) = dir.parent() {
        if !enable.contains(&parent) {
            enable.insert(0, parent);
        }
    }
    for d in enable {
        enable_controllers(d);
    }
    Ok(made)
}

/// Removes the directories `create` made (bottom-up) after a failure.
pub(super) fn undo(made: &[PathBuf]) {
    for d in made.iter().rev() {
        let _ = std::fs::remove_dir(d);
    }
}

/// Writes `+ctrl` to `dir/cgroup.subtree_control` for every controller
/// `dir` has and does not yet hand down.
fn enable_controllers(dir: &Path) {
    let on = words(dir, "cgroup.subtree_control");
    for c in controllers(dir) {
        if on.contains(&c) {
            continue;
        }
        if let Err(e) = std::fs::write(dir.join("cgroup.subtree_control"), format!("+{c}")) {
            tracing::debug!("enabling {c} in {}: {e}", dir.display());
        }
    }
}

/// Why `ctrl` is not in `dir`'s cgroup.controllers: the ancestor that has
/// it but does not hand it down, or the root that lacks it.
pub(super) fn missing_reason(dir: &Path, ctrl: &str) -> String {
    let root = Path::new(ROOT);
    let mut child = dir;
    while let Some(parent) = child.parent().filter(|_| child != root) {
        if controllers(parent).iter().any(|c| c == ctrl) {
            let busy = parent != root && !super::procs_of(parent).is_empty();
            return format!(
                "the {ctrl} controller is not enabled for {}: {}/cgroup.subtree_control does not \
                 hand it down{}",
                child.display(),
                parent.display(),
                if busy {
                    " (that cgroup has processes of its own, and cgroup v2 enables controllers \
                     only below cgroups without them)"
                } else {
                    ""
                }
            );
        }
        child = parent;
    }
    format!(
        "the {ctrl} controller is not available on this host's cgroup v2 hierarchy (not in \
         {ROOT}/cgroup.controllers)"
    )
}

// ---------------------------------------------------------------------------
// Applying resources.
// ---------------------------------------------------------------------------

/// Applies every set field of `res` except the device rules to the v2
/// cgroup at `dir`.
pub(super) fn apply(
    dir: &Path,
    res: &LinuxResources,
    check_before_update: bool,
) -> Result<(), CgroupError> {
    super::validate::v2_unsupported(res)?;
    // Every set field needs its controller here: refuse before writing.
    let have = controllers(dir);
    for (field, ctrl) in set_fields(res) {
        let Some(c) = v2_controller(&field, ctrl) else {
            continue;
        };
        if !have.iter().any(|h| h == c) {
            return Err(res_err(field, missing_reason(dir, c)));
        }
    }
    if let Some(p) = res.pids() {
        pids(dir, p.limit())?;
    }
    if let Some(m) = res.memory() {
        memory(dir, m, check_before_update)?;
    }
    if let Some(c) = res.cpu() {
        cpu(dir, c)?;
        cpuset(dir, c)?;
    }
    if let Some(b) = res.block_io() {
        io(dir, b)?;
    }
    hugetlb(dir, res)?;
    rdma(dir, res)?;
    unified(dir, res)?;
    Ok(())
}

fn pids(dir: &Path, limit: i64) -> Result<(), CgroupError> {
    if limit == 0 {
        return Ok(());
    }
    let value = if limit > 0 {
        MaxValue::Value(limit)
    } else {
        MaxValue::Max
    };
    PidController::new(dir.to_path_buf(), PathBuf::new(), true)
        .set_pid_max(value)
        .map_err(|e| res_err("linux.resources.pids.limit", describe(&e)))
}

const MEM: &str = "linux.resources.memory";

/// "max" or the number, as memory.* files take them (-1: max).
fn bytes_or_max(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// A memory.* limit as a number (-1 for "max").
fn read_limit(dir: &Path, file: &str) -> Option<i64> {
    match read_str(dir, file)?.as_str() {
        "max" => Some(-1),
        s => s.parse().ok(),
    }
}

/// runc's conversion of `memory.swap` (memory plus swap, v1's meaning) to
/// `memory.swap.max` (swap alone) given the memory limit in force (-1: none).
/// `None`: leave memory.swap.max alone.
pub(super) fn swap_max(swap: Option<i64>, limit: Option<i64>, current_limit: i64) -> Option<i64> {
    match (swap, limit) {
        // Unlimited memory without a swap value lifts swap as well.
        (None, Some(-1)) => Some(-1),
        (None, _) => None,
        (Some(-1), _) => Some(-1),
        (Some(s), l) => {
            let l = l.unwrap_or(current_limit);
            if l < 0 {
                Some(s) // unlimited memory: the value is the swap itself
            } else {
                Some(s.saturating_sub(l).max(0))
            }
        }
    }
}

fn memory(dir: &Path, m: &LinuxMemory, check_before: bool) -> Result<(), CgroupError> {
    let mem = MemController::new(dir.to_path_buf(), PathBuf::new(), true);
    let limit = nz(m.limit());
    if let Some(l) = limit.filter(|l| *l > 0) {
        if check_before || m.check_before_update() == Some(true) {
            let usage: u64 = read_str(dir, "memory.current")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if usage > l as u64 {
                return Err(res_err(
                    format!("{MEM}.limit"),
                    format!(
                        "{l} is below the current usage of {usage} bytes \
                         (checkBeforeUpdate refuses it rather than reclaim)"
                    ),
                ));
            }
        }
    }
    if let Some(l) = limit {
        mem.set_limit(l).map_err(|e| {
            let f = Fail::from(e);
            res_err(format!("{MEM}.limit"), f.text)
        })?;
    }
    let current = read_limit(dir, "memory.max").unwrap_or(-1);
    if let Some(s) = swap_max(nz(m.swap()), limit, current) {
        let field = format!("{MEM}.swap");
        if !dir.join("memory.swap.max").exists() {
            // Nothing to limit without swap accounting, unless a real
            // swap allowance was asked for.
            if s > 0 {
                return Err(res_err(
                    field,
                    "cannot limit swap: this kernel has no swap accounting (no \
                     memory.swap.max; built without CONFIG_MEMCG_SWAP or booted with \
                     swapaccount=0)",
                ));
            }
        } else {
            mem.set_memswap_limit(s)
                .map_err(|e| res_err(field, Fail::from(e).text))?;
        }
    }
    if let Some(r) = nz(m.reservation()) {
        write_raw(dir, "memory.low", &bytes_or_max(r))
            .map_err(|f| res_err(format!("{MEM}.reservation"), f.text))?;
    }
    Ok(())
}

const CPU: &str = "linux.resources.cpu";

/// runc's conversion of v1 `cpu.shares` (2–262144, default 1024) to v2
/// `cpu.weight` (1–10000, default 100): linear over the two ranges.
pub fn shares_to_weight(shares: u64) -> u64 {
    match shares {
        0 => 0,
        1..=2 => 1,
        s if s >= 262_144 => 10_000,
        s => 1 + ((s - 2) * 9999) / 262_142,
    }
}

/// runc's conversion of a blkio weight (10–1000) to `io.weight` (1–10000).
pub fn blkio_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    let w = u64::from(weight.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

fn need_file(dir: &Path, file: &str, field: &str, why: &str) -> Result<(), CgroupError> {
    if dir.join(file).exists() {
        Ok(())
    } else {
        Err(res_err(field, why))
    }
}

fn cpu(dir: &Path, c: &LinuxCpu) -> Result<(), CgroupError> {
    let ctl = CpuController::new(dir.to_path_buf(), PathBuf::new(), true);
    if let Some(s) = nz(c.shares()) {
        let w = shares_to_weight(s);
        ctl.set_shares(w).map_err(|e| {
            res_err(
                format!("{CPU}.shares"),
                format!("{s} (cpu.weight {w}): {}", describe(&e)),
            )
        })?;
    }
    let quota = nz(c.quota());
    let period = nz(c.period());
    if quota.is_some() || period.is_some() {
        ctl.set_cfs_quota_and_period(quota, period).map_err(|e| {
            let f = Fail::from(e);
            let field = if quota.is_some() {
                format!("{CPU}.quota")
            } else {
                format!("{CPU}.period")
            };
            let message = match f.errno {
                Some(libc::EINVAL) | Some(libc::ERANGE) => format!(
                    "the kernel refused cpu.max {:?} -> quota {}, period {} ({})",
                    read_str(dir, "cpu.max").unwrap_or_default(),
                    quota.map_or("unchanged".into(), |q| q.to_string()),
                    period.map_or("unchanged".into(), |p| p.to_string()),
                    f.text
                ),
                _ => f.text,
            };
            res_err(field, message)
        })?;
    }
    if let Some(b) = c.burst() {
        let field = format!("{CPU}.burst");
        need_file(
            dir,
            "cpu.max.burst",
            &field,
            "this kernel has no cpu.max.burst (CFS burst needs Linux 5.14 or later)",
        )?;
        write_raw(dir, "cpu.max.burst", &b.to_string()).map_err(|f| {
            let message = match f.errno {
                Some(libc::EINVAL) => format!(
                    "the kernel refused {b} µs: the burst may not exceed the quota (cpu.max is {:?})",
                    read_str(dir, "cpu.max").unwrap_or_default()
                ),
                _ => f.text,
            };
            res_err(&field, message)
        })?;
    }
    if let Some(i) = c.idle() {
        let field = format!("{CPU}.idle");
        need_file(
            dir,
            "cpu.idle",
            &field,
            "this kernel has no cpu.idle (SCHED_IDLE cgroups need Linux 5.15 or later)",
        )?;
        write_raw(dir, "cpu.idle", &i.to_string()).map_err(|f| res_err(&field, f.text))?;
    }
    Ok(())
}

fn cpuset(dir: &Path, c: &LinuxCpu) -> Result<(), CgroupError> {
    let set = CpuSetController::new(dir.to_path_buf(), PathBuf::new(), true);
    for (name, value, file) in [
        ("cpus", c.cpus(), "cpuset.cpus"),
        ("mems", c.mems(), "cpuset.mems"),
    ] {
        let Some(v) = value.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
            continue;
        };
        let r = if name == "cpus" {
            set.set_cpus(v)
        } else {
            set.set_mems(v)
        };
        r.map_err(|e| {
            let f = Fail::from(e);
            let message = match f.errno {
                Some(libc::EINVAL) | Some(libc::ERANGE) | Some(libc::ENOSPC) => {
                    let parent = dir.parent().unwrap_or(dir);
                    format!(
                        "{v:?} is not within what the parent cgroup has ({}.effective is {:?})",
                        parent.join(file).display(),
                        read_str(parent, &format!("{file}.effective")).unwrap_or_default()
                    )
                }
                _ => f.text,
            };
            res_err(format!("{CPU}.{name}"), message)
        })?;
    }
    Ok(())
}

const BLKIO: &str = "linux.resources.blockIO";

fn io(dir: &Path, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    // BFQ takes v1's weights (1–1000) as they are; without it, io.weight
    // (the iocost controller, 1–10000) gets runc's conversion.
    let bfq = dir.join("io.bfq.weight").exists();
    let no_weight = "this kernel has neither io.bfq.weight (the BFQ I/O scheduler) nor io.weight \
                     (the iocost controller)";
    if let Some(w) = nz(b.weight()) {
        let field = format!("{BLKIO}.weight");
        let r = if bfq {
            write_raw(dir, "io.bfq.weight", &format!("default {w}"))
        } else if dir.join("io.weight").exists() {
            if w < 10 {
                return Err(res_err(
                    field,
                    format!("{w} is below 10, the smallest blkio weight io.weight can express"),
                ));
            }
            write_raw(
                dir,
                "io.weight",
                &format!("default {}", blkio_to_io_weight(w)),
            )
        } else {
            return Err(res_err(field, no_weight));
        };
        r.map_err(|f| res_err(&field, f.text))?;
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        let Some(w) = d.weight() else {
            continue;
        };
        let field = format!("{BLKIO}.weightDevice[{i}].weight");
        let (major, minor) = (d.major() as u64, d.minor() as u64);
        let r = if bfq {
            write_raw(dir, "io.bfq.weight", &format!("{major}:{minor} {w}"))
        } else if dir.join("io.weight").exists() {
            write_raw(
                dir,
                "io.weight",
                &format!("{major}:{minor} {}", blkio_to_io_weight(w)),
            )
        } else {
            return Err(res_err(field, no_weight));
        };
        r.map_err(|f| res_err(&field, device_message(major, minor, f)))?;
    }
    for (name, list) in throttles(b) {
        let key = match name {
            "throttleReadBpsDevice" => "rbps",
            "throttleWriteBpsDevice" => "wbps",
            "throttleReadIOPSDevice" => "riops",
            _ => "wiops",
        };
        for (i, d) in list.iter().enumerate() {
            let (major, minor) = (d.major() as u64, d.minor() as u64);
            // v1's 0 removes the limit; io.max says that with "max".
            let rate = match d.rate() {
                0 => "max".to_string(),
                r => r.to_string(),
            };
            write_raw(dir, "io.max", &format!("{major}:{minor} {key}={rate}")).map_err(|f| {
                res_err(
                    format!("{BLKIO}.{name}[{i}]"),
                    device_message(major, minor, f),
                )
            })?;
        }
    }
    Ok(())
}

fn hugetlb(dir: &Path, res: &LinuxResources) -> Result<(), CgroupError> {
    let Some(limits) = res.hugepage_limits() else {
        return Ok(());
    };
    let ctl = HugeTlbController::new(dir.to_path_buf(), PathBuf::new(), true);
    for (i, h) in limits.iter().enumerate() {
        let field = format!("linux.resources.hugepageLimits[{i}]");
        let size = h.page_size();
        if !dir.join(format!("hugetlb.{size}.max")).exists() {
            return Err(res_err(
                format!("{field}.pageSize"),
                format!(
                    "{size} pages are not supported by this kernel (sizes: {})",
                    ctl.get_sizes().join(", ")
                ),
            ));
        }
        let limit = h.limit().max(0) as u64;
        ctl.set_limit_in_bytes(size, limit)
            .map_err(|e| res_err(format!("{field}.limit"), describe(&e)))?;
        let rsvd = format!("hugetlb.{size}.rsvd.max");
        if dir.join(&rsvd).exists() {
            write_raw(dir, &rsvd, &limit.to_string())
                .map_err(|f| res_err(format!("{field}.limit"), f.text))?;
        }
    }
    Ok(())
}

fn rdma(dir: &Path, res: &LinuxResources) -> Result<(), CgroupError> {
    let Some(rdma) = res.rdma() else {
        return Ok(());
    };
    let ctl = RdmaController::new(dir.to_path_buf(), PathBuf::new());
    let mut devs: Vec<_> = rdma.iter().collect();
    devs.sort_by(|a, b| a.0.cmp(b.0));
    for (dev, r) in devs {
        let mut line = dev.clone();
        if let Some(h) = r.hca_handles() {
            line.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = r.hca_objects() {
            line.push_str(&format!(" hca_object={o}"));
        }
        ctl.set_max(&line).map_err(|e| {
            let f = Fail::from(e);
            let message = match f.errno {
                Some(libc::ENODEV) | Some(libc::ENOENT) => format!(
                    "there is no RDMA device {dev:?} on this host (rdma.max lists them: {:?})",
                    read_str(dir, "rdma.max").unwrap_or_default()
                ),
                _ => f.text,
            };
            res_err(format!("linux.resources.rdma.{dev}"), message)
        })?;
    }
    Ok(())
}

/// `unified`: each key is a file of the cgroup, written verbatim, after the
/// typed fields (so it overrides them, as in runc).
fn unified(dir: &Path, res: &LinuxResources) -> Result<(), CgroupError> {
    let Some(map) = res.unified() else {
        return Ok(());
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for key in keys {
        let field = format!("linux.resources.unified.{key}");
        super::validate::check_unified_key(key).map_err(|m| res_err(&field, m))?;
        let value = &map[key];
        let path = dir.join(key);
        let is_file = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file());
        if !is_file {
            let ctrl = key.split('.').next().unwrap_or_default();
            let why = if !controllers(dir).iter().any(|c| c == ctrl)
                && super::validate::V2_CONTROLLERS.contains(&ctrl)
            {
                missing_reason(dir, ctrl)
            } else {
                "this kernel does not have that file".to_string()
            };
            return Err(res_err(
                field,
                format!("the cgroup has no file {key} ({why})"),
            ));
        }
        std::fs::write(&path, value.as_bytes()).map_err(|e| {
            res_err(
                &field,
                format!("writing {value:?} to {}: {e}", path.display()),
            )
        })?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Freezing and killing.
// ---------------------------------------------------------------------------

/// Whether cgroup.events says the cgroup is frozen.
pub(super) fn is_frozen(dir: &Path) -> bool {
    event(dir, "frozen") == Some(1)
}

/// Whether a freeze was asked for (cgroup.freeze) and not yet reached.
pub(super) fn is_freezing(dir: &Path) -> bool {
    read_str(dir, "cgroup.freeze").as_deref() == Some("1") && !is_frozen(dir)
}

/// One key of cgroup.events ("populated", "frozen").
fn event(dir: &Path, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(dir.join("cgroup.events")).ok()?;
    super::stats::key_values(&text).get(key).copied()
}

/// Writes cgroup.freeze and waits until cgroup.events reports `frozen` as
/// asked. A freeze that does not finish in 5 s is undone.
pub(super) fn set_frozen(dir: &Path, display: &str, frozen: bool) -> Result<(), CgroupError> {
    let what = if frozen { "freeze" } else { "thaw" };
    if !dir.join("cgroup.freeze").exists() {
        return Err(op_err(
            display,
            what,
            "this kernel has no cgroup.freeze (the cgroup v2 freezer needs Linux 5.2 or later)",
        ));
    }
    write_raw(dir, "cgroup.freeze", if frozen { "1" } else { "0" })
        .map_err(|f| op_err(display, what, f.text))?;
    let want = u64::from(frozen);
    let deadline = Instant::now() + Duration::from_secs(5);
    while event(dir, "frozen") != Some(want) {
        if Instant::now() > deadline {
            if frozen {
                let _ = write_raw(dir, "cgroup.freeze", "0");
                return Err(op_err(
                    display,
                    what,
                    "cgroup.events did not report frozen within 5s; the cgroup was thawed again",
                ));
            }
            return Err(op_err(
                display,
                what,
                "cgroup.events still reports frozen after 5s",
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// Kills every process of the cgroup and its sub-cgroups at once through
/// cgroup.kill (Linux 5.14+; a process forking meanwhile cannot escape),
/// or one by one where the kernel lacks it. Waits up to `wait` for the
/// cgroup to empty; returns whether it did.
pub(super) fn kill_all(dir: &Path, wait: Duration) -> bool {
    if event(dir, "populated") == Some(0) {
        return true;
    }
    if write_raw(dir, "cgroup.kill", "1").is_err() {
        let mut pids = Vec::new();
        super::procs_recursive(dir, &mut pids);
        for pid in pids {
            let _ = crate::sys::kill(pid, libc::SIGKILL);
        }
    }
    let deadline = Instant::now() + wait;
    loop {
        match event(dir, "populated") {
            Some(0) | None => return true,
            _ if Instant::now() >= deadline => return false,
            _ => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_weight_follows_runc() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_143), 9999);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(u64::MAX), 10_000);
    }

    #[test]
    fn io_weight_follows_runc() {
        assert_eq!(blkio_to_io_weight(0), 0);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(500), 4950);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
    }

    /// A directory with the files of a v2 cgroup (plain files: each write
    /// replaces the content, so a multi-line file shows its last line).
    fn fake_cgroup(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("berth-v2-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (f, v) in [
            (
                "cgroup.controllers",
                "cpuset cpu io memory hugetlb pids rdma",
            ),
            ("memory.max", "max"),
            ("memory.swap.max", "max"),
            ("memory.low", "0"),
            ("memory.high", "max"),
            ("memory.current", "4096"),
            ("cpu.weight", "100"),
            ("cpu.max", "max 100000"),
            ("cpu.max.burst", "0"),
            ("cpu.idle", "0"),
            ("cpuset.cpus", ""),
            ("cpuset.mems", ""),
            ("pids.max", "max"),
            ("io.weight", "default 100"),
            ("io.max", ""),
            ("rdma.max", ""),
        ] {
            std::fs::write(dir.join(f), v).unwrap();
        }
        dir
    }

    fn read(dir: &Path, f: &str) -> String {
        std::fs::read_to_string(dir.join(f)).unwrap()
    }

    #[test]
    fn fields_go_to_their_v2_files() {
        let dir = fake_cgroup("fields");
        let res: LinuxResources = serde_json::from_value(serde_json::json!({
            "memory": {"limit": 67108864, "reservation": -1, "swap": 100663296},
            "cpu": {"shares": 1024, "quota": 25000, "burst": 1000, "idle": 1,
                    "cpus": "0-1", "mems": "0"},
            "pids": {"limit": -1},
            "blockIO": {"weight": 10,
                        "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 0}]},
            "rdma": {"mlx5_0": {"hcaHandles": 3}},
            "unified": {"memory.high": "1000000"}
        }))
        .unwrap();
        apply(&dir, &res, false).unwrap();
        assert_eq!(read(&dir, "memory.max"), "67108864");
        assert_eq!(read(&dir, "memory.swap.max"), "33554432");
        assert_eq!(read(&dir, "memory.low"), "max");
        assert_eq!(read(&dir, "cpu.weight"), "39");
        assert_eq!(read(&dir, "cpu.max"), "25000 100000");
        assert_eq!(read(&dir, "cpu.max.burst"), "1000");
        assert_eq!(read(&dir, "cpu.idle"), "1");
        assert_eq!(read(&dir, "cpuset.cpus"), "0-1");
        assert_eq!(read(&dir, "cpuset.mems"), "0");
        assert_eq!(read(&dir, "pids.max"), "max");
        assert_eq!(read(&dir, "io.weight"), "default 1");
        assert_eq!(read(&dir, "io.max"), "8:0 wiops=max");
        assert_eq!(read(&dir, "rdma.max"), "mlx5_0 hca_handle=3");
        assert_eq!(read(&dir, "memory.high"), "1000000");

        // An update with the period alone keeps the quota; swap alone
        // counts against the limit in force.
        let upd: LinuxResources = serde_json::from_value(serde_json::json!({
            "cpu": {"period": 50000}, "memory": {"swap": 134217728}
        }))
        .unwrap();
        apply(&dir, &upd, false).unwrap();
        assert_eq!(read(&dir, "cpu.max"), "25000 50000");
        assert_eq!(read(&dir, "memory.swap.max"), "67108864");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn v2_refusals_name_the_field() {
        let dir = fake_cgroup("refusals");
        let fails = |v: serde_json::Value, want: &str| {
            let res: LinuxResources = serde_json::from_value(v.clone()).unwrap();
            let e = apply(&dir, &res, false).unwrap_err().to_string();
            assert!(e.starts_with(want), "{v}: {e}");
        };
        fails(
            serde_json::json!({"unified": {"memory.nope": "1"}}),
            "linux.resources.unified.memory.nope: the cgroup has no file memory.nope",
        );
        fails(
            serde_json::json!({"unified": {"misc.max": "x 1"}}),
            "linux.resources.unified.misc.max: the misc controller is not",
        );
        fails(
            serde_json::json!({"hugepageLimits": [{"pageSize": "3MB", "limit": 0}]}),
            "linux.resources.hugepageLimits[0].pageSize: 3MB pages are not supported",
        );
        fails(
            serde_json::json!({"blockIO": {"weight": 5}}),
            "linux.resources.blockIO.weight: 5 is below 10",
        );
        fails(
            serde_json::json!({"memory": {"limit": 1024, "checkBeforeUpdate": true}}),
            "linux.resources.memory.limit: 1024 is below the current usage of 4096 bytes",
        );
        fails(
            serde_json::json!({"memory": {"kernel": 1024}}),
            "linux.resources.memory.kernel: cgroup v2 has no separate kernel memory limit",
        );
        std::fs::remove_file(dir.join("memory.swap.max")).unwrap();
        fails(
            serde_json::json!({"memory": {"limit": 1048576, "swap": 2097152}}),
            "linux.resources.memory.swap: cannot limit swap: this kernel has no swap accounting",
        );
        // Without swap accounting, "no swap beyond memory" needs no file.
        let res: LinuxResources = serde_json::from_value(
            serde_json::json!({"memory": {"limit": 1048576, "swap": 1048576}}),
        )
        .unwrap();
        apply(&dir, &res, false).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn swap_is_converted_to_swap_alone() {
        // memory+swap 96M with 64M of memory: 32M of swap.
        assert_eq!(swap_max(Some(96 << 20), Some(64 << 20), -1), Some(32 << 20));
        assert_eq!(swap_max(Some(64 << 20), Some(64 << 20), -1), Some(0));
        assert_eq!(swap_max(Some(-1), Some(64 << 20), -1), Some(-1));
        assert_eq!(swap_max(None, Some(-1), 5), Some(-1));
        assert_eq!(swap_max(None, Some(64 << 20), -1), None);
        // update with swap alone: the limit in force counts.
        assert_eq!(swap_max(Some(100), None, 60), Some(40));
        assert_eq!(swap_max(Some(100), None, -1), Some(100));
        assert_eq!(swap_max(Some(100), Some(-1), 60), Some(100));
    }
}
