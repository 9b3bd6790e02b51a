//! The parent side of the process model: start the intermediate process
//! (in-process clone, or a freshly exec'd helper when the caller has
//! threads), answer its requests, place init in its cgroup, and wait until
//! init is ready.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use oci_spec::runtime::{LinuxIdMapping, LinuxResources};

use crate::cgroups::CgroupManager;
use crate::channel::{Channel, FromChild, ToChild};
use crate::error::{ChildError, Error, Result};
use crate::hooks;
use crate::init::{self, InitPlan};
use crate::sys;

/// How the intermediate process was started.
enum Intermediate {
    /// Forked in-process; reaped with waitpid.
    Cloned(libc::pid_t),
    /// A `berth init` helper.
    Helper(std::process::Child),
    /// None: init itself was cloned straight from the runtime with its
    /// namespaces (its pid, and whether clone3 put it in its cgroup). It is
    /// not reaped here.
    Direct(libc::pid_t, bool),
}

impl Intermediate {
    fn pid(&self) -> libc::pid_t {
        match self {
            Intermediate::Cloned(pid) | Intermediate::Direct(pid, _) => *pid,
            Intermediate::Helper(child) => child.id() as libc::pid_t,
        }
    }

    /// Init's pid when it is known from the clone itself (no intermediate).
    fn known_init(&self) -> Option<libc::pid_t> {
        match self {
            Intermediate::Direct(pid, _) => Some(*pid),
            _ => None,
        }
    }

    fn reap(self) {
        match self {
            Intermediate::Cloned(pid) => {
                let _ = sys::waitpid(pid, 0);
            }
            Intermediate::Helper(mut child) => {
                let _ = child.wait();
            }
            Intermediate::Direct(..) => {}
        }
    }
}

/// A deferred cgroup creation: runs once the intermediate process exists.
pub type MakeCgroup<'a> = Box<dyn FnOnce() -> Result<Option<CgroupManager>> + 'a>;

/// Has systemd make the cgroup (a scope) with init's pid in it.
pub type StartScope<'a> = Box<dyn FnOnce(libc::pid_t) -> Result<CgroupManager> + 'a>;

/// How the new process gets its cgroup.
pub enum CgroupSetup<'a> {
    /// Create the container's cgroup (`create`). It is made and its
    /// resources written while the intermediate process sets up the
    /// namespaces, and init mounts its rootfs meanwhile.
    Create(std::cell::RefCell<Option<MakeCgroup<'a>>>),
    /// Ask systemd for a scope holding init once its pid is known
    /// (`--systemd-cgroup`); the resources are then written to its files.
    Systemd(std::cell::RefCell<Option<StartScope<'a>>>),
    /// Join the container's existing cgroup directories (`exec`).
    Join(&'a std::collections::HashMap<String, PathBuf>),
}

/// What the launcher needs besides the plan.
pub struct LaunchContext<'a> {
    /// Where the new process's cgroup comes from.
    pub cgroup: CgroupSetup<'a>,
    /// linux.resources to apply before init continues.
    pub resources: Option<&'a LinuxResources>,
    /// The connected console socket, if any.
    pub console_socket: Option<&'a OwnedFd>,
    /// The exec FIFO (O_PATH), if init is to wait for start.
    pub exec_fifo: Option<&'a OwnedFd>,
    /// Path of the berth binary for the helper path (multi-threaded callers).
    pub helper: Option<&'a Path>,
    /// Force the helper path even when single-threaded (tests).
    pub force_helper: bool,
}

/// Starts init for `plan`; returns its host pid once it is ready (blocked on
/// the exec FIFO, or about to exec when there is none).
pub fn launch(mut plan: InitPlan, ctx: &LaunchContext<'_>) -> Result<libc::pid_t> {
    let t0 = Instant::now();
    plan.console_socket = ctx.console_socket.map(|s| s.as_raw_fd());
    plan.fifo = ctx.exec_fifo.map(|f| f.as_raw_fd());
    // Made here, with the runtime's privileges over the host filesystems;
    // init attaches them (rootfs::idmap says why). The children hold their
    // own copies; ours go when launch returns.
    let idmapped = if plan.exec {
        Vec::new()
    } else {
        crate::rootfs::idmap::prepare(&plan.spec).map_err(Error::Child)?
    };
    plan.idmap_mounts = idmapped
        .iter()
        .map(|(i, fd)| (*i, fd.as_raw_fd()))
        .collect();
    // cgroup v2: the cgroup (with its limits) is made before anything is
    // cloned, so init can be born in it (clone3 CLONE_INTO_CGROUP). On v1
    // it is made while the intermediate process sets up the namespaces.
    let mut created = None;
    let mut cgroup_dir = None;
    if matches!(ctx.cgroup, CgroupSetup::Create(_)) && crate::cgroups::is_unified_host() {
        let cgroup = make_cgroup(ctx)?;
        cgroup_dir = match cgroup.as_ref().and_then(CgroupManager::open_v2_dir) {
            Some(Ok(fd)) => Some(fd),
            Some(Err(e)) => {
                tracing::debug!("cannot open the cgroup for clone3 ({e}); init will be moved");
                None
            }
            None => None,
        };
        created = Some(cgroup);
    }
    // exec on cgroup v2: born in the container's cgroup too, which spares the
    // cgroup.procs write and the RCU grace period its lock may wait for.
    if let CgroupSetup::Join(paths) = &ctx.cgroup {
        cgroup_dir = join_v2_dir(paths);
    }
    loop {
        plan.cgroup_fd = cgroup_dir.as_ref().map(|f| f.as_raw_fd());
        let (mut chan, intermediate) =
            start_intermediate(&plan, ctx, cgroup_dir.as_ref(), &idmapped)?;
        tracing::debug!(
            ms = t0.elapsed().as_secs_f64() * 1e3,
            peak_kb = crate::sys::peak_rss_kb(),
            "phase: clone"
        );
        if created.is_none() {
            match make_cgroup(ctx) {
                Ok(c) => created = Some(c),
                Err(e) => {
                    abandon(intermediate.known_init(), intermediate);
                    return Err(e);
                }
            }
            tracing::debug!(
                ms = t0.elapsed().as_secs_f64() * 1e3,
                peak_kb = crate::sys::peak_rss_kb(),
                "phase: cgroup ready"
            );
        }
        let cgroup = created.as_ref().and_then(Option::as_ref);
        // Set once linux.netDevices are in init's namespace: only then may a
        // failure move devices out of it (a joined one may have its own).
        let moved_devices = std::cell::Cell::new(false);
        match converse(&plan, &mut chan, &intermediate, ctx, cgroup, &moved_devices) {
            Ok(Launched::Ready(pid)) => {
                intermediate.reap();
                tracing::debug!(
                    ms = t0.elapsed().as_secs_f64() * 1e3,
                    peak_kb = crate::sys::peak_rss_kb(),
                    "phase: init ready"
                );
                return Ok(pid);
            }
            Ok(Launched::IntoCgroupFailed(why)) if cgroup_dir.is_some() => {
                // The failed clone3 left the intermediate's new pid
                // namespace unusable: start over with a plain clone.
                intermediate.reap();
                tracing::debug!(
                    "clone3(CLONE_INTO_CGROUP) failed ({why}); starting again without it"
                );
                cgroup_dir = None;
            }
            Ok(Launched::IntoCgroupFailed(why)) => {
                intermediate.reap();
                return Err(Error::Child(ChildError::msg("clone container init", why)));
            }
            Err((init_pid, err)) => {
                if let (Some(pid), true) = (init_pid, moved_devices.get()) {
                    // Devices in init's network namespace would die with it.
                    if let Err(e) = crate::netdev::move_out(&plan.spec, Some(pid)) {
                        tracing::warn!("{e}");
                    }
                }
                abandon(init_pid, intermediate);
                return Err(err);
            }
        }
    }
}

/// The one cgroup v2 directory an exec joins, opened for clone3; `None`
/// on v1 (or when it cannot be opened: the runtime then moves the process).
fn join_v2_dir(paths: &std::collections::HashMap<String, PathBuf>) -> Option<OwnedFd> {
    let mut dirs: Vec<&PathBuf> = paths.values().collect();
    dirs.sort();
    dirs.dedup();
    let [dir] = dirs[..] else {
        return None;
    };
    if !crate::cgroups::is_unified_host() {
        return None;
    }
    crate::cgroups::open_dir(dir)
        .map_err(|e| tracing::debug!("cannot open {} for clone3 ({e})", dir.display()))
        .ok()
}

/// Tears down a launch that failed: init, when it exists, and the
/// intermediate process (which, for a direct clone, is init itself).
fn abandon(init_pid: Option<libc::pid_t>, intermediate: Intermediate) {
    if let Some(pid) = init_pid {
        let _ = sys::kill(pid, libc::SIGKILL);
        let _ = sys::waitpid(pid, 0);
    }
    if !matches!(intermediate, Intermediate::Direct(..)) {
        let _ = sys::kill(intermediate.pid(), libc::SIGKILL);
    }
    intermediate.reap();
}

/// Starts the intermediate process (an in-process clone, or the helper
/// when the caller has threads); returns the runtime's end of the channel.
fn start_intermediate(
    plan: &InitPlan,
    ctx: &LaunchContext<'_>,
    cgroup_dir: Option<&OwnedFd>,
    idmapped: &[(usize, OwnedFd)],
) -> Result<(Channel, Intermediate)> {
    let (mut chan, child_chan) = Channel::pair().map_err(|e| Error::sys("create channel", e))?;
    let single_threaded = sys::thread_count() == 1;
    if !single_threaded || ctx.force_helper {
        let intermediate = spawn_helper(plan, &mut chan, child_chan, ctx, cgroup_dir, idmapped)?;
        return Ok((chan, intermediate));
    }
    // Nothing to join and no user or time namespace: init can be cloned
    // straight into its namespaces, one process and one handoff fewer.
    let direct = init::direct_clone_flags(plan);
    let flags = direct.map_or(0, |f| f as libc::c_ulong);
    let what = if direct.is_some() {
        "clone container init"
    } else {
        "clone intermediate process"
    };
    // On cgroup v2 init is born in its cgroup when clone3 allows it; a
    // failed clone3 leaves nothing behind here, so a plain clone follows.
    let (cloned, in_cgroup) = match (direct, cgroup_dir) {
        (Some(f), Some(dir)) => match sys::clone_into_cgroup(f as u64, dir.as_fd()) {
            Ok(cloned) => (cloned, true),
            Err(e) => {
                tracing::debug!(
                    "clone3(CLONE_INTO_CGROUP) failed ({e}); init will be moved into its cgroup"
                );
                (
                    sys::clone_process(flags).map_err(|e| Error::sys(what, e))?,
                    false,
                )
            }
        },
        _ => (
            sys::clone_process(flags).map_err(|e| Error::sys(what, e))?,
            false,
        ),
    };
    match cloned {
        sys::CloneResult::Child => {
            drop(chan);
            // Nothing of the caller's (the state dir lock, an embedder's
            // sockets) may live on in the container's processes.
            let mut keep: Vec<i32> = (3..3 + plan.preserve_fds as i32).collect();
            keep.extend(plan.console_socket);
            keep.extend(plan.fifo);
            keep.extend(plan.cgroup_fd);
            keep.extend(plan.idmap_mounts.iter().map(|(_, fd)| *fd));
            keep.push(child_chan.stream().as_raw_fd());
            if let Err(e) = sys::close_fds_except(&keep) {
                let mut chan = child_chan;
                chan.report_failure(ChildError::io("close inherited fds", &e));
                sys::exit_now(1);
            }
            if direct.is_some() {
                init::run_direct_init(plan, child_chan)
            }
            init::run_intermediate(plan, child_chan)
        }
        sys::CloneResult::Parent(pid) => {
            // Our copy of the child's end must go, or a child that dies
            // early would never show up as EOF.
            drop(child_chan);
            let started = if direct.is_some() {
                tracing::debug!(pid, "init cloned straight into its namespaces");
                Intermediate::Direct(pid, in_cgroup)
            } else {
                Intermediate::Cloned(pid)
            };
            Ok((chan, started))
        }
    }
}

fn helper_path(ctx: &LaunchContext<'_>) -> Result<PathBuf> {
    if let Some(p) = ctx.helper {
        return Ok(p.to_path_buf());
    }
    if let Ok(p) = std::env::var("BERTH_INIT_BINARY") {
        return Ok(PathBuf::from(p));
    }
    if let Ok(exe) = std::env::current_exe() {
        if exe.file_name().is_some_and(|n| n == "berth") {
            return Ok(exe);
        }
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("berth"))
                .find(|p| p.is_file())
        })
        .ok_or_else(|| {
            Error::Argument(
                "the caller has threads, so berth needs its helper binary: set \
                 ContainerBuilder::init_binary or BERTH_INIT_BINARY, or put berth in PATH"
                    .into(),
            )
        })
}

fn spawn_helper(
    plan: &InitPlan,
    chan: &mut Channel,
    child_chan: Channel,
    ctx: &LaunchContext<'_>,
    cgroup_dir: Option<&OwnedFd>,
    idmapped: &[(usize, OwnedFd)],
) -> Result<Intermediate> {
    let path = helper_path(ctx)?;
    let child_end: OwnedFd = child_chan.into_stream().into();
    let child = Command::new(&path)
        .arg("init")
        .env(init::HELPER_ENV, "1")
        .stdin(Stdio::from(child_end))
        .spawn()
        .map_err(|e| Error::sys(format!("start helper {}", path.display()), e))?;
    let send = |chan: &mut Channel, fd: BorrowedFd<'_>| {
        sys::send_fd(chan.stream().as_fd(), b"f", fd)
            .map_err(|e| Error::sys("pass fd to helper", e))
    };
    chan.send(&ToChild::Plan(Box::new(plan.clone())))
        .map_err(|e| Error::sys("send plan to helper", e))?;
    send(chan, sys::borrow_raw(0))?;
    for fd in 3..3 + plan.preserve_fds as i32 {
        send(chan, sys::borrow_raw(fd))?;
    }
    if let Some(sock) = ctx.console_socket {
        send(chan, sock.as_fd())?;
    }
    if let Some(fifo) = ctx.exec_fifo {
        send(chan, fifo.as_fd())?;
    }
    for (_, tree) in idmapped {
        send(chan, tree.as_fd())?;
    }
    if let Some(dir) = cgroup_dir {
        send(chan, dir.as_fd())?;
    }
    Ok(Intermediate::Helper(child))
}

type ConverseError = (Option<libc::pid_t>, Error);

/// How a conversation with the children ended.
enum Launched {
    /// Init is ready; its host pid.
    Ready(libc::pid_t),
    /// clone3(CLONE_INTO_CGROUP) failed in a way that spoiled the
    /// intermediate's pid namespace; the intermediate exited.
    IntoCgroupFailed(String),
}

fn converse(
    plan: &InitPlan,
    chan: &mut Channel,
    intermediate: &Intermediate,
    ctx: &LaunchContext<'_>,
    created: Option<&CgroupManager>,
    moved_devices: &std::cell::Cell<bool>,
) -> std::result::Result<Launched, ConverseError> {
    let mut init_pid = None;
    // Init cloned straight from here: its pid is known, not reported.
    let mut known = match intermediate {
        Intermediate::Direct(pid, true) => Some(FromChild::InitPidInCgroup(*pid)),
        _ => intermediate.known_init().map(FromChild::InitPid),
    };
    loop {
        let msg = match known.take() {
            Some(msg) => Some(msg),
            None => chan
                .recv::<FromChild>()
                .map_err(|e| (init_pid, Error::sys("read from container init", e)))?,
        };
        match msg {
            Some(FromChild::WriteMappings) => {
                if let Err(e) = write_id_maps(plan, intermediate.pid()) {
                    return Err((init_pid, prefer_child_error(chan, e)));
                }
                if let Err(e) = chan.send(&ToChild::MappingsWritten) {
                    let e = Error::sys("answer intermediate", e);
                    return Err((init_pid, prefer_child_error(chan, e)));
                }
            }
            Some(msg @ (FromChild::InitPid(pid) | FromChild::InitPidInCgroup(pid))) => {
                init_pid = Some(pid);
                let born_in_cgroup = matches!(msg, FromChild::InitPidInCgroup(_));
                if born_in_cgroup {
                    tracing::debug!(
                        pid,
                        "init was born in its cgroup (clone3 CLONE_INTO_CGROUP)"
                    );
                }
                let placed = if born_in_cgroup {
                    Ok(Vec::new())
                } else {
                    place_in_cgroup(ctx, created, pid)
                };
                let join_tasks = match placed {
                    Ok(files) => files,
                    Err(e) => return Err((init_pid, prefer_child_error(chan, e))),
                };
                if !plan.exec {
                    crate::netdev::move_in(&plan.spec, pid).map_err(|e| (init_pid, e))?;
                    moved_devices.set(true);
                }
                crate::fault::point("launch:after-init-pid");
                let resume = chan
                    .send(&ToChild::Continue {
                        init_pid: pid,
                        join_tasks: join_tasks.iter().map(|(p, _)| p.clone()).collect(),
                    })
                    .and_then(|()| {
                        join_tasks.iter().try_for_each(|(_, fd)| {
                            sys::send_fd(chan.stream().as_fd(), b"t", fd.as_fd())
                        })
                    });
                if let Err(e) = resume {
                    let e = Error::sys("resume init", e);
                    return Err((init_pid, prefer_child_error(chan, e)));
                }
            }
            Some(FromChild::RunRuntimeHooks) => {
                let annotations = plan.spec.annotations().clone().unwrap_or_default();
                let state = |status: &str| {
                    hooks::state_json(
                        &plan.id,
                        status,
                        init_pid.unwrap_or(0),
                        &plan.bundle,
                        &annotations,
                    )
                };
                hooks::run_runtime_hooks(plan.spec.hooks().as_ref(), state)
                    .map_err(|e| (init_pid, Error::Child(e)))?;
                chan.send(&ToChild::HooksDone)
                    .map_err(|e| (init_pid, Error::sys("resume init after hooks", e)))?;
            }
            Some(FromChild::SeccompListener) => {
                send_to_seccomp_listener(plan, chan, init_pid).map_err(|e| (init_pid, e))?;
            }
            Some(FromChild::IntoCgroupFailed(why)) => return Ok(Launched::IntoCgroupFailed(why)),
            Some(FromChild::Ready) => {
                return init_pid.map(Launched::Ready).ok_or((
                    None,
                    Error::Child(ChildError::msg("init", "ready before its pid was known")),
                ))
            }
            Some(FromChild::Failed(e)) => return Err((init_pid, Error::Child(e))),
            None => {
                return Err((
                    init_pid,
                    Error::Child(ChildError::msg(
                        "init",
                        "the container process exited before it was ready",
                    )),
                ))
            }
        }
    }
}

/// When talking to the children fails, they usually died first and said
/// why: report their error, already waiting in the channel, instead of ours.
fn prefer_child_error(chan: &mut Channel, ours: Error) -> Error {
    let readable = sys::poll(&[(chan.stream().as_fd(), libc::POLLIN)], 0)
        .is_ok_and(|r| r[0] & (libc::POLLIN | libc::POLLHUP) != 0);
    if readable {
        if let Ok(Some(FromChild::Failed(e))) = chan.recv::<FromChild>() {
            return Error::Child(e);
        }
    }
    ours
}

fn format_map(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Whether `maps` only maps one id onto `own` (what an unprivileged process
/// may write itself).
fn only_own_id(maps: &[LinuxIdMapping], own: u32) -> bool {
    maps.len() == 1 && maps[0].size() == 1 && maps[0].host_id() == own
}

/// newuidmap/newgidmap: the setuid helpers that write ranges from
/// /etc/subuid and /etc/subgid for an unprivileged caller.
fn run_id_helper(
    helper: &str,
    pid: libc::pid_t,
    maps: &[LinuxIdMapping],
    field: &str,
) -> Result<()> {
    let mut cmd = Command::new(helper);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([
            m.container_id().to_string(),
            m.host_id().to_string(),
            m.size().to_string(),
        ]);
    }
    let out = cmd
        .output()
        .map_err(|e| Error::Child(ChildError::io(format!("{field}: run {helper}"), &e)))?;
    if !out.status.success() {
        return Err(Error::Child(ChildError::msg(
            field,
            format!(
                "{helper} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        )));
    }
    Ok(())
}

fn write_id_maps(plan: &InitPlan, pid: libc::pid_t) -> Result<()> {
    let linux = plan.spec.linux().clone().unwrap_or_default();
    let uid_maps = linux.uid_mappings().clone().unwrap_or_default();
    let gid_maps = linux.gid_mappings().clone().unwrap_or_default();
    let (euid, egid) = sys::effective_ids();
    if euid != 0 {
        // Unprivileged: our own id is ours to map; ranges need the helpers.
        if only_own_id(&uid_maps, euid) {
            std::fs::write(format!("/proc/{pid}/uid_map"), format_map(&uid_maps))
                .map_err(|e| Error::Child(ChildError::io("linux.uidMappings", &e)))?;
        } else {
            run_id_helper("newuidmap", pid, &uid_maps, "linux.uidMappings")?;
        }
        if only_own_id(&gid_maps, egid) {
            // The kernel demands setgroups be denied before an unprivileged gid map.
            std::fs::write(format!("/proc/{pid}/setgroups"), "deny")
                .map_err(|e| Error::Child(ChildError::io("deny setgroups", &e)))?;
            std::fs::write(format!("/proc/{pid}/gid_map"), format_map(&gid_maps))
                .map_err(|e| Error::Child(ChildError::io("linux.gidMappings", &e)))?;
        } else {
            run_id_helper("newgidmap", pid, &gid_maps, "linux.gidMappings")?;
        }
        return Ok(());
    }
    let uid = format_map(&uid_maps);
    let gid = format_map(&gid_maps);
    std::fs::write(format!("/proc/{pid}/uid_map"), &uid).map_err(|e| {
        Error::Child(ChildError::io(
            format!("linux.uidMappings {}", uid.trim()),
            &e,
        ))
    })?;
    std::fs::write(format!("/proc/{pid}/gid_map"), &gid).map_err(|e| {
        Error::Child(ChildError::io(
            format!("linux.gidMappings {}", gid.trim()),
            &e,
        ))
    })?;
    Ok(())
}

/// Passes init's seccomp notification fd to the listener named in the
/// config, with the container's state, in the message shape runc uses.
fn send_to_seccomp_listener(
    plan: &InitPlan,
    chan: &mut Channel,
    init_pid: Option<libc::pid_t>,
) -> Result<()> {
    let mut byte = [0u8; 1];
    let (_, fd) = sys::recv_fd(chan.stream().as_fd(), &mut byte)
        .map_err(|e| Error::sys("receive seccomp listener fd", e))?;
    let fd = fd.ok_or_else(|| {
        Error::sys(
            "receive seccomp listener fd",
            std::io::Error::other("no fd"),
        )
    })?;
    let seccomp = plan
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().clone())
        .unwrap_or_default();
    let path = seccomp.listener_path().clone().unwrap_or_default();
    let pid = init_pid.unwrap_or(0);
    let message = serde_json::json!({
        "ociVersion": crate::OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": seccomp.listener_metadata().clone().unwrap_or_default(),
        "state": {
            "ociVersion": crate::OCI_VERSION,
            "id": plan.id,
            "status": "creating",
            "pid": pid,
            "bundle": plan.bundle,
            "annotations": plan.spec.annotations().clone().unwrap_or_default(),
        },
    });
    let what = || format!("linux.seccomp.listenerPath {}", path.display());
    let sock = std::os::unix::net::UnixStream::connect(&path).map_err(|e| Error::sys(what(), e))?;
    let body =
        serde_json::to_vec(&message).map_err(|e| Error::sys(what(), std::io::Error::other(e)))?;
    sys::send_fd(sock.as_fd(), &body, fd.as_fd()).map_err(|e| Error::sys(what(), e))
}

/// Puts the new process in its cgroup: the container's new one (with its
/// resources applied) or, for exec, the existing directories.
/// Creates the container's cgroup (if this launch makes one) and writes its
/// resources: work done while the children set up their namespaces.
fn make_cgroup(ctx: &LaunchContext<'_>) -> Result<Option<CgroupManager>> {
    let CgroupSetup::Create(make) = &ctx.cgroup else {
        return Ok(None);
    };
    let Some(make) = make.borrow_mut().take() else {
        return Ok(None);
    };
    let created = make()?;
    if let Some(cgroup) = &created {
        cgroup.apply(ctx.resources)?;
    }
    Ok(created)
}

/// Puts init in its cgroup. On cgroup v1 the runtime only opens each
/// hierarchy's `tasks` file and returns them (path, fd): init writes "0"
/// to them itself (see `init::wait_for_cgroup` for why). Directories
/// without one (cgroup v2) get init's pid in cgroup.procs from here.
fn place_in_cgroup(
    ctx: &LaunchContext<'_>,
    created: Option<&CgroupManager>,
    pid: libc::pid_t,
) -> Result<Vec<(String, OwnedFd)>> {
    if let CgroupSetup::Systemd(start) = &ctx.cgroup {
        if let Some(start) = start.borrow_mut().take() {
            let scope = start(pid)?;
            scope.apply(ctx.resources)?;
        }
    }
    let mut dirs: Vec<&Path> = created.map(CgroupManager::unique_dirs).unwrap_or_default();
    if let CgroupSetup::Join(paths) = &ctx.cgroup {
        dirs.extend(paths.values().map(PathBuf::as_path));
        dirs.sort();
        dirs.dedup();
    }
    let mut join_tasks = Vec::new();
    for dir in dirs {
        let tasks = dir.join("tasks");
        match std::fs::OpenOptions::new().write(true).open(&tasks) {
            Ok(file) => {
                tracing::debug!(pid, "init joins {} itself (writes 0)", tasks.display());
                join_tasks.push((tasks.display().to_string(), file.into()));
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::sys(format!("open {}", tasks.display()), e)),
        }
        let procs = dir.join("cgroup.procs");
        tracing::debug!(pid, "moving init into its cgroup (cgroup.procs)");
        std::fs::write(&procs, pid.to_string()).map_err(|e| {
            Error::sys(
                format!(
                    "move init into its cgroup: write {pid} to {}",
                    procs.display()
                ),
                e,
            )
        })?;
    }
    Ok(join_tasks)
}
