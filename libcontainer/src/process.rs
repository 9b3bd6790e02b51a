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
    let actual = match std::env::current_dir() {
        Ok(p) => p,
        // A seccomp profile may forbid getcwd. An absolute chdir from the
        // container's root cannot leave it, so the check is only a second
        // line of defence: skip it then.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::ENOSYS)) => return Ok(()),
        Err(e) => return Err(ChildError::io(format!("process.cwd {}", cwd.display()), &e)),
    };
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

/// linux.personality: the execution domain and flags of the process.
pub fn apply_personality(spec: &oci_spec::runtime::Spec) -> Result<(), ChildError> {
    let Some(p) = spec.linux().as_ref().and_then(|l| l.personality().clone()) else {
        return Ok(());
    };
    let persona = personality_value(&p).map_err(|m| ChildError::msg("linux.personality", m))?;
    sys::personality(persona).map_err(|e| ChildError::io("linux.personality", &e))
}

/// The personality(2) value of linux.personality.
pub fn personality_value(p: &oci_spec::runtime::LinuxPersonality) -> Result<libc::c_ulong, String> {
    use oci_spec::runtime::LinuxPersonalityDomain as D;
    const FLAGS: &[(&str, libc::c_ulong)] = &[
        ("UNAME26", 0x0020000),
        ("ADDR_NO_RANDOMIZE", 0x0040000),
        ("FDPIC_FUNCPTRS", 0x0080000),
        ("MMAP_PAGE_ZERO", 0x0100000),
        ("ADDR_COMPAT_LAYOUT", 0x0200000),
        ("READ_IMPLIES_EXEC", 0x0400000),
        ("ADDR_LIMIT_32BIT", 0x0800000),
        ("SHORT_INODE", 0x1000000),
        ("WHOLE_SECONDS", 0x2000000),
        ("STICKY_TIMEOUTS", 0x4000000),
        ("ADDR_LIMIT_3GB", 0x8000000),
    ];
    let mut value: libc::c_ulong = match p.domain() {
        D::PerLinux => 0x0000,
        D::PerLinux32 => 0x0008,
    };
    for f in p.flags().iter().flatten() {
        let bit = FLAGS
            .iter()
            .find(|(n, _)| n == f)
            .map(|(_, b)| *b)
            .ok_or_else(|| format!("flag {f:?} is not a personality flag"))?;
        value |= bit;
    }
    Ok(value)
}

/// process.ioPriority.
pub fn apply_io_priority(process: &Process) -> Result<(), ChildError> {
    use oci_spec::runtime::IOPriorityClass as C;
    let Some(io) = process.io_priority() else {
        return Ok(());
    };
    let class = match io.class() {
        C::IoprioClassRt => 1,
        C::IoprioClassBe => 2,
        C::IoprioClassIdle => 3,
    };
    sys::ioprio_set(class, io.priority() as u32).map_err(|e| {
        ChildError::io(
            format!("process.ioPriority {} {}", io.class(), io.priority()),
            &e,
        )
    })
}

/// The sched_attr of process.scheduler (validated beforehand).
pub fn sched_attr(s: &oci_spec::runtime::Scheduler) -> sys::SchedAttr {
    use oci_spec::runtime::LinuxSchedulerFlag as F;
    use oci_spec::runtime::LinuxSchedulerPolicy as P;
    let policy = match s.policy() {
        P::SchedOther => 0,
        P::SchedFifo => 1,
        P::SchedRr => 2,
        P::SchedBatch => 3,
        P::SchedIso => 4,
        P::SchedIdle => 5,
        P::SchedDeadline => 6,
    };
    let flags = s
        .flags()
        .iter()
        .flatten()
        .map(|f| match f {
            F::SchedResetOnFork => 0x01,
            F::SchedFlagReclaim => 0x02,
            F::SchedFlagDLOverrun => 0x04,
            F::SchedFlagKeepPolicy => 0x08,
            F::SchedFlagKeepParams => 0x10,
            F::SchedFlagUtilClampMin => 0x20,
            F::SchedFlagUtilClampMax => 0x40,
        })
        .fold(0u64, |a, b| a | b);
    sys::SchedAttr {
        policy,
        flags,
        nice: s.nice().unwrap_or(0),
        priority: s.priority().unwrap_or(0).max(0) as u32,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
        ..Default::default()
    }
}

/// process.scheduler.
pub fn apply_scheduler(process: &Process) -> Result<(), ChildError> {
    let Some(s) = process.scheduler() else {
        return Ok(());
    };
    sys::sched_setattr(&sched_attr(s))
        .map_err(|e| ChildError::io(format!("process.scheduler {}", s.policy()), &e))
}

/// Parses a node list like "0-3,7" into a bitmask of c_ulongs.
pub fn parse_nodes(list: &str) -> Result<Vec<libc::c_ulong>, String> {
    let bits = libc::c_ulong::BITS as usize;
    let mut mask: Vec<libc::c_ulong> = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let lo: usize = lo
            .parse()
            .map_err(|_| format!("{part:?} is not a node or range"))?;
        let hi: usize = hi
            .parse()
            .map_err(|_| format!("{part:?} is not a node or range"))?;
        if lo > hi || hi >= 4096 {
            return Err(format!("{part:?} is not a valid node range"));
        }
        for n in lo..=hi {
            if mask.len() <= n / bits {
                mask.resize(n / bits + 1, 0);
            }
            mask[n / bits] |= 1 << (n % bits);
        }
    }
    Ok(mask)
}

/// Parses a CPU list like "0-3,7" (the syntax of process.execCPUAffinity)
/// into CPU numbers, each below the kernel's CPU_SETSIZE.
pub fn parse_cpu_list(list: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in list.split(',') {
        let bad = || format!("{part:?} is not a CPU number or range (expected a list like 0-3,7)");
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(lo) || !digits(hi) {
            return Err(bad());
        }
        let lo: usize = lo.parse().map_err(|_| bad())?;
        let hi: usize = hi.parse().map_err(|_| bad())?;
        if lo > hi {
            return Err(format!("{part:?}: the range runs backwards"));
        }
        if hi >= sys::CPU_SETSIZE {
            return Err(format!(
                "{part:?}: CPU {hi} is beyond the largest CPU number the kernel takes ({})",
                sys::CPU_SETSIZE - 1
            ));
        }
        cpus.extend(lo..=hi);
    }
    Ok(cpus)
}

/// The message names the whole list only when the bad part is not all of it.
fn cpu_list_error(text: &str, message: String) -> String {
    if text.contains(',') {
        format!("{text:?}: {message}")
    } else {
        message
    }
}

/// Checks process.execCPUAffinity (an empty list is the same as none). A
/// list without any online CPU is refused here, before anything starts,
/// as the kernel would refuse it later.
pub fn check_exec_cpu_affinity(process: &Process) -> Result<(), crate::error::BundleError> {
    let Some(aff) = process.exec_cpu_affinity() else {
        return Ok(());
    };
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|s| parse_cpu_list(s.trim()).ok());
    let check = |field: &str, value: &Option<String>| {
        let Some(text) = value.as_deref().filter(|t| !t.is_empty()) else {
            return Ok(());
        };
        let field = format!("process.execCPUAffinity.{field}");
        let cpus = parse_cpu_list(text)
            .map_err(|m| crate::error::BundleError::invalid(&field, cpu_list_error(text, m)))?;
        if let Some(online) = &online {
            if !cpus.iter().any(|c| online.contains(c)) {
                return Err(crate::error::BundleError::invalid(
                    &field,
                    format!("{text:?} names no online CPU of this host"),
                ));
            }
        }
        Ok(())
    };
    check("initial", aff.initial())?;
    check("final", aff.cpu_affinity_final())
}

/// Applies process.execCPUAffinity.initial (`initial`) or .final to the
/// calling process (an exec'd process, before or after it joins the
/// container's cgroup).
pub fn apply_cpu_affinity(process: &Process, initial: bool) -> Result<(), ChildError> {
    let Some(aff) = process.exec_cpu_affinity() else {
        return Ok(());
    };
    let (which, value) = if initial {
        ("initial", aff.initial())
    } else {
        ("final", aff.cpu_affinity_final())
    };
    let Some(text) = value.as_deref().filter(|t| !t.is_empty()) else {
        return Ok(());
    };
    let field = format!("process.execCPUAffinity.{which}");
    let cpus =
        parse_cpu_list(text).map_err(|m| ChildError::msg(&field, cpu_list_error(text, m)))?;
    sys::sched_setaffinity_self(&cpus).map_err(|e| ChildError::io(format!("{field} {text:?}"), &e))
}

/// The mode (with flags) and nodes of linux.memoryPolicy.
pub fn memory_policy(
    p: &oci_spec::runtime::LinuxMemoryPolicy,
) -> Result<(i32, Vec<libc::c_ulong>), String> {
    use oci_spec::runtime::MemoryPolicyFlagType as F;
    use oci_spec::runtime::MemoryPolicyModeType as M;
    let mode = match p.mode() {
        M::MpolDefault => 0,
        M::MpolPreferred => 1,
        M::MpolBind => 2,
        M::MpolInterleave => 3,
        M::MpolLocal => 4,
        M::MpolPreferredMany => 5,
        M::MpolWeightedInterleave => 6,
    };
    let flags = p
        .flags()
        .iter()
        .flatten()
        .map(|f| match f {
            F::MpolFNumaBalancing => 1 << 13,
            F::MpolFRelativeNodes => 1 << 14,
            F::MpolFStaticNodes => 1 << 15,
        })
        .fold(0, |a, b| a | b);
    let nodes = parse_nodes(p.nodes().as_deref().unwrap_or(""))?;
    let needs_nodes = matches!(mode, 2 | 3 | 5 | 6);
    if needs_nodes && nodes.is_empty() {
        return Err(format!("{} needs nodes", p.mode()));
    }
    if matches!(mode, 0 | 4) && !nodes.is_empty() {
        return Err(format!("{} takes no nodes", p.mode()));
    }
    Ok((mode | flags, nodes))
}

/// linux.memoryPolicy.
pub fn apply_memory_policy(spec: &oci_spec::runtime::Spec) -> Result<(), ChildError> {
    let Some(p) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.memory_policy().clone())
    else {
        return Ok(());
    };
    let (mode, nodes) = memory_policy(&p).map_err(|m| ChildError::msg("linux.memoryPolicy", m))?;
    sys::set_mempolicy(mode, &nodes).map_err(|e| ChildError::io("linux.memoryPolicy", &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_lists_become_bitmasks() {
        assert_eq!(parse_nodes("0-2,5").unwrap(), vec![0b100111]);
        assert_eq!(parse_nodes("64").unwrap(), vec![0, 1]);
        assert!(parse_nodes("3-1").is_err());
        assert!(parse_nodes("x").is_err());
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-2,5").unwrap(), vec![0, 1, 2, 5]);
        assert_eq!(parse_cpu_list("7").unwrap(), vec![7]);
        for bad in ["", "1,", "3-1", "a", "1-", " 1", "0-5000", "-1"] {
            assert!(parse_cpu_list(bad).is_err(), "{bad:?} accepted");
        }
    }
}
