//! linux.seccomp: compiled to classic BPF with libseccomp in the runtime
//! process (so a bad profile fails `create` before anything exists), loaded
//! by init with seccomp(2) at the moment runc loads it.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterAttr, ScmpFilterContext,
    ScmpSyscall,
};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use serde::{Deserialize, Serialize};

use crate::error::BundleError;

/// A profile ready to load.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompiledSeccomp {
    /// The BPF program (an array of struct sock_filter).
    pub bpf: Vec<u8>,
    /// SECCOMP_FILTER_FLAG_* for seccomp(2).
    pub flags: u32,
    /// Some rule uses SCMP_ACT_NOTIFY: the listener fd goes to listenerPath.
    pub notify: bool,
}

const FIELD: &str = "linux.seccomp";

fn action(
    a: LinuxSeccompAction,
    errno: Option<u32>,
    default_errno: u32,
    field: &str,
) -> Result<ScmpAction, BundleError> {
    let errno_of = |e: u32| -> Result<i32, BundleError> {
        i32::try_from(e)
            .ok()
            .filter(|e| *e <= u16::MAX as i32)
            .ok_or_else(|| BundleError::invalid(field, format!("errno {e} is out of range")))
    };
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => {
            ScmpAction::Errno(errno_of(errno.unwrap_or(default_errno))?)
        }
        LinuxSeccompAction::ScmpActTrace => {
            ScmpAction::Trace(errno_of(errno.unwrap_or(default_errno))? as u16)
        }
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    })
}

fn compare_op(op: LinuxSeccompOperator, value_two: Option<u64>) -> ScmpCompareOp {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(value_two.unwrap_or(0)),
    }
}

/// Name of a spec enum value as written in the JSON (e.g. "SCMP_ARCH_X86").
fn json_name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// Compiles the profile. Syscall names this libseccomp does not know are
/// skipped (profiles list syscalls of newer kernels), as runc does.
pub fn compile(profile: &LinuxSeccomp) -> Result<CompiledSeccomp, BundleError> {
    let lib = |what: &str, e: libseccomp::error::SeccompError| {
        BundleError::invalid(FIELD, format!("{what}: {e}"))
    };
    let default_errno = profile.default_errno_ret().unwrap_or(libc::EPERM as u32);
    let default = action(
        profile.default_action(),
        profile.default_errno_ret(),
        default_errno,
        "linux.seccomp.defaultAction",
    )?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| lib("create filter", e))?;
    // Syscalls of an architecture the profile does not list fail with ENOSYS
    // rather than killing the process.
    ctx.set_act_badarch(ScmpAction::Errno(libc::ENOSYS))
        .map_err(|e| lib("bad-arch action", e))?;
    // seccomp(2) is called by berth itself, with or without no_new_privs.
    ctx.set_ctl_nnp(false).map_err(|e| lib("nnp", e))?;
    for (i, arch) in profile.architectures().iter().flatten().enumerate() {
        let name = json_name(arch);
        let a = ScmpArch::from_str(&name).map_err(|_| {
            BundleError::invalid(
                format!("linux.seccomp.architectures[{i}]"),
                format!("{name:?} is not an architecture libseccomp knows"),
            )
        })?;
        ctx.add_arch(a)
            .map_err(|e| lib(&format!("add architecture {name}"), e))?;
    }
    let mut notify = matches!(default, ScmpAction::Notify);
    for (i, rule) in profile.syscalls().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        let act = action(rule.action(), rule.errno_ret(), default_errno, &field)?;
        if act == default {
            continue;
        }
        notify |= matches!(act, ScmpAction::Notify);
        let args = rule.args().clone().unwrap_or_default();
        let mut conditions = Vec::new();
        for (j, a) in args.iter().enumerate() {
            if a.index() > 5 {
                return Err(BundleError::invalid(
                    format!("{field}.args[{j}].index"),
                    format!("{} is not a syscall argument index (0-5)", a.index()),
                ));
            }
            conditions.push(ScmpArgCompare::new(
                a.index() as u32,
                compare_op(a.op(), a.value_two()),
                a.value(),
            ));
        }
        // Conditions on distinct arguments must all hold (one rule); several
        // conditions on the same argument are alternatives (one rule each).
        let mut indexes: Vec<usize> = args.iter().map(|a| a.index()).collect();
        indexes.sort_unstable();
        let repeated = indexes.windows(2).any(|w| w[0] == w[1]);
        for name in rule.names() {
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                tracing::debug!(syscall = %name, "seccomp: syscall unknown to libseccomp, skipped");
                continue;
            };
            let r = if conditions.is_empty() {
                ctx.add_rule(act, sc)
            } else if repeated {
                conditions
                    .iter()
                    .try_for_each(|c| ctx.add_rule_conditional(act, sc, &[*c]).map(drop))
                    .map(|()| &mut ctx)
            } else {
                ctx.add_rule_conditional(act, sc, &conditions)
            };
            r.map_err(|e| BundleError::invalid(format!("{field}.names"), format!("{name}: {e}")))?;
        }
    }
    let mut flags = 0u32;
    for f in profile.flags().iter().flatten() {
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            }
        } as u32;
    }
    if notify {
        if profile.listener_path().is_none() {
            return Err(BundleError::invalid(
                "linux.seccomp.listenerPath",
                "SCMP_ACT_NOTIFY needs a listener path",
            ));
        }
        flags |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32;
    } else if flags & libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV as u32 != 0 {
        return Err(BundleError::invalid(
            "linux.seccomp.flags",
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs an SCMP_ACT_NOTIFY rule",
        ));
    }
    ctx.set_filter_attr(ScmpFilterAttr::CtlOptimize, 2)
        .map_err(|e| lib("optimize", e))?;
    let bpf = export(&ctx).map_err(|e| BundleError::invalid(FIELD, format!("export BPF: {e}")))?;
    Ok(CompiledSeccomp { bpf, flags, notify })
}

/// Name of the cache directory under the state root. '@' cannot appear in a
/// container ID, so it never collides with a container's directory.
const CACHE_DIR: &str = "@seccomp-cache";
const CACHE_MAGIC: &[u8; 8] = b"BERTHSC1";

/// The exact inputs a compiled program depends on.
fn cache_key(profile: &LinuxSeccomp) -> Option<Vec<u8>> {
    let mut key = serde_json::to_vec(profile).ok()?;
    let lib = libseccomp::ScmpVersion::current().ok()?;
    key.extend_from_slice(
        format!(
            "\0{}\0{}.{}.{}\0{}",
            std::env::consts::ARCH,
            lib.major,
            lib.minor,
            lib.micro,
            env!("CARGO_PKG_VERSION")
        )
        .as_bytes(),
    );
    Some(key)
}

fn cache_file(root: &Path, key: &[u8]) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    root.join(CACHE_DIR)
        .join(format!("{:016x}.bpf", h.finish()))
}

/// Reads a cache entry, trusting it only if it is a regular file of ours
/// that nobody else can write and it was made from exactly `key`.
fn cache_read(path: &Path, key: &[u8]) -> Option<CompiledSeccomp> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .ok()?;
    let meta = f.metadata().ok()?;
    let (euid, _) = crate::sys::effective_ids();
    if !meta.is_file() || meta.uid() != euid || meta.mode() & 0o022 != 0 {
        return None;
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    f.read_to_end(&mut data).ok()?;
    let rest = data.strip_prefix(CACHE_MAGIC.as_slice())?;
    let key_len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let rest = rest.get(4..)?;
    if rest.get(..key_len)? != key {
        return None;
    }
    let rest = rest.get(key_len..)?;
    let flags = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?);
    let notify = *rest.get(4)? != 0;
    let bpf = rest.get(5..)?.to_vec();
    if bpf.is_empty() || bpf.len() % 8 != 0 {
        return None;
    }
    Some(CompiledSeccomp { bpf, flags, notify })
}

/// Stores a compiled profile (best effort: a failure only costs speed).
fn cache_write(path: &Path, key: &[u8], c: &CompiledSeccomp) {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let Some(dir) = path.parent() else { return };
    if std::fs::DirBuilder::new().mode(0o700).create(dir).is_err() && !dir.is_dir() {
        return;
    }
    let mut data = Vec::with_capacity(CACHE_MAGIC.len() + key.len() + c.bpf.len() + 16);
    data.extend_from_slice(CACHE_MAGIC);
    data.extend_from_slice(&(key.len() as u32).to_le_bytes());
    data.extend_from_slice(key);
    data.extend_from_slice(&c.flags.to_le_bytes());
    data.push(u8::from(c.notify));
    data.extend_from_slice(&c.bpf);
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .and_then(|mut f| f.write_all(&data));
    if written.is_err() || std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// [`compile`] through a cache of compiled programs under the state root
/// `root` (owned by the runtime's user, mode 0700, so containers cannot
/// write it). A Docker-like profile takes libseccomp milliseconds to
/// compile; loading the cached program takes microseconds.
pub fn compile_cached(profile: &LinuxSeccomp, root: &Path) -> Result<CompiledSeccomp, BundleError> {
    let Some(key) = cache_key(profile) else {
        return compile(profile);
    };
    let path = cache_file(root, &key);
    if let Some(hit) = cache_read(&path, &key) {
        return Ok(hit);
    }
    let compiled = compile(profile)?;
    cache_write(&path, &key, &compiled);
    Ok(compiled)
}

/// libseccomp writes the program to an fd: a memfd, read back.
fn export(ctx: &ScmpFilterContext) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek};
    let mut file = crate::sys::memfd("berth-seccomp")?;
    ctx.export_bpf(&file).map_err(std::io::Error::other)?;
    file.rewind()?;
    let mut bpf = Vec::new();
    file.read_to_end(&mut bpf)?;
    Ok(bpf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn compiles_a_small_profile() {
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [
                {"names": ["getcwd", "no_such_syscall_xyz"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42},
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                          {"index": 0, "value": 9, "op": "SCMP_CMP_EQ"}]}
            ]
        }));
        let c = compile(&p).unwrap();
        assert!(!c.bpf.is_empty());
        assert_eq!(c.bpf.len() % 8, 0);
        assert!(!c.notify);
    }

    #[test]
    fn cache_returns_the_same_program_and_rejects_tampering() {
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}]
        }));
        let root = std::env::temp_dir().join(format!("berth-sc-cache-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let first = compile_cached(&p, &root).unwrap();
        let key = cache_key(&p).unwrap();
        let path = cache_file(&root, &key);
        assert!(path.is_file(), "no cache entry written");
        let second = compile_cached(&p, &root).unwrap();
        assert_eq!(first.bpf, second.bpf);
        // A different profile never gets this entry, even under the same name.
        let other = profile(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW"}));
        assert!(cache_read(&path, &cache_key(&other).unwrap()).is_none());
        // A group-writable entry is not trusted.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(cache_read(&path, &key).is_none());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn notify_without_listener_is_an_error() {
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        }));
        let text = compile(&p).unwrap_err().to_string();
        assert!(text.contains("listenerPath"), "{text}");
    }

    #[test]
    fn bad_argument_index_names_the_field() {
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]
        }));
        let text = compile(&p).unwrap_err().to_string();
        assert!(
            text.contains("linux.seccomp.syscalls[0].args[0].index"),
            "{text}"
        );
    }
}
