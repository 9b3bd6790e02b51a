//! Applying `linux.resources` to the cgroup v1 controllers, through
//! cgroups-rs' controllers where they write the right file, and directly
//! where the kernel moved on (BFQ weights, CFS burst, cpu.idle, kernel
//! memory that must be checked after the write).
//!
//! Every failure is an error naming the field and saying what the kernel
//! answered; a value the kernel accepts but ignores (kernel memory limits
//! on current kernels) is reported as well.

use std::path::{Path, PathBuf};

use cgroups_rs::fs::blkio::BlkIoController;
use cgroups_rs::fs::cpu::CpuController;
use cgroups_rs::fs::cpuset::CpuSetController;
use cgroups_rs::fs::error::{Error as CgError, ErrorKind};
use cgroups_rs::fs::hugetlb::HugeTlbController;
use cgroups_rs::fs::memory::MemController;
use cgroups_rs::fs::net_cls::NetClsController;
use cgroups_rs::fs::net_prio::NetPrioController;
use cgroups_rs::fs::pid::PidController;
use cgroups_rs::fs::rdma::RdmaController;
use cgroups_rs::fs::MaxValue;
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use super::validate::{nz, set_fields, throttles, HostCgroups};
use super::CgroupManager;
use crate::error::CgroupError;

/// A cgroups-rs error as "writing VALUE to FILE: REASON".
pub(super) fn describe(e: &CgError) -> String {
    let cause = std::error::Error::source(e)
        .map(|s| s.to_string())
        .unwrap_or_default();
    let what = match e.kind() {
        ErrorKind::WriteFailed(file, value) if value == "[CREATE FILE]" => {
            format!("opening {file}")
        }
        ErrorKind::WriteFailed(file, value) => format!("writing {value} to {file}"),
        ErrorKind::ReadFailed(file) => format!("reading {file}"),
        other => other.to_string(),
    };
    if cause.is_empty() {
        what
    } else {
        format!("{what}: {cause}")
    }
}

/// The errno behind a cgroups-rs error, if it came from a system call.
fn errno(e: &CgError) -> Option<i32> {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .and_then(std::io::Error::raw_os_error)
}

/// A failed write: the errno and the description.
pub(super) struct Fail {
    pub(super) errno: Option<i32>,
    pub(super) text: String,
}

impl From<CgError> for Fail {
    fn from(e: CgError) -> Fail {
        Fail {
            errno: errno(&e),
            text: describe(&e),
        }
    }
}

fn res_err(field: impl Into<String>, message: impl Into<String>) -> CgroupError {
    CgroupError::Resource {
        field: field.into(),
        message: message.into(),
    }
}

/// Writes a control file the controllers of cgroups-rs do not cover.
fn write_raw(dir: &Path, file: &str, value: &str) -> Result<(), Fail> {
    std::fs::write(dir.join(file), value).map_err(|e| Fail {
        errno: e.raw_os_error(),
        text: format!("writing {value} to {file}: {e}"),
    })
}

fn read_str(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file))
        .ok()
        .map(|s| s.trim().to_string())
}

fn read_u64(dir: &Path, file: &str) -> Option<u64> {
    read_str(dir, file)?.parse().ok()
}

fn has(dir: &Path, file: &str) -> bool {
    dir.join(file).exists()
}

/// Applies every set field of `res` except the device rules.
pub(super) fn apply(
    mgr: &CgroupManager,
    res: &LinuxResources,
    check_before_update: bool,
) -> Result<(), CgroupError> {
    // Every set field must have its controller: refuse before writing.
    for (field, ctrl) in set_fields(res) {
        if ctrl.is_empty() {
            return Err(res_err(
                field,
                "unified resources apply to cgroup v2 only, and this host's resources are \
                 managed through cgroup v1 (hybrid layout)",
            ));
        }
        if mgr.dir(ctrl).is_none() {
            return Err(res_err(
                field,
                format!(
                    "the {ctrl} controller is {}",
                    HostCgroups::probe().missing_reason(ctrl)
                ),
            ));
        }
    }
    if let Some(p) = res.pids() {
        pids(mgr, p.limit())?;
    }
    if let Some(m) = res.memory() {
        memory(mgr, m, check_before_update)?;
    }
    if let Some(c) = res.cpu() {
        cpu(mgr, c)?;
        cpuset(mgr, c)?;
    }
    if let Some(b) = res.block_io() {
        blkio(mgr, b)?;
    }
    hugetlb(mgr, res)?;
    network(mgr, res)?;
    rdma(mgr, res)?;
    Ok(())
}

fn pids(mgr: &CgroupManager, limit: i64) -> Result<(), CgroupError> {
    let (Some(dir), true) = (mgr.dir("pids"), limit != 0) else {
        return Ok(());
    };
    let value = if limit > 0 {
        MaxValue::Value(limit)
    } else {
        MaxValue::Max
    };
    PidController::new(dir.to_path_buf(), PathBuf::new(), false)
        .set_pid_max(value)
        .map_err(|e| res_err("linux.resources.pids.limit", describe(&e)))
}

const MEM: &str = "linux.resources.memory";

fn memory(mgr: &CgroupManager, m: &LinuxMemory, check_before: bool) -> Result<(), CgroupError> {
    let Some(dir) = mgr.dir("memory") else {
        return Ok(());
    };
    let mem = MemController::new(dir.to_path_buf(), PathBuf::new(), false);
    let limit = nz(m.limit());
    let mut swap = nz(m.swap());
    let memsw = has(dir, "memory.memsw.limit_in_bytes");
    // runc: an unlimited memory limit without a swap value lifts swap too.
    if limit == Some(-1) && swap.is_none() && memsw {
        swap = Some(-1);
    }
    if swap == Some(-1) && !memsw {
        swap = None; // no swap accounting: memory+swap is unlimited anyway
    }
    if let (Some(s), false) = (swap, memsw) {
        return Err(res_err(
            format!("{MEM}.swap"),
            format!(
                "cannot limit memory+swap to {s}: swap accounting is off on this host \
                 (no memory.memsw.limit_in_bytes; boot with swapaccount=1)"
            ),
        ));
    }
    if let Some(l) = limit.filter(|l| *l > 0) {
        if check_before || m.check_before_update() == Some(true) {
            let usage = read_u64(dir, "memory.usage_in_bytes").unwrap_or(0);
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
    let set_limit = |l: i64| -> Result<(), CgroupError> {
        mem.set_limit(l).map_err(|e| {
            let f = Fail::from(e);
            let message = match f.errno {
                Some(libc::EBUSY) => format!(
                    "cannot set {l}: the container uses {} bytes and the kernel could not \
                     reclaim enough to fit",
                    read_u64(dir, "memory.usage_in_bytes").unwrap_or(0)
                ),
                Some(libc::EINVAL) if memsw => format!(
                    "{l} is above the memory+swap limit ({} bytes, {MEM}.swap); raise swap too",
                    read_u64(dir, "memory.memsw.limit_in_bytes").unwrap_or(0)
                ),
                _ => f.text,
            };
            res_err(format!("{MEM}.limit"), message)
        })
    };
    let set_swap = |s: i64| -> Result<(), CgroupError> {
        mem.set_memswap_limit(s).map_err(|e| {
            let f = Fail::from(e);
            let message = match f.errno {
                Some(libc::EINVAL) => format!(
                    "{s} is below the memory limit ({} bytes): swap limits memory plus swap",
                    read_u64(dir, "memory.limit_in_bytes").unwrap_or(0)
                ),
                Some(libc::EBUSY) => format!(
                    "cannot set {s}: the container uses {} bytes of memory+swap",
                    read_u64(dir, "memory.memsw.usage_in_bytes").unwrap_or(0)
                ),
                _ => f.text,
            };
            res_err(format!("{MEM}.swap"), message)
        })
    };
    // runc's order: when swap grows past the current limit (or becomes
    // unlimited) raise it first, else lower the limit first, so the kernel's
    // rule memory <= memory+swap holds after each write.
    let swap_first = match (limit, swap) {
        (Some(_), Some(s)) => {
            s == -1 || read_u64(dir, "memory.limit_in_bytes").is_some_and(|cur| cur < s as u64)
        }
        _ => false,
    };
    if swap_first {
        swap.map(set_swap).transpose()?;
        limit.map(set_limit).transpose()?;
    } else {
        limit.map(set_limit).transpose()?;
        swap.map(set_swap).transpose()?;
    }
    if let Some(r) = nz(m.reservation()) {
        mem.set_soft_limit(r)
            .map_err(|e| res_err(format!("{MEM}.reservation"), describe(&e)))?;
    }
    if let Some(k) = nz(m.kernel()) {
        kernel_limit(dir, "memory.kmem.limit_in_bytes", k, "kernel")?;
    }
    if let Some(k) = nz(m.kernel_tcp()) {
        kernel_limit(dir, "memory.kmem.tcp.limit_in_bytes", k, "kernelTCP")?;
    }
    if let Some(s) = m.swappiness() {
        mem.set_swappiness(s)
            .map_err(|e| res_err(format!("{MEM}.swappiness"), describe(&e)))?;
    }
    if let Some(disable) = m.disable_oom_killer() {
        let r = if disable {
            mem.disable_oom_killer().map_err(Fail::from)
        } else {
            write_raw(dir, "memory.oom_control", "0")
        };
        r.map_err(|f| res_err(format!("{MEM}.disableOOMKiller"), f.text))?;
    }
    if let Some(h) = m.use_hierarchy() {
        write_raw(dir, "memory.use_hierarchy", if h { "1" } else { "0" }).map_err(|f| {
            let message = match (h, f.errno) {
                (false, Some(libc::EINVAL)) => {
                    "this kernel only does hierarchical accounting (memory.use_hierarchy \
                     cannot be 0)"
                        .to_string()
                }
                _ => f.text,
            };
            res_err(format!("{MEM}.useHierarchy"), message)
        })?;
    }
    Ok(())
}

/// Kernel memory limits: written, then read back, because current kernels
/// accept the write and ignore it.
fn kernel_limit(dir: &Path, file: &str, value: i64, name: &str) -> Result<(), CgroupError> {
    let field = format!("{MEM}.{name}");
    if !has(dir, file) {
        return Err(res_err(
            field,
            format!("this kernel has no {file}: it does not support kernel memory limits"),
        ));
    }
    write_raw(dir, file, &value.to_string()).map_err(|f| {
        let message = match f.errno {
            Some(libc::EOPNOTSUPP) | Some(524) => {
                format!("this kernel refuses kernel memory limits ({})", f.text)
            }
            _ => f.text,
        };
        res_err(&field, message)
    })?;
    if value > 0 {
        // The kernel rounds a limit down to whole pages; more than asked
        // means the write was ignored.
        let got = read_u64(dir, file).unwrap_or(u64::MAX);
        if got > value as u64 {
            return Err(res_err(
                field,
                format!(
                    "this kernel accepts but does not enforce kernel memory limits \
                     ({file} still reads {got} after writing {value}); leave the field out"
                ),
            ));
        }
    }
    Ok(())
}

const CPU: &str = "linux.resources.cpu";

fn cpu(mgr: &CgroupManager, c: &LinuxCpu) -> Result<(), CgroupError> {
    let Some(dir) = mgr.dir("cpu") else {
        return Ok(());
    };
    let cpu = CpuController::new(dir.to_path_buf(), PathBuf::new(), false);
    // Realtime settings first: a task already running SCHED_RR/FIFO can
    // only join a cgroup that has realtime runtime.
    if let Some(p) = nz(c.realtime_period()) {
        need_file(
            dir,
            "cpu.rt_period_us",
            &format!("{CPU}.realtimePeriod"),
            RT_MISSING,
        )?;
        cpu.set_rt_period_us(p)
            .map_err(|e| res_err(format!("{CPU}.realtimePeriod"), describe(&e)))?;
    }
    if let Some(r) = nz(c.realtime_runtime()) {
        need_file(
            dir,
            "cpu.rt_runtime_us",
            &format!("{CPU}.realtimeRuntime"),
            RT_MISSING,
        )?;
        cpu.set_rt_runtime(r).map_err(|e| {
            let f = Fail::from(e);
            let message = match f.errno {
                Some(libc::EINVAL) | Some(libc::EBUSY) => {
                    let parent = dir.parent().unwrap_or(dir);
                    format!(
                        "the kernel refused {r} µs: a cgroup's realtime runtime must fit in \
                         its period and in its parent's ({}/cpu.rt_runtime_us is {})",
                        parent.display(),
                        read_str(parent, "cpu.rt_runtime_us").unwrap_or_else(|| "?".into())
                    )
                }
                _ => f.text,
            };
            res_err(format!("{CPU}.realtimeRuntime"), message)
        })?;
    }
    if let Some(s) = nz(c.shares()) {
        cpu.set_shares(s)
            .map_err(|e| res_err(format!("{CPU}.shares"), describe(&e)))?;
        // The kernel clamps to 2..=262144 instead of failing.
        if let Ok(got) = cpu.shares() {
            if got != s {
                return Err(res_err(
                    format!("{CPU}.shares"),
                    format!("{s} is out of the kernel's range 2 to 262144 (it stored {got})"),
                ));
            }
        }
    }
    let quota = nz(c.quota());
    let set_quota = |q: i64| {
        cpu.set_cfs_quota(q)
            .map_err(|e| res_err(format!("{CPU}.quota"), describe(&e)))
    };
    if let Some(p) = nz(c.period()) {
        match cpu.set_cfs_period(p) {
            Ok(()) => {}
            // The current quota does not fit the new period: quota first.
            Err(e) if errno(&e) == Some(libc::EINVAL) && quota.is_some() => {
                quota.map(set_quota).transpose()?;
                cpu.set_cfs_period(p)
                    .map_err(|e| res_err(format!("{CPU}.period"), describe(&e)))?;
            }
            Err(e) => return Err(res_err(format!("{CPU}.period"), describe(&e))),
        }
    }
    quota.map(set_quota).transpose()?;
    if let Some(b) = c.burst() {
        let field = format!("{CPU}.burst");
        need_file(
            dir,
            "cpu.cfs_burst_us",
            &field,
            "this kernel has no cpu.cfs_burst_us (CFS burst needs Linux 5.14 or later)",
        )?;
        write_raw(dir, "cpu.cfs_burst_us", &b.to_string()).map_err(|f| {
            let message = match f.errno {
                Some(libc::EINVAL) => format!(
                    "the kernel refused {b} µs: the burst may not exceed the quota ({} µs)",
                    read_str(dir, "cpu.cfs_quota_us").unwrap_or_else(|| "?".into())
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

const RT_MISSING: &str =
    "this kernel has no realtime group scheduling (built without CONFIG_RT_GROUP_SCHED)";

fn need_file(dir: &Path, file: &str, field: &str, why: &str) -> Result<(), CgroupError> {
    if has(dir, file) {
        Ok(())
    } else {
        Err(res_err(field, why))
    }
}

fn cpuset(mgr: &CgroupManager, c: &LinuxCpu) -> Result<(), CgroupError> {
    let Some(dir) = mgr.dir("cpuset") else {
        return Ok(());
    };
    let set = CpuSetController::new(dir.to_path_buf(), PathBuf::new(), false);
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
                        "{v:?} is not within the parent cgroup's {file} ({:?})",
                        read_str(parent, file).unwrap_or_default()
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

const NO_WEIGHT: &str = "this host's blkio controller has no proportional weights \
    (neither blkio.weight from CFQ, gone since Linux 5.0, nor blkio.bfq.weight: the \
    BFQ I/O scheduler is not in use)";
const NO_LEAF: &str = "this host's blkio controller has no leaf weights \
    (blkio.leaf_weight belonged to the CFQ I/O scheduler, gone since Linux 5.0)";

fn blkio(mgr: &CgroupManager, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    let Some(dir) = mgr.dir("blkio") else {
        return Ok(());
    };
    let ctl = BlkIoController::new(dir.to_path_buf(), PathBuf::new(), false);
    let cfq = has(dir, "blkio.weight");
    let bfq = has(dir, "blkio.bfq.weight");
    if let Some(w) = nz(b.weight()) {
        let field = format!("{BLKIO}.weight");
        let r = if cfq {
            ctl.set_weight(u64::from(w)).map_err(Fail::from)
        } else if bfq {
            write_raw(dir, "blkio.bfq.weight", &w.to_string())
        } else {
            return Err(res_err(field, NO_WEIGHT));
        };
        r.map_err(|f| res_err(&field, weight_message(w, f)))?;
    }
    if let Some(w) = nz(b.leaf_weight()) {
        let field = format!("{BLKIO}.leafWeight");
        if !has(dir, "blkio.leaf_weight") {
            return Err(res_err(field, NO_LEAF));
        }
        ctl.set_leaf_weight(u64::from(w))
            .map_err(|e| res_err(&field, weight_message(w, Fail::from(e))))?;
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        let field = format!("{BLKIO}.weightDevice[{i}]");
        let (major, minor) = (d.major() as u64, d.minor() as u64);
        if let Some(w) = d.weight() {
            let r = if has(dir, "blkio.weight_device") {
                ctl.set_weight_for_device(major, minor, u64::from(w))
                    .map_err(Fail::from)
            } else if has(dir, "blkio.bfq.weight_device") {
                write_raw(
                    dir,
                    "blkio.bfq.weight_device",
                    &format!("{major}:{minor} {w}"),
                )
            } else {
                return Err(res_err(format!("{field}.weight"), NO_WEIGHT));
            };
            r.map_err(|f| res_err(format!("{field}.weight"), device_message(major, minor, f)))?;
        }
        if let Some(w) = d.leaf_weight() {
            if !has(dir, "blkio.leaf_weight_device") {
                return Err(res_err(format!("{field}.leafWeight"), NO_LEAF));
            }
            ctl.set_leaf_weight_for_device(major, minor, u64::from(w))
                .map_err(|e| {
                    res_err(
                        format!("{field}.leafWeight"),
                        device_message(major, minor, Fail::from(e)),
                    )
                })?;
        }
    }
    for (name, list) in throttles(b) {
        for (i, d) in list.iter().enumerate() {
            let (major, minor, rate) = (d.major() as u64, d.minor() as u64, d.rate());
            let r = match name {
                "throttleReadBpsDevice" => ctl.throttle_read_bps_for_device(major, minor, rate),
                "throttleWriteBpsDevice" => ctl.throttle_write_bps_for_device(major, minor, rate),
                "throttleReadIOPSDevice" => ctl.throttle_read_iops_for_device(major, minor, rate),
                _ => ctl.throttle_write_iops_for_device(major, minor, rate),
            };
            r.map_err(|e| {
                res_err(
                    format!("{BLKIO}.{name}[{i}]"),
                    device_message(major, minor, Fail::from(e)),
                )
            })?;
        }
    }
    Ok(())
}

fn weight_message(w: u16, f: Fail) -> String {
    match f.errno {
        Some(libc::EINVAL) | Some(libc::ERANGE) => {
            format!("{w} is out of the kernel's range ({})", f.text)
        }
        _ => f.text,
    }
}

pub(super) fn device_message(major: u64, minor: u64, f: Fail) -> String {
    match f.errno {
        Some(libc::ENODEV) | Some(libc::ENOENT) => {
            format!("there is no block device {major}:{minor} ({})", f.text)
        }
        Some(libc::EINVAL) => format!(
            "the kernel refused device {major}:{minor} (a whole disk is needed, not a \
             partition; {})",
            f.text
        ),
        _ => f.text,
    }
}

fn hugetlb(mgr: &CgroupManager, res: &LinuxResources) -> Result<(), CgroupError> {
    let (Some(dir), Some(limits)) = (mgr.dir("hugetlb"), res.hugepage_limits()) else {
        return Ok(());
    };
    let ctl = HugeTlbController::new(dir.to_path_buf(), PathBuf::new(), false);
    for (i, h) in limits.iter().enumerate() {
        let field = format!("linux.resources.hugepageLimits[{i}]");
        let size = h.page_size();
        let file = format!("hugetlb.{size}.limit_in_bytes");
        if !has(dir, &file) {
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
        // Reservations too where the kernel has them (runc does the same).
        let rsvd = format!("hugetlb.{size}.rsvd.limit_in_bytes");
        if has(dir, &rsvd) {
            write_raw(dir, &rsvd, &limit.to_string())
                .map_err(|f| res_err(format!("{field}.limit"), f.text))?;
        }
    }
    Ok(())
}

fn network(mgr: &CgroupManager, res: &LinuxResources) -> Result<(), CgroupError> {
    let Some(n) = res.network() else {
        return Ok(());
    };
    if let (Some(id), Some(dir)) = (n.class_id(), mgr.dir("net_cls")) {
        NetClsController::new(dir.to_path_buf(), PathBuf::new())
            .set_class(u64::from(id))
            .map_err(|e| res_err("linux.resources.network.classID", describe(&e)))?;
    }
    if let (Some(prios), Some(dir)) = (n.priorities(), mgr.dir("net_prio")) {
        let ctl = NetPrioController::new(dir.to_path_buf(), PathBuf::new());
        for (i, p) in prios.iter().enumerate() {
            ctl.set_if_prio(p.name(), u64::from(p.priority()))
                .map_err(|e| {
                    res_err(
                        format!("linux.resources.network.priorities[{i}]"),
                        describe(&e),
                    )
                })?;
        }
    }
    Ok(())
}

fn rdma(mgr: &CgroupManager, res: &LinuxResources) -> Result<(), CgroupError> {
    let (Some(dir), Some(rdma)) = (mgr.dir("rdma"), res.rdma()) else {
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
        ctl.set_max(&line)
            .map_err(|e| res_err(format!("linux.resources.rdma.{dev}"), describe(&e)))?;
    }
    Ok(())
}
