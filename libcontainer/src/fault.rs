//! Fault injection for the crash-consistency tests.
//!
//! `point("create:after-cgroup")` kills the calling process with SIGKILL on
//! the spot when the environment variable `_BERTH_FAULT_POINT` names that
//! point, the way a crash, an OOM kill or a `kill -9` from an impatient
//! engine would. `integration-tests/tests/faults.rs` then checks that
//! `berth delete --force` cleans up and the ID can be used again.
//!
//! The variable is read once per process; with it unset a point costs one
//! atomic load. Points are only placed in the runtime's own code paths (never
//! in the intermediate process or init, which inherit the environment but
//! run none of them).

use std::sync::OnceLock;

/// The environment variable naming the point to die at.
pub(crate) const ENV: &str = "_BERTH_FAULT_POINT";

/// Every point berth has, for documentation and the tests' cross-check.
#[allow(dead_code)]
pub(crate) const POINTS: &[&str] = &[
    "create:after-state-dir",
    "create:cgroup-not-yet-recorded",
    "create:after-cgroup",
    "launch:after-init-pid",
    "create:after-init-ready",
    "create:after-state-saved",
    "start:after-fifo-read",
    "exec:before-launch",
    "exec:after-launch",
    "delete:after-kill",
    "delete:after-reap",
    "delete:after-cgroup-removal",
];

fn armed() -> Option<&'static str> {
    static TARGET: OnceLock<Option<String>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            std::env::var_os(ENV)
                .and_then(|v| v.into_string().ok())
                .filter(|v| !v.is_empty())
        })
        .as_deref()
}

/// Dies with SIGKILL if `_BERTH_FAULT_POINT` equals `name`.
pub(crate) fn point(name: &str) {
    if armed() != Some(name) {
        return;
    }
    let pid = std::process::id() as libc::pid_t;
    let _ = crate::sys::kill(pid, libc::SIGKILL);
    // SIGKILL to ourselves is delivered before kill(2) returns; should it
    // somehow not be, still never go on past an armed point.
    std::process::abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_or_other_point_does_nothing() {
        // The test process has no _BERTH_FAULT_POINT (or one naming no point
        // of this list): every point returns.
        if std::env::var_os(ENV).is_none() {
            for p in POINTS {
                point(p);
            }
            point("no-such-point");
        }
    }

    #[test]
    fn point_names_are_unique() {
        let mut v: Vec<&str> = POINTS.to_vec();
        v.sort_unstable();
        v.dedup();
        assert_eq!(v.len(), POINTS.len());
    }
}
