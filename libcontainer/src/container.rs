//! The public API: create, start, state, kill, delete and run containers.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::bundle::Bundle;
use crate::cgroups::{self, CgroupManager};
use crate::error::{Error, Result, StateError};
use crate::hooks::{self, HookKind};
use crate::init::InitPlan;
use crate::launcher::{self, LaunchContext};
use crate::namespaces::NamespacePlan;
use crate::state::{self, SavedState, StateDir, StateReport, Status};
use crate::sys;

/// The default state root, as runc's /run/runc.
pub const DEFAULT_ROOT: &str = "/run/berth";

/// Builds and creates a container from a bundle.
///
/// ```no_run
/// let container = berth::ContainerBuilder::new("demo", "/path/to/bundle")
///     .root("/run/berth")
///     .create()?;
/// container.start()?;
/// # Ok::<(), berth::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ContainerBuilder {
    id: String,
    bundle: PathBuf,
    root: PathBuf,
    console_socket: Option<PathBuf>,
    pid_file: Option<PathBuf>,
    preserve_fds: u32,
    no_pivot: bool,
    no_new_keyring: bool,
    init_binary: Option<PathBuf>,
    force_helper: bool,
    /// Set by a foreground `run`: the start gate is needed only when
    /// poststart hooks must wait for execve.
    gate_only_for_poststart: bool,
    pidfd_socket: Option<PathBuf>,
    systemd_cgroup: bool,
}

impl ContainerBuilder {
    /// A container `id` from the bundle directory `bundle`.
    pub fn new(id: impl Into<String>, bundle: impl Into<PathBuf>) -> Self {
        ContainerBuilder {
            id: id.into(),
            bundle: bundle.into(),
            root: default_root(),
            console_socket: None,
            pid_file: None,
            preserve_fds: 0,
            no_pivot: false,
            no_new_keyring: false,
            init_binary: None,
            force_helper: false,
            gate_only_for_poststart: false,
            pidfd_socket: None,
            systemd_cgroup: false,
        }
    }

    /// The state root directory (default /run/berth).
    pub fn root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = root.into();
        self
    }

    /// A unix socket that receives the pty master when process.terminal is set.
    pub fn console_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.console_socket = Some(path.into());
        self
    }

    /// A unix socket that receives a pidfd of the container's init (as
    /// runc's `--pidfd-socket`), once init exists.
    pub fn pidfd_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.pidfd_socket = Some(path.into());
        self
    }

    /// A file to write init's host pid to.
    pub fn pid_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.pid_file = Some(path.into());
        self
    }

    /// Pass fds 3 .. 3+n of the caller to the container process.
    pub fn preserve_fds(mut self, n: u32) -> Self {
        self.preserve_fds = n;
        self
    }

    /// Use MS_MOVE + chroot instead of pivot_root (for ramfs roots).
    pub fn no_pivot(mut self, yes: bool) -> Self {
        self.no_pivot = yes;
        self
    }

    /// Keep the caller's session keyring instead of a new one.
    pub fn no_new_keyring(mut self, yes: bool) -> Self {
        self.no_new_keyring = yes;
        self
    }

    /// The berth binary used as a helper when the calling program has
    /// threads (a plain fork is then not safe for the child's setup work).
    pub fn init_binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.init_binary = Some(path.into());
        self
    }

    /// Let systemd manage the cgroup (runc's `--systemd-cgroup`): a
    /// transient scope from a `slice:prefix:name` cgroupsPath.
    pub fn systemd_cgroup(mut self, yes: bool) -> Self {
        self.systemd_cgroup = yes;
        self
    }

    /// Always use the helper binary, even from a single-threaded program.
    pub fn force_helper(mut self, yes: bool) -> Self {
        self.force_helper = yes;
        self
    }

    /// Creates the container: when this returns, init exists in its
    /// namespaces and cgroup with the rootfs ready, waiting for `start`.
    /// On error nothing is left behind.
    pub fn create(self) -> Result<Container> {
        self.create_inner(true, None)
    }

    /// `console_pair`: our own end of a console socket pair, used instead
    /// of `console_socket` when berth relays the terminal itself.
    fn create_inner(
        self,
        wait_for_start: bool,
        console_pair: Option<OwnedFd>,
    ) -> Result<Container> {
        let t0 = Instant::now();
        state::validate_id(&self.id)?;
        let bundle = Bundle::load(&self.bundle)?;
        // A foreground run needs the start gate only to run poststart hooks
        // after execve; without them init goes straight on.
        let wait_for_start = wait_for_start
            && (!self.gate_only_for_poststart
                || hooks::has(bundle.spec.hooks().as_ref(), HookKind::Poststart));
        // Checked before anything exists.
        let scope = if self.systemd_cgroup {
            crate::cgroups::systemd::check_available()?;
            let given = bundle
                .spec
                .linux()
                .as_ref()
                .and_then(|l| l.cgroups_path().clone());
            let given = given.map(|p| p.to_string_lossy().into_owned());
            Some(crate::cgroups::systemd::parse_path(
                given.as_deref(),
                &self.id,
            )?)
        } else {
            None
        };
        let seccomp = compile_seccomp(&bundle.spec, &self.root)?;
        let console = connect_console(self.console_socket.as_deref(), console_pair)?;
        // Connected before anything exists, so a bad path leaves nothing behind.
        let pidfd_socket = self
            .pidfd_socket
            .as_deref()
            .map(connect_pidfd_socket)
            .transpose()?;
        tracing::debug!(
            ms = t0.elapsed().as_secs_f64() * 1e3,
            peak_kb = crate::sys::peak_rss_kb(),
            "phase: load bundle"
        );
        let mut guard = CleanupGuard::default();
        let result = self
            .create_in(
                &bundle,
                scope.as_ref(),
                seccomp,
                console.as_ref(),
                &mut guard,
                wait_for_start,
                t0,
            )
            .and_then(|saved| {
                // While the guard still holds: a failed send undoes the create.
                if let (Some(sock), Some(path)) = (&pidfd_socket, &self.pidfd_socket) {
                    send_pidfd(sock, path, saved.pid)?;
                }
                Ok(saved)
            });
        match result {
            Ok(saved) => {
                guard.disarm();
                let dir = self.root.join(&self.id);
                Ok(Container {
                    root: self.root,
                    dir,
                    saved,
                })
            }
            Err(e) => Err(e),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn create_in(
        &self,
        bundle: &Bundle,
        scope: Option<&crate::cgroups::systemd::ScopePath>,
        seccomp: Option<crate::security::seccomp::CompiledSeccomp>,
        console: Option<&OwnedFd>,
        guard: &mut CleanupGuard,
        wait_for_start: bool,
        t0: Instant,
    ) -> Result<SavedState> {
        let mut saved = initial_state(&self.id, bundle);
        // Published with its config and state.json, so nobody finds the
        // directory without them.
        let dir: &StateDir = guard
            .dir
            .insert(StateDir::create(&self.root, &self.id, |d| {
                d.save_config(&bundle.raw_config)?;
                d.save(&saved)
            })?);
        crate::fault::point("create:after-state-dir");
        tracing::debug!(
            ms = t0.elapsed().as_secs_f64() * 1e3,
            peak_kb = crate::sys::peak_rss_kb(),
            "phase: state dir"
        );
        let spec = &bundle.spec;
        let linux = spec.linux().clone().unwrap_or_default();
        let fifo = if wait_for_start {
            let path = dir.fifo_path();
            let c = crate::rootfs::path::cstr(&path).map_err(|e| Error::sys("fifo path", e))?;
            sys::mkfifo(&c, 0o622)
                .map_err(|e| Error::sys(format!("mkfifo {}", path.display()), e))?;
            // Writable by init whatever uid it runs as; the umask cut it.
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o622))
                .map_err(|e| Error::sys(format!("chmod {}", path.display()), e))?;
            Some(
                sys::open(&c, libc::O_PATH, 0)
                    .map_err(|e| Error::sys(format!("open {}", path.display()), e))?,
            )
        } else {
            None
        };
        let plan = InitPlan {
            id: self.id.clone(),
            spec: spec.clone(),
            bundle: bundle.path.clone(),
            rootfs: bundle.rootfs.clone(),
            fifo: None,
            console_socket: None,
            preserve_fds: self.preserve_fds,
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            seccomp,
            exec: false,
            idmap_mounts: Vec::new(),
            cgroup_fd: None,
        };
        // The cgroup is made once the intermediate process runs, so its
        // namespace setup and init's mounts overlap the cgroupfs work. Its
        // paths go to the state (for delete --force after a crash) and to
        // the cleanup guard.
        let created_paths: std::cell::RefCell<Option<HashMap<String, PathBuf>>> =
            std::cell::RefCell::new(None);
        let make_cgroup = || -> Result<Option<CgroupManager>> {
            // The paths are in state.json before the directories exist, so
            // a delete --force after a crash here finds them.
            let record = |paths: &HashMap<String, PathBuf>| -> Result<()> {
                let mut with_paths = saved.clone();
                with_paths.cgroup_paths = paths.clone();
                Ok(dir.save(&with_paths)?)
            };
            let created =
                CgroupManager::create_recorded(linux.cgroups_path().as_deref(), &self.id, record);
            let cgroup = match created {
                Ok(c) => Some(c),
                // Rootless without a delegated cgroup: fine unless limits are asked for.
                Err(e) if sys::effective_ids().0 != 0 => {
                    if let Some(field) = linux.resources().as_ref().and_then(limit_field) {
                        return Err(Error::Cgroup(crate::error::CgroupError::Resource {
                            field: format!("linux.resources.{field}"),
                            message: format!("cannot be applied without a cgroup: {e}"),
                        }));
                    }
                    tracing::debug!("rootless: running without a cgroup of its own ({e})");
                    // Forget the paths recorded for the cgroup it could not make.
                    dir.save(&saved)?;
                    None
                }
                Err(e) => return Err(e),
            };
            let paths = cgroup.as_ref().map(|c| c.paths()).unwrap_or_default();
            // The directories exist: a crash here must leave nothing that
            // delete --force cannot find (faults.rs kills create here).
            crate::fault::point("create:cgroup-not-yet-recorded");
            *created_paths.borrow_mut() = Some(paths);
            crate::fault::point("create:after-cgroup");
            crate::container_cgroups::save_resources(&dir.path, linux.resources().as_ref())?;
            Ok(cgroup)
        };
        // With --systemd-cgroup systemd makes the cgroup (a scope) once
        // init's pid is known; it is recorded as above, with the unit.
        let started_unit: std::cell::RefCell<Option<String>> = std::cell::RefCell::new(None);
        let start_scope = |pid: i32| -> Result<CgroupManager> {
            let Some(scope) = scope else {
                return Err(Error::Argument("no systemd scope".into()));
            };
            // Recorded only once it is ours: when systemd refuses (a unit
            // of that name exists), cleaning up must not stop that unit.
            let cgroup = crate::cgroups::systemd::start_scope(
                scope,
                &self.id,
                pid,
                linux.resources().as_ref(),
            )?;
            *started_unit.borrow_mut() = Some(scope.unit.clone());
            let paths = cgroup.paths();
            *created_paths.borrow_mut() = Some(paths.clone());
            let mut with_paths = saved.clone();
            with_paths.cgroup_paths = paths;
            with_paths.systemd_unit = Some(scope.unit.clone());
            dir.save(&with_paths)?;
            crate::container_cgroups::save_resources(&dir.path, linux.resources().as_ref())?;
            Ok(cgroup)
        };
        let cgroup_setup = if scope.is_some() {
            launcher::CgroupSetup::Systemd(std::cell::RefCell::new(Some(Box::new(start_scope))))
        } else {
            launcher::CgroupSetup::Create(std::cell::RefCell::new(Some(Box::new(make_cgroup))))
        };
        let ctx = LaunchContext {
            cgroup: cgroup_setup,
            resources: linux.resources().as_ref(),
            console_socket: console,
            exec_fifo: fifo.as_ref(),
            helper: self.init_binary.as_deref(),
            force_helper: self.force_helper,
        };
        let launched = launcher::launch(plan, &ctx);
        drop(ctx);
        if let Some(paths) = created_paths.take() {
            saved.cgroup_paths = paths.clone();
            guard.cgroup = Some(paths);
        }
        if let Some(unit) = started_unit.take() {
            saved.systemd_unit = Some(unit.clone());
            guard.systemd_unit = Some(unit);
        }
        let pid = launched?;
        guard.pid = Some(pid);
        if linux.net_devices().is_some() {
            guard.net_devices = Some(spec.clone());
        }
        crate::fault::point("create:after-init-ready");
        record_pid(
            dir,
            &mut saved,
            pid,
            "init",
            "the container process exited right after setup",
        )?;
        crate::fault::point("create:after-state-saved");
        if let Some(pid_file) = &self.pid_file {
            write_pid_file(pid_file, pid)?;
        }
        tracing::debug!(
            ms = t0.elapsed().as_secs_f64() * 1e3,
            peak_kb = crate::sys::peak_rss_kb(),
            "phase: created"
        );
        Ok(saved)
    }

    /// Creates and starts the container and, unless `detach`, waits for it
    /// while forwarding signals, then deletes it. Returns the exit code
    /// (128+N when killed by signal N).
    pub fn run(self, detach: bool) -> Result<i32> {
        // Blocked before the clone so no signal is lost; init resets its
        // mask before execve.
        let old_mask = if detach {
            None
        } else {
            Some(sys::block_signals(FORWARDED).map_err(|e| Error::sys("block signals", e))?)
        };
        let result = (|| {
            // Without a console socket a foreground run relays the terminal
            // itself (when the config asks for one).
            let pair = if detach || self.console_socket.is_some() {
                None
            } else {
                Some(UnixStream::pair().map_err(|e| Error::sys("console socket pair", e))?)
            };
            let (ours, theirs) = match pair {
                Some((a, b)) => (Some(a), Some(OwnedFd::from(b))),
                None => (None, None),
            };
            let container = Self {
                gate_only_for_poststart: true,
                ..self
            }
            .create_inner(!detach, theirs)?;
            if detach {
                return Ok(0);
            }
            let master = match (&ours, container.config_wants_terminal()) {
                (Some(ours), true) => match crate::tty_proxy::receive_master(ours) {
                    Ok(m) => Some(m),
                    Err(e) => {
                        let _ = container.delete(true);
                        return Err(e);
                    }
                },
                _ => None,
            };
            drop(ours);
            if hooks::has(container.saved.hooks.as_ref(), HookKind::Poststart) {
                if let Err(e) = container.start() {
                    let _ = container.delete(true);
                    return Err(e);
                }
            }
            let t_wait = Instant::now();
            let code = match master {
                Some(m) => crate::tty_proxy::relay(m, container.saved.pid),
                None => wait_forwarding(container.saved.pid),
            };
            tracing::debug!(
                ms = t_wait.elapsed().as_secs_f64() * 1e3,
                "phase: container ran"
            );
            let t_delete = Instant::now();
            let _ = container.delete(true);
            tracing::debug!(
                ms = t_delete.elapsed().as_secs_f64() * 1e3,
                "phase: deleted"
            );
            code
        })();
        if let Some(mask) = old_mask {
            sys::restore_sigmask(&mask);
        }
        result
    }
}

/// The first resource limit (other than device rules, which need no
/// cgroup of our own to be meaningful for an unprivileged user) in `res`.
fn limit_field(res: &oci_spec::runtime::LinuxResources) -> Option<&'static str> {
    [
        // Empty sections ask for nothing, as in the cgroup layer.
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
        ("pids", res.pids().as_ref().is_some_and(|p| p.limit() > 0)),
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
    ]
    .into_iter()
    .find_map(|(name, set)| set.then_some(name))
}

/// The default state root: /run/berth for root; for other users
/// $XDG_RUNTIME_DIR/berth, or /tmp/berth-<uid> without one.
pub fn default_root() -> PathBuf {
    let (euid, _) = sys::effective_ids();
    if euid == 0 {
        return PathBuf::from(DEFAULT_ROOT);
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("berth"),
        _ => PathBuf::from(format!("/tmp/berth-{euid}")),
    }
}

/// The config's seccomp profile, compiled (through the cache under `root`).
pub(crate) fn compile_seccomp(
    spec: &oci_spec::runtime::Spec,
    root: &Path,
) -> Result<Option<crate::security::seccomp::CompiledSeccomp>> {
    Ok(spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .map(|p| crate::security::seccomp::compile_cached(p, root))
        .transpose()?)
}

/// The console socket to hand init: the caller's (connected here), or our
/// own pair's end when berth relays the terminal itself.
pub(crate) fn connect_console(
    path: Option<&Path>,
    pair: Option<OwnedFd>,
) -> Result<Option<OwnedFd>> {
    match path {
        Some(p) => Ok(Some(OwnedFd::from(UnixStream::connect(p).map_err(
            |e| Error::sys(format!("connect to console socket {}", p.display()), e),
        )?))),
        None => Ok(pair),
    }
}

/// Connects to a `--pidfd-socket` listener.
pub(crate) fn connect_pidfd_socket(path: &Path) -> Result<UnixStream> {
    UnixStream::connect(path)
        .map_err(|e| Error::sys(format!("connect to pidfd socket {}", path.display()), e))
}

/// Sends a pidfd of `pid` (our unreaped child, so the pid cannot have been
/// reused) over `sock`, as runc does: one SCM_RIGHTS message.
pub(crate) fn send_pidfd(sock: &UnixStream, path: &Path, pid: libc::pid_t) -> Result<()> {
    let what = || format!("send pidfd of pid {pid} to pidfd socket {}", path.display());
    let pidfd = sys::pidfd_open(pid).map_err(|e| Error::sys(what(), e))?;
    sys::send_fd(
        std::os::fd::AsFd::as_fd(sock),
        b"pidfd",
        std::os::fd::AsFd::as_fd(&pidfd),
    )
    .map_err(|e| Error::sys(what(), e))
}

/// Undoes a failed create: kills init, removes the cgroup and state dir.
#[derive(Default)]
pub(crate) struct CleanupGuard {
    pub(crate) dir: Option<StateDir>,
    pub(crate) cgroup: Option<HashMap<String, PathBuf>>,
    pub(crate) pid: Option<libc::pid_t>,
    /// The config, when it moved linux.netDevices into init's namespace.
    net_devices: Option<oci_spec::runtime::Spec>,
    /// The systemd scope started for the container (--systemd-cgroup).
    systemd_unit: Option<String>,
}

impl CleanupGuard {
    /// Keeps everything: the container was created (or restored).
    /// Releases the lock.
    pub(crate) fn disarm(&mut self) {
        self.cgroup = None;
        self.pid = None;
        self.systemd_unit = None;
        self.dir = None;
    }
}

impl Drop for CleanupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            if let Some(spec) = &self.net_devices {
                // They would die with init's network namespace.
                let _ = crate::netdev::move_out(spec, Some(pid));
            }
            let _ = sys::kill(pid, libc::SIGKILL);
            let _ = sys::waitpid(pid, 0);
        }
        if let Some(paths) = &self.cgroup {
            for pid in cgroups::pids_in(paths) {
                let _ = sys::kill(pid, libc::SIGKILL);
            }
            let _ = cgroups::remove_paths(paths);
        }
        if let Some(unit) = &self.systemd_unit {
            let _ = cgroups::systemd::stop_scope(unit);
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.remove();
        }
    }
}

pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    // Write then rename, so readers never see a partial pid.
    let tmp = path.with_extension("berth-tmp");
    std::fs::write(&tmp, pid.to_string())
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Error::sys(format!("write pid file {}", path.display()), e))
}

/// A container that exists in the state root.
#[derive(Debug, Clone)]
pub struct Container {
    pub(crate) root: PathBuf,
    pub(crate) dir: PathBuf,
    pub(crate) saved: SavedState,
}

impl Container {
    /// Loads container `id` from the state root `root`.
    pub fn load(root: impl AsRef<Path>, id: &str) -> Result<Container> {
        let dir = StateDir::open(root.as_ref(), id)?;
        let saved = dir.load()?;
        Ok(Container {
            root: root.as_ref().to_path_buf(),
            dir: dir.path.clone(),
            saved,
        })
    }

    /// The states of every container under `root`, sorted by ID.
    pub fn list(root: impl AsRef<Path>) -> Result<Vec<StateReport>> {
        let mut out = Vec::new();
        for id in state::list_ids(root.as_ref())? {
            match Container::load(root.as_ref(), &id) {
                Ok(c) => {
                    // As runc's list: the owner of the state directory.
                    let mut report = c.state();
                    report.owner = state::owner_of(&c.dir);
                    out.push(report)
                }
                // Deleted meanwhile, or still being created by someone else.
                Err(Error::State(StateError::NotFound(_) | StateError::Io { .. })) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The container ID.
    pub fn id(&self) -> &str {
        &self.saved.id
    }

    /// Host pid of the container's init (0 while creating).
    pub fn pid(&self) -> i32 {
        self.saved.pid
    }

    /// Whether the config's process has a terminal.
    fn config_wants_terminal(&self) -> bool {
        self.saved.terminal
    }

    /// The config the container was created with.
    pub fn config(&self) -> Result<oci_spec::runtime::Spec> {
        let p = self.dir.join(state::CONFIG_FILE);
        let text = std::fs::read_to_string(&p).map_err(|e| {
            Error::State(StateError::Corrupt {
                id: self.saved.id.clone(),
                message: format!("{}: {e}", p.display()),
            })
        })?;
        Ok(crate::bundle::parse_config(&text)?)
    }

    /// The current status, derived from the live process.
    pub fn status(&self) -> Status {
        self.saved.status(&self.dir)
    }

    /// The state as `berth state` prints it.
    pub fn state(&self) -> StateReport {
        self.saved.report(self.status())
    }

    pub(crate) fn lock(&self) -> Result<StateDir> {
        Ok(StateDir::open(&self.root, &self.saved.id)?)
    }

    pub(crate) fn wrong_status(&self, status: Status, action: &'static str) -> Error {
        Error::State(StateError::WrongStatus {
            id: self.saved.id.clone(),
            status: status.to_string(),
            action,
        })
    }

    /// Starts the user's program of a created container.
    pub fn start(&self) -> Result<()> {
        let t0 = Instant::now();
        let dir = self.lock()?;
        let status = self.saved.status(&dir.path);
        if status != Status::Created {
            return Err(self.wrong_status(status, "only a created container can be started"));
        }
        let fifo = dir.fifo_path();
        let c = crate::rootfs::path::cstr(&fifo).map_err(|e| Error::sys("fifo path", e))?;
        let fd = sys::open(&c, libc::O_RDONLY | libc::O_NONBLOCK, 0)
            .map_err(|e| Error::sys(format!("open {}", fifo.display()), e))?;
        let mut file = std::fs::File::from(fd);
        let mut byte = [0u8; 1];
        // Init opens the FIFO for writing and writes one byte; while it is
        // not there yet the non-blocking read says WouldBlock (or 0 before
        // any writer). Watch that init is alive meanwhile.
        let started = loop {
            match std::io::Read::read(&mut file, &mut byte) {
                Ok(1) => break true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(Error::sys("read exec fifo", e)),
            }
            if !self.saved.init_alive() {
                // A short-lived process may have run and exited between our
                // read and this check: its byte is still in the FIFO.
                break matches!(std::io::Read::read(&mut file, &mut byte), Ok(1));
            }
            if !self.saved.init_holds(&fifo) {
                // Init lets go of the FIFO when it execs, just after its byte:
                // look once more before concluding an earlier start took it.
                match std::io::Read::read(&mut file, &mut byte) {
                    Ok(1) => break true,
                    _ => {
                        // An earlier start died after releasing init: it
                        // runs; only the FIFO was left behind.
                        let _ = std::fs::remove_file(&fifo);
                        return Err(self.wrong_status(Status::Running, "it was already started"));
                    }
                }
            }
            sys::poll_readable(&file, 100);
        };
        crate::fault::point("start:after-fifo-read");
        let _ = std::fs::remove_file(&fifo);
        if !started {
            return Err(
                self.wrong_status(Status::Stopped, "the container process exited before start")
            );
        }
        if hooks::has(self.saved.hooks.as_ref(), HookKind::Poststart) {
            self.wait_for_exec(&mut file);
        }
        tracing::debug!(
            ms = t0.elapsed().as_secs_f64() * 1e3,
            peak_kb = crate::sys::peak_rss_kb(),
            "phase: started"
        );
        self.run_lifecycle_hooks(HookKind::Poststart, Status::Running);
        Ok(())
    }

    /// Waits until init has executed the user's program: it holds its write
    /// end of the FIFO, close-on-exec, until then (the spec runs poststart
    /// hooks after the program is executed). Returns early if init dies.
    fn wait_for_exec(&self, fifo: &mut std::fs::File) {
        let mut byte = [0u8; 1];
        loop {
            match std::io::Read::read(fifo, &mut byte) {
                Ok(0) => return,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
            if !self.saved.init_alive() {
                return;
            }
            sys::poll_readable(fifo, 100);
        }
    }

    /// Sends `signal` to init, or with `all` to every process of the container.
    pub fn kill(&self, signal: i32, all: bool) -> Result<()> {
        let status = self.status();
        if matches!(status, Status::Stopped | Status::Creating) && !all {
            return Err(self.wrong_status(status, "container is not running"));
        }
        if all {
            let mut pids = cgroups::pids_in(&self.saved.cgroup_paths);
            if pids.is_empty() && self.saved.init_alive() {
                pids.push(self.saved.pid);
            }
            for pid in pids {
                let _ = sys::kill(pid, signal);
            }
            return Ok(());
        }
        sys::kill(self.saved.pid, signal)
            .map_err(|e| Error::sys(format!("kill {} with signal {signal}", self.saved.pid), e))
    }

    /// Deletes a stopped container (with `force`, kills it first). Removes
    /// its processes, cgroup and state directory.
    pub fn delete(&self, force: bool) -> Result<()> {
        let dir = self.lock()?;
        let status = self.saved.status(&dir.path);
        if status != Status::Stopped && !force {
            return Err(self.wrong_status(
                status,
                "only a stopped container can be deleted (use --force)",
            ));
        }
        self.restore_net_devices();
        if self.saved.init_alive() {
            let _ = sys::kill(self.saved.pid, libc::SIGKILL);
            crate::fault::point("delete:after-kill");
        }
        for pid in cgroups::pids_in(&self.saved.cgroup_paths) {
            let _ = sys::kill(pid, libc::SIGKILL);
        }
        // A frozen (paused) process only dies once thawed.
        let _ = cgroups::thaw_paths(&self.saved.cgroup_paths);
        // Reap init if it is our child (run), then wait for it to vanish.
        let _ = sys::waitpid(self.saved.pid, libc::WNOHANG);
        let deadline = Instant::now() + Duration::from_secs(10);
        while (self.saved.init_alive() || !cgroups::pids_in(&self.saved.cgroup_paths).is_empty())
            && Instant::now() < deadline
        {
            let _ = sys::waitpid(self.saved.pid, libc::WNOHANG);
            std::thread::sleep(Duration::from_millis(2));
        }
        crate::fault::point("delete:after-reap");
        if let Some(unit) = &self.saved.systemd_unit {
            cgroups::systemd::stop_scope(unit)?;
        }
        cgroups::remove_paths(&self.saved.cgroup_paths)?;
        crate::fault::point("delete:after-cgroup-removal");
        dir.remove()?;
        self.run_lifecycle_hooks(HookKind::Poststop, Status::Stopped);
        Ok(())
    }

    /// linux.netDevices go back to the host while the container's network
    /// namespace still exists (it dies with init otherwise).
    fn restore_net_devices(&self) {
        // Most configs have none: skip parsing them on every delete.
        let text = std::fs::read_to_string(self.dir.join(state::CONFIG_FILE)).unwrap_or_default();
        if !text.contains("\"netDevices\"") {
            return;
        }
        let Ok(spec) = crate::bundle::parse_config(&text) else {
            return;
        };
        let pid = self.saved.init_alive().then_some(self.saved.pid);
        if let Err(e) = crate::netdev::move_out(&spec, pid) {
            tracing::warn!("{e}");
        }
    }

    /// poststart and poststop: a failing hook is logged, and the operation
    /// goes on, as the runtime spec says.
    fn run_lifecycle_hooks(&self, kind: HookKind, status: Status) {
        if self.saved.hooks.is_none() {
            return;
        }
        let state = hooks::state_json(
            &self.saved.id,
            &status.to_string(),
            self.saved.pid,
            &self.saved.bundle,
            &self.saved.annotations,
        );
        for e in hooks::run_all(self.saved.hooks.as_ref(), kind, &state) {
            tracing::warn!("{e}");
        }
    }

    /// Waits for the container's init to exit and returns its exit code
    /// (128+N when killed by signal N). Init is a child of the process that
    /// created the container, so only that process can wait for it.
    pub fn wait(&self) -> Result<i32> {
        let (_, status) = sys::waitpid(self.saved.pid, 0)
            .map_err(|e| Error::sys(format!("wait for pid {}", self.saved.pid), e))?;
        Ok(exit_code(status))
    }
}

/// Records the container process `pid` in the state, with its start time
/// (which tells it from a later process with the same pid). A process gone
/// already is an error: `step` and `why` say so.
pub(crate) fn record_pid(
    dir: &StateDir,
    saved: &mut SavedState,
    pid: libc::pid_t,
    step: &str,
    why: &str,
) -> Result<()> {
    let (start_time, _) = state::process_start_time(pid)
        .ok_or_else(|| Error::Child(crate::error::ChildError::msg(step, why)))?;
    saved.pid = pid;
    saved.pid_start_time = start_time;
    dir.save(saved)?;
    Ok(())
}

/// Signals `run` and a foreground `exec` pass on to the container process.
pub(crate) const FORWARDED: &[libc::c_int] = &[
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGCONT,
    libc::SIGCHLD,
];

/// A descriptor of `pid` that turns readable when it exits. The SIGCHLD in
/// the signalfd is not enough in a program with threads: the kernel hands a
/// process-wide signal to any thread that does not block it, and the
/// signalfd of the waiting thread never sees it. `None` before Linux 5.3
/// (SIGCHLD alone then).
pub(crate) fn exit_watch(pid: libc::pid_t) -> Option<OwnedFd> {
    sys::pidfd_open(pid).ok()
}

/// Waits for `pid` (a child of this process), forwarding the [`FORWARDED`]
/// signals, which the caller has blocked, to it.
pub(crate) fn wait_forwarding(pid: libc::pid_t) -> Result<i32> {
    use std::os::fd::AsFd;
    let sfd = sys::signalfd(FORWARDED).map_err(|e| Error::sys("signalfd", e))?;
    let exited = exit_watch(pid);
    loop {
        match sys::waitpid(pid, libc::WNOHANG) {
            Ok((0, _)) => {}
            Ok((_, status)) => return Ok(exit_code(status)),
            Err(e) => return Err(Error::sys("wait for container", e)),
        }
        let mut fds = vec![(sfd.as_fd(), libc::POLLIN)];
        fds.extend(exited.as_ref().map(|p| (p.as_fd(), libc::POLLIN)));
        let revents = sys::poll(&fds, -1).map_err(|e| Error::sys("poll", e))?;
        if revents[0] & libc::POLLIN == 0 {
            continue; // the process exited: reaped above
        }
        let sig = sys::read_signalfd(sfd.as_fd()).map_err(|e| Error::sys("read signal", e))?;
        if let Some(sig) = sig.filter(|s| *s != libc::SIGCHLD) {
            let _ = sys::kill(pid, sig);
        }
    }
}

/// The shell convention: the exit status, or 128+N for signal N.
pub fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}

/// What state.json says while a container is being made (pid 0:
/// creating), by create or restore.
pub(crate) fn initial_state(id: &str, bundle: &Bundle) -> SavedState {
    let spec = &bundle.spec;
    let ns = NamespacePlan::from_spec(spec);
    SavedState {
        id: id.to_string(),
        pid: 0,
        pid_start_time: 0,
        bundle: bundle.path.clone(),
        rootfs: bundle.rootfs.clone(),
        created: state::rfc3339(SystemTime::now()),
        owner: String::new(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        cgroup_paths: HashMap::new(),
        own_pid_namespace: ns.own_pid,
        hooks: spec.hooks().clone(),
        terminal: spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false),
        systemd_unit: None,
    }
}
