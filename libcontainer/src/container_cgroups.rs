//! The cgroup commands of a container: update, pause, resume, ps (its
//! processes), stats and the event stream of `berth events`.

use std::path::Path;
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use crate::cgroups::stats::{Event, Stats};
use crate::cgroups::{self, ApplyMode, CgroupManager};
use crate::container::Container;
use crate::error::{Error, Result, StateError};
use crate::state::Status;

/// The resources in force, in the state directory: the config's
/// `linux.resources` with every `update` merged in.
const RESOURCES_FILE: &str = "resources.json";

/// Records the config's resources when the container is created.
pub(crate) fn save_resources(state_dir: &Path, res: Option<&LinuxResources>) -> Result<()> {
    let Some(res) = res else {
        return Ok(());
    };
    write_resources(state_dir, res)
}

fn write_resources(state_dir: &Path, res: &LinuxResources) -> Result<()> {
    let path = state_dir.join(RESOURCES_FILE);
    let tmp = state_dir.join(".resources.json.tmp");
    let data = serde_json::to_vec(res).map_err(|e| Error::Argument(e.to_string()))?;
    std::fs::write(&tmp, data)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|source| {
            Error::State(StateError::Io {
                what: "write",
                path,
                source,
            })
        })
}

fn load_resources(state_dir: &Path) -> LinuxResources {
    std::fs::read(state_dir.join(RESOURCES_FILE))
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .unwrap_or_default()
}

/// `update` over `base`: objects merge key by key, anything else replaces.
fn merge(base: &LinuxResources, update: &LinuxResources) -> LinuxResources {
    fn merge_values(base: &mut serde_json::Value, update: serde_json::Value) {
        match (base, update) {
            (serde_json::Value::Object(b), serde_json::Value::Object(u)) => {
                for (k, v) in u {
                    match b.get_mut(&k) {
                        Some(slot) => merge_values(slot, v),
                        None => {
                            b.insert(k, v);
                        }
                    }
                }
            }
            (slot, v) => *slot = v,
        }
    }
    let (Ok(mut b), Ok(u)) = (serde_json::to_value(base), serde_json::to_value(update)) else {
        return update.clone();
    };
    merge_values(&mut b, u);
    serde_json::from_value(b).unwrap_or_else(|_| update.clone())
}

impl Container {
    fn cgroup(&self) -> Result<CgroupManager> {
        let paths = &self.saved.cgroup_paths;
        if paths.is_empty() {
            // Rootless without a delegated cgroup.
            return Err(Error::Cgroup(crate::error::CgroupError::Operation {
                path: self.saved.id.clone(),
                what: "find the cgroup",
                message: "the container runs without a cgroup of its own".into(),
            }));
        }
        let shown = paths
            .get("freezer")
            .or_else(|| paths.values().min())
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| self.saved.id.clone());
        Ok(CgroupManager::from_paths(shown, paths.clone()))
    }

    /// Changes the resource limits of a created, running or paused
    /// container (runc's `update`). Only the fields set in `res` change;
    /// device rules are rewritten as sent.
    pub fn update(&self, res: &LinuxResources) -> Result<()> {
        let dir = self.lock()?;
        let status = self.saved.status(&dir.path);
        if matches!(status, Status::Stopped | Status::Creating) {
            return Err(self.wrong_status(
                status,
                "only a created, running or paused container can be updated",
            ));
        }
        let current = load_resources(&dir.path);
        let check = current
            .memory()
            .as_ref()
            .and_then(|m| m.check_before_update())
            .unwrap_or(false);
        let cgroup = self.cgroup()?;
        // Validated by the cgroupfs code before systemd hears of it.
        cgroups::validate::values(res)?;
        if let Some(unit) = &self.saved.systemd_unit {
            cgroups::systemd::set_properties(unit, res)?;
        }
        cgroup.apply_mode(Some(res), ApplyMode::Update, check)?;
        write_resources(&dir.path, &merge(&current, res))
    }

    /// The resources in force: the config's, with every update merged in.
    pub fn resources(&self) -> LinuxResources {
        load_resources(&self.dir)
    }

    /// Freezes every process of the container (runc's `pause`).
    pub fn pause(&self) -> Result<()> {
        let dir = self.lock()?;
        let status = self.saved.status(&dir.path);
        if !matches!(status, Status::Running | Status::Created) {
            return Err(
                self.wrong_status(status, "only a running or created container can be paused")
            );
        }
        Ok(self.cgroup()?.freeze()?)
    }

    /// Thaws a paused container (runc's `resume`).
    pub fn resume(&self) -> Result<()> {
        let dir = self.lock()?;
        let status = self.saved.status(&dir.path);
        if status != Status::Paused {
            return Err(self.wrong_status(status, "only a paused container can be resumed"));
        }
        Ok(self.cgroup()?.thaw()?)
    }

    /// Host pids of every process in the container's cgroup.
    pub fn processes(&self) -> Result<Vec<i32>> {
        Ok(cgroups::pids_in(&self.saved.cgroup_paths))
    }

    /// The container's statistics now (`events --stats`).
    pub fn stats(&self) -> Result<Stats> {
        let status = self.status();
        if matches!(status, Status::Stopped | Status::Creating) {
            return Err(self.wrong_status(status, "statistics need a live container"));
        }
        Ok(self.cgroup()?.stats())
    }

    /// Streams events until the container stops: a "stats" event every
    /// `interval`, and an "oom" event whenever the memory cgroup hits its
    /// limit. Each event goes to `emit`; an error from it ends the stream.
    pub fn events(
        &self,
        interval: Duration,
        emit: &mut dyn FnMut(&Event) -> std::io::Result<()>,
    ) -> Result<()> {
        let status = self.status();
        if matches!(status, Status::Stopped | Status::Creating) {
            return Err(self.wrong_status(status, "events need a live container"));
        }
        let mgr = self.cgroup()?;
        let notifier = mgr
            .oom_notifier()
            .map_err(|e| Error::sys("register for OOM notifications", e))?;
        let event = |kind: &str, data: Option<Stats>| Event {
            kind: kind.to_string(),
            id: self.saved.id.clone(),
            data,
        };
        let mut send = |e: Event| emit(&e).map_err(|e| Error::sys("write event", e));
        let interval = interval.max(Duration::from_millis(1));
        let mut next = Instant::now() + interval;
        loop {
            let timeout = next.saturating_duration_since(Instant::now());
            let ooms = match &notifier {
                Some(n) => n
                    .wait(timeout)
                    .map_err(|e| Error::sys("read OOM eventfd", e))?,
                None => {
                    std::thread::sleep(timeout);
                    0
                }
            };
            if ooms > 0 {
                send(event("oom", None))?;
            }
            if self.status() == Status::Stopped {
                // The kill that ended it may have been the OOM killer.
                if let Some(n) = &notifier {
                    if n.take().unwrap_or(0) > 0 {
                        send(event("oom", None))?;
                    }
                }
                return Ok(());
            }
            let now = Instant::now();
            if now >= next {
                send(event("stats", Some(mgr.stats())))?;
                next += interval;
                if next <= now {
                    next = now + interval;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_merge_field_by_field() {
        let base: LinuxResources = serde_json::from_value(serde_json::json!({
            "memory": {"limit": 100, "checkBeforeUpdate": true},
            "cpu": {"shares": 10, "cpus": "0"},
            "devices": [{"allow": false, "access": "rwm"}]
        }))
        .unwrap();
        let upd: LinuxResources = serde_json::from_value(serde_json::json!({
            "memory": {"limit": 200},
            "pids": {"limit": 5}
        }))
        .unwrap();
        let m = merge(&base, &upd);
        let mem = m.memory().unwrap();
        assert_eq!(mem.limit(), Some(200));
        assert_eq!(mem.check_before_update(), Some(true));
        assert_eq!(m.cpu().clone().unwrap().shares(), Some(10));
        assert_eq!(m.pids().unwrap().limit(), 5);
        assert_eq!(m.devices().as_ref().map(Vec::len), Some(1));
    }
}
