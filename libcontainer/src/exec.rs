//! `exec`: a new process in a running container, in all of its namespaces
//! and its cgroup, with the container's seccomp profile.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType, Process};

use crate::container::{wait_forwarding, Container, FORWARDED};
use crate::error::{BundleError, Error, Result};
use crate::init::InitPlan;
use crate::launcher::{self, LaunchContext};
use crate::state::Status;
use crate::sys;

/// How to start an exec'd process.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// Receives the pty master when the process has a terminal.
    pub console_socket: Option<PathBuf>,
    /// File to write the process's host pid to.
    pub pid_file: Option<PathBuf>,
    /// Pass fds 3 .. 3+n of the caller on.
    pub preserve_fds: u32,
    /// Allow exec into a paused container.
    pub ignore_paused: bool,
    /// Helper binary for multi-threaded callers (see `ContainerBuilder::init_binary`).
    pub init_binary: Option<PathBuf>,
}

/// The name of a namespace under /proc/<pid>/ns/.
fn ns_file(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

impl Container {
    /// The process of the container's config: the base `exec` starts from
    /// when only args are given.
    pub fn config_process(&self) -> Result<Process> {
        self.config()?
            .process()
            .clone()
            .ok_or_else(|| self.no_config())
    }

    fn no_config(&self) -> Error {
        Error::State(crate::error::StateError::Corrupt {
            id: self.saved.id.clone(),
            message: "its config has no process".into(),
        })
    }

    /// Starts `process` in the container and returns its host pid once it
    /// is about to exec. The process is a child of the calling process.
    pub fn exec(&self, process: Process, opts: &ExecOptions) -> Result<libc::pid_t> {
        self.exec_with_console(process, opts, None)
    }

    fn exec_with_console(
        &self,
        process: Process,
        opts: &ExecOptions,
        console_pair: Option<OwnedFd>,
    ) -> Result<libc::pid_t> {
        let status = self.status();
        match status {
            Status::Running | Status::Created => {}
            Status::Paused if opts.ignore_paused => {}
            Status::Paused => {
                return Err(self.wrong_status(status, "cannot exec in a paused container"))
            }
            _ => return Err(self.wrong_status(status, "cannot exec in a stopped container")),
        }
        let mut spec = self.config()?;
        if process.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(BundleError::invalid("process.args", "must name a program to run").into());
        }
        if !process.cwd().is_absolute() {
            return Err(BundleError::invalid(
                "process.cwd",
                format!("{:?} is not an absolute path", process.cwd()),
            )
            .into());
        }
        spec.set_process(Some(process));
        // Every namespace of the container, joined through its init.
        let pid = self.saved.pid;
        let mut linux = spec.linux().clone().unwrap_or_default();
        let joined: Vec<LinuxNamespace> = linux
            .namespaces()
            .iter()
            .flatten()
            .map(|ns| {
                let mut j = ns.clone();
                j.set_path(Some(PathBuf::from(format!(
                    "/proc/{pid}/ns/{}",
                    ns_file(ns.typ())
                ))));
                j
            })
            .collect();
        linux.set_namespaces(Some(joined));
        linux.set_uid_mappings(None);
        linux.set_gid_mappings(None);
        spec.set_linux(Some(linux));
        let seccomp = crate::container::compile_seccomp(&spec, &self.root)?;
        let console =
            crate::container::connect_console(opts.console_socket.as_deref(), console_pair)?;
        let plan = InitPlan {
            id: self.saved.id.clone(),
            spec,
            bundle: self.saved.bundle.clone(),
            rootfs: self.saved.rootfs.clone(),
            fifo: None,
            console_socket: None,
            preserve_fds: opts.preserve_fds,
            no_pivot: false,
            no_new_keyring: true,
            seccomp,
            exec: true,
            cgroup_fd: None,
        };
        let ctx = LaunchContext {
            cgroup: launcher::CgroupSetup::Join(&self.saved.cgroup_paths),
            resources: None,
            console_socket: console.as_ref(),
            exec_fifo: None,
            helper: opts.init_binary.as_deref(),
            force_helper: false,
        };
        crate::fault::point("exec:before-launch");
        let pid = launcher::launch(plan, &ctx)?;
        crate::fault::point("exec:after-launch");
        if let Some(pid_file) = &opts.pid_file {
            crate::container::write_pid_file(pid_file, pid)?;
        }
        Ok(pid)
    }

    /// Runs `process` in the container and waits for it, forwarding
    /// signals; returns its exit code (128+N when killed by signal N).
    pub fn exec_and_wait(&self, process: Process, opts: &ExecOptions) -> Result<i32> {
        let old = sys::block_signals(FORWARDED).map_err(|e| Error::sys("block signals", e))?;
        let result = if process.terminal().unwrap_or(false) && opts.console_socket.is_none() {
            // Relay the terminal ourselves, as a foreground run does.
            (|| {
                let (ours, theirs) =
                    UnixStream::pair().map_err(|e| Error::sys("console socket pair", e))?;
                let pid = self.exec_with_console(process, opts, Some(OwnedFd::from(theirs)))?;
                let master = crate::tty_proxy::receive_master(&ours)?;
                crate::tty_proxy::relay(master, pid)
            })()
        } else {
            self.exec(process, opts).and_then(wait_forwarding)
        };
        sys::restore_sigmask(&old);
        result
    }
}
