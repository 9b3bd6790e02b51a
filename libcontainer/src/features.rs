//! `berth features`: what this berth does on this host, in the shape of the
//! runtime spec's features document. Every claim is tied to the code that
//! implements it or to a probe of the host, never to a wish list.

use serde_json::{json, Value};

use crate::security::lsm;

/// (major, minor) of the running kernel.
fn kernel_version() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The seccomp(2) filter flags the running kernel accepts.
fn supported_seccomp_flags() -> Vec<&'static str> {
    // The kernel has had each of these since: LOG 4.14, SPEC_ALLOW 4.17,
    // TSYNC 3.17, WAIT_KILLABLE_RECV 5.19. Probe the version instead of
    // loading filters into ourselves.
    let version = kernel_version();
    let mut flags = Vec::new();
    if version >= (4, 14) {
        flags.push("SECCOMP_FILTER_FLAG_LOG");
    }
    if version >= (4, 17) {
        flags.push("SECCOMP_FILTER_FLAG_SPEC_ALLOW");
    }
    if version >= (3, 17) {
        flags.push("SECCOMP_FILTER_FLAG_TSYNC");
    }
    if version >= (5, 19) {
        flags.push("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV");
    }
    flags
}

/// Every architecture name of the runtime spec.
const SECCOMP_ARCHS: &[&str] = &[
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
];

/// The architectures a profile may list here: libseccomp puts them in one
/// filter with the native one only when they share its byte order, so the
/// big-endian ones cannot be used on x86_64.
fn seccomp_archs() -> Vec<&'static str> {
    use std::str::FromStr;
    SECCOMP_ARCHS
        .iter()
        .copied()
        .filter(|name| {
            let Ok(arch) = libseccomp::ScmpArch::from_str(name) else {
                return false;
            };
            libseccomp::ScmpFilterContext::new(libseccomp::ScmpAction::Allow)
                .is_ok_and(|mut ctx| ctx.add_arch(arch).is_ok())
        })
        .collect()
}

/// Capability names the running kernel knows and berth can grant: a
/// capability missing from berth's own bounding set (this host withholds
/// CAP_SYS_RESOURCE) is refused when a config asks for it.
fn capabilities() -> Vec<String> {
    let bounding = caps::read(None, caps::CapSet::Bounding).unwrap_or_default();
    let mut caps: Vec<String> = caps::runtime::thread_all_supported()
        .into_iter()
        .filter(|c| bounding.contains(c))
        .map(|c| c.to_string())
        .collect();
    caps.sort();
    caps
}

/// Whether AppArmor is enabled on this host (a profile can be applied).
pub fn apparmor_enabled() -> bool {
    lsm::apparmor_enabled()
}

/// Whether SELinux is enabled on this host (a label can be applied).
pub fn selinux_enabled() -> bool {
    lsm::selinux_enabled()
}

/// The features document.
pub fn features() -> Value {
    let libseccomp = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::OCI_VERSION,
        "hooks": [
            "prestart", "createRuntime", "createContainer",
            "startContainer", "poststart", "poststop"
        ],
        "mountOptions": crate::rootfs::mount_options::known_options(),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": capabilities(),
            "cgroup": {
                // Built in, whatever the host mounts (the spec's meaning).
                "v1": true,
                "v2": true,
                "systemd": crate::cgroups::systemd::check_available().is_ok(),
                // A user's own manager (rootless --systemd-cgroup) wherever
                // systemd runs on cgroup v2.
                "systemdUser": crate::cgroups::systemd::check_available().is_ok()
                    && crate::cgroups::is_unified_host(),
                "rdma": true
            },
            "seccomp": {
                "enabled": true,
                "actions": [
                    "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                    "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
                    "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"
                ],
                "operators": [
                    "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE",
                    "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"
                ],
                "archs": seccomp_archs(),
                "knownFlags": [
                    "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                    "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
                ],
                "supportedFlags": supported_seccomp_flags()
            },
            "apparmor": {"enabled": lsm::apparmor_enabled()},
            "selinux": {"enabled": lsm::selinux_enabled()},
            "intelRdt": {"enabled": false},
            "memoryPolicy": {
                "modes": [
                    "MPOL_DEFAULT", "MPOL_PREFERRED", "MPOL_BIND", "MPOL_INTERLEAVE",
                    "MPOL_LOCAL", "MPOL_PREFERRED_MANY", "MPOL_WEIGHTED_INTERLEAVE"
                ],
                "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"]
            },
            // Moved in and out over rtnetlink (netdev.rs).
            "netDevices": {"enabled": true},
            // mount_setattr(MOUNT_ATTR_IDMAP) came with Linux 5.12.
            "mountExtensions": {"idmap": {"enabled": kernel_version() >= (5, 12)}}
        },
        "annotations": {
            "io.github.seccomp.libseccomp.version": libseccomp
        }
    })
}
