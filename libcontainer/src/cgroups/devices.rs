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

/// The device rules as systemd's `DeviceAllow` entries under
/// `DevicePolicy=strict`, so that systemd writes the same rules when it
/// rewrites a v1 scope's devices cgroup (at a daemon-reload, or when a
/// property changes), instead of "allow all". `None` when the rules end
/// up allowing every device: systemd's list cannot say "all but", so it is
/// left at its default and only berth's own writes hold.
///
/// A rule systemd cannot name is left out, which denies more, never less:
/// a major systemd knows no driver name for (a rule for every minor of
/// it), and a deny that carves a hole in an earlier wildcard allow (the
/// wildcard stays out; each is logged).
pub(super) fn systemd_device_allow(res: &LinuxResources) -> Option<Vec<(String, String)>> {
    let rules = res.devices().clone().unwrap_or_default();
    let names = std::fs::read_to_string("/proc/devices").unwrap_or_default();
    let mut allowed: Vec<LinuxDeviceCgroup> = Vec::new();
    let mut all_allowed = true;
    for rule in rules.iter().chain(default_allowed().iter()) {
        let every_device = rule_type(rule) == LinuxDeviceType::A
            && number(rule.major()).is_none()
            && number(rule.minor()).is_none();
        let full_access = "rwm".chars().all(|c| rule_access(rule).contains(c));
        if every_device && full_access {
            all_allowed = rule.allow();
            allowed.clear();
        } else if rule.allow() {
            allowed.push(rule.clone());
        } else {
            if all_allowed {
                // "Every device but these": systemd's list cannot say it.
                // Strict with only the allows that follow denies more
                // than asked, never less.
                tracing::warn!(denied = ?rule, "systemd cannot allow every device but some: DeviceAllow holds only the rules after this deny");
                all_allowed = false;
                allowed.clear();
                continue;
            }
            // An allow the deny touches goes: whole when the deny covers
            // it, and also when it covers only part (systemd's list has no
            // "all but"), which denies more than asked, never less.
            allowed.retain(|a| {
                if !overlaps(rule, a) {
                    return true;
                }
                if !covers(rule, a) {
                    tracing::warn!(denied = ?rule, allowed = ?a, "systemd cannot allow a range but part of it: the range is left out of DeviceAllow");
                }
                false
            });
        }
    }
    if all_allowed {
        return None;
    }
    let mut entries = Vec::new();
    for rule in &allowed {
        let for_rule = systemd_entries(rule, &names);
        if for_rule.is_empty() {
            tracing::warn!(
                ?rule,
                "no systemd DeviceAllow entry for this rule: left out"
            );
        }
        entries.extend(for_rule);
    }
    Some(entries)
}

fn rule_type(r: &LinuxDeviceCgroup) -> LinuxDeviceType {
    match r.typ() {
        Some(LinuxDeviceType::U) => LinuxDeviceType::C,
        t => t.unwrap_or(LinuxDeviceType::A),
    }
}

/// A device number of a rule; `None` for any.
fn number(n: Option<i64>) -> Option<i64> {
    n.filter(|n| *n >= 0)
}

fn rule_access(r: &LinuxDeviceCgroup) -> String {
    r.access().clone().unwrap_or_else(|| "rwm".into())
}

/// Whether `wide` matches every device and access `narrow` does.
fn covers(wide: &LinuxDeviceCgroup, narrow: &LinuxDeviceCgroup) -> bool {
    let within = |w: Option<i64>, n: Option<i64>| number(w).is_none_or(|w| number(n) == Some(w));
    (rule_type(wide) == LinuxDeviceType::A || rule_type(wide) == rule_type(narrow))
        && within(wide.major(), narrow.major())
        && within(wide.minor(), narrow.minor())
        && rule_access(narrow)
            .chars()
            .all(|c| rule_access(wide).contains(c))
}

/// Whether some device and access match both rules.
fn overlaps(a: &LinuxDeviceCgroup, b: &LinuxDeviceCgroup) -> bool {
    let meet = |x: Option<i64>, y: Option<i64>| match (number(x), number(y)) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    };
    let (ta, tb) = (rule_type(a), rule_type(b));
    (ta == LinuxDeviceType::A || tb == LinuxDeviceType::A || ta == tb)
        && meet(a.major(), b.major())
        && meet(a.minor(), b.minor())
        && rule_access(a).chars().any(|c| rule_access(b).contains(c))
}

/// One allow rule as DeviceAllow entries (`/dev/char/M:m`, `char-NAME`,
/// `char-*` and the block forms, with the access); none when systemd has
/// no pattern for it.
fn systemd_entries(rule: &LinuxDeviceCgroup, proc_devices: &str) -> Vec<(String, String)> {
    let access = rule_access(rule);
    let (major, minor) = (number(rule.major()), number(rule.minor()));
    let kinds: &[(&str, &str)] = match rule_type(rule) {
        LinuxDeviceType::C => &[("char", "Character devices:")],
        LinuxDeviceType::B => &[("block", "Block devices:")],
        _ => &[("char", "Character devices:"), ("block", "Block devices:")],
    };
    let mut entries = Vec::new();
    for (kind, section) in kinds {
        let name = match (major, minor) {
            (Some(major), Some(minor)) => format!("/dev/{kind}/{major}:{minor}"),
            (Some(major), None) => match driver_name(proc_devices, section, major) {
                Some(driver) => format!("{kind}-{driver}"),
                None => continue,
            },
            (None, None) => format!("{kind}-*"),
            // Every major with one minor: systemd has no such pattern.
            (None, Some(_)) => continue,
        };
        entries.push((name, access.clone()));
    }
    entries
}

/// The driver of `major` in /proc/devices' `section`, when no other major
/// there has that name: systemd's `char-NAME` means every major of the
/// name (`sd` has 16).
fn driver_name<'a>(proc_devices: &'a str, section: &str, major: i64) -> Option<&'a str> {
    let entries: Vec<(i64, &str)> = proc_devices
        .split("\n\n")
        .find(|part| part.trim_start().starts_with(section))?
        .lines()
        .skip(1)
        .filter_map(|l| {
            let (number, name) = l.trim().split_once(' ')?;
            Some((number.parse().ok()?, name.trim()))
        })
        .collect();
    let name = entries.iter().find(|(n, _)| *n == major)?.1;
    (entries.iter().filter(|(_, other)| *other == name).count() == 1).then_some(name)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn resources(devices: serde_json::Value) -> LinuxResources {
        serde_json::from_value(serde_json::json!({ "devices": devices })).unwrap()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    /// The default rules as systemd entries (pts by its driver name).
    fn defaults() -> Vec<(String, String)> {
        let mut v = pairs(&[("char-*", "m"), ("block-*", "m")]);
        for (major, minor) in [
            (1, 3),
            (1, 5),
            (1, 7),
            (1, 8),
            (1, 9),
            (5, 0),
            (5, 1),
            (5, 2),
        ] {
            v.push((format!("/dev/char/{major}:{minor}"), "rwm".into()));
        }
        v.push(("char-pts".into(), "rwm".into()));
        v
    }

    #[test]
    fn deny_all_then_allows_become_a_strict_list() {
        let res = resources(serde_json::json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rw"},
            {"allow": true, "type": "b", "major": 8, "access": "r"}
        ]));
        let got = systemd_device_allow(&res).unwrap();
        // Block major 8 is one of sd's many majors: left out, never block-sd.
        let mut want = pairs(&[("/dev/char/10:200", "rw")]);
        want.extend(defaults());
        assert_eq!(got, want);
    }

    #[test]
    fn a_deny_after_allowing_everything_is_strict() {
        let res = resources(serde_json::json!([
            {"allow": true, "access": "rwm"},
            {"allow": false, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}
        ]));
        let got = systemd_device_allow(&res).unwrap();
        let mut want = pairs(&[("/dev/char/10:229", "rw")]);
        want.extend(defaults());
        assert_eq!(got, want);
    }

    #[test]
    fn allowing_everything_sets_no_list() {
        let res = resources(serde_json::json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "access": "rwm"}
        ]));
        assert_eq!(systemd_device_allow(&res), None);
        assert_eq!(
            systemd_device_allow(&resources(serde_json::json!([]))),
            None
        );
    }

    #[test]
    fn a_deny_after_an_allow_takes_it_out_whole() {
        let res = resources(serde_json::json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"},
            {"allow": false, "type": "c", "major": 10, "minor": 200, "access": "w"}
        ]));
        let got = systemd_device_allow(&res).unwrap();
        // c 10:* overlaps the deny: out (denies more, never less); 10:229 stays.
        assert_eq!(got[0], ("/dev/char/10:229".to_string(), "rw".to_string()));
        assert!(!got.iter().any(|(name, _)| name == "char-misc"), "{got:?}");
    }

    #[test]
    fn driver_names_come_from_the_right_section() {
        let devices = "Character devices:\n  1 mem\n  5 /dev/tty\n136 pts\n\nBlock devices:\n  8 sd\n 65 sd\n259 blkext\n";
        assert_eq!(driver_name(devices, "Character devices:", 136), Some("pts"));
        assert_eq!(driver_name(devices, "Block devices:", 259), Some("blkext"));
        assert_eq!(driver_name(devices, "Block devices:", 136), None);
        assert_eq!(driver_name(devices, "Character devices:", 8), None);
        // sd has more than one major: block-sd would allow them all.
        assert_eq!(driver_name(devices, "Block devices:", 8), None);
    }
}
