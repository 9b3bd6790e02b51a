//! Cgroups: where the container's cgroup lives, placing init in it, every
//! `linux.resources` field, freezing, statistics, OOM notification and
//! removal. Resources are written through cgroups-rs' cgroupfs controllers.
//!
//! * [`path`]: runc's rules for `linux.cgroupsPath`.
//! * [`validate`]: checks of the values and of what the host can apply,
//!   run when the bundle is loaded (before anything exists) and by `update`.
//! * [`v1`]: applying each field to the v1 controllers.
//! * [`v2`]: the unified hierarchy: creation with the controllers it
//!   needs, each field, cgroup.freeze, cgroup.kill.
//! * [`bpf`]: the v2 device filter, an eBPF program berth assembles.
//! * [`stats`]: the numbers `berth events` reports, in runc's JSON shape.
//! * [`oom`]: OOM notifications (v1's eventfd, v2's memory.events).
//! * [`systemd`]: the systemd driver (a transient scope over D-Bus).
//! * [`dbus`]: the small synchronous D-Bus client the driver talks through.
//!
//! A hybrid host (v1 controllers plus a cgroup2 mount beside them) applies
//! resources through v1; a pure cgroup v2 host through v2.

mod bpf;
pub mod dbus;
mod devices;
pub mod oom;
mod path;
pub mod stats;
pub mod systemd;
mod v1;
pub mod v2;
pub mod validate;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cgroups_rs::fs::freezer::FreezerController;
use cgroups_rs::fs::hierarchies;
use cgroups_rs::FreezerState;
use oci_spec::runtime::LinuxResources;

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

    /// Whether this v1 hierarchy carries `controller` ("memory", "name=systemd").
    pub fn has_controller(&self, controller: &str) -> bool {
        !self.is_v2() && self.options.split(',').any(|o| o == controller)
    }
}

/// The cgroup hierarchies mounted under /sys/fs/cgroup, from mountinfo.
pub fn host_hierarchies() -> Vec<Hierarchy> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    parse_hierarchies(&info)
}

fn parse_hierarchies(mountinfo: &str) -> Vec<Hierarchy> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
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

/// Whether this host runs the pure cgroup v2 layout (/sys/fs/cgroup is cgroup2).
pub fn is_unified_host() -> bool {
    hierarchies::is_cgroup2_unified_mode()
}

/// Checks `linux.resources` when the bundle is loaded, before anything is
/// created: every value (negative limits, out-of-range weights, malformed
/// CPU lists …) and whether this host has the controller each set field
/// needs. The name is historical: nothing is refused merely for being set.
pub fn check_supported(res: &LinuxResources) -> Result<(), BundleError> {
    let to_bundle = |e: CgroupError| match e {
        CgroupError::Resource { field, message } => BundleError::invalid(field, message),
        other => BundleError::invalid("linux.resources", other.to_string()),
    };
    validate::values(res).map_err(to_bundle)?;
    if validate::set_fields(res).is_empty() {
        return Ok(()); // device rules only: nothing to look up on the host
    }
    validate::host(res, &validate::HostCgroups::probe()).map_err(to_bundle)
}

/// Whether the freezer says the cgroup is frozen (v1's freezer.state, or
/// "frozen 1" in v2's cgroup.events).
pub fn is_frozen(paths: &HashMap<String, PathBuf>) -> bool {
    if let Some(dir) = paths.get(v2::KEY) {
        return v2::is_frozen(dir);
    }
    paths
        .get("freezer")
        .and_then(|p| std::fs::read_to_string(p.join("freezer.state")).ok())
        .is_some_and(|s| s.trim() == "FROZEN")
}

/// Whether `apply` sets up a new cgroup or changes a running container's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyMode {
    /// `create`: everything, including the device rules.
    Create,
    /// `update`: the limits only (device rules cannot be changed).
    Update,
}

/// The container's cgroup: one directory per v1 controller (or the one
/// cgroup2 directory).
#[derive(Debug, Clone)]
pub struct CgroupManager {
    /// The cgroup path as given (or defaulted), for messages.
    path: String,
    /// Directory per controller, keyed by cgroups-rs' controller names
    /// ("memory", "cpu", "name=systemd" …).
    dirs: HashMap<String, PathBuf>,
    v2: bool,
}

/// The directories of `dirs` that do not exist yet: what a failed create
/// removes again ([`remove_dirs`]), never a directory that was there.
fn missing_dirs(dirs: &HashMap<String, PathBuf>) -> Vec<PathBuf> {
    unique_dirs(dirs)
        .into_iter()
        .filter(|d| !d.exists())
        .cloned()
        .collect()
}

/// Removes the (empty) directories a failed create made.
fn remove_dirs(made: &[PathBuf]) {
    for d in made {
        let _ = std::fs::remove_dir(d);
    }
}

/// The directory of a v1 cgroup in each hierarchy, by controller name.
fn controller_dirs(cgroup: &cgroups_rs::fs::Cgroup) -> HashMap<String, PathBuf> {
    cgroup
        .subsystems()
        .iter()
        .map(|s| (s.controller_name(), s.to_controller().path().to_path_buf()))
        .collect()
}

fn op_err(path: &str, what: &'static str, message: impl Into<String>) -> CgroupError {
    CgroupError::Operation {
        path: path.to_string(),
        what,
        message: message.into(),
    }
}

impl CgroupManager {
    /// Creates the cgroup for `id` at `cgroups_path` with runc's rules
    /// (absolute: from the root of each hierarchy; relative: below the
    /// runtime's own cgroup; absent: `<own cgroup>/<id>`). A cgroup that
    /// already has processes is refused: a container needs one of its own.
    pub fn create(cgroups_path: Option<&Path>, id: &str) -> Result<CgroupManager, CgroupError> {
        Self::create_recorded(cgroups_path, id, |_| Ok(()))
    }

    /// [`CgroupManager::create`], calling `record` with the directories
    /// once they are known and before any of them is made: a runtime
    /// killed in between leaves nothing that its record does not name.
    pub fn create_recorded<E: From<CgroupError>>(
        cgroups_path: Option<&Path>,
        id: &str,
        record: impl FnOnce(&HashMap<String, PathBuf>) -> Result<(), E>,
    ) -> Result<CgroupManager, E> {
        let hier = hierarchies::auto();
        let v2 = hier.v2();
        let given = cgroups_path.map(|p| p.to_string_lossy().into_owned());
        path::check_cgroups_path(given.as_deref())?;
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        if v2 {
            return Self::create_v2(given.as_deref(), id, &own, record);
        }
        let (cgroup, display) = path::resolve(hier, given.as_deref(), id, &own);
        let dirs = controller_dirs(&cgroup);
        if dirs.is_empty() {
            return Err(op_err(&display, "create", "no cgroup hierarchy is mounted").into());
        }
        for dir in unique_dirs(&dirs) {
            if !procs_of(dir).is_empty() {
                return Err(op_err(
                    &display,
                    "create",
                    format!(
                        "{} already has processes; linux.cgroupsPath must name a cgroup of the container's own",
                        dir.display()
                    ),
                )
                .into());
            }
        }
        let made = missing_dirs(&dirs);
        record(&dirs)?;
        if let Err(e) = cgroup.create() {
            remove_dirs(&made);
            return Err(op_err(&display, "create", v1::describe(&e)).into());
        }
        Ok(CgroupManager {
            path: display,
            dirs,
            v2,
        })
    }

    /// A v1 host's cgroup `path` (absolute in every hierarchy) that systemd
    /// made for a scope with `pid` in it: systemd creates it only in the
    /// hierarchies it manages (memory, cpu, pids …), so it is made in the
    /// others (cpuset, freezer …) and `pid` joins it in all of them.
    pub fn join_v1_scope(unit: &str, path: &str, pid: i32) -> Result<CgroupManager, CgroupError> {
        let (cgroup, _) = path::resolve(hierarchies::auto(), Some(path), unit, "");
        let dirs = controller_dirs(&cgroup);
        if dirs.is_empty() {
            return Err(op_err(unit, "create", "no cgroup hierarchy is mounted"));
        }
        // systemd's own: removed when the scope stops; berth's: on failure here.
        let made = missing_dirs(&dirs);
        let manager = CgroupManager {
            path: unit.to_string(),
            dirs,
            v2: false,
        };
        let joined = cgroup
            .create()
            .map_err(|e| op_err(unit, "create", v1::describe(&e)))
            .and_then(|()| manager.add_process(pid));
        if let Err(e) = joined {
            remove_dirs(&made);
            return Err(e);
        }
        Ok(manager)
    }

    /// The v2 cgroup for `given` with the controllers enabled on the way.
    /// runc's rules for v2: an absolute path from the root of the
    /// hierarchy; a relative one (or the container ID) below the *parent*
    /// of the runtime's own cgroup, since the runtime's own has processes
    /// and cgroup v2 enables no controller below such a cgroup.
    fn create_v2<E: From<CgroupError>>(
        given: Option<&str>,
        id: &str,
        own: &str,
        record: impl FnOnce(&HashMap<String, PathBuf>) -> Result<(), E>,
    ) -> Result<CgroupManager, E> {
        let root = Path::new(v2::ROOT);
        let (dir, display) = match given.filter(|p| !p.is_empty()) {
            Some(p) if p.starts_with('/') => (root.join(p.trim_start_matches('/')), p.to_string()),
            other => {
                let rel = other.unwrap_or(id);
                let own = path::own_v2_path(own);
                let base = Path::new(&own).parent().unwrap_or(Path::new(""));
                (root.join(base).join(rel), rel.to_string())
            }
        };
        if !procs_of(&dir).is_empty() {
            return Err(op_err(
                &display,
                "create",
                format!(
                    "{} already has processes; linux.cgroupsPath must name a cgroup of the container's own",
                    dir.display()
                ),
            )
            .into());
        }
        let dirs = HashMap::from([(v2::KEY.to_string(), dir)]);
        record(&dirs)?;
        v2::create(&dirs[v2::KEY], &display)?;
        Ok(CgroupManager {
            path: display,
            dirs,
            v2: true,
        })
    }

    /// The manager of an existing cgroup from the paths recorded in the
    /// container's state.
    pub fn from_paths(path: impl Into<String>, dirs: HashMap<String, PathBuf>) -> CgroupManager {
        let v2 = dirs.contains_key(v2::KEY) || is_unified_host();
        CgroupManager {
            path: path.into(),
            dirs,
            v2,
        }
    }

    /// The one directory of a v2 cgroup.
    fn unified_dir(&self) -> Result<&Path, CgroupError> {
        self.dirs
            .get(v2::KEY)
            .or_else(|| self.dirs.values().next())
            .map(PathBuf::as_path)
            .ok_or_else(|| {
                op_err(
                    &self.path,
                    "find the cgroup",
                    "no cgroup directory recorded",
                )
            })
    }

    /// A notifier of the container's OOM kills: v1's eventfd on
    /// memory.oom_control, or v2's memory.events. `None` without a memory
    /// controller.
    pub fn oom_notifier(&self) -> std::io::Result<Option<oom::OomNotifier>> {
        if self.v2 {
            let Ok(dir) = self.unified_dir() else {
                return Ok(None);
            };
            if !dir.join("memory.events").exists() {
                return Ok(None);
            }
            return oom::OomNotifier::register_v2(dir).map(Some);
        }
        match self.dir("memory") {
            Some(d) => oom::OomNotifier::register(d).map(Some),
            None => Ok(None),
        }
    }

    /// The directory of this cgroup in each hierarchy, keyed by controller.
    pub fn paths(&self) -> HashMap<String, PathBuf> {
        self.dirs.clone()
    }

    /// The directory of one controller ("memory", "cpu" …), if mounted.
    pub fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs.get(controller).map(PathBuf::as_path)
    }

    /// Whether this cgroup lives on cgroup v2.
    pub fn is_v2(&self) -> bool {
        self.v2
    }

    /// An fd of the v2 directory, for clone3(CLONE_INTO_CGROUP); `None` on v1.
    pub fn open_v2_dir(&self) -> Option<std::io::Result<std::os::fd::OwnedFd>> {
        if !self.v2 {
            return None;
        }
        let dir = self.unified_dir().ok()?;
        Some(open_dir(dir))
    }

    /// The cgroup's directories, each once (v1 controllers may share one).
    pub fn unique_dirs(&self) -> Vec<&Path> {
        unique_dirs(&self.dirs)
            .into_iter()
            .map(PathBuf::as_path)
            .collect()
    }

    /// Moves a process into the cgroup (every hierarchy).
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        for dir in unique_dirs(&self.dirs) {
            std::fs::write(dir.join("cgroup.procs"), pid.to_string()).map_err(|e| {
                op_err(
                    &self.path,
                    "add process",
                    format!(
                        "writing {pid} to {}: {e}",
                        dir.join("cgroup.procs").display()
                    ),
                )
            })?;
        }
        Ok(())
    }

    /// Applies linux.resources. Values are validated first, so nothing is
    /// written when one is wrong; a field the host cannot apply is an error
    /// naming it.
    pub fn apply(&self, res: Option<&LinuxResources>) -> Result<(), CgroupError> {
        self.apply_mode(res, ApplyMode::Create, false)
    }

    /// Applies linux.resources for `mode`. `check_before_update` comes from
    /// the container's config (linux.resources.memory.checkBeforeUpdate) and
    /// is honoured as well as the same field in `res`.
    pub fn apply_mode(
        &self,
        res: Option<&LinuxResources>,
        mode: ApplyMode,
        check_before_update: bool,
    ) -> Result<(), CgroupError> {
        let empty = LinuxResources::default();
        let res = res.unwrap_or(&empty);
        validate::values(res)?;
        // Engines resend the config's device rules with every update
        // (containerd's CRI does): rewrite them then, as at create.
        let new_device_rules = res.devices().as_ref().is_some_and(|d| !d.is_empty());
        if self.v2 {
            let dir = self.unified_dir()?;
            v2::apply(dir, res, check_before_update)?;
            if mode == ApplyMode::Create || new_device_rules {
                devices::apply_v2(dir, res)?;
            }
            return Ok(());
        }
        v1::apply(self, res, check_before_update)?;
        if mode == ApplyMode::Create || new_device_rules {
            devices::apply_v1(self, res)?;
        }
        Ok(())
    }

    /// Freezes every process of the cgroup and waits until the kernel says
    /// FROZEN. If they cannot all be stopped the cgroup is thawed again and
    /// an error returned.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        if self.v2 {
            return v2::set_frozen(self.unified_dir()?, &self.path, true);
        }
        let freezer = self.freezer()?;
        freezer
            .freeze()
            .map_err(|e| op_err(&self.path, "freeze", v1::describe(&e)))?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match freezer.state() {
                Ok(FreezerState::Frozen) => return Ok(()),
                Ok(_) if Instant::now() < deadline => {
                    // FREEZING: ask again (the kernel retries stragglers on
                    // each write) and give it a moment.
                    let _ = freezer.freeze();
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(_) => {
                    let _ = freezer.thaw();
                    return Err(op_err(
                        &self.path,
                        "freeze",
                        "some processes stayed in FREEZING for 5s; the cgroup was thawed again",
                    ));
                }
                Err(e) => return Err(op_err(&self.path, "freeze", v1::describe(&e))),
            }
        }
    }

    /// Thaws the cgroup.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        if self.v2 {
            return v2::set_frozen(self.unified_dir()?, &self.path, false);
        }
        let freezer = self.freezer()?;
        freezer
            .thaw()
            .map_err(|e| op_err(&self.path, "thaw", v1::describe(&e)))?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while !matches!(freezer.state(), Ok(FreezerState::Thawed)) {
            if Instant::now() > deadline {
                return Err(op_err(
                    &self.path,
                    "thaw",
                    "the cgroup did not thaw within 5s",
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    fn freezer(&self) -> Result<FreezerController, CgroupError> {
        match self.dirs.get("freezer") {
            Some(dir) => Ok(FreezerController::new(dir.clone(), PathBuf::new(), self.v2)),
            None => Err(op_err(
                &self.path,
                "freeze",
                format!(
                    "the freezer controller is {}",
                    validate::HostCgroups::probe().missing_reason("freezer")
                ),
            )),
        }
    }

    /// Every pid in the cgroup, its sub-cgroups included.
    pub fn pids(&self) -> Vec<i32> {
        pids_in(&self.dirs)
    }

    /// Removes the cgroup (its processes must be gone).
    pub fn remove(&self) -> Result<(), CgroupError> {
        remove_paths(&self.dirs)
    }

    /// The statistics `berth events` reports.
    pub fn stats(&self) -> stats::Stats {
        if self.v2 {
            return match self.unified_dir() {
                Ok(dir) => stats::collect_v2(dir),
                Err(_) => stats::Stats::default(),
            };
        }
        stats::collect(self)
    }
}

/// Kills every process of the container's cgroup (sub-cgroups included):
/// at once through cgroup.kill on v2, one pid at a time on v1.
pub fn kill_all(paths: &HashMap<String, PathBuf>) {
    if let Some(dir) = paths.get(v2::KEY) {
        v2::kill_all(dir, Duration::ZERO);
        return;
    }
    for pid in pids_in(paths) {
        let _ = crate::sys::kill(pid, libc::SIGKILL);
    }
}

fn unique_dirs(dirs: &HashMap<String, PathBuf>) -> Vec<&PathBuf> {
    let mut v: Vec<&PathBuf> = dirs.values().collect();
    v.sort();
    v.dedup();
    v
}

/// Opens a cgroup directory (close-on-exec), e.g. for
/// clone3(CLONE_INTO_CGROUP).
pub fn open_dir(dir: &Path) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)
        .map(Into::into)
}

/// Thaws the cgroup recorded in a container's state if it is frozen (a
/// frozen process cannot die, so `delete` thaws after sending SIGKILL).
pub fn thaw_paths(paths: &HashMap<String, PathBuf>) -> Result<(), CgroupError> {
    if !is_frozen(paths) && !is_freezing(paths) {
        return Ok(());
    }
    CgroupManager::from_paths("", paths.clone()).thaw()
}

fn is_freezing(paths: &HashMap<String, PathBuf>) -> bool {
    if let Some(dir) = paths.get(v2::KEY) {
        return v2::is_freezing(dir);
    }
    paths
        .get("freezer")
        .and_then(|p| std::fs::read_to_string(p.join("freezer.state")).ok())
        .is_some_and(|s| s.trim() == "FREEZING")
}

/// Removes the directories of a cgroup recorded in the state (sub-cgroups
/// the container made first), retrying a little while the kernel finishes
/// reaping the last tasks.
pub fn remove_paths(paths: &HashMap<String, PathBuf>) -> Result<(), CgroupError> {
    if let Some(dir) = paths.get(v2::KEY) {
        // Whatever is still inside (a process that forked past the kill
        // loop, a stuck exec) dies with cgroup.kill first.
        v2::kill_all(dir, Duration::from_secs(5));
    }
    for path in unique_dirs(paths) {
        remove_tree(path)?;
    }
    Ok(())
}

fn remove_tree(path: &Path) -> Result<(), CgroupError> {
    // A cgroup directory holds only kernel files and child cgroups.
    if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path())?;
            }
        }
    }
    let mut tries = 0;
    loop {
        match std::fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                return Err(op_err(&path.display().to_string(), "remove", e.to_string()));
            }
        }
    }
}

fn procs_of(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

fn procs_recursive(dir: &Path, out: &mut Vec<i32>) {
    out.extend(procs_of(dir));
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                procs_recursive(&e.path(), out);
            }
        }
    }
}

/// The pids in the cgroup and its sub-cgroups (from one hierarchy).
pub fn pids_in(paths: &HashMap<String, PathBuf>) -> Vec<i32> {
    let mut keys: Vec<&String> = paths.keys().collect();
    keys.sort();
    for k in keys {
        let dir = &paths[k];
        if dir.join("cgroup.procs").exists() {
            let mut out = Vec::new();
            procs_recursive(dir, &mut out);
            out.sort_unstable();
            out.dedup();
            return out;
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchies_from_mountinfo() {
        let info = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 /sub /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 23 0:50 / /mnt/other rw - cgroup cgroup rw,pids";
        let h = parse_hierarchies(info);
        assert_eq!(h.len(), 4);
        assert_eq!(h[0].name, "cpu");
        assert!(h[0].has_controller("cpu"));
        assert!(!h[0].has_controller("cpuacct"));
        assert_eq!(h[1].root, "/sub");
        assert!(h[2].has_controller("name=systemd"));
        assert!(h[3].is_v2());
        assert!(!h[3].has_controller("memory"));
    }
}
