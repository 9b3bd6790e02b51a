//! AppArmor and SELinux labels. Where the host has neither enabled (as this
//! project's CI machine), a config asking for one is a clear error.

use std::path::Path;

use crate::error::ChildError;

/// Whether AppArmor is enabled on the host.
pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim_start().starts_with('Y'))
        && Path::new("/sys/kernel/security/apparmor").exists()
}

/// Whether SELinux is enabled (selinuxfs mounted).
pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// Asks the kernel to switch to `label` at the next execve, through the
/// given /proc/self/attr file; the write is checked to land on procfs.
fn write_exec_attr(path: &str, value: &str, field: &str) -> Result<(), ChildError> {
    use std::io::Write;
    use std::os::fd::AsFd;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| ChildError::io(format!("{field}: open {path}"), &e))?;
    let magic = crate::sys::fstatfs_magic(f.as_fd())
        .map_err(|e| ChildError::io(format!("{field}: {path}"), &e))?;
    if magic != 0x9fa0 {
        return Err(ChildError::msg(field, format!("{path} is not on procfs")));
    }
    f.write_all(value.as_bytes())
        .map_err(|e| ChildError::io(format!("{field}: {value}"), &e))
}

/// Applies process.apparmorProfile and process.selinuxLabel for the exec.
pub fn apply_exec_labels(process: &oci_spec::runtime::Process) -> Result<(), ChildError> {
    if let Some(profile) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        let path = if Path::new("/proc/self/attr/apparmor/exec").exists() {
            "/proc/self/attr/apparmor/exec"
        } else {
            "/proc/self/attr/exec"
        };
        write_exec_attr(path, &format!("exec {profile}"), "process.apparmorProfile")?;
    }
    if let Some(label) = process.selinux_label().as_deref().filter(|l| !l.is_empty()) {
        write_exec_attr("/proc/self/attr/exec", label, "process.selinuxLabel")?;
    }
    Ok(())
}
