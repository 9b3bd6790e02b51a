//! Checkpoint and restore through CRIU's command line (`criu dump`,
//! `criu pre-dump`, `criu restore`), with runc's options.
//!
//! Why the command line and not CRIU's RPC (`criu swrk`): no protobuf
//! code in berth, the exact command is logged (`--debug`) and can be rerun
//! by hand, and CRIU writes its own log in the work directory either way.
//! What only the RPC offers is refused with a clear error: lazy pages
//! (status-fd notifications) and terminals (the orphan pts master comes
//! back only over the RPC socket). See docs/checkpoint.md.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::bundle::Bundle;
use crate::cgroups::{self, CgroupManager};
use crate::container::CleanupGuard;
use crate::container::Container;
use crate::error::{Error, Result};
use crate::hooks;
use crate::state::{self, StateDir, Status};
use crate::sys;

/// The container's stdio at checkpoint time (as runc's descriptors.json:
/// the targets of /proc/<init>/fd/0..2), kept in the image directory.
pub const DESCRIPTORS_FILE: &str = "descriptors.json";
/// CRIU's log of a dump or pre-dump, in the work directory.
pub const DUMP_LOG: &str = "dump.log";
/// CRIU's log of a restore, in the work directory.
pub const RESTORE_LOG: &str = "restore.log";
/// The annotation naming a CRIU configuration file (as runc reads it).
pub const CRIU_CONFIG_ANNOTATION: &str = "org.criu.config";

/// Errors of checkpoint and restore.
#[derive(Debug, thiserror::Error)]
pub enum CriuError {
    /// The criu binary could not be run.
    #[error("cannot run {binary}: {source} (checkpoint/restore needs CRIU: apt-get install criu)")]
    Spawn {
        /// The binary tried.
        binary: String,
        /// Why it could not be started.
        source: std::io::Error,
    },
    /// CRIU ran and failed.
    #[error("criu {action} failed ({status}): {reason}; CRIU's log: {}", log.display())]
    Failed {
        /// dump, pre-dump or restore.
        action: &'static str,
        /// CRIU's exit status.
        status: String,
        /// The first error line of CRIU's log.
        reason: String,
        /// CRIU's log file.
        log: PathBuf,
    },
    /// A flag's value is not acceptable.
    #[error("{flag}: {message}")]
    Option {
        /// The flag, e.g. `--parent-path`.
        flag: &'static str,
        /// What is wrong with its value.
        message: String,
    },
    /// Something berth does not do with CRIU (yet).
    #[error("{0}")]
    Unsupported(String),
}

/// CRIU's `--manage-cgroups` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CgroupsMode {
    /// Restore cgroup properties only of cgroups CRIU creates (CRIU's default).
    #[default]
    Soft,
    /// Restore every cgroup property.
    Full,
    /// Fail unless the cgroups are as dumped.
    Strict,
    /// Leave cgroups alone.
    Ignore,
}

impl CgroupsMode {
    fn as_criu(self) -> &'static str {
        match self {
            CgroupsMode::Soft => "soft",
            CgroupsMode::Full => "full",
            CgroupsMode::Strict => "strict",
            CgroupsMode::Ignore => "ignore",
        }
    }
}

/// Options shared by checkpoint and restore.
#[derive(Debug, Clone, Default)]
pub struct CriuOptions {
    /// Image directory (default: `./checkpoint`).
    pub image_path: Option<PathBuf>,
    /// Work directory for CRIU's logs (default: the image directory).
    pub work_path: Option<PathBuf>,
    /// Allow open TCP connections.
    pub tcp_established: bool,
    /// Allow external unix sockets.
    pub ext_unix_sk: bool,
    /// Allow shell jobs.
    pub shell_job: bool,
    /// Handle file locks.
    pub file_locks: bool,
    /// `--manage-cgroups` mode.
    pub manage_cgroups_mode: CgroupsMode,
    /// Namespaces created empty on restore (runc accepts only "network",
    /// which berth, like runc, always passes).
    pub empty_ns: Vec<String>,
    /// Deduplicate memory images.
    pub auto_dedup: bool,
    /// Lazy migration with userfaultfd: refused (needs CRIU's RPC).
    pub lazy_pages: bool,
}

/// `berth checkpoint`'s options.
#[derive(Debug, Clone, Default)]
pub struct CheckpointOptions {
    /// The shared options.
    pub criu: CriuOptions,
    /// A previous pre-dump, relative to the image directory.
    pub parent_path: Option<PathBuf>,
    /// Keep the container running after the dump.
    pub leave_running: bool,
    /// Dump memory only and keep running (iterative migration).
    pub pre_dump: bool,
    /// `ADDRESS:PORT` of a CRIU page server to send the pages to.
    pub page_server: Option<String>,
    /// Lazy-pages status fd: refused with lazy pages.
    pub status_fd: Option<i32>,
}

/// `berth restore`'s options.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// The shared options.
    pub criu: CriuOptions,
    /// Container ID of the restored container.
    pub id: String,
    /// The bundle to restore into.
    pub bundle: PathBuf,
    /// State root.
    pub root: PathBuf,
    /// Return once restored instead of waiting for the container.
    pub detach: bool,
    /// File to write the restored init's pid to.
    pub pid_file: Option<PathBuf>,
    /// Console socket (terminal containers: refused).
    pub console_socket: Option<PathBuf>,
    /// `TYPE:NAME` LSM profile for the restored processes.
    pub lsm_profile: Option<String>,
    /// LSM mount context for the restored mounts.
    pub lsm_mount_context: Option<String>,
    /// runc's --no-pivot: refused (CRIU always pivots into the root).
    pub no_pivot: bool,
}

fn opt_err(flag: &'static str, message: impl Into<String>) -> Error {
    Error::Criu(CriuError::Option {
        flag,
        message: message.into(),
    })
}

impl CriuOptions {
    fn validate(&self) -> Result<()> {
        if self.lazy_pages {
            return Err(Error::Criu(CriuError::Unsupported(
                "--lazy-pages: lazy migration needs CRIU's RPC (page server notifications), which berth does not drive".into(),
            )));
        }
        for ns in &self.empty_ns {
            if ns != "network" {
                return Err(opt_err(
                    "--empty-ns",
                    format!("namespace {ns:?} is not supported (only \"network\")"),
                ));
            }
        }
        for (flag, p) in [
            ("--image-path", &self.image_path),
            ("--work-path", &self.work_path),
        ] {
            if p.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                return Err(opt_err(flag, "empty path"));
            }
        }
        Ok(())
    }

    /// The image directory: the option, or `./checkpoint` as runc.
    fn image_dir(&self) -> Result<PathBuf> {
        let p = self
            .image_path
            .clone()
            .unwrap_or_else(|| PathBuf::from("checkpoint"));
        absolute(&p).map_err(|e| opt_err("--image-path", format!("{}: {e}", p.display())))
    }

    fn work_dir(&self) -> Result<Option<PathBuf>> {
        self.work_path
            .as_ref()
            .map(|p| {
                absolute(p).map_err(|e| opt_err("--work-path", format!("{}: {e}", p.display())))
            })
            .transpose()
    }

    /// The options both dump and restore pass to CRIU.
    fn common_args(&self, args: &mut Vec<String>) {
        args.push(format!(
            "--manage-cgroups={}",
            self.manage_cgroups_mode.as_criu()
        ));
        // As runc: berth does not manage network devices, so the network
        // namespace is never dumped and is restored empty.
        args.extend(["--empty-ns".into(), "net".into()]);
        for (on, flag) in [
            (self.tcp_established, "--tcp-established"),
            (self.ext_unix_sk, "--ext-unix-sk"),
            (self.shell_job, "--shell-job"),
            (self.file_locks, "--file-locks"),
            (self.auto_dedup, "--auto-dedup"),
        ] {
            if on {
                args.push(flag.into());
            }
        }
    }
}

fn absolute(p: &Path) -> std::io::Result<PathBuf> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(p))
    }
}

fn mkdir(flag: &'static str, p: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(p)
        .map_err(|e| opt_err(flag, format!("{}: {e}", p.display())))
}

/// The criu binary: `$BERTH_CRIU` or `criu` from $PATH.
fn criu_binary() -> String {
    std::env::var("BERTH_CRIU")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "criu".into())
}

/// Fails early, before anything is made, when there is no CRIU to run.
fn require_criu() -> Result<()> {
    let binary = criu_binary();
    let found = if binary.contains('/') {
        Path::new(&binary).is_file()
    } else {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(&binary).is_file()))
    };
    if found {
        return Ok(());
    }
    Err(Error::Criu(CriuError::Spawn {
        binary,
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "not found"),
    }))
}

/// Why CRIU failed, from its log: the first error line, and the last one
/// when it differs (the first names the cause, the last the step that gave
/// up: "Could not initialize kernel features detection", "Dumping
/// FAILED"). CRIU logs the failed exits of helpers it probes with
/// ("exited, status=1") as errors it then ignores: those are skipped unless
/// nothing else failed. Without any error line, the log's last line.
fn criu_reason(log: &Path) -> String {
    let Ok(text) = std::fs::read_to_string(log) else {
        return "CRIU wrote no log".into();
    };
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let errors: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains("Error"))
        .collect();
    let real: Vec<&str> = errors
        .iter()
        .copied()
        .filter(|l| !l.contains("exited, status="))
        .collect();
    let chosen = if real.is_empty() { &errors } else { &real };
    match (chosen.first(), chosen.last()) {
        (Some(first), Some(last)) if first != last => format!("{first} … {last}"),
        (Some(first), _) => first.to_string(),
        _ => lines
            .last()
            .map(|l| l.to_string())
            .unwrap_or_else(|| "CRIU's log is empty".into()),
    }
}

/// Runs CRIU to completion; a failure carries the reason from its log.
fn run_criu(action: &'static str, args: &[String], log: &Path) -> Result<()> {
    let binary = criu_binary();
    tracing::debug!("running {binary} {}", args.join(" "));
    let status = Command::new(&binary)
        .args(args)
        .status()
        .map_err(|source| {
            Error::Criu(CriuError::Spawn {
                binary: binary.clone(),
                source,
            })
        })?;
    if status.success() {
        return Ok(());
    }
    Err(Error::Criu(CriuError::Failed {
        action,
        status: status.to_string(),
        reason: criu_reason(log),
        log: log.to_path_buf(),
    }))
}

/// A mount of the config whose source lies outside the container: CRIU
/// must be told it is external (key = the mount point).
struct ExternalMount {
    key: String,
    /// The host source at restore.
    source: PathBuf,
}

fn clean_dest(p: &Path) -> String {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        if let std::path::Component::Normal(n) = c {
            out.push(n);
        }
    }
    out.to_string_lossy().into_owned()
}

/// The config's bind mounts (and, without a cgroup namespace, the binds
/// berth makes for a cgroup mount), as CRIU external mounts.
/// `cgroup_dirs`: the container's cgroup directories, the sources of the
/// cgroup binds on restore (at dump only the keys matter).
fn external_mounts(
    spec: &Spec,
    bundle: &Path,
    cgroup_dirs: &HashMap<String, PathBuf>,
) -> Vec<ExternalMount> {
    let own_cgroup_ns = namespace_of(spec, LinuxNamespaceType::Cgroup).is_some_and(|p| p.is_none());
    let mut out = Vec::new();
    for m in spec.mounts().iter().flatten() {
        let typ = m.typ().clone().unwrap_or_default();
        let opts = crate::rootfs::mount_options::parse(m.options().as_deref().unwrap_or_default());
        let dest = clean_dest(m.destination());
        if typ == "cgroup" {
            if own_cgroup_ns {
                continue;
            }
            let hierarchies = cgroups::host_hierarchies();
            let single = hierarchies.len() == 1 && hierarchies[0].is_v2();
            for h in &hierarchies {
                let key = if single {
                    dest.clone()
                } else {
                    format!("{}/{}", dest.trim_end_matches('/'), h.name)
                };
                let source = cgroup_dirs
                    .values()
                    .find(|d| d.starts_with(&h.mount_point))
                    .cloned()
                    .or_else(|| cgroups::own_cgroup_dir(h))
                    .unwrap_or_else(|| h.mount_point.clone());
                out.push(ExternalMount { key, source });
            }
            continue;
        }
        if typ == "bind" || opts.is_bind() {
            let src = m.source().clone().unwrap_or_default();
            let source = if src.is_absolute() {
                src
            } else {
                bundle.join(src)
            };
            out.push(ExternalMount { key: dest, source });
        }
    }
    out
}

/// The namespace of `typ` in the config: None when absent, Some(None) when
/// new, Some(Some(path)) when joined.
fn namespace_of(spec: &Spec, typ: LinuxNamespaceType) -> Option<Option<PathBuf>> {
    spec.linux()
        .as_ref()?
        .namespaces()
        .as_ref()?
        .iter()
        .find(|n| n.typ() == typ)
        .map(|n| n.path().clone())
}

fn ext_ns_key(typ: LinuxNamespaceType) -> &'static str {
    match typ {
        LinuxNamespaceType::Network => "extRootNetNS",
        _ => "extRootPidNS",
    }
}

fn is_terminal(spec: &Spec) -> bool {
    spec.process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false)
}

fn terminal_unsupported() -> Error {
    Error::Criu(CriuError::Unsupported(
        "process.terminal: checkpoint/restore of a container with a terminal is not supported by berth yet (CRIU hands back the pty master only over its RPC)".into(),
    ))
}

impl CheckpointOptions {
    fn validate(&self) -> Result<()> {
        self.criu.validate()?;
        if self.status_fd.is_some() {
            return Err(Error::Criu(CriuError::Unsupported(
                "--status-fd: only meaningful with --lazy-pages, which berth does not support"
                    .into(),
            )));
        }
        if let Some(p) = &self.parent_path {
            if p.is_absolute() {
                return Err(opt_err(
                    "--parent-path",
                    format!("{}: must be relative (to --image-path)", p.display()),
                ));
            }
        }
        if let Some(ps) = &self.page_server {
            parse_page_server(ps)?;
        }
        Ok(())
    }
}

/// `ADDRESS:PORT` (the address may be a bracketed IPv6 one).
fn parse_page_server(s: &str) -> Result<(String, u16)> {
    let bad = || opt_err("--page-server", format!("{s:?}: want ADDRESS:PORT"));
    let (addr, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().map_err(|_| bad())?;
    if addr.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((addr.to_string(), port))
}

impl Container {
    /// Checkpoints a running (or paused) container into the image
    /// directory with CRIU. Unless `leave_running` or `pre_dump`, the
    /// container is gone afterwards (its processes, cgroup and state), as
    /// with runc. When CRIU fails the container is left as it was and the
    /// error quotes CRIU's log.
    pub fn checkpoint(&self, opts: &CheckpointOptions) -> Result<()> {
        opts.validate()?;
        let dir = self.lock()?;
        let status = self.saved.status(&dir.path);
        if !matches!(status, Status::Running | Status::Paused) {
            return Err(self.wrong_status(
                status,
                "only a running or paused container can be checkpointed",
            ));
        }
        let spec = self.config()?;
        if is_terminal(&spec) {
            return Err(terminal_unsupported());
        }
        require_criu()?;
        let image = opts.criu.image_dir()?;
        let work = opts.criu.work_dir()?;
        // Before anything is made: a parent must already exist. Resolved
        // lexically, as the image directory may not exist yet.
        if let Some(p) = &opts.parent_path {
            let real = lexical_join(&image, p);
            if !real.is_dir() {
                return Err(opt_err(
                    "--parent-path",
                    format!("{}: not a directory of images", real.display()),
                ));
            }
        }
        mkdir("--image-path", &image)?;
        if let Some(w) = &work {
            mkdir("--work-path", w)?;
        }
        let log = work.as_ref().unwrap_or(&image).join(DUMP_LOG);
        let mut args: Vec<String> = vec![
            if opts.pre_dump { "pre-dump" } else { "dump" }.into(),
            "--images-dir".into(),
            path_arg(&image),
        ];
        if let Some(w) = &work {
            args.extend(["--work-dir".into(), path_arg(w)]);
        }
        args.extend([
            "--log-file".into(),
            DUMP_LOG.into(),
            "-v4".into(),
            "--tree".into(),
            self.saved.pid.to_string(),
            "--root".into(),
            path_arg(&self.saved.rootfs),
        ]);
        opts.criu.common_args(&mut args);
        if let Some(cfg) = criu_config(&spec) {
            args.extend(["--config".into(), cfg]);
        }
        // The cgroup freezer is quicker and safer than ptrace-stopping
        // every task one by one.
        let freezer = self
            .saved
            .cgroup_paths
            .get("freezer")
            .or_else(|| self.saved.cgroup_paths.get(cgroups::v2::KEY));
        if let Some(f) = freezer {
            args.extend(["--freeze-cgroup".into(), path_arg(f)]);
        }
        if opts.leave_running && !opts.pre_dump {
            args.push("--leave-running".into());
        }
        if let Some(ps) = &opts.page_server {
            let (addr, port) = parse_page_server(ps)?;
            args.extend([
                "--page-server".into(),
                "--address".into(),
                addr,
                "--port".into(),
                port.to_string(),
            ]);
        }
        if let Some(p) = &opts.parent_path {
            args.extend(["--prev-images-dir".into(), path_arg(p)]);
        }
        if opts.pre_dump || opts.parent_path.is_some() {
            args.push("--track-mem".into());
        }
        for typ in [LinuxNamespaceType::Network, LinuxNamespaceType::Pid] {
            if let Some(Some(path)) = namespace_of(&spec, typ) {
                use std::os::unix::fs::MetadataExt;
                let ino = std::fs::metadata(&path)
                    .map_err(|e| Error::sys(format!("stat namespace {}", path.display()), e))?
                    .ino();
                let kind = if typ == LinuxNamespaceType::Network {
                    "net"
                } else {
                    "pid"
                };
                args.extend([
                    "--external".into(),
                    format!("{kind}[{ino}]:{}", ext_ns_key(typ)),
                ]);
            }
        }
        if !opts.pre_dump {
            for m in external_mounts(&spec, &self.saved.bundle, &self.saved.cgroup_paths) {
                args.extend(["--external".into(), format!("mnt[{}]:{}", m.key, m.key)]);
            }
            args.extend(write_descriptors(&image, self.saved.pid)?);
        }
        run_criu(if opts.pre_dump { "pre-dump" } else { "dump" }, &args, &log)?;
        if opts.leave_running || opts.pre_dump {
            return Ok(());
        }
        // CRIU killed the processes once dumped: remove what is left.
        drop(dir);
        self.delete(true)
    }
}

/// `base` joined with `rel`, `..` taken off textually (`base` need not exist).
fn lexical_join(base: &Path, rel: &Path) -> PathBuf {
    let mut out = base.to_path_buf();
    for c in rel.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

fn path_arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn criu_config(spec: &Spec) -> Option<String> {
    spec.annotations()
        .as_ref()?
        .get(CRIU_CONFIG_ANNOTATION)
        .filter(|s| !s.is_empty())
        .cloned()
}

/// Records where init's stdio pointed, as runc's descriptors.json does.
/// Pipes are handed to the restored process through `--inherit-fd`; so is
/// a file opened outside the container (a host /dev/null or log file,
/// which CRIU cannot reopen by path): it is recorded as CRIU's external
/// `file[mnt_id:inode]` and declared external to the dump. Returns the
/// `--external` arguments.
fn write_descriptors(image: &Path, pid: i32) -> Result<Vec<String>> {
    use std::os::unix::fs::MetadataExt;
    let container_mounts: Vec<String> = std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').next().map(str::to_string))
        .collect();
    let mut external = Vec::new();
    let mut fds = Vec::new();
    for fd in 0..3 {
        let link = std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mnt_id = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"))
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("mnt_id:").map(|v| v.trim().to_string()))
            });
        let outside = link.starts_with('/')
            && mnt_id
                .as_ref()
                .is_some_and(|m| !container_mounts.contains(m));
        let entry = match (outside, mnt_id.and_then(|m| m.parse::<u64>().ok())) {
            (true, Some(mnt)) => {
                let ino = std::fs::metadata(format!("/proc/{pid}/fd/{fd}"))
                    .map_err(|e| Error::sys(format!("stat fd {fd} of {pid}"), e))?
                    .ino();
                let key = format!("file[{mnt:x}:{ino:x}]");
                // stdout and stderr are often the same file: declare it once.
                if !external.contains(&key) {
                    external.extend(["--external".to_string(), key.clone()]);
                }
                key
            }
            _ => link,
        };
        fds.push(entry);
    }
    let p = image.join(DESCRIPTORS_FILE);
    let data = serde_json::to_vec(&fds).map_err(|e| Error::Argument(e.to_string()))?;
    std::fs::write(&p, data).map_err(|e| Error::sys(format!("write {}", p.display()), e))?;
    Ok(external)
}

/// Undoes a failed restore: the restored process, the cgroup, the bind of
/// the rootfs and the state directory.
/// Undoes a restore that fails: create's guard (process, cgroup, state
/// dir), after the root CRIU restored into is unmounted.
struct RestoreGuard {
    cleanup: CleanupGuard,
    criu_root: Option<PathBuf>,
}

fn unmount_root(criu_root: &mut Option<PathBuf>) {
    if let Some(r) = criu_root.take() {
        if let Ok(c) = crate::rootfs::path::cstr(&r) {
            let _ = sys::umount2(&c, libc::MNT_DETACH);
        }
        let _ = std::fs::remove_dir(&r);
    }
}

impl Drop for RestoreGuard {
    fn drop(&mut self) {
        // `cleanup` drops after this.
        unmount_root(&mut self.criu_root);
    }
}

/// Restores a container from CRIU images into the bundle's rootfs, as the
/// new container `opts.id`. With `detach` it returns 0 once the container
/// runs; otherwise it waits for it (forwarding signals), deletes it and
/// returns its exit code.
pub fn restore(opts: &RestoreOptions) -> Result<i32> {
    opts.criu.validate()?;
    if opts.no_pivot {
        return Err(Error::Criu(CriuError::Unsupported(
            "--no-pivot: CRIU always pivots into the restored root; restore of a rootfs on ramfs is not supported".into(),
        )));
    }
    state::validate_id(&opts.id)?;
    let bundle = Bundle::load(&opts.bundle)?;
    if is_terminal(&bundle.spec) {
        return Err(terminal_unsupported());
    }
    if opts.console_socket.is_some() {
        return Err(opt_err(
            "--console-socket",
            "the config's process has no terminal (process.terminal is false)",
        ));
    }
    let image = opts.criu.image_dir()?;
    if !image.join("inventory.img").is_file() {
        return Err(opt_err(
            "--image-path",
            format!(
                "{}: no CRIU images there (inventory.img is missing)",
                image.display()
            ),
        ));
    }
    require_criu()?;
    let work = opts.criu.work_dir()?;
    if let Some(w) = &work {
        mkdir("--work-path", w)?;
    }
    let old_mask = if opts.detach {
        None
    } else {
        Some(
            sys::block_signals(crate::container::FORWARDED)
                .map_err(|e| Error::sys("block signals", e))?,
        )
    };
    let result = (|| {
        let container = restore_in(opts, &bundle, &image, work.as_deref())?;
        if opts.detach {
            return Ok(0);
        }
        let code = crate::container::wait_forwarding(container.saved.pid);
        let _ = container.delete(true);
        code
    })();
    if let Some(mask) = old_mask {
        sys::restore_sigmask(&mask);
    }
    result
}

fn restore_in(
    opts: &RestoreOptions,
    bundle: &Bundle,
    image: &Path,
    work: Option<&Path>,
) -> Result<Container> {
    let spec = &bundle.spec;
    let mut saved = crate::container::initial_state(&opts.id, bundle);
    // Published with its config and state.json, as create does.
    let dir = StateDir::create(&opts.root, &opts.id, |d| {
        d.save_config(&bundle.raw_config)?;
        d.save(&saved)
    })?;
    let mut cleanup = CleanupGuard::default();
    cleanup.dir = Some(dir);
    let mut guard = RestoreGuard {
        cleanup,
        criu_root: None,
    };
    let dir = guard
        .cleanup
        .dir
        .as_ref()
        .ok_or_else(|| Error::Argument("no state dir".into()))?;
    let linux = spec.linux().clone().unwrap_or_default();
    let cgroup = CgroupManager::create(linux.cgroups_path().as_deref(), &opts.id)?;
    saved.cgroup_paths = cgroup.paths();
    guard.cleanup.cgroup = Some(saved.cgroup_paths.clone());
    dir.save(&saved)?;
    cgroup.apply(linux.resources().as_ref())?;
    crate::container_cgroups::save_resources(&dir.path, linux.resources().as_ref())?;

    // CRIU wants the root to be a mount point whose parent is not
    // overmounted: a bind of the rootfs in the state directory.
    let criu_root = dir.path.join("criu-root");
    std::fs::create_dir(&criu_root)
        .map_err(|e| Error::sys(format!("mkdir {}", criu_root.display()), e))?;
    guard.criu_root = Some(criu_root.clone());
    let src =
        crate::rootfs::path::cstr(&bundle.rootfs).map_err(|e| Error::sys("rootfs path", e))?;
    let dst = crate::rootfs::path::cstr(&criu_root).map_err(|e| Error::sys("criu root path", e))?;
    sys::mount(Some(&src), &dst, None, libc::MS_BIND | libc::MS_REC, None)
        .map_err(|e| Error::sys(format!("bind {} for CRIU", bundle.rootfs.display()), e))?;

    let pidfile = dir.path.join("criu-restore.pid");
    let log = work.unwrap_or(image).join(RESTORE_LOG);
    let mut args: Vec<String> = vec!["restore".into(), "--images-dir".into(), path_arg(image)];
    if let Some(w) = work {
        args.extend(["--work-dir".into(), path_arg(w)]);
    }
    args.extend([
        "--log-file".into(),
        RESTORE_LOG.into(),
        "-v4".into(),
        "--root".into(),
        path_arg(&criu_root),
        // Detached, and as our sibling: the restored init is berth's child,
        // so a foreground restore can wait for it like run.
        "--restore-detached".into(),
        "--restore-sibling".into(),
        "--pidfile".into(),
        path_arg(&pidfile),
        "--evasive-devices".into(),
    ]);
    opts.criu.common_args(&mut args);
    if let Some(cfg) = criu_config(spec) {
        args.extend(["--config".into(), cfg]);
    }
    if let Some(p) = &opts.lsm_profile {
        args.extend(["--lsm-profile".into(), p.clone()]);
    }
    if let Some(c) = &opts.lsm_mount_context {
        args.extend(["--lsm-mount-context".into(), c.clone()]);
    }
    for m in external_mounts(spec, &bundle.path, &saved.cgroup_paths) {
        args.extend([
            "--external".into(),
            format!("mnt[{}]:{}", m.key, path_arg(&m.source)),
        ]);
    }
    // Joined namespaces: net and pid were dumped as external and are
    // handed over as fds; the others are joined by path.
    let mut ns_fds: Vec<OwnedFd> = Vec::new();
    for n in linux.namespaces().iter().flatten() {
        let Some(path) = n.path() else { continue };
        match n.typ() {
            LinuxNamespaceType::Network | LinuxNamespaceType::Pid => {
                let fd: OwnedFd = std::fs::File::open(path)
                    .map_err(|e| Error::sys(format!("open namespace {}", path.display()), e))?
                    .into();
                sys::clear_cloexec(fd.as_raw_fd())
                    .map_err(|e| Error::sys("pass namespace to CRIU", e))?;
                args.extend([
                    "--inherit-fd".into(),
                    format!("fd[{}]:{}", fd.as_raw_fd(), ext_ns_key(n.typ())),
                ]);
                ns_fds.push(fd);
            }
            LinuxNamespaceType::Cgroup => {
                return Err(Error::Criu(CriuError::Unsupported(
                    "linux.namespaces: CRIU cannot restore into a joined cgroup namespace".into(),
                )))
            }
            other => {
                let name = match other {
                    LinuxNamespaceType::Mount => "mnt",
                    LinuxNamespaceType::Ipc => "ipc",
                    LinuxNamespaceType::Uts => "uts",
                    LinuxNamespaceType::User => "user",
                    _ => "time",
                };
                args.extend(["--join-ns".into(), format!("{name}:{}", path.display())]);
            }
        }
    }
    // The restored stdio: where the container had pipes or files from
    // outside, the restoring caller's stdio takes their place (as runc
    // does for pipes).
    if let Ok(data) = std::fs::read(image.join(DESCRIPTORS_FILE)) {
        let fds: Vec<String> = serde_json::from_slice(&data).unwrap_or_default();
        for (i, target) in fds.iter().enumerate().take(3) {
            if target.starts_with("pipe:") || target.starts_with("file[") {
                args.extend(["--inherit-fd".into(), format!("fd[{i}]:{target}")]);
            }
        }
    }
    // CRIU runs in the container's cgroup, so whatever the cgroup mode the
    // restored processes land there; the roots say where the dumped
    // cgroups are recreated.
    let home = own_cgroup_dirs();
    if let Err(e) = cgroup.add_process(std::process::id() as i32) {
        go_home(&home);
        return Err(Error::Cgroup(e));
    }
    for root in cgroup_roots() {
        args.extend(["--cgroup-root".into(), root]);
    }
    let namespace_hooks = if hooks::has_runtime_hooks(saved.hooks.as_ref()) {
        let h = NamespaceHooks::prepare(&dir.path)?;
        args.extend(["--action-script".into(), h.script()]);
        Some(h)
    } else {
        None
    };
    let run_runtime_hooks = |pid: i32| -> Result<()> {
        let state = |status: &str| {
            hooks::state_json(&saved.id, status, pid, &saved.bundle, &saved.annotations)
        };
        Ok(hooks::run_runtime_hooks(saved.hooks.as_ref(), state)?)
    };
    let criu_result = run_criu_in_cgroup(
        &args,
        &log,
        &home,
        ns_fds,
        namespace_hooks
            .as_ref()
            .map(|h| (h, &run_runtime_hooks as &dyn Fn(i32) -> Result<()>)),
    );
    unmount_root(&mut guard.criu_root);
    criu_result?;

    let pid: i32 = std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| {
            Error::Criu(CriuError::Failed {
                action: "restore",
                status: "exit status: 0".into(),
                reason: format!("no pid in {}", pidfile.display()),
                log: log.clone(),
            })
        })?;
    guard.cleanup.pid = Some(pid);
    let _ = std::fs::remove_file(&pidfile);
    crate::container::record_pid(
        dir,
        &mut saved,
        pid,
        "restore",
        "the restored container process exited right away",
    )?;
    if let Some(p) = &opts.pid_file {
        crate::container::write_pid_file(p, pid)?;
    }
    guard.cleanup.disarm();
    Ok(Container {
        root: opts.root.clone(),
        dir: opts.root.join(&opts.id),
        saved,
    })
}

/// This process's cgroup directory in every hierarchy.
fn own_cgroup_dirs() -> Vec<PathBuf> {
    cgroups::host_hierarchies()
        .iter()
        .filter_map(cgroups::own_cgroup_dir)
        .collect()
}

/// Moves this process back to its own cgroups (`home`).
fn go_home(home: &[PathBuf]) {
    let me = std::process::id().to_string();
    for d in home {
        if let Err(e) = std::fs::write(d.join("cgroup.procs"), &me) {
            tracing::warn!("cannot move back to {}: {e}", d.display());
        }
    }
}

/// `--cgroup-root` values from this process's cgroups (it is in the
/// container's): `controllers:/path` for v1, `/path` for cgroup2 alone.
fn cgroup_roots() -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let v1 = text.lines().any(|l| !l.starts_with("0::"));
    text.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
            if ctrls.is_empty() {
                (!v1).then(|| path.to_string())
            } else {
                Some(format!("{ctrls}:{path}"))
            }
        })
        .collect()
}

/// The runtime hooks of a restore (prestart, createRuntime) run once CRIU
/// has made the container's namespaces and before it restores the
/// processes, as they run before the program in create: CRIU's action
/// script, at `setup-namespaces`, writes the root task's pid into one FIFO
/// of the state directory and waits for berth's answer on the other.
struct NamespaceHooks {
    script_path: PathBuf,
    request_path: PathBuf,
    answer_path: PathBuf,
    // Opened read-write: never at end of file, and a write never blocks.
    request: std::fs::File,
    answer: std::fs::File,
}

impl NamespaceHooks {
    fn prepare(state_dir: &Path) -> Result<Self> {
        let fifo = |name: &str| -> Result<(PathBuf, std::fs::File)> {
            let path = state_dir.join(name);
            let c = crate::rootfs::path::cstr(&path).map_err(|e| Error::sys("fifo path", e))?;
            let made = sys::mkfifo(&c, 0o600).and_then(|()| {
                sys::open(&c, libc::O_RDWR | libc::O_NONBLOCK, 0).map(std::fs::File::from)
            });
            let file = made.map_err(|e| Error::sys(format!("make {}", path.display()), e))?;
            Ok((path, file))
        };
        let (request_path, request) = fifo("criu-hooks-request")?;
        let (answer_path, answer) = fifo("criu-hooks-answer")?;
        // CRIU executes the script by path, at every action.
        let script_path = state_dir.join("criu-hooks.sh");
        let script = format!(
            "#!/bin/sh\n\
             [ \"$CRTOOLS_SCRIPT_ACTION\" = setup-namespaces ] || exit 0\n\
             echo \"$CRTOOLS_INIT_PID\" >{}\n\
             read -r answer <{}\n\
             [ \"$answer\" = ok ]\n",
            shell_quote(&request_path),
            shell_quote(&answer_path)
        );
        let hooks = NamespaceHooks {
            script_path,
            request_path,
            answer_path,
            request,
            answer,
        };
        std::fs::write(&hooks.script_path, script)
            .and_then(|()| {
                std::fs::set_permissions(
                    &hooks.script_path,
                    std::os::unix::fs::PermissionsExt::from_mode(0o700),
                )
            })
            .map_err(|e| Error::sys(format!("write {}", hooks.script_path.display()), e))?;
        Ok(hooks)
    }

    /// The `--action-script` argument.
    fn script(&self) -> String {
        path_arg(&self.script_path)
    }

    /// What the script sent, once it has: the root task's pid, or `None`
    /// for anything else (which is answered "failed", never left waiting).
    fn take_request(&self) -> Option<Option<i32>> {
        let mut buf = [0u8; 32];
        let n = std::io::Read::read(&mut &self.request, &mut buf).ok()?;
        let pid = std::str::from_utf8(&buf[..n])
            .ok()
            .and_then(|t| t.trim().parse().ok());
        Some(pid)
    }

    fn answer(&self, ok: bool) -> Result<()> {
        let word: &[u8] = if ok { b"ok\n" } else { b"failed\n" };
        std::io::Write::write_all(&mut &self.answer, word)
            .map_err(|e| Error::sys("answer CRIU's action script", e))
    }
}

impl Drop for NamespaceHooks {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.script_path);
        let _ = std::fs::remove_file(&self.request_path);
        let _ = std::fs::remove_file(&self.answer_path);
    }
}

/// `path` as one word for `sh`.
fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', "'\\''"))
}

/// The runtime hooks run during a restore, with their channel to CRIU.
type RestoreHooks<'a> = (&'a NamespaceHooks, &'a dyn Fn(i32) -> Result<()>);

/// Starts CRIU while this process is in the container's cgroup (CRIU
/// inherits it, and `inherited`, the descriptors its `--inherit-fd` name),
/// then moves this process back to `home` before waiting; runs `hooks`
/// when CRIU's action script asks.
fn run_criu_in_cgroup(
    args: &[String],
    log: &Path,
    home: &[PathBuf],
    inherited: Vec<OwnedFd>,
    hooks: Option<RestoreHooks<'_>>,
) -> Result<()> {
    let binary = criu_binary();
    tracing::debug!("running {binary} {}", args.join(" "));
    let mut command = Command::new(&binary);
    command.args(args);
    // Killed with berth: its action script would wait for berth forever.
    sys::die_with_parent(&mut command);
    let child = command.spawn();
    // CRIU has its copies; the hooks must not keep the namespaces alive.
    drop(inherited);
    go_home(home);
    let mut child = child.map_err(|source| {
        Error::Criu(CriuError::Spawn {
            binary: binary.clone(),
            source,
        })
    })?;
    let mut hook_error = None;
    let status = loop {
        if let Some((channel, run_hooks)) = hooks {
            match channel.take_request() {
                Some(Some(pid)) => {
                    let ran = run_hooks(pid);
                    channel.answer(ran.is_ok())?;
                    hook_error = ran.err();
                }
                Some(None) => channel.answer(false)?,
                None => {}
            }
        }
        let exited = match hooks {
            Some((channel, _)) => {
                sys::poll_readable(&channel.request, 50);
                child.try_wait()
            }
            None => child.wait().map(Some),
        };
        if let Some(status) = exited.map_err(|e| Error::sys("wait for criu", e))? {
            break status;
        }
    };
    // A failed hook made CRIU give up: its error says why.
    if let Some(e) = hook_error {
        return Err(e);
    }
    if status.success() {
        return Ok(());
    }
    Err(Error::Criu(CriuError::Failed {
        action: "restore",
        status: status.to_string(),
        reason: criu_reason(log),
        log: log.to_path_buf(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_one_shell_word() {
        assert_eq!(
            shell_quote(Path::new("/run/berth/c1/f")),
            "'/run/berth/c1/f'"
        );
        assert_eq!(shell_quote(Path::new("/tmp/a'b c")), "'/tmp/a'\\''b c'");
    }

    #[test]
    fn page_server_needs_address_and_port() {
        assert_eq!(
            parse_page_server("10.0.0.1:2000").unwrap(),
            ("10.0.0.1".to_string(), 2000)
        );
        assert_eq!(
            parse_page_server("[::1]:27").unwrap(),
            ("::1".to_string(), 27)
        );
        for bad in ["", "host", ":1", "host:", "host:0", "host:x", "host:70000"] {
            assert!(parse_page_server(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn reason_is_the_first_and_last_error_line() {
        let dir = std::env::temp_dir().join(format!("berth-criu-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("dump.log");
        std::fs::write(
            &log,
            "(00.001) Version: 3.17\n(00.0015) Error (criu/util.c:642): exited, status=1\n(00.002) Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds\n(00.003) Error (criu/crtools.c:260): Could not initialize\n",
        )
        .unwrap();
        assert_eq!(
            criu_reason(&log),
            "(00.002) Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds … (00.003) Error (criu/crtools.c:260): Could not initialize"
        );
        std::fs::write(&log, "(1) Error (criu/util.c:642): exited, status=1\n").unwrap();
        assert_eq!(
            criu_reason(&log),
            "(1) Error (criu/util.c:642): exited, status=1"
        );
        std::fs::write(&log, "just a line\n").unwrap();
        assert_eq!(criu_reason(&log), "just a line");
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(criu_reason(&log), "CRIU wrote no log");
    }

    #[test]
    fn parent_paths_resolve_without_the_image_dir() {
        assert_eq!(
            lexical_join(Path::new("/img/c4/final"), Path::new("../pre")),
            PathBuf::from("/img/c4/pre")
        );
        assert_eq!(
            lexical_join(Path::new("/img"), Path::new("./a/../b")),
            PathBuf::from("/img/b")
        );
    }

    #[test]
    fn destinations_are_cleaned() {
        assert_eq!(clean_dest(Path::new("/a//b/./c/")), "/a/b/c");
        assert_eq!(clean_dest(Path::new("etc/hosts")), "/etc/hosts");
    }

    #[test]
    fn only_network_may_be_empty() {
        let mut o = CriuOptions {
            empty_ns: vec!["network".into()],
            ..Default::default()
        };
        assert!(o.validate().is_ok());
        o.empty_ns.push("pid".into());
        let e = o.validate().unwrap_err().to_string();
        assert!(e.contains("--empty-ns") && e.contains("pid"), "{e}");
    }
}
