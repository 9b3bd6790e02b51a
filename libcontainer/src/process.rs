//! The container process's own settings: rlimits, oom_score_adj, user and
//! groups, environment, working directory, and finding the executable.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{PosixRlimitType, Process};

use crate::error::ChildError;
use crate::sys;

fn rlimit_resource(t: PosixRlimitType) -> u32 {
    match t {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// Applies process.rlimits. Raising a hard limit needs CAP_SYS_RESOURCE:
/// that failure is reported with the limit and the reason.
pub fn apply_rlimits(process: &Process) -> Result<(), ChildError> {
    for (i, rl) in process.rlimits().iter().flatten().enumerate() {
        sys::setrlimit(rlimit_resource(rl.typ()), rl.soft(), rl.hard()).map_err(|e| {
            let hint = if e.raw_os_error() == Some(libc::EPERM) {
                " (raising a hard limit needs CAP_SYS_RESOURCE, which berth does not have here)"
            } else {
                ""
            };
            ChildError {
                step: format!("process.rlimits[{i}]"),
                message: format!(
                    "{} soft {} hard {}: {e}{hint}",
                    rl.typ(),
                    rl.soft(),
                    rl.hard()
                ),
                errno: e.raw_os_error(),
            }
        })?;
    }
    Ok(())
}

/// Writes process.oomScoreAdj for ourselves (inherited by the exec'd program).
pub fn apply_oom_score_adj(process: &Process) -> Result<(), ChildError> {
    let Some(adj) = process.oom_score_adj() else {
        return Ok(());
    };
    std::fs::write("/proc/self/oom_score_adj", adj.to_string()).map_err(|e| {
        let hint = if adj < 0 && matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) {
            " (a negative value needs CAP_SYS_RESOURCE, which berth does not have here)"
        } else {
            ""
        };
        ChildError {
            step: "process.oomScoreAdj".into(),
            message: format!("{adj}: {e}{hint}"),
            errno: e.raw_os_error(),
        }
    })
}

/// Switches to process.user: supplementary groups, gid, then uid.
pub fn switch_user(process: &Process, in_user_ns: bool) -> Result<(), ChildError> {
    let user = process.user();
    let gids: Vec<u32> = user.additional_gids().clone().unwrap_or_default();
    let setgroups_allowed = !in_user_ns
        || std::fs::read_to_string("/proc/self/setgroups")
            .map(|s| s.trim() == "allow")
            .unwrap_or(true);
    if setgroups_allowed {
        sys::setgroups(&gids).map_err(|e| ChildError::io("process.user.additionalGids", &e))?;
    } else if !gids.is_empty() {
        return Err(ChildError::msg(
            "process.user.additionalGids",
            "setgroups is denied in this user namespace",
        ));
    }
    sys::setresgid(user.gid())
        .map_err(|e| ChildError::io(format!("process.user.gid {}", user.gid()), &e))?;
    sys::setresuid(user.uid())
        .map_err(|e| ChildError::io(format!("process.user.uid {}", user.uid()), &e))?;
    Ok(())
}

/// The environment of the process as C strings; HOME is added from the
/// container's /etc/passwd when missing, as runc does.
pub fn environment(process: &Process) -> Vec<CString> {
    let mut env: Vec<String> = process.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        let home = home_of(process.user().uid()).unwrap_or_else(|| "/".into());
        env.push(format!("HOME={home}"));
    }
    env.into_iter()
        .filter_map(|e| CString::new(e).ok())
        .collect()
}

fn home_of(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[2].parse::<u32>().ok()? == uid).then(|| f[5].to_string())
    })
}

/// Finds the program like execvp would, with the container's PATH; the
/// error wording matches runc's, which engines look for.
pub fn find_executable(process: &Process) -> Result<PathBuf, ChildError> {
    let args = process.args().clone().unwrap_or_default();
    let name = args.first().cloned().unwrap_or_default();
    let not_found = |what: &str| ChildError::msg("exec", format!("exec: {name:?}: {what}"));
    if name.contains('/') {
        let p = PathBuf::from(&name);
        return match std::fs::metadata(&p) {
            Ok(m) if m.is_file() => Ok(p),
            Ok(_) => Err(not_found("is a directory")),
            Err(_) => Err(not_found("stat: no such file or directory")),
        };
    }
    let path_var = process
        .env()
        .iter()
        .flatten()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .to_string();
    for dir in path_var.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(&name);
        if let Ok(m) = std::fs::metadata(&candidate) {
            use std::os::unix::fs::PermissionsExt;
            if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                return Ok(candidate);
            }
        }
    }
    Err(not_found("executable file not found in $PATH"))
}

/// Changes to process.cwd and checks that the result lies inside the
/// container's root (a leaked directory fd could otherwise point outside).
pub fn enter_cwd(process: &Process) -> Result<(), ChildError> {
    let cwd = process.cwd();
    std::env::set_current_dir(cwd)
        .map_err(|e| ChildError::io(format!("process.cwd {}", cwd.display()), &e))?;
    let actual = std::env::current_dir()
        .map_err(|e| ChildError::io(format!("process.cwd {}", cwd.display()), &e))?;
    if !actual.is_absolute() || actual.to_string_lossy().starts_with("(unreachable)") {
        return Err(ChildError::msg(
            "process.cwd",
            format!("{} resolves outside the container", cwd.display()),
        ));
    }
    Ok(())
}

/// Gives the container a session keyring of its own, so it cannot read the
/// host's keys. Kernels without keyrings are fine.
pub fn join_session_keyring(id: &str) -> Result<(), ChildError> {
    match sys::join_session_keyring(id) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EACCES)) => Ok(()),
        Err(e) => Err(ChildError::io("join a new session keyring", &e)),
    }
}
