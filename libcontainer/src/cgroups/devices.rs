//! `linux.resources.devices`: the v1 devices controller's allow/deny lists.

use std::path::{Path, PathBuf};

use cgroups_rs::fs::devices::{DevicePermissions, DeviceType, DevicesController};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

use super::CgroupManager;
use crate::error::CgroupError;

/// Writes the config's rules, then the devices every container may use.
pub(super) fn apply_v1(mgr: &CgroupManager, res: &LinuxResources) -> Result<(), CgroupError> {
    let rules = res.devices().clone().unwrap_or_default();
    let Some(dir) = mgr.dir("devices") else {
        if rules.is_empty() {
            return Ok(());
        }
        return Err(CgroupError::Resource {
            field: "linux.resources.devices".into(),
            message: format!(
                "the devices controller is {}",
                super::validate::HostCgroups::probe().missing_reason("devices")
            ),
        });
    };
    let devices = DevicesController::new(dir.to_path_buf(), PathBuf::new());
    for (i, rule) in rules.iter().chain(default_allowed().iter()).enumerate() {
        apply_rule(&devices, rule).map_err(|message| CgroupError::Resource {
            field: if i < rules.len() {
                format!("linux.resources.devices[{i}]")
            } else {
                "default device rules".into()
            },
            message,
        })?;
    }
    Ok(())
}

/// cgroup v2 has no devices controller: the config's rules and the default
/// list become an eBPF program on the cgroup (see [`super::bpf`]), which
/// replaces the one attached before.
pub(super) fn apply_v2(dir: &Path, res: &LinuxResources) -> Result<(), CgroupError> {
    let rules = res.devices().clone().unwrap_or_default();
    let n = rules.len();
    let all: Vec<LinuxDeviceCgroup> = rules.into_iter().chain(default_allowed()).collect();
    match super::bpf::apply(dir, &all, n) {
        // Loading a cgroup device program takes CAP_SYS_ADMIN in the initial
        // user namespace; a rootless container reaches only the device
        // nodes its user may open anyway.
        Err(e) if crate::sys::effective_ids().0 != 0 => {
            tracing::warn!("device rules are not enforced for a rootless container: {e}");
            Ok(())
        }
        r => r,
    }
}

/// Devices every container may use whatever the config says (runc's list):
/// the default nodes, the pty devices, and mknod of anything.
fn default_allowed() -> Vec<LinuxDeviceCgroup> {
    let rule = |typ, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true);
        r.set_typ(Some(typ));
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.to_string()));
        r
    };
    vec![
        rule(LinuxDeviceType::C, None, None, "m"),
        rule(LinuxDeviceType::B, None, None, "m"),
        rule(LinuxDeviceType::C, Some(1), Some(3), "rwm"),
        rule(LinuxDeviceType::C, Some(1), Some(5), "rwm"),
        rule(LinuxDeviceType::C, Some(1), Some(7), "rwm"),
        rule(LinuxDeviceType::C, Some(1), Some(8), "rwm"),
        rule(LinuxDeviceType::C, Some(1), Some(9), "rwm"),
        rule(LinuxDeviceType::C, Some(5), Some(0), "rwm"),
        rule(LinuxDeviceType::C, Some(5), Some(1), "rwm"),
        rule(LinuxDeviceType::C, Some(5), Some(2), "rwm"),
        rule(LinuxDeviceType::C, Some(136), None, "rwm"),
    ]
}

/// Checks one rule without applying it (used by validation).
pub(super) fn check_rule(rule: &LinuxDeviceCgroup) -> Result<(), String> {
    if rule.typ() == Some(LinuxDeviceType::P) {
        return Err("type \"p\" is not a cgroup device type (use a, c or b)".into());
    }
    if let Some(access) = rule.access() {
        if access.is_empty() || !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return Err(format!(
                "access {access:?} is not a combination of r, w and m"
            ));
        }
    }
    for (name, v) in [("major", rule.major()), ("minor", rule.minor())] {
        if let Some(v) = v {
            if v < -1 || v > i64::from(u32::MAX) {
                return Err(format!(
                    "{name} {v} is not a device number (-1 or absent: any)"
                ));
            }
        }
    }
    Ok(())
}

fn apply_rule(devices: &DevicesController, rule: &LinuxDeviceCgroup) -> Result<(), String> {
    check_rule(rule)?;
    let typ = match rule.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => DeviceType::All,
        LinuxDeviceType::C | LinuxDeviceType::U => DeviceType::Char,
        LinuxDeviceType::B => DeviceType::Block,
        LinuxDeviceType::P => return Err("type \"p\" is not a cgroup device type".into()),
    };
    let access = rule.access().clone().unwrap_or_else(|| "rwm".into());
    let perms = DevicePermissions::from_str(&access)
        .map_err(|_| format!("access {access:?} is not a combination of r, w and m"))?;
    let major = rule.major().unwrap_or(-1);
    let minor = rule.minor().unwrap_or(-1);
    let r = if rule.allow() {
        devices.allow_device(typ, major, minor, &perms)
    } else {
        devices.deny_device(typ, major, minor, &perms)
    };
    r.map_err(|e| super::v1::describe(&e))
}
