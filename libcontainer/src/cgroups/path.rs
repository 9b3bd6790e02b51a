//! Where a container's cgroup lives, with runc's rules for
//! `linux.cgroupsPath` (cgroupfs driver):
//!
//! * absolute (`/berth-test/web`): that path from the root of every
//!   hierarchy, `/sys/fs/cgroup/<controller>/berth-test/web`;
//! * relative (`web`): below the runtime's own cgroup in each hierarchy
//!   (from /proc/self/cgroup, minus the root of the hierarchy's mount);
//! * absent or empty: like the relative path `<container id>`.

use std::collections::HashMap;
use std::path::{Component, Path};

use cgroups_rs::fs::{Cgroup, Hierarchy};

use crate::error::CgroupError;

/// Refuses cgroup paths that would leave the hierarchy or name its root.
pub(super) fn check_cgroups_path(given: Option<&str>) -> Result<(), CgroupError> {
    let Some(p) = given.filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let bad = |message: &str| CgroupError::Resource {
        field: "linux.cgroupsPath".into(),
        message: format!("{p:?}: {message}"),
    };
    if p.contains('\0') {
        return Err(bad("contains a NUL byte"));
    }
    if Path::new(p).components().any(|c| c == Component::ParentDir) {
        return Err(bad("\"..\" is not allowed in a cgroup path"));
    }
    if p.trim_matches('/').is_empty() {
        return Err(bad(
            "is the root cgroup; a container needs a cgroup of its own",
        ));
    }
    Ok(())
}

/// The cgroup (not created yet) for `given` or the container `id`, and the
/// path to show in messages.
pub(super) fn resolve(
    hier: Box<dyn Hierarchy>,
    given: Option<&str>,
    id: &str,
    proc_self_cgroup: &str,
) -> (Cgroup, String) {
    match given.filter(|p| !p.is_empty()) {
        Some(p) if p.starts_with('/') => {
            let rel = p.trim_start_matches('/').to_string();
            (Cgroup::load(hier, rel), p.to_string())
        }
        other => {
            let rel = other.unwrap_or(id).to_string();
            if hier.v2() {
                let own = own_v2_path(proc_self_cgroup);
                let full = Path::new(&own).join(&rel);
                (Cgroup::load(hier, full), rel)
            } else {
                let roots: HashMap<String, String> = hier
                    .subsystems()
                    .iter()
                    .map(|s| {
                        (
                            s.controller_name(),
                            s.to_controller().base().to_string_lossy().into_owned(),
                        )
                    })
                    .collect();
                let own = own_v1_paths(proc_self_cgroup, &roots);
                (Cgroup::load_with_relative_paths(hier, &rel, own), rel)
            }
        }
    }
}

/// The caller's cgroup in each v1 hierarchy, relative to the hierarchy's
/// mount (its mount root removed), keyed by controller name.
pub(super) fn own_v1_paths(
    proc_self_cgroup: &str,
    mount_roots: &HashMap<String, String>,
) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in proc_self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if ctrls.is_empty() {
            continue; // the cgroup2 line
        }
        for ctrl in ctrls.split(',') {
            let root = mount_roots.get(ctrl).map(String::as_str).unwrap_or("/");
            let rel = if root != "/" && (path == root || path.starts_with(&format!("{root}/"))) {
                &path[root.len()..]
            } else {
                path
            };
            out.insert(ctrl.to_string(), rel.trim_start_matches('/').to_string());
        }
    }
    out
}

/// The caller's cgroup2 path ("0::/a/b" gives "a/b").
pub(super) fn own_v2_path(proc_self_cgroup: &str) -> String {
    proc_self_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or("/")
        .trim_start_matches('/')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_paths_strip_the_mount_root() {
        let text = "9:name=systemd:/user.slice\n4:memory:/outer/inner\n\
                    2:cpu,cpuacct:/\n0::/unified/x\n";
        let roots: HashMap<String, String> = [("memory", "/outer"), ("cpu", "/")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let own = own_v1_paths(text, &roots);
        assert_eq!(own["memory"], "inner");
        assert_eq!(own["name=systemd"], "user.slice");
        assert_eq!(own["cpu"], "");
        assert_eq!(own["cpuacct"], "");
        assert!(!own.contains_key(""));
        assert_eq!(own_v2_path(text), "unified/x");
        assert_eq!(own_v2_path("4:memory:/x\n"), "");
    }

    #[test]
    fn a_mount_root_that_is_only_a_prefix_is_kept() {
        let roots: HashMap<String, String> = [("pids".to_string(), "/a".to_string())].into();
        let own = own_v1_paths("8:pids:/ab/c\n", &roots);
        assert_eq!(own["pids"], "ab/c");
    }

    #[test]
    fn cgroup_paths_may_not_escape() {
        assert!(check_cgroups_path(None).is_ok());
        assert!(check_cgroups_path(Some("")).is_ok());
        assert!(check_cgroups_path(Some("/berth-test/x")).is_ok());
        assert!(check_cgroups_path(Some("rel/x")).is_ok());
        for bad in ["/../etc", "a/../../b", "/", "//"] {
            let e = check_cgroups_path(Some(bad)).unwrap_err().to_string();
            assert!(e.starts_with("linux.cgroupsPath: "), "{e}");
        }
    }
}
