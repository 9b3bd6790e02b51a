//! Cgroups: where the container's cgroup lives, placing init in it, the
//! device rules, and removing it. Built on cgroups-rs' cgroupfs managers.
//!
//! This layer applies `linux.resources.devices` only; every other resource
//! is refused by [`check_supported`] until the cgroups work lands, so nothing
//! a config asks for is silently dropped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cgroups_rs::fs::devices::{DevicePermissions, DeviceType, DevicesController};
use cgroups_rs::fs::{hierarchies, Cgroup};
use cgroups_rs::CgroupPid;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

use crate::error::{BundleError, CgroupError};

/// A cgroup hierarchy mounted on the host.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    /// Directory name under /sys/fs/cgroup ("cpu,cpuacct", "memory", "unified").
    pub name: String,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// The v1 controllers (super options such as "cpu,cpuacct" or
    /// "name=systemd"); empty for cgroup2.
    pub options: String,
    /// The root of the hierarchy as seen by our mount (field 4 of mountinfo).
    pub root: String,
}

impl Hierarchy {
    /// Whether this is the cgroup2 hierarchy.
    pub fn is_v2(&self) -> bool {
        self.options.is_empty()
    }
}

/// The cgroup hierarchies mounted under /sys/fs/cgroup, from mountinfo.
pub fn host_hierarchies() -> Vec<Hierarchy> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        let (Some(root), Some(mp), Some(fstype), Some(super_opts)) =
            (pre.get(3), pre.get(4), post.first(), post.get(2))
        else {
            continue;
        };
        if !mp.starts_with("/sys/fs/cgroup") {
            continue;
        }
        let options = match *fstype {
            "cgroup2" => String::new(),
            "cgroup" => super_opts
                .split(',')
                .filter(|o| !matches!(*o, "rw" | "ro") && !o.starts_with("release_agent"))
                .collect::<Vec<_>>()
                .join(","),
            _ => continue,
        };
        let mount_point = PathBuf::from(mp);
        let name = mount_point
            .strip_prefix("/sys/fs/cgroup")
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(Hierarchy {
            name,
            mount_point,
            options,
            root: root.to_string(),
        });
    }
    out
}

/// The calling process's cgroup directory on the host in hierarchy `h`.
pub fn own_cgroup_dir(h: &Hierarchy) -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = if h.is_v2() {
            controllers.is_empty()
        } else {
            !controllers.is_empty()
                && controllers.split(',').collect::<Vec<_>>()
                    == h.options.split(',').collect::<Vec<_>>()
        };
        if matches {
            let rel = Path::new(path)
                .strip_prefix(&h.root)
                .unwrap_or(Path::new(path))
                .to_path_buf();
            let rel = rel.strip_prefix("/").unwrap_or(&rel).to_path_buf();
            return Some(h.mount_point.join(rel));
        }
    }
    None
}

/// Refuses the resources this layer cannot apply yet.
pub fn check_supported(res: &LinuxResources) -> Result<(), BundleError> {
    let set = [
        (
            "memory",
            res.memory()
                .as_ref()
                .is_some_and(|m| *m != Default::default()),
        ),
        (
            "cpu",
            res.cpu().as_ref().is_some_and(|c| *c != Default::default()),
        ),
        ("pids", res.pids().is_some()),
        (
            "blockIO",
            res.block_io()
                .as_ref()
                .is_some_and(|b| *b != Default::default()),
        ),
        (
            "hugepageLimits",
            res.hugepage_limits()
                .as_ref()
                .is_some_and(|h| !h.is_empty()),
        ),
        (
            "network",
            res.network()
                .as_ref()
                .is_some_and(|n| *n != Default::default()),
        ),
        ("rdma", res.rdma().as_ref().is_some_and(|r| !r.is_empty())),
        (
            "unified",
            res.unified().as_ref().is_some_and(|u| !u.is_empty()),
        ),
    ];
    for (name, present) in set {
        if present {
            return Err(BundleError::unsupported(
                format!("linux.resources.{name}"),
                "this resource limit",
            ));
        }
    }
    Ok(())
}

/// Whether the freezer says the cgroup is frozen.
pub fn is_frozen(paths: &HashMap<String, PathBuf>) -> bool {
    paths
        .get("freezer")
        .and_then(|p| std::fs::read_to_string(p.join("freezer.state")).ok())
        .is_some_and(|s| s.trim() == "FROZEN")
}

/// The container's cgroup.
pub struct CgroupManager {
    cgroup: Cgroup,
    path: String,
}

fn op_err<'a>(
    path: &'a str,
    what: &'static str,
) -> impl FnOnce(cgroups_rs::fs::error::Error) -> CgroupError + 'a {
    move |e| CgroupError::Operation {
        path: path.to_string(),
        what,
        message: e.to_string(),
    }
}

impl CgroupManager {
    /// Creates the cgroup for `id` at `cgroups_path` (absolute: from the
    /// hierarchy root; relative or absent: below the caller's own cgroup).
    pub fn create(cgroups_path: Option<&Path>, id: &str) -> Result<CgroupManager, CgroupError> {
        let hier = hierarchies::auto();
        let given = cgroups_path.map(|p| p.to_string_lossy().into_owned());
        let (cgroup, path) = match given {
            Some(p) if p.starts_with('/') => {
                let rel = p.trim_start_matches('/').to_string();
                let cg = Cgroup::new(hier, &rel).map_err(op_err(&p, "create"))?;
                (cg, p)
            }
            other => {
                let rel = other.unwrap_or_else(|| id.to_string());
                let own = cgroups_rs::fs::cgroup::get_cgroups_relative_paths()
                    .map_err(op_err(&rel, "read /proc/self/cgroup"))?;
                let cg = Cgroup::new_with_relative_paths(hier, &rel, own)
                    .map_err(op_err(&rel, "create"))?;
                (cg, rel)
            }
        };
        Ok(CgroupManager { cgroup, path })
    }

    /// The directory of this cgroup in each hierarchy, keyed by controller.
    pub fn paths(&self) -> HashMap<String, PathBuf> {
        self.cgroup
            .subsystems()
            .iter()
            .map(|s| (s.controller_name(), s.to_controller().path().to_path_buf()))
            .collect()
    }

    /// Moves a process into the cgroup.
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        self.cgroup
            .add_task_by_tgid(CgroupPid::from(pid as u64))
            .map_err(op_err(&self.path, "add process"))
    }

    /// Applies linux.resources (only devices so far, see [`check_supported`]).
    pub fn apply(&self, res: Option<&LinuxResources>) -> Result<(), CgroupError> {
        let Some(devices) = self.cgroup.controller_of::<DevicesController>() else {
            return Ok(());
        };
        let rules = res.and_then(|r| r.devices().clone()).unwrap_or_default();
        for (i, rule) in rules.iter().chain(default_allowed().iter()).enumerate() {
            apply_device_rule(devices, rule).map_err(|message| CgroupError::Resource {
                field: if i < rules.len() {
                    format!("linux.resources.devices[{i}]")
                } else {
                    "default device rules".into()
                },
                message,
            })?;
        }
        Ok(())
    }

    /// Removes the cgroup (its processes must be gone).
    pub fn remove(&self) -> Result<(), CgroupError> {
        self.cgroup.delete().map_err(op_err(&self.path, "remove"))
    }
}

/// Removes the directories of a cgroup recorded in the state, retrying a
/// little while the kernel finishes reaping the last tasks.
pub fn remove_paths(paths: &HashMap<String, PathBuf>) -> Result<(), CgroupError> {
    for path in paths.values() {
        let mut tries = 0;
        loop {
            match std::fs::remove_dir(path) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 50 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => {
                    return Err(CgroupError::Operation {
                        path: path.display().to_string(),
                        what: "remove",
                        message: e.to_string(),
                    })
                }
            }
        }
    }
    Ok(())
}

/// The pids in the cgroup (from one hierarchy's cgroup.procs).
pub fn pids_in(paths: &HashMap<String, PathBuf>) -> Vec<i32> {
    let mut keys: Vec<&String> = paths.keys().collect();
    keys.sort();
    for k in keys {
        if let Ok(text) = std::fs::read_to_string(paths[k].join("cgroup.procs")) {
            return text.lines().filter_map(|l| l.trim().parse().ok()).collect();
        }
    }
    Vec::new()
}

/// Devices every container may use whatever the config says (runc's list):
/// the default nodes, the pty devices, and mknod of anything.
fn default_allowed() -> Vec<LinuxDeviceCgroup> {
    let rule = |typ, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true);
        r.set_typ(Some(typ));
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.to_string()));
        r
    };
    vec![
        rule(LinuxDeviceType::C, None, None, "m"),
        rule(LinuxDeviceType::B, None, None, "m"),
        rule(LinuxDeviceType::C, Some(1), Some(3), "rwm"),
        rule(LinuxDeviceType::C, Some(1), Some(5), "rwm"),
        rule(LinuxDeviceType::C, Some(1), Some(7), "rwm"),
        rule(LinuxDeviceType::C, Some(1), Some(8), "rwm"),
        rule(LinuxDeviceType::C, Some(1), Some(9), "rwm"),
        rule(LinuxDeviceType::C, Some(5), Some(0), "rwm"),
        rule(LinuxDeviceType::C, Some(5), Some(1), "rwm"),
        rule(LinuxDeviceType::C, Some(5), Some(2), "rwm"),
        rule(LinuxDeviceType::C, Some(136), None, "rwm"),
    ]
}

fn apply_device_rule(devices: &DevicesController, rule: &LinuxDeviceCgroup) -> Result<(), String> {
    let typ = match rule.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => DeviceType::All,
        LinuxDeviceType::C | LinuxDeviceType::U => DeviceType::Char,
        LinuxDeviceType::B => DeviceType::Block,
        LinuxDeviceType::P => return Err("type \"p\" is not a cgroup device type".into()),
    };
    let access = rule.access().clone().unwrap_or_else(|| "rwm".into());
    let perms = DevicePermissions::from_str(&access)
        .map_err(|_| format!("access {access:?} is not a combination of r, w and m"))?;
    let major = rule.major().unwrap_or(-1);
    let minor = rule.minor().unwrap_or(-1);
    let r = if rule.allow() {
        devices.allow_device(typ, major, minor, &perms)
    } else {
        devices.deny_device(typ, major, minor, &perms)
    };
    r.map_err(|e| e.to_string())
}
