//! `exec`: a new process in a running container, in all of its namespaces
//! and its cgroup, with the container's seccomp profile.

use std::collections::{BTreeMap, HashMap};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType, Process};

use crate::container::{wait_forwarding, Container, FORWARDED};
use crate::error::{Error, Result};
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
    /// A unix socket that receives a pidfd of the exec'd process.
    pub pidfd_socket: Option<PathBuf>,
    /// An existing sub-cgroup of the container's cgroup to run the process in.
    pub sub_cgroup: Option<SubCgroup>,
}

/// Where below the container's cgroup an exec'd process goes (runc's
/// `exec --cgroup`). The sub-cgroups must exist already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubCgroup {
    /// The same path below the container's cgroup of every controller.
    All(String),
    /// A path per controller ("cpu", "memory" … on cgroup v1); controllers
    /// not named keep the container's own cgroup.
    PerController(BTreeMap<String, String>),
}

impl SubCgroup {
    /// Parses runc's `--cgroup` values: a single `PATH`, or any number of
    /// `CTRL[,CTRL…]:PATH`. `None` when there are none.
    pub fn parse(args: &[String]) -> Result<Option<SubCgroup>> {
        let bad = |arg: &str, why: &str| {
            let arg = if arg.is_empty() { "\"\"" } else { arg };
            Error::Argument(format!("--cgroup {arg}: {why}"))
        };
        let mut per = BTreeMap::new();
        let mut all = None;
        for arg in args {
            match arg.split_once(':') {
                Some((ctrls, path)) => {
                    if path.is_empty() {
                        return Err(bad(arg, "no path after the controllers"));
                    }
                    for ctrl in ctrls.split(',') {
                        if ctrl.is_empty() {
                            return Err(bad(arg, "empty controller name"));
                        }
                        if per.insert(ctrl.to_string(), path.to_string()).is_some() {
                            return Err(bad(arg, &format!("controller {ctrl} is given twice")));
                        }
                    }
                }
                None if arg.is_empty() => return Err(bad(arg, "empty path")),
                None => all = Some(arg.clone()),
            }
        }
        match all {
            Some(path) if args.len() == 1 => Ok(Some(SubCgroup::All(path))),
            Some(path) => Err(bad(
                &path,
                "a path for all controllers cannot be combined with other --cgroup values \
                 (use CTRL:PATH for each)",
            )),
            None if per.is_empty() => Ok(None),
            None => Ok(Some(SubCgroup::PerController(per))),
        }
    }
}

/// `sub` as a relative path inside a cgroup: `..` may not climb out of it.
/// `arg` is the --cgroup value, for the message.
fn relative_sub_path(sub: &str, arg: &str) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(sub).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir if out.pop() => {}
            Component::ParentDir => {
                return Err(Error::Argument(format!(
                    "--cgroup {arg}: {sub:?} leaves the container's cgroup"
                )))
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Ok(out)
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

    /// The cgroup directories an exec'd process joins: the container's, or
    /// the requested existing sub-cgroups of them.
    fn exec_cgroup_dirs(&self, sub: Option<&SubCgroup>) -> Result<HashMap<String, PathBuf>> {
        let mut dirs = self.saved.cgroup_paths.clone();
        let Some(sub) = sub else {
            return Ok(dirs);
        };
        if dirs.is_empty() {
            return Err(Error::Argument(
                "--cgroup: the container has no cgroup of its own".into(),
            ));
        }
        let v2 = dirs.contains_key(crate::cgroups::v2::KEY);
        let (wanted, shown): (Vec<(Option<&str>, &str)>, String) = match sub {
            SubCgroup::All(p) => (vec![(None, p.as_str())], p.clone()),
            SubCgroup::PerController(m) => (
                m.iter()
                    .map(|(c, p)| (Some(c.as_str()), p.as_str()))
                    .collect(),
                m.iter()
                    .map(|(c, p)| format!("{c}:{p}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        };
        if v2 {
            // One tree for every controller: all paths must agree.
            let first = wanted.first().map(|w| w.1).unwrap_or_default();
            if wanted.iter().any(|w| w.1 != first) {
                return Err(Error::Argument(format!(
                    "--cgroup {shown}: on cgroup v2 every controller lives in one cgroup; \
                     give a single path"
                )));
            }
            let rel = relative_sub_path(first, &shown)?;
            for dir in dirs.values_mut() {
                dir.push(&rel);
            }
        } else {
            for (ctrl, path) in &wanted {
                let arg = match ctrl {
                    Some(c) => format!("{c}:{path}"),
                    None => path.to_string(),
                };
                let rel = relative_sub_path(path, &arg)?;
                match ctrl {
                    None => dirs.values_mut().for_each(|d| d.push(&rel)),
                    Some(c) => {
                        let mut known = dirs.keys().cloned().collect::<Vec<_>>();
                        known.sort();
                        let dir = dirs.get_mut(*c).ok_or_else(|| {
                            Error::Argument(format!(
                                "--cgroup {arg}: the container has no {c} cgroup \
                                 (its controllers: {})",
                                known.join(", ")
                            ))
                        })?;
                        dir.push(&rel);
                    }
                }
            }
        }
        for dir in dirs.values() {
            if !dir.is_dir() {
                return Err(Error::Argument(format!(
                    "--cgroup {shown}: {} does not exist; the sub-cgroup must be created first",
                    dir.display()
                )));
            }
        }
        Ok(dirs)
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
        crate::bundle::validate_process(&process)?;
        let cgroup_dirs = self.exec_cgroup_dirs(opts.sub_cgroup.as_ref())?;
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
        let pidfd_socket = opts
            .pidfd_socket
            .as_deref()
            .map(crate::container::connect_pidfd_socket)
            .transpose()?;
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
            idmap_mounts: Vec::new(),
            cgroup_fd: None,
        };
        let ctx = LaunchContext {
            cgroup: launcher::CgroupSetup::Join(&cgroup_dirs),
            resources: None,
            console_socket: console.as_ref(),
            exec_fifo: None,
            helper: opts.init_binary.as_deref(),
            force_helper: false,
        };
        crate::fault::point("exec:before-launch");
        let pid = launcher::launch(plan, &ctx)?;
        crate::fault::point("exec:after-launch");
        if let (Some(sock), Some(path)) = (&pidfd_socket, &opts.pidfd_socket) {
            if let Err(e) = crate::container::send_pidfd(sock, path, pid) {
                // Nobody could manage the process as asked: it must not run.
                let _ = sys::kill(pid, libc::SIGKILL);
                let _ = sys::waitpid(pid, 0);
                return Err(e);
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<SubCgroup>> {
        SubCgroup::parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn cgroup_flag_values() {
        assert_eq!(parse(&[]).unwrap(), None);
        assert_eq!(parse(&["a/b"]).unwrap(), Some(SubCgroup::All("a/b".into())));
        let per = parse(&["cpu,cpuacct:x", "memory:y"]).unwrap();
        let want: BTreeMap<String, String> = [("cpu", "x"), ("cpuacct", "x"), ("memory", "y")]
            .iter()
            .map(|(c, p)| (c.to_string(), p.to_string()))
            .collect();
        assert_eq!(per, Some(SubCgroup::PerController(want)));
        for bad in [
            &["a", "b"][..],
            &["a", "cpu:b"],
            &["cpu:a", "cpu:b"],
            &[":a"],
            &["cpu:"],
            &[""],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn sub_paths_stay_inside() {
        assert_eq!(
            relative_sub_path("/a/./b/../c", "x").unwrap(),
            PathBuf::from("a/c")
        );
        assert_eq!(relative_sub_path("/", "x").unwrap(), PathBuf::new());
        assert!(relative_sub_path("a/../..", "x").is_err());
        assert!(relative_sub_path("../x", "x").is_err());
    }
}
