//! Loading and validating a bundle's config.json.
//!
//! Everything that can be checked without touching the system is checked
//! here, before any state directory, cgroup or process exists, so bad input
//! never leaves anything behind. Errors name the JSON path of the field.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::BundleError;
use crate::hooks::{hooks_of, HookKind};

/// The newest runtime-spec major version berth understands.
const SUPPORTED_MAJOR: u64 = 1;

/// A loaded, validated bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Absolute path of the bundle directory.
    pub path: PathBuf,
    /// Absolute, canonical path of the root filesystem.
    pub rootfs: PathBuf,
    /// The parsed config.
    pub spec: Spec,
    /// config.json as read (kept in the state directory for exec).
    pub raw_config: String,
}

impl Bundle {
    /// Reads `<dir>/config.json`, parses and validates it.
    pub fn load(dir: &Path) -> Result<Bundle, BundleError> {
        let path = std::fs::canonicalize(dir).map_err(|source| BundleError::Bundle {
            path: dir.to_path_buf(),
            source,
        })?;
        if !path.is_dir() {
            return Err(BundleError::Bundle {
                path,
                source: std::io::Error::from_raw_os_error(libc::ENOTDIR),
            });
        }
        let config_path = path.join("config.json");
        let text = read_config(&config_path).map_err(|source| BundleError::ConfigRead {
            path: config_path.clone(),
            source,
        })?;
        let spec = parse_config(&text)?;
        validate(&spec)?;
        let root = spec
            .root()
            .as_ref()
            .ok_or_else(|| BundleError::invalid("root", "missing: a container needs a root"))?;
        let rootfs_given = path.join(root.path());
        let rootfs = std::fs::canonicalize(&rootfs_given).map_err(|e| {
            BundleError::invalid("root.path", format!("{}: {e}", rootfs_given.display()))
        })?;
        if !rootfs.is_dir() {
            return Err(BundleError::invalid(
                "root.path",
                format!("{} is not a directory", rootfs.display()),
            ));
        }
        Ok(Bundle {
            path,
            rootfs,
            spec,
            raw_config: text,
        })
    }
}

/// Parses config.json text; errors carry the JSON path, line and column.
pub fn parse_config(text: &str) -> Result<Spec, BundleError> {
    serde_json::from_str::<Spec>(text).map_err(|e| BundleError::Parse {
        field: crate::json_path::of_error(text, &e),
        message: e.to_string(),
    })
}

/// Parses a process.json (`exec --process`); errors name the JSON path
/// of the field, as for config.json.
pub fn parse_process(text: &str) -> Result<oci_spec::runtime::Process, BundleError> {
    serde_json::from_str(text)
        .map_err(|e| BundleError::invalid(crate::json_path::of_error(text, &e), e.to_string()))
}

/// Checks the config for values berth rejects or does not implement yet.
pub fn validate(spec: &Spec) -> Result<(), BundleError> {
    validate_version(spec.version())?;
    validate_paths(spec)?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| BundleError::invalid("process", "missing: nothing to run"))?;
    validate_process(process)?;
    for kind in [
        HookKind::Prestart,
        HookKind::CreateRuntime,
        HookKind::CreateContainer,
        HookKind::StartContainer,
        HookKind::Poststart,
        HookKind::Poststop,
    ] {
        for (i, hook) in hooks_of(spec, kind).iter().enumerate() {
            if !hook.path().is_absolute() {
                return Err(BundleError::invalid(
                    format!("hooks.{}[{i}].path", kind.field()),
                    format!("{:?} is not an absolute path", hook.path()),
                ));
            }
            if hook.timeout().is_some_and(|t| t <= 0) {
                return Err(BundleError::invalid(
                    format!("hooks.{}[{i}].timeout", kind.field()),
                    format!(
                        "{} is not a positive number of seconds",
                        hook.timeout().unwrap_or(0)
                    ),
                ));
            }
        }
    }
    if let Some(mounts) = spec.mounts() {
        for (i, m) in mounts.iter().enumerate() {
            if !m.destination().is_absolute() {
                return Err(BundleError::invalid(
                    format!("mounts[{i}].destination"),
                    format!("{:?} is not an absolute path", m.destination()),
                ));
            }
            for opt in m.options().iter().flatten() {
                crate::rootfs::mount_options::check_option(opt).map_err(|what| {
                    BundleError::unsupported(format!("mounts[{i}].options"), what)
                })?;
            }
            crate::rootfs::mount_options::check_type(
                m.typ().as_deref(),
                m.options().as_deref().unwrap_or_default(),
            )
            .map_err(|msg| BundleError::invalid(format!("mounts[{i}].type"), msg))?;
        }
    }
    crate::rootfs::idmap::requests(spec)?;
    validate_linux(spec)
}

/// Checks a process: the config's, or one `exec` runs (process.json).
pub fn validate_process(process: &oci_spec::runtime::Process) -> Result<(), BundleError> {
    match process.args() {
        Some(args) if !args.is_empty() => {}
        _ => {
            return Err(BundleError::invalid(
                "process.args",
                "must name a program to run",
            ))
        }
    }
    if !process.cwd().is_absolute() {
        return Err(BundleError::invalid(
            "process.cwd",
            format!("{:?} is not an absolute path", process.cwd()),
        ));
    }
    if let Some(env) = process.env() {
        for (i, var) in env.iter().enumerate() {
            if !var.contains('=') || var.starts_with('=') || var.contains('\0') {
                return Err(BundleError::invalid(
                    format!("process.env[{i}]"),
                    format!("{var:?} is not of the form KEY=value"),
                ));
            }
        }
    }
    if let Some(rlimits) = process.rlimits() {
        let mut seen = HashSet::new();
        for (i, rl) in rlimits.iter().enumerate() {
            if !seen.insert(rl.typ().to_string()) {
                return Err(BundleError::invalid(
                    format!("process.rlimits[{i}].type"),
                    format!("{} is given twice", rl.typ()),
                ));
            }
            if rl.soft() > rl.hard() {
                return Err(BundleError::invalid(
                    format!("process.rlimits[{i}]"),
                    format!(
                        "{}: soft limit {} is above hard limit {}",
                        rl.typ(),
                        rl.soft(),
                        rl.hard()
                    ),
                ));
            }
        }
    }
    validate_process_extras(process)
}

/// Labels, I/O priority and scheduler of the process.
fn validate_process_extras(process: &oci_spec::runtime::Process) -> Result<(), BundleError> {
    use oci_spec::runtime::LinuxSchedulerPolicy as P;
    if process
        .apparmor_profile()
        .as_deref()
        .is_some_and(|p| !p.is_empty())
        && !crate::security::lsm::apparmor_enabled()
    {
        return Err(BundleError::invalid(
            "process.apparmorProfile",
            format!(
                "{:?} cannot be applied: AppArmor is not enabled on this host",
                process.apparmor_profile().as_deref().unwrap_or_default()
            ),
        ));
    }
    if process
        .selinux_label()
        .as_deref()
        .is_some_and(|l| !l.is_empty())
        && !crate::security::lsm::selinux_enabled()
    {
        return Err(BundleError::invalid(
            "process.selinuxLabel",
            format!(
                "{:?} cannot be applied: SELinux is not enabled on this host",
                process.selinux_label().as_deref().unwrap_or_default()
            ),
        ));
    }
    if let Some(io) = process.io_priority() {
        if !(0..=7).contains(&io.priority()) {
            return Err(BundleError::invalid(
                "process.ioPriority.priority",
                format!("{} is not in 0-7", io.priority()),
            ));
        }
    }
    if let Some(s) = process.scheduler() {
        let realtime = matches!(s.policy(), P::SchedFifo | P::SchedRr);
        if let Some(nice) = *s.nice() {
            if !(-20..=19).contains(&nice) {
                return Err(BundleError::invalid(
                    "process.scheduler.nice",
                    format!("{nice} is not in -20..19"),
                ));
            }
        }
        match *s.priority() {
            Some(p) if realtime && !(1..=99).contains(&p) => {
                return Err(BundleError::invalid(
                    "process.scheduler.priority",
                    format!("{p} is not in 1..99 for {}", s.policy()),
                ))
            }
            Some(p) if !realtime && p != 0 => {
                return Err(BundleError::invalid(
                    "process.scheduler.priority",
                    format!("{p}: only SCHED_FIFO and SCHED_RR take a priority"),
                ))
            }
            None if realtime => {
                return Err(BundleError::invalid(
                    "process.scheduler.priority",
                    format!("{} needs a priority", s.policy()),
                ))
            }
            _ => {}
        }
        if *s.policy() == P::SchedDeadline
            && (s.runtime().is_none() || s.deadline().is_none() || s.period().is_none())
        {
            return Err(BundleError::invalid(
                "process.scheduler",
                "SCHED_DEADLINE needs runtime, deadline and period",
            ));
        }
    }
    // Applies to processes exec'd into the container (which start from
    // this process when only args are given), never to init.
    crate::process::check_exec_cpu_affinity(process)
}

fn validate_version(version: &str) -> Result<(), BundleError> {
    let major = version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u64>().ok())
        .ok_or_else(|| {
            BundleError::invalid("ociVersion", format!("{version:?} is not a version"))
        })?;
    if major != SUPPORTED_MAJOR {
        return Err(BundleError::invalid(
            "ociVersion",
            format!("{version:?} is not supported (berth implements runtime-spec 1.x)"),
        ));
    }
    Ok(())
}

fn validate_linux(spec: &Spec) -> Result<(), BundleError> {
    let Some(linux) = spec.linux() else {
        return Err(BundleError::invalid(
            "linux",
            "missing: berth runs Linux containers",
        ));
    };
    let mut seen = HashSet::new();
    let namespaces = linux.namespaces().clone().unwrap_or_default();
    for (i, ns) in namespaces.iter().enumerate() {
        if !seen.insert(ns.typ()) {
            return Err(BundleError::invalid(
                format!("linux.namespaces[{i}].type"),
                format!("namespace {} is given twice", ns.typ()),
            ));
        }
        if let Some(path) = ns.path() {
            if !path.is_absolute() || !path.exists() {
                return Err(BundleError::invalid(
                    format!("linux.namespaces[{i}].path"),
                    format!("{} does not exist", path.display()),
                ));
            }
        }
    }
    let has_new = |t: LinuxNamespaceType| {
        namespaces
            .iter()
            .any(|ns| ns.typ() == t && ns.path().is_none())
    };
    let has = |t: LinuxNamespaceType| namespaces.iter().any(|ns| ns.typ() == t);
    let uid_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    let gid_maps = linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if has_new(LinuxNamespaceType::User) {
        if !uid_maps {
            return Err(BundleError::invalid(
                "linux.uidMappings",
                "a new user namespace needs uid mappings",
            ));
        }
        if !gid_maps {
            return Err(BundleError::invalid(
                "linux.gidMappings",
                "a new user namespace needs gid mappings",
            ));
        }
    } else if uid_maps || gid_maps {
        return Err(BundleError::invalid(
            "linux.uidMappings",
            "mappings are set but no new user namespace is requested",
        ));
    }
    if let Some(offsets) = linux.time_offsets() {
        if !has_new(LinuxNamespaceType::Time) {
            return Err(BundleError::invalid(
                "linux.timeOffsets",
                "offsets need a new time namespace",
            ));
        }
        for clock in offsets.keys() {
            if clock != "monotonic" && clock != "boottime" {
                return Err(BundleError::invalid(
                    format!("linux.timeOffsets.{clock}"),
                    "only monotonic and boottime clocks have offsets",
                ));
            }
        }
    }
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return Err(BundleError::invalid(
            "hostname",
            "setting the hostname needs a uts namespace",
        ));
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return Err(BundleError::invalid(
            "domainname",
            "setting the domainname needs a uts namespace",
        ));
    }

    if let Some(sysctl) = linux.sysctl() {
        for key in sysctl.keys() {
            validate_sysctl(key, &has)?;
        }
    }
    if let Some(prop) = linux.rootfs_propagation() {
        if crate::rootfs::mount_options::propagation_flag(prop).is_none() {
            return Err(BundleError::invalid(
                "linux.rootfsPropagation",
                format!("{prop:?} is not a propagation mode"),
            ));
        }
    }
    if let Some(devices) = linux.devices() {
        for (i, d) in devices.iter().enumerate() {
            if !d.path().is_absolute() || !d.path().starts_with("/dev") {
                return Err(BundleError::invalid(
                    format!("linux.devices[{i}].path"),
                    format!("{:?} must be an absolute path under /dev", d.path()),
                ));
            }
        }
    }
    if let Some(p) = linux.personality() {
        crate::process::personality_value(p)
            .map_err(|m| BundleError::invalid("linux.personality.flags", m))?;
    }
    if let Some(p) = linux.memory_policy() {
        crate::process::memory_policy(p)
            .map_err(|m| BundleError::invalid("linux.memoryPolicy", m))?;
    }
    if linux
        .mount_label()
        .as_deref()
        .is_some_and(|l| !l.is_empty())
        && !crate::security::lsm::selinux_enabled()
    {
        // Unlike a process label (a security boundary the config asks
        // for), a mount label only tags files for an SELinux policy; with
        // SELinux off there is nothing to tag for, as crun treats it.
        tracing::warn!("linux.mountLabel: ignored: SELinux is not enabled on this host");
    }
    if linux.intel_rdt().is_some() && !Path::new("/sys/fs/resctrl/schemata").exists() {
        return Err(BundleError::invalid(
            "linux.intelRdt",
            "cannot be applied: resctrl is not mounted at /sys/fs/resctrl on this host",
        ));
    }
    let unsupported = [("linux.intelRdt", linux.intel_rdt().is_some())];
    for (field, set) in unsupported {
        if set {
            return Err(BundleError::unsupported(field, "this setting"));
        }
    }
    crate::netdev::validate(spec)?;
    if let Some(resources) = linux.resources() {
        crate::cgroups::check_supported(resources)?;
    }
    Ok(())
}

/// runc's rule: a sysctl may only be set when the namespace it belongs to is
/// the container's own.
fn validate_sysctl(key: &str, has: &dyn Fn(LinuxNamespaceType) -> bool) -> Result<(), BundleError> {
    let field = || format!("linux.sysctl.{key}");
    if key.contains('/') || key.split('.').any(|p| p.is_empty() || p == "..") {
        return Err(BundleError::invalid(field(), "is not a sysctl name"));
    }
    let ipc = key.starts_with("kernel.msg")
        || key.starts_with("kernel.sem")
        || key.starts_with("kernel.shm")
        || key.starts_with("fs.mqueue.");
    if ipc {
        return if has(LinuxNamespaceType::Ipc) {
            Ok(())
        } else {
            Err(BundleError::invalid(field(), "needs an ipc namespace"))
        };
    }
    if key.starts_with("net.") {
        return if has(LinuxNamespaceType::Network) {
            Ok(())
        } else {
            Err(BundleError::invalid(field(), "needs a network namespace"))
        };
    }
    if key == "kernel.hostname" || key == "kernel.domainname" {
        return if has(LinuxNamespaceType::Uts) {
            Ok(())
        } else {
            Err(BundleError::invalid(field(), "needs a uts namespace"))
        };
    }
    Err(BundleError::invalid(
        field(),
        "is not namespaced: a container may not change it for the host",
    ))
}

/// The largest config.json berth reads (real ones are a few KiB; a big
/// seccomp profile is some tens).
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// Reads config.json, refusing anything but a regular file of sane size: a
/// FIFO would block forever, a symlink to /dev/zero would never end.
fn read_config(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_CONFIG_BYTES} bytes"),
        ));
    }
    Ok(text)
}

/// Files under /proc that may be mount destinations: the ones lxcfs
/// emulates (runc allows the same list).
const PROC_MOUNT_ALLOWED: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/pressure/cpu",
    "/proc/pressure/io",
    "/proc/pressure/memory",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// Longest host and domain name the kernel takes (HOST_NAME_MAX).
const MAX_HOSTNAME: usize = 64;

/// `path` with `.` and `..` resolved lexically, as inside the container
/// (`..` at / stays at /).
fn lexical(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Paths, names and arguments: no NUL bytes (they cannot reach a syscall),
/// a root, no mount over / or into /proc, host and domain names the
/// kernel takes.
fn validate_paths(spec: &Spec) -> Result<(), BundleError> {
    use std::os::unix::ffi::OsStrExt;
    let nul = |field: String, v: &[u8]| {
        if v.contains(&0) {
            Err(BundleError::invalid(field, "contains a NUL byte"))
        } else {
            Ok(())
        }
    };
    if let Some(root) = spec.root() {
        if root.path().as_os_str().is_empty() {
            return Err(BundleError::invalid("root.path", "is empty"));
        }
        nul("root.path".into(), root.path().as_os_str().as_bytes())?;
    }
    if let Some(p) = spec.process() {
        nul("process.cwd".into(), p.cwd().as_os_str().as_bytes())?;
        for (i, a) in p.args().iter().flatten().enumerate() {
            nul(format!("process.args[{i}]"), a.as_bytes())?;
        }
    }
    for (field, name) in [
        ("hostname", spec.hostname()),
        ("domainname", spec.domainname()),
    ] {
        let name = name.as_deref().unwrap_or_default();
        nul(field.into(), name.as_bytes())?;
        if name.len() > MAX_HOSTNAME {
            return Err(BundleError::invalid(
                field,
                format!("is {} bytes long, more than {MAX_HOSTNAME}", name.len()),
            ));
        }
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let field = format!("mounts[{i}].destination");
        nul(field.clone(), m.destination().as_os_str().as_bytes())?;
        if let Some(src) = m.source() {
            nul(format!("mounts[{i}].source"), src.as_os_str().as_bytes())?;
        }
        if !m.destination().is_absolute() {
            continue; // reported by validate
        }
        check_mount_destination(m, &lexical(m.destination()))
            .map_err(|why| BundleError::invalid(field, format!("{:?} {why}", m.destination())))?;
    }
    Ok(())
}

/// Where mount `m` may not go, checked on `dest` (absolute, without `.` or
/// `..`): here on the configured destination, and by init again on the
/// path the image's symlinks lead to. Returns why not.
///
/// No mount over /, and runc's rule for /proc: only a proc mount (or a bind
/// of a procfs root) on /proc itself, and below it only the files lxcfs
/// emulates; anything else could hide or redirect what berth and the
/// container rely on there.
pub(crate) fn check_mount_destination(
    m: &oci_spec::runtime::Mount,
    dest: &Path,
) -> Result<(), &'static str> {
    if dest == Path::new("/") {
        return Err("would cover the root filesystem");
    }
    if !dest.starts_with("/proc") {
        return Ok(());
    }
    let typ = m.typ().as_deref().unwrap_or_default();
    let bind =
        crate::rootfs::mount_options::parse(m.options().as_deref().unwrap_or_default()).is_bind();
    if dest == Path::new("/proc") {
        if !bind && typ == "proc" {
            return Ok(());
        }
        if bind && m.source().as_deref().is_some_and(is_procfs_root) {
            return Ok(());
        }
        return Err("is /proc: only a proc mount (or a bind of a procfs root) may go there");
    }
    if PROC_MOUNT_ALLOWED.iter().any(|a| dest == Path::new(a)) {
        return Ok(());
    }
    Err("is inside /proc: only /proc itself and the files lxcfs emulates may be mounted there")
}

/// Whether `path` is the root directory of a procfs mount.
fn is_procfs_root(path: &Path) -> bool {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    // The root inode of every procfs instance is 1 (PROC_ROOT_INO).
    const PROC_ROOT_INO: u64 = 1;
    const PROC_SUPER_MAGIC: i64 = 0x9fa0;
    // O_PATH: never blocks (a FIFO) and opens nothing for reading.
    let Ok(f) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(path)
    else {
        return false;
    };
    crate::sys::fstatfs_magic(std::os::fd::AsFd::as_fd(&f)).is_ok_and(|m| m == PROC_SUPER_MAGIC)
        && f.metadata().is_ok_and(|m| m.ino() == PROC_ROOT_INO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"user": {"uid": 0, "gid": 0}, "cwd": "/", "args": ["sh"]},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}
        })
    }

    fn check(v: &serde_json::Value) -> Result<(), BundleError> {
        let spec = parse_config(&v.to_string())?;
        validate(&spec)
    }

    #[test]
    fn minimal_config_is_valid() {
        check(&minimal()).unwrap();
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let err = parse_config("{\n  \"ociVersion\": \"1.0.2\",\n  oops\n}").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 3"), "{text}");
        assert!(text.contains("column"), "{text}");
    }

    #[test]
    fn wrong_major_version_is_rejected() {
        let mut v = minimal();
        v["ociVersion"] = "2.0.0".into();
        let text = check(&v).unwrap_err().to_string();
        assert!(text.starts_with("ociVersion"), "{text}");
        assert!(text.contains("2.0.0"), "{text}");
    }

    #[test]
    fn unknown_namespace_names_the_field() {
        let mut v = minimal();
        v["linux"]["namespaces"][1]["type"] = "foo".into();
        let text = check(&v).unwrap_err().to_string();
        assert!(text.contains("linux.namespaces[1].type"), "{text}");
        assert!(text.contains("foo"), "{text}");
    }

    #[test]
    fn duplicate_namespace_is_rejected() {
        let mut v = minimal();
        v["linux"]["namespaces"] =
            serde_json::json!([{"type": "pid"}, {"type": "mount"}, {"type": "pid"}]);
        let text = check(&v).unwrap_err().to_string();
        assert!(text.contains("linux.namespaces[2].type"), "{text}");
    }

    #[test]
    fn user_namespace_needs_mappings() {
        let mut v = minimal();
        v["linux"]["namespaces"] = serde_json::json!([{"type": "user"}, {"type": "mount"}]);
        let text = check(&v).unwrap_err().to_string();
        assert!(text.contains("linux.uidMappings"), "{text}");
    }

    #[test]
    fn unknown_capability_is_an_error() {
        let mut v = minimal();
        v["process"]["capabilities"] = serde_json::json!({"bounding": ["CAP_KILL", "CAP_NOPE"]});
        let text = check(&v).unwrap_err().to_string();
        assert!(text.contains("process.capabilities.bounding"), "{text}");
    }

    #[test]
    fn host_sysctl_is_rejected() {
        let mut v = minimal();
        v["linux"]["sysctl"] = serde_json::json!({"vm.swappiness": "10"});
        let text = check(&v).unwrap_err().to_string();
        assert!(text.contains("linux.sysctl.vm.swappiness"), "{text}");
    }

    #[test]
    fn soft_rlimit_above_hard_is_rejected() {
        let mut v = minimal();
        v["process"]["rlimits"] =
            serde_json::json!([{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}]);
        let text = check(&v).unwrap_err().to_string();
        assert!(text.contains("process.rlimits[0]"), "{text}");
    }

    fn with_mount(m: serde_json::Value) -> Result<(), BundleError> {
        let mut v = minimal();
        v["mounts"] = serde_json::json!([m]);
        check(&v)
    }

    #[test]
    fn mounts_into_proc_follow_runcs_rule() {
        let ok = [
            serde_json::json!({"destination": "/proc", "type": "proc", "source": "proc"}),
            serde_json::json!({"destination": "/proc/meminfo", "type": "bind",
                               "source": "/var/lib/lxcfs/proc/meminfo", "options": ["bind"]}),
            serde_json::json!({"destination": "/proc", "type": "bind", "source": "/proc",
                               "options": ["rbind"]}),
            serde_json::json!({"destination": "/procfoo", "type": "tmpfs", "source": "tmpfs"}),
        ];
        for m in ok {
            with_mount(m.clone()).unwrap_or_else(|e| panic!("{m}: {e}"));
        }
        let bad = [
            serde_json::json!({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"}),
            serde_json::json!({"destination": "/proc/sys/kernel", "type": "tmpfs", "source": "t"}),
            serde_json::json!({"destination": "/tmp/../proc/self", "type": "tmpfs", "source": "t"}),
            serde_json::json!({"destination": "/proc", "type": "bind", "source": "/tmp",
                               "options": ["rbind"]}),
            serde_json::json!({"destination": "/proc/sys/kernel/core_pattern", "type": "bind",
                               "source": "/etc/hostname", "options": ["bind"]}),
        ];
        for m in bad {
            let text = with_mount(m.clone()).expect_err(&m.to_string()).to_string();
            assert!(text.starts_with("mounts[0].destination: "), "{text}");
        }
    }

    #[test]
    fn mount_over_the_root_is_rejected() {
        for d in ["/", "/..", "/tmp/.."] {
            let m = serde_json::json!({"destination": d, "type": "tmpfs", "source": "tmpfs"});
            let text = with_mount(m).unwrap_err().to_string();
            assert!(text.contains("mounts[0].destination"), "{text}");
        }
    }

    #[test]
    fn nul_bytes_empty_root_and_long_names_are_rejected() {
        let mut v = minimal();
        v["process"]["args"] = serde_json::json!(["s\0h"]);
        let text = check(&v).unwrap_err().to_string();
        assert!(text.starts_with("process.args[0]"), "{text}");
        let mut v = minimal();
        v["root"]["path"] = "".into();
        assert!(check(&v).unwrap_err().to_string().starts_with("root.path"));
        let mut v = minimal();
        v["linux"]["namespaces"] = serde_json::json!([{"type": "mount"}, {"type": "uts"}]);
        v["hostname"] = "h".repeat(65).into();
        assert!(check(&v).unwrap_err().to_string().starts_with("hostname"));
        v["hostname"] = "h".repeat(64).into();
        check(&v).unwrap();
    }
}
