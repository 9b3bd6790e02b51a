//! `berth exec`: runc's flags mapped onto a process for the library.

use std::path::PathBuf;

use berth::{Container, ExecOptions, SubCgroup};
use clap::Args;
use oci_spec::runtime::{Capability, Process};

/// Flags of `exec`.
#[derive(Args)]
pub struct ExecArgs {
    /// Path to a process.json; the command line then gives no program
    #[arg(short, long)]
    process: Option<PathBuf>,
    /// Set an environment variable (KEY=value), repeatable
    #[arg(short, long)]
    env: Vec<String>,
    /// Working directory inside the container
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// uid[:gid] to run as
    #[arg(short, long)]
    user: Option<String>,
    /// Extra group ids, repeatable
    #[arg(short = 'g', long = "additional-gids")]
    additional_gids: Vec<u32>,
    /// Add a capability, repeatable
    #[arg(short, long)]
    cap: Vec<String>,
    /// Set no_new_privs for the process
    #[arg(long = "no-new-privs")]
    no_new_privs: bool,
    /// Give the process a terminal (needs --console-socket)
    #[arg(short, long)]
    tty: bool,
    /// Unix socket that receives the pty master
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Return once the process has started
    #[arg(short, long)]
    detach: bool,
    /// File to write the process's pid to
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Pass this many fds after stdio on
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    /// AppArmor profile for the process
    #[arg(long)]
    apparmor: Option<String>,
    /// SELinux label for the process
    #[arg(long = "process-label")]
    process_label: Option<String>,
    /// Allow exec into a paused container
    #[arg(long = "ignore-paused")]
    ignore_paused: bool,
    /// Run in an existing sub-cgroup of the container: PATH, or
    /// CTRL[,CTRL]:PATH per controller (repeatable)
    #[arg(long)]
    cgroup: Vec<String>,
    /// Unix socket that receives a pidfd of the process
    #[arg(long = "pidfd-socket")]
    pidfd_socket: Option<PathBuf>,
    /// Container ID
    id: String,
    /// Program and arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

fn parse_user(s: &str) -> Result<(u32, Option<u32>), String> {
    let bad = || format!("--user {s:?}: expected uid[:gid] with numeric ids");
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    let uid = u.parse().map_err(|_| bad())?;
    let gid = g.map(|g| g.parse().map_err(|_| bad())).transpose()?;
    Ok((uid, gid))
}

fn build_process(container: &Container, a: &ExecArgs) -> Result<Process, String> {
    let mut p = match &a.process {
        Some(path) => {
            if !a.command.is_empty() {
                return Err("--process and a command line cannot be combined".into());
            }
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--process {}: {e}", path.display()))?;
            berth::bundle::parse_process(&text)
                .map_err(|e| format!("--process {}: {e}", path.display()))?
        }
        None => {
            if a.command.is_empty() {
                return Err("exec needs a command (or --process FILE)".into());
            }
            let mut p = container.config_process().map_err(|e| e.to_string())?;
            p.set_args(Some(a.command.clone()));
            p.set_terminal(Some(false));
            p
        }
    };
    if !a.env.is_empty() {
        let mut env = p.env().clone().unwrap_or_default();
        for var in &a.env {
            let key = var.split('=').next().unwrap_or_default();
            env.retain(|e| e.split('=').next() != Some(key));
            env.push(var.clone());
        }
        p.set_env(Some(env));
    }
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(u) = &a.user {
        let (uid, gid) = parse_user(u)?;
        p.user_mut().set_uid(uid);
        if let Some(gid) = gid {
            p.user_mut().set_gid(gid);
        }
    }
    if !a.additional_gids.is_empty() {
        p.user_mut()
            .set_additional_gids(Some(a.additional_gids.clone()));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &a.cap {
            let cap: Capability = serde_json::from_value(serde_json::Value::String(name.clone()))
                .map_err(|_| format!("--cap {name:?} is not a capability"))?;
            let add = |set: &Option<std::collections::HashSet<Capability>>| {
                let mut s = set.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
        }
        p.set_capabilities(Some(caps));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if a.tty {
        p.set_terminal(Some(true));
    }
    // Named by their flags here; a process.json asking for them is
    // refused by the library, naming its field.
    if let Some(profile) = &a.apparmor {
        if !berth::features::apparmor_enabled() {
            return Err(format!(
                "--apparmor {profile:?}: cannot be applied: AppArmor is not enabled on this host"
            ));
        }
        p.set_apparmor_profile(Some(profile.clone()));
    }
    if let Some(label) = &a.process_label {
        if !berth::features::selinux_enabled() {
            return Err(format!(
                "--process-label {label:?}: cannot be applied: SELinux is not enabled on this host"
            ));
        }
        p.set_selinux_label(Some(label.clone()));
    }
    Ok(p)
}

/// Runs `exec`; returns the exit code to exit with.
pub fn exec(root: &std::path::Path, a: &ExecArgs) -> Result<u8, String> {
    let sub_cgroup = SubCgroup::parse(&a.cgroup).map_err(|e| e.to_string())?;
    let container = Container::load(root, &a.id).map_err(|e| e.to_string())?;
    let process = build_process(&container, a)?;
    let opts = ExecOptions {
        console_socket: a.console_socket.clone(),
        pid_file: a.pid_file.clone(),
        preserve_fds: a.preserve_fds,
        ignore_paused: a.ignore_paused,
        init_binary: None,
        pidfd_socket: a.pidfd_socket.clone(),
        sub_cgroup,
    };
    if a.detach {
        container.exec(process, &opts).map_err(|e| e.to_string())?;
        return Ok(0);
    }
    let code = container
        .exec_and_wait(process, &opts)
        .map_err(|e| e.to_string())?;
    Ok(code.clamp(0, 255) as u8)
}
