//! The child side of the process model: everything between clone and
//! execve, in the order the runtime spec and the kernel need.
//!
//! ```text
//! runtime (parent) ── clone ──> intermediate ── clone(CLONE_PARENT) ──> init
//!                                 joins/creates namespaces                 pid 1 of its pid ns
//!                                 exits once init exists                   rootfs, user, caps …
//!                                                                          waits on exec.fifo, execve
//! ```
//! The intermediate process exists because a new pid namespace applies to
//! children only; CLONE_PARENT makes init the runtime's child so `run` can
//! wait for it.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde::{Deserialize, Serialize};

use crate::channel::{Channel, FromChild, ToChild};
use crate::error::ChildError;
use crate::hooks::{self, HookKind};
use crate::namespaces::{clone_flag, NamespacePlan};
use crate::rootfs::{self, path::cstr, RootfsContext};
use crate::security::capabilities::CapabilityPlan;
use crate::security::seccomp::CompiledSeccomp;
use crate::{console, process, sys};

/// Everything the child needs, serialisable so a freshly exec'd helper can
/// receive it over the channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InitPlan {
    /// Container ID.
    pub id: String,
    /// The config.
    pub spec: Spec,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path on the host.
    pub rootfs: PathBuf,
    /// Fd number (O_PATH) of the exec FIFO to wait on before execve, opened
    /// by the runtime: init may lack the permission to reach the state
    /// directory (user namespaces). None: exec at once.
    pub fifo: Option<RawFd>,
    /// Fd number of the connected console socket in the child, if any.
    pub console_socket: Option<RawFd>,
    /// Number of fds after stdio to pass to the process (3 .. 3+N).
    pub preserve_fds: u32,
    /// Use MS_MOVE + chroot instead of pivot_root.
    pub no_pivot: bool,
    /// Keep the caller's session keyring.
    pub no_new_keyring: bool,
    /// The compiled linux.seccomp profile.
    pub seccomp: Option<CompiledSeccomp>,
    /// An exec into an existing container: every namespace is joined by
    /// path, and the rootfs, hostname and create hooks are left alone.
    pub exec: bool,
    /// (mount index, fd number) of the detached idmapped mounts the runtime
    /// made before the clone (see [`crate::rootfs::idmap`]).
    #[serde(default)]
    pub idmap_mounts: Vec<(usize, RawFd)>,
    /// Fd number of the container's cgroup v2 directory: init is cloned
    /// into it with clone3(CLONE_INTO_CGROUP). None on v1 (or when the
    /// runtime places init itself).
    #[serde(default)]
    pub cgroup_fd: Option<RawFd>,
}

type Res<T = ()> = Result<T, ChildError>;

fn io_step(what: &'static str) -> impl Fn(std::io::Error) -> ChildError {
    move |e| ChildError::io(what, &e)
}

/// Entry of the intermediate process (in-process clone or helper). Never
/// returns: it exits once init exists or setup failed.
pub fn run_intermediate(plan: &InitPlan, mut chan: Channel) -> ! {
    match intermediate(plan, &mut chan) {
        Ok(()) => sys::exit_now(0),
        Err(e) => {
            chan.report_failure(e);
            sys::exit_now(1)
        }
    }
}

fn intermediate(plan: &InitPlan, chan: &mut Channel) -> Res {
    // If the runtime dies mid-setup, do not leave half a container behind.
    sys::set_parent_death_signal(libc::SIGKILL).map_err(io_step("set parent death signal"))?;
    // A non-dumpable process's /proc/<pid>/exe cannot be opened by the
    // container: it never reaches the host berth binary (CVE-2019-5736).
    sys::set_dumpable(false).map_err(io_step("make non-dumpable"))?;
    if plan.exec {
        // Inherited by the exec'd process until it is in the cgroup.
        if let Some(p) = plan.spec.process() {
            process::apply_cpu_affinity(p, true)?;
        }
    }
    let ns = NamespacePlan::from_spec(&plan.spec);
    // Open them all first: once in another mount namespace the paths
    // (often /proc/<pid>/ns/...) may not resolve any more.
    let mut to_join = Vec::with_capacity(ns.join.len());
    for (t, path) in &ns.join {
        let fd = std::fs::File::open(path)
            .map_err(|e| ChildError::io(format!("open namespace {}", path.display()), &e))?;
        to_join.push((*t, path, fd));
    }
    // An exec cloned into the container's cgroup joins its cgroup namespace
    // afterwards, as init: from inside it, a host that mounts cgroup2 with
    // nsdelegate (systemd does) refuses clone3(CLONE_INTO_CGROUP), since our
    // own cgroup lies outside the namespace.
    let defer_cgroup_ns = plan.exec && plan.cgroup_fd.is_some();
    let mut deferred_cgroup_ns = None;
    for (t, path, fd) in to_join {
        if defer_cgroup_ns && t == LinuxNamespaceType::Cgroup {
            deferred_cgroup_ns = Some((path, fd));
            continue;
        }
        sys::setns(fd.as_fd(), clone_flag(t))
            .map_err(|e| ChildError::io(format!("join {t} namespace {}", path.display()), &e))?;
    }
    if ns.new_user {
        sys::unshare(libc::CLONE_NEWUSER).map_err(io_step("create user namespace"))?;
        // An unprivileged runtime can only open our /proc files (uid_map)
        // while we are dumpable. Nothing of the container exists yet.
        let unprivileged = sys::effective_ids().0 != 0;
        if unprivileged {
            sys::set_dumpable(true).map_err(io_step("make dumpable for id maps"))?;
        }
        chan.send(&FromChild::WriteMappings)
            .map_err(io_step("ask for id mappings"))?;
        match chan.recv::<ToChild>() {
            Ok(Some(ToChild::MappingsWritten)) => {
                if unprivileged {
                    sys::set_dumpable(false).map_err(io_step("make non-dumpable"))?;
                }
            }
            _ => {
                return Err(ChildError::runtime_gone(
                    "user namespace",
                    "runtime did not write the id mappings",
                ))
            }
        }
    }
    if ns.in_user_ns() {
        // Become root of the user namespace so files we create are owned by
        // a mapped id and we hold its capabilities.
        sys::setresgid(0).map_err(io_step("become gid 0 in the user namespace"))?;
        sys::setresuid(0).map_err(io_step("become uid 0 in the user namespace"))?;
    }
    if ns.new_flags != 0 {
        sys::unshare(ns.new_flags).map_err(io_step("create namespaces"))?;
    }
    if ns.new_flags & libc::CLONE_NEWTIME != 0 {
        write_time_offsets(&plan.spec)?;
    }
    let (cloned, in_cgroup) = match clone_init(plan, &ns)? {
        InitClone::Done(cloned, in_cgroup) => (cloned, in_cgroup),
        InitClone::StartOver(why) => {
            chan.send(&FromChild::IntoCgroupFailed(why))
                .map_err(io_step("report clone3 failure"))?;
            return Ok(());
        }
    };
    match cloned {
        sys::CloneResult::Child => {
            let joined = match &deferred_cgroup_ns {
                Some((path, fd)) => sys::setns(fd.as_fd(), libc::CLONE_NEWCGROUP).map_err(|e| {
                    ChildError::io(format!("join cgroup namespace {}", path.display()), &e)
                }),
                None => Ok(()),
            };
            drop(deferred_cgroup_ns);
            let code = match joined.and_then(|()| container_init(plan, chan, &ns)) {
                Ok(never) => match never {},
                Err(e) => {
                    chan.report_failure(e);
                    1
                }
            };
            sys::exit_now(code)
        }
        sys::CloneResult::Parent(pid) => {
            let msg = if in_cgroup {
                FromChild::InitPidInCgroup(pid)
            } else {
                FromChild::InitPid(pid)
            };
            chan.send(&msg).map_err(io_step("report init pid"))?;
            Ok(())
        }
    }
}

/// The clone flags that create init straight from the runtime, when no
/// intermediate process is needed: a new container (not exec) that joins
/// no namespace and has no user or time namespace (those must exist before
/// init does).
pub fn direct_clone_flags(plan: &InitPlan) -> Option<libc::c_int> {
    let ns = NamespacePlan::from_spec(&plan.spec);
    let direct =
        !plan.exec && ns.join.is_empty() && !ns.new_user && ns.new_flags & libc::CLONE_NEWTIME == 0;
    direct.then_some(ns.new_flags)
}

/// Entry of init cloned straight from the runtime with its namespaces
/// ([`direct_clone_flags`]).
pub fn run_direct_init(plan: &InitPlan, mut chan: Channel) -> ! {
    let ns = NamespacePlan::from_spec(&plan.spec);
    // As the intermediate process does first: nobody may open our
    // /proc/<pid>/exe (CVE-2019-5736).
    let result = sys::set_dumpable(false)
        .map_err(io_step("make non-dumpable"))
        .and_then(|()| container_init(plan, &mut chan, &ns));
    match result {
        Ok(never) => match never {},
        Err(e) => {
            chan.report_failure(e);
            sys::exit_now(1)
        }
    }
}

/// What [`clone_init`] did.
enum InitClone {
    /// Cloned; whether init was born in its cgroup.
    Done(sys::CloneResult, bool),
    /// clone3 failed after the kernel allocated init's pid in our new pid
    /// namespace, which then refuses every further fork: the runtime has
    /// to start over with a new intermediate process.
    StartOver(String),
}

/// Clones init as the runtime's child: straight into the container's v2
/// cgroup when the runtime passed one, so init never runs (or forks, or
/// allocates) outside it. Where clone3 cannot do that (an old kernel, a
/// seccomp filter answering ENOSYS, a user namespace without write access
/// to cgroup.procs …) init is cloned plainly and the runtime moves it.
fn clone_init(plan: &InitPlan, ns: &NamespacePlan) -> Res<InitClone> {
    let flags = libc::CLONE_PARENT as libc::c_ulong;
    let fresh_pid_ns = ns.new_flags & libc::CLONE_NEWPID != 0;
    let mut clone3_failed = None;
    if let Some(fd) = plan.cgroup_fd {
        let dir = sys::borrow_raw(fd);
        // The kernel checks write access to cgroup.procs with our
        // credentials; a user namespace mapped to other ids lacks it.
        // Asking first spares a failed clone3 (see StartOver).
        match sys::access_effective(dir, c"cgroup.procs", libc::W_OK) {
            Err(e) => tracing::debug!(
                "cgroup.procs is not writable from here ({e}); init will be moved into its cgroup"
            ),
            Ok(()) => match sys::clone_into_cgroup(flags as u64, dir) {
                Ok(cloned) => return Ok(InitClone::Done(cloned, true)),
                // Refused before a pid was allocated (no clone3, or no
                // CLONE_INTO_CGROUP before Linux 5.7): a plain clone works.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ENOSYS | libc::E2BIG | libc::EINVAL | libc::EPERM)
                    ) || !fresh_pid_ns =>
                {
                    tracing::debug!(
                        "clone3(CLONE_INTO_CGROUP) failed ({e}); init will be moved into its cgroup"
                    );
                    clone3_failed = Some(e);
                }
                Err(e) => return Ok(InitClone::StartOver(e.to_string())),
            },
        }
    }
    match sys::clone_process(flags) {
        Ok(cloned) => Ok(InitClone::Done(cloned, false)),
        // ENOMEM is how the kernel refuses forks in a pid namespace whose
        // first one failed: the clone3 failure above came after all.
        Err(e) if fresh_pid_ns && e.raw_os_error() == Some(libc::ENOMEM) => match clone3_failed {
            Some(first) => Ok(InitClone::StartOver(first.to_string())),
            None => Err(ChildError::io("clone container init", &e)),
        },
        Err(e) => Err(ChildError::io("clone container init", &e)),
    }
}

/// Container init: waits until the runtime placed it in its cgroup, sets
/// everything up, waits for start and execs the user's program.
fn container_init(
    plan: &InitPlan,
    chan: &mut Channel,
    ns: &NamespacePlan,
) -> Result<std::convert::Infallible, ChildError> {
    sys::set_parent_death_signal(libc::SIGKILL).map_err(io_step("set parent death signal"))?;
    sys::umask(0);
    let spec = &plan.spec;
    let proc_cfg = spec
        .process()
        .as_ref()
        .ok_or_else(|| ChildError::msg("process", "missing"))?;
    let fifo = match plan.fifo {
        Some(raw) => Some(sys::own_inherited_fd(raw).map_err(io_step("exec fifo"))?),
        None => None,
    };
    // The host's /proc/self/fd, to reopen the FIFO later whatever /proc the
    // container ends up with (or none).
    let proc_fds = match &fifo {
        Some(_) => Some(
            sys::open(c"/proc/self/fd", libc::O_PATH | libc::O_DIRECTORY, 0)
                .map_err(io_step("open /proc/self/fd"))?,
        ),
        None => None,
    };
    let t0 = std::time::Instant::now();
    let init_pid = if plan.exec {
        let pid = wait_for_cgroup(chan)?;
        // Joining a cpuset may have changed the affinity: set it now.
        process::apply_cpu_affinity(proc_cfg, false)?;
        pid
    } else {
        set_up_container(plan, chan, ns)?
    };
    let annotations = plan.spec.annotations().clone().unwrap_or_default();
    let hook_state =
        |status: &str| hooks::state_json(&plan.id, status, init_pid, &plan.bundle, &annotations);
    tracing::debug!(ms = t0.elapsed().as_secs_f64() * 1e3, "init phase: rootfs");
    if proc_cfg.terminal().unwrap_or(false) {
        let raw = plan.console_socket.ok_or_else(|| {
            ChildError::msg(
                "process.terminal",
                "a terminal needs --console-socket (berth does not proxy terminals)",
            )
        })?;
        let socket = sys::own_inherited_fd(raw).map_err(io_step("console socket"))?;
        let size = proc_cfg
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16));
        console::setup_console(&socket, size)?;
    } else if let Err(e) = sys::setsid() {
        // A session of its own, as with a terminal (and as runc and crun
        // do): a session leader outside the container's pid namespace
        // would make it impossible to checkpoint. EPERM: already a leader.
        if e.raw_os_error() != Some(libc::EPERM) {
            return Err(ChildError::io("setsid", &e));
        }
    }
    if !plan.no_new_keyring && !plan.exec {
        process::join_session_keyring(&plan.id)?;
    }
    process::apply_rlimits(proc_cfg)?;
    process::apply_oom_score_adj(proc_cfg)?;
    // Before the capabilities go: real-time policies need CAP_SYS_NICE.
    process::apply_scheduler(proc_cfg)?;
    process::apply_io_priority(proc_cfg)?;
    process::apply_memory_policy(spec)?;
    let caps = CapabilityPlan::new(proc_cfg.capabilities().as_ref());
    let no_new_privs = proc_cfg.no_new_privileges().unwrap_or(false);
    // Without no_new_privs loading a filter needs CAP_SYS_ADMIN: load it
    // while init still has every capability (as runc does).
    // Only stdio and the preserved fds survive execve. Marked now, before a
    // filter that may not allow close_range is loaded.
    let keep_from = 3 + plan.preserve_fds;
    for fd in 3..keep_from {
        sys::clear_cloexec(fd as RawFd)
            .map_err(|e| ChildError::io(format!("preserve fd {fd}"), &e))?;
    }
    sys::close_range_cloexec(keep_from).map_err(io_step("close fds"))?;
    if !no_new_privs {
        load_seccomp(plan, chan)?;
    }
    caps.apply_bounding()?;
    // cwd first as root (it may be unreadable for the user), checked again
    // after the switch.
    let cwd_as_root = process::enter_cwd(proc_cfg);
    sys::set_keep_caps(true).map_err(io_step("keep capabilities"))?;
    process::switch_user(proc_cfg, ns.in_user_ns())?;
    sys::set_keep_caps(false).map_err(io_step("keep capabilities"))?;
    caps.apply_sets()?;
    if cwd_as_root.is_err() || proc_cfg.user().uid() != 0 {
        process::enter_cwd(proc_cfg)?;
    }
    sys::umask(proc_cfg.user().umask().unwrap_or(0o022));
    let program = process::find_executable(proc_cfg)?;
    let program = cstr(&program).map_err(io_step("program path"))?;
    let argv: Vec<CString> = proc_cfg
        .args()
        .iter()
        .flatten()
        .map(|a| CString::new(a.as_str()))
        .collect::<Result<_, _>>()
        .map_err(|_| ChildError::msg("process.args", "an argument contains a NUL byte"))?;
    let envp = process::environment(proc_cfg);
    if no_new_privs {
        sys::set_no_new_privs().map_err(io_step("process.noNewPrivileges"))?;
        // A listener fd has to reach the runtime before Ready.
        if plan.seccomp.as_ref().is_some_and(|s| s.notify) {
            load_seccomp(plan, chan)?;
        }
    }
    sys::reset_signals().map_err(io_step("reset signals"))?;
    // The runtime may die now without taking the container with it.
    sys::set_parent_death_signal(0).map_err(io_step("clear parent death signal"))?;
    chan.send_ready().map_err(io_step("report ready"))?;
    // Held (close-on-exec) until execve: `start` waits for its end of the
    // FIFO to see EOF, so poststart hooks run after the program is executed.
    let _start_signal = match (&fifo, &proc_fds) {
        (Some(fifo), Some(proc_fds)) => Some(wait_for_start(fifo, proc_fds)?),
        _ => None,
    };
    if !plan.exec {
        hooks::run_hooks(spec, HookKind::StartContainer, &hook_state("created"))?;
    }
    // As close to execve as possible, so the fewest of our own syscalls run
    // under the container's filter.
    if no_new_privs && plan.seccomp.as_ref().is_some_and(|s| !s.notify) {
        load_seccomp(plan, chan)?;
    }
    crate::security::lsm::apply_exec_labels(proc_cfg)?;
    process::apply_personality(spec)?;
    let err = sys::execve(&program, &argv, &envp);
    Err(ChildError::io(
        format!("exec {}", program.to_string_lossy()),
        &err,
    ))
}

/// Waits until our cgroup is ready and we are in it; returns our host pid.
fn wait_for_cgroup(chan: &mut Channel) -> Res<i32> {
    let (init_pid, join_tasks) = match chan.recv::<ToChild>() {
        Ok(Some(ToChild::Continue {
            init_pid,
            join_tasks,
        })) => (init_pid, join_tasks),
        _ => {
            return Err(ChildError::runtime_gone(
                "init",
                "runtime went away before the cgroup was ready",
            ))
        }
    };
    // cgroup v1: "0" in `tasks` moves the writing thread alone, which the
    // kernel does without the global threadgroup lock whose first writer
    // waits out an RCU grace period (milliseconds) — the lock a pid written
    // to cgroup.procs by the runtime takes. We are single-threaded, so the
    // thread is the whole process.
    for path in join_tasks {
        let mut byte = [0u8; 1];
        let (_, fd) = sys::recv_fd(chan.stream().as_fd(), &mut byte)
            .map_err(|e| ChildError::io(format!("receive {path}"), &e))?;
        let fd = fd.ok_or_else(|| ChildError::msg(path.clone(), "fd missing"))?;
        std::io::Write::write_all(&mut std::fs::File::from(fd), b"0")
            .map_err(|e| ChildError::io(format!("join cgroup: write 0 to {path}"), &e))?;
    }
    Ok(init_pid)
}

/// The container's own environment (create only; exec joins it). The
/// mounts that do not depend on the cgroup are made while the runtime is
/// still placing us in it. Returns our host pid.
fn set_up_container(plan: &InitPlan, chan: &mut Channel, ns: &NamespacePlan) -> Res<i32> {
    let spec = &plan.spec;
    let ctx = RootfsContext {
        spec,
        rootfs: &plan.rootfs,
        in_user_ns: ns.in_user_ns(),
        own_cgroup_ns: ns.new_cgroup
            || ns
                .join
                .iter()
                .any(|(t, _)| *t == LinuxNamespaceType::Cgroup),
        no_pivot: plan.no_pivot,
        idmapped: &plan.idmap_mounts,
    };
    let t0 = std::time::Instant::now();
    let own_mount_ns = ns.has_mount();
    if own_mount_ns {
        rootfs::prepare(&ctx)?;
    } else {
        rootfs::warn_unapplied_without_mount_ns(spec);
    }
    tracing::debug!(ms = t0.elapsed().as_secs_f64() * 1e3, "init phase: mounts");
    let init_pid = wait_for_cgroup(chan)?;
    // The cgroup namespace's root is the cgroup we are in now.
    if ns.new_cgroup {
        sys::unshare(libc::CLONE_NEWCGROUP).map_err(io_step("create cgroup namespace"))?;
    }
    if own_mount_ns {
        rootfs::mount_cgroup_dependent(&ctx)?;
    }
    let annotations = spec.annotations().clone().unwrap_or_default();
    let hook_state =
        |status: &str| hooks::state_json(&plan.id, status, init_pid, &plan.bundle, &annotations);
    let runtime_hooks = hooks::has(spec.hooks().as_ref(), HookKind::Prestart)
        || hooks::has(spec.hooks().as_ref(), HookKind::CreateRuntime);
    if runtime_hooks {
        chan.send(&FromChild::RunRuntimeHooks)
            .map_err(io_step("ask for createRuntime hooks"))?;
        match chan.recv::<ToChild>() {
            Ok(Some(ToChild::HooksDone)) => {}
            _ => {
                return Err(ChildError::runtime_gone(
                    "hooks",
                    "runtime went away during createRuntime hooks",
                ))
            }
        }
    }
    hooks::run_hooks(spec, HookKind::CreateContainer, &hook_state("creating"))?;
    if own_mount_ns {
        rootfs::switch_root(&ctx)?;
        tracing::debug!(ms = t0.elapsed().as_secs_f64() * 1e3, "init phase: pivot");
        rootfs::finish(&ctx)?;
        tracing::debug!(
            ms = t0.elapsed().as_secs_f64() * 1e3,
            "init phase: masked paths"
        );
    } else {
        // Sharing the runtime's mount namespace: no mount may be touched;
        // the process still gets the bundle's root.
        rootfs::chroot_only(&ctx)?;
    }
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        sys::sethostname(h).map_err(|e| ChildError::io(format!("hostname {h}"), &e))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        sys::setdomainname(d).map_err(|e| ChildError::io(format!("domainname {d}"), &e))?;
    }
    Ok(init_pid)
}

/// linux.timeOffsets: set on the new time namespace before any process
/// enters it (our children do; we stay outside).
fn write_time_offsets(spec: &Spec) -> Res {
    let Some(offsets) = spec.linux().as_ref().and_then(|l| l.time_offsets().clone()) else {
        return Ok(());
    };
    let text: String = offsets
        .iter()
        .map(|(clock, o)| {
            format!(
                "{clock} {} {}\n",
                o.secs().unwrap_or(0),
                o.nanosecs().unwrap_or(0)
            )
        })
        .collect();
    std::fs::write("/proc/self/timens_offsets", &text)
        .map_err(|e| ChildError::io(format!("linux.timeOffsets {}", text.trim()), &e))
}

/// Loads the seccomp filter; a notification listener fd goes to the runtime.
fn load_seccomp(plan: &InitPlan, chan: &mut Channel) -> Res {
    let Some(profile) = &plan.seccomp else {
        return Ok(());
    };
    let listener = sys::seccomp_load(&profile.bpf, profile.flags)
        .map_err(io_step("load linux.seccomp filter"))?;
    if let Some(fd) = listener {
        chan.send(&FromChild::SeccompListener)
            .map_err(io_step("announce seccomp listener"))?;
        sys::send_fd(chan.stream().as_fd(), b"s", fd.as_fd())
            .map_err(io_step("send seccomp listener fd"))?;
    }
    Ok(())
}

/// Blocks until `start` opens the FIFO for reading, then tells it we go.
/// Returns the open write end, which execve closes.
fn wait_for_start(fifo: &OwnedFd, proc_fds: &OwnedFd) -> Res<std::fs::File> {
    let name = cstr(fifo.as_raw_fd().to_string()).map_err(io_step("exec fifo"))?;
    let w = sys::openat(proc_fds.as_fd(), &name, libc::O_WRONLY, 0)
        .map_err(io_step("open exec fifo for start"))?;
    let mut f = std::fs::File::from(w);
    std::io::Write::write_all(&mut f, b"0").map_err(io_step("signal start"))?;
    Ok(f)
}

/// Environment variable naming the channel fd of a helper (`berth init`).
pub const HELPER_ENV: &str = "_BERTH_INIT_HELPER";

/// Entry of the `berth init` helper, which a multi-threaded embedder execs
/// instead of forking in-process. Its stdin is the channel; the plan and the
/// fds to install follow on it.
pub fn helper_main() -> ! {
    // Before anything else: nobody may open our /proc/<pid>/exe.
    if sys::set_dumpable(false).is_err() {
        sys::exit_now(1);
    }
    // Move the channel off fd 0 (the container's stdin goes there); fd 0
    // itself stays open until dup2 replaces it, so no received fd lands on it.
    let stream = match sys::dup_above(sys::borrow_raw(0), 10) {
        Ok(fd) => UnixStream::from(fd),
        Err(_) => sys::exit_now(1),
    };
    let mut chan = Channel::from_stream(stream);
    let result = (|| -> Res<InitPlan> {
        let mut plan = match chan.recv::<ToChild>() {
            Ok(Some(ToChild::Plan(plan))) => *plan,
            _ => return Err(ChildError::msg("helper", "no plan received")),
        };
        let mut byte = [0u8; 1];
        let (_, stdin) =
            sys::recv_fd(chan.stream().as_fd(), &mut byte).map_err(io_step("receive stdin"))?;
        let stdin = stdin.ok_or_else(|| ChildError::msg("helper", "stdin fd missing"))?;
        sys::dup2(stdin.as_fd(), 0).map_err(io_step("install stdin"))?;
        drop(stdin);
        let mut received = Vec::new();
        let extra = plan.preserve_fds as usize
            + usize::from(plan.console_socket.is_some())
            + usize::from(plan.fifo.is_some())
            + plan.idmap_mounts.len()
            + usize::from(plan.cgroup_fd.is_some());
        for _ in 0..extra {
            let (_, fd) =
                sys::recv_fd(chan.stream().as_fd(), &mut byte).map_err(io_step("receive fd"))?;
            received.push(fd.ok_or_else(|| ChildError::msg("helper", "fd missing"))?);
        }
        // Preserved fds go to 3.. in order, the console socket, the exec
        // FIFO, the idmapped mounts and the cgroup dir above them.
        // Lift everything above the targets first so no dup2 clobbers a
        // received fd.
        let base = 3 + plan.preserve_fds as RawFd;
        let lifted = received
            .iter()
            .map(|fd| sys::dup_above(fd.as_fd(), base + 16))
            .collect::<Result<Vec<_>, _>>()
            .map_err(io_step("move received fds"))?;
        drop(received);
        let mut lifted = lifted.into_iter();
        for target in 3..base {
            if let Some(fd) = lifted.next() {
                sys::dup2(fd.as_fd(), target).map_err(io_step("install preserved fd"))?;
            }
        }
        if plan.console_socket.is_some() {
            let sock = lifted
                .next()
                .ok_or_else(|| ChildError::msg("helper", "console socket fd missing"))?;
            plan.console_socket = Some(sock.into_raw_fd());
        }
        if plan.fifo.is_some() {
            let fifo = lifted
                .next()
                .ok_or_else(|| ChildError::msg("helper", "exec fifo fd missing"))?;
            plan.fifo = Some(fifo.into_raw_fd());
        }
        for (_, raw) in plan.idmap_mounts.iter_mut() {
            let tree = lifted
                .next()
                .ok_or_else(|| ChildError::msg("helper", "idmapped mount fd missing"))?;
            *raw = tree.into_raw_fd();
        }
        if plan.cgroup_fd.is_some() {
            let dir = lifted
                .next()
                .ok_or_else(|| ChildError::msg("helper", "cgroup fd missing"))?;
            plan.cgroup_fd = Some(dir.into_raw_fd());
        }
        Ok(plan)
    })();
    match result {
        Ok(plan) => run_intermediate(&plan, chan),
        Err(e) => {
            chan.report_failure(e);
            sys::exit_now(1)
        }
    }
}

#[cfg(test)]
mod direct_clone_tests {
    use super::*;

    fn plan_with(namespaces: serde_json::Value) -> InitPlan {
        let mut spec = crate::spec::default_config();
        spec["linux"]["namespaces"] = namespaces;
        InitPlan {
            id: "t".into(),
            spec: serde_json::from_value(spec).expect("spec"),
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            fifo: None,
            console_socket: None,
            preserve_fds: 0,
            no_pivot: false,
            no_new_keyring: false,
            seccomp: None,
            exec: false,
            idmap_mounts: Vec::new(),
            cgroup_fd: None,
        }
    }

    #[test]
    fn only_fresh_namespaces_without_user_or_time_clone_init_directly() {
        let fresh = plan_with(serde_json::json!([{"type": "pid"}, {"type": "mount"}]));
        assert_eq!(
            direct_clone_flags(&fresh),
            Some(libc::CLONE_NEWPID | libc::CLONE_NEWNS)
        );
        for namespaces in [
            serde_json::json!([{"type": "pid"}, {"type": "user"}]),
            serde_json::json!([{"type": "mount"}, {"type": "time"}]),
            serde_json::json!([{"type": "network", "path": "/proc/1/ns/net"}]),
        ] {
            assert_eq!(
                direct_clone_flags(&plan_with(namespaces.clone())),
                None,
                "{namespaces}"
            );
        }
        let mut exec = plan_with(serde_json::json!([{"type": "pid"}]));
        exec.exec = true;
        assert_eq!(direct_clone_flags(&exec), None);
    }
}
