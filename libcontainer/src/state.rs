//! The state directory `<root>/<id>/`: state.json, the exec FIFO, locking,
//! and the container status derived from the live process.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::StateError;

/// Name of the FIFO that keeps a created container waiting for `start`.
pub const EXEC_FIFO: &str = "exec.fifo";
const STATE_FILE: &str = "state.json";
/// The container's config, as created.
pub const CONFIG_FILE: &str = "config.json";
/// Longest container ID accepted.
pub const MAX_ID_LEN: usize = 1024;

/// The status of a container, as in the runtime spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// create is still setting it up.
    Creating,
    /// Waiting for start.
    Created,
    /// The user process runs.
    Running,
    /// Frozen by the cgroup freezer.
    Paused,
    /// The process has exited.
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What berth records about a container in state.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedState {
    /// Container ID.
    pub id: String,
    /// Host pid of the container's init (0 while creating).
    pub pid: i32,
    /// Start time of `pid` in clock ticks since boot (guards against pid reuse).
    pub pid_start_time: u64,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339 in UTC.
    pub created: String,
    /// Owner name (empty for root, as runc prints).
    pub owner: String,
    /// The config's annotations.
    pub annotations: HashMap<String, String>,
    /// The cgroup paths per v1 controller (or "" for v2), for delete and ps.
    #[serde(default)]
    pub cgroup_paths: HashMap<String, PathBuf>,
    /// Whether the container has its own pid namespace (kill --all needs to
    /// know whether killing init ends everything).
    #[serde(default)]
    pub own_pid_namespace: bool,
    /// The config's hooks (poststart and poststop run after create returned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// Whether the config's process has a terminal.
    #[serde(default)]
    pub terminal: bool,
    /// The transient scope systemd manages the cgroup with
    /// (`--systemd-cgroup`), stopped by delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_unit: Option<String>,
}

/// The JSON `state` prints: the runtime spec's state plus runc's extras.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateReport {
    /// runtime-spec version of this report.
    pub oci_version: String,
    /// Container ID.
    pub id: String,
    /// Host pid of init (0 once stopped, as runc reports).
    pub pid: i32,
    /// Current status.
    pub status: Status,
    /// Bundle path.
    pub bundle: PathBuf,
    /// Rootfs path.
    pub rootfs: PathBuf,
    /// Creation time.
    pub created: String,
    /// Owner.
    pub owner: String,
    /// Annotations from the config.
    #[serde(skip_serializing_if = "HashMap::is_empty", default)]
    pub annotations: HashMap<String, String>,
}

/// Checks a container ID against runc's rules.
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let bad = |reason| StateError::InvalidId {
        id: if id.len() > 64 {
            format!(
                "{}…",
                &id[..id.char_indices().nth(64).map_or(id.len(), |c| c.0)]
            )
        } else {
            id.to_string()
        },
        reason,
    };
    if id.is_empty() {
        return Err(bad("it is empty"));
    }
    if id.len() > MAX_ID_LEN {
        return Err(bad("it is longer than 1024 bytes"));
    }
    if id.contains('\0') {
        return Err(bad("it contains a NUL byte"));
    }
    if id.contains('/') {
        return Err(bad("it contains '/'"));
    }
    if id == "." || id == ".." {
        return Err(bad("it is a relative path name"));
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'))
    {
        return Err(bad(
            "only letters, digits, '_', '+', '-' and '.' are allowed",
        ));
    }
    Ok(())
}

/// A container's state directory, locked for the life of this value.
pub struct StateDir {
    /// `<root>/<id>`.
    pub path: PathBuf,
    /// The ID.
    pub id: String,
    // The flock is released when the file is closed.
    _lock: File,
}

fn io_err<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> StateError + 'a {
    move |source| StateError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

impl StateDir {
    /// Creates `<root>/<id>` exclusively and locks it. Fails with
    /// [`StateError::Exists`] if the ID is taken.
    pub fn create(root: &Path, id: &str) -> Result<StateDir, StateError> {
        validate_id(id)?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(io_err("create root directory", root))?;
        check_root_owner(root)?;
        let path = root.join(id);
        match std::fs::DirBuilder::new().mode(0o711).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StateError::Exists(id.to_string()))
            }
            Err(e) => return Err(io_err("create state directory", &path)(e)),
        }
        let lock = match lock_dir(&path) {
            Ok(l) => l,
            Err(e) => {
                let _ = std::fs::remove_dir(&path);
                return Err(e);
            }
        };
        Ok(StateDir {
            path,
            id: id.to_string(),
            _lock: lock,
        })
    }

    /// Opens and locks the state directory of an existing container.
    pub fn open(root: &Path, id: &str) -> Result<StateDir, StateError> {
        validate_id(id)?;
        let path = root.join(id);
        let lock = match lock_dir(&path) {
            Ok(l) => l,
            Err(StateError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::NotFound(id.to_string()))
            }
            Err(e) => return Err(e),
        };
        // A concurrent delete may have removed it while we waited.
        if !path.exists() {
            return Err(StateError::NotFound(id.to_string()));
        }
        Ok(StateDir {
            path,
            id: id.to_string(),
            _lock: lock,
        })
    }

    /// Path of the exec FIFO.
    pub fn fifo_path(&self) -> PathBuf {
        self.path.join(EXEC_FIFO)
    }

    /// Keeps the config the container was created with (exec starts from
    /// its process, namespaces and seccomp profile; the bundle may change
    /// meanwhile). Stored as read, so saving costs no serialisation.
    pub fn save_config(&self, raw: &str) -> Result<(), StateError> {
        let p = self.path.join(CONFIG_FILE);
        std::fs::write(&p, raw).map_err(io_err("write", &p))
    }

    /// Writes state.json atomically (write to a temp file, then rename).
    pub fn save(&self, state: &SavedState) -> Result<(), StateError> {
        let tmp = self.path.join(".state.json.tmp");
        let data = serde_json::to_vec(state).map_err(|e| StateError::Corrupt {
            id: self.id.clone(),
            message: e.to_string(),
        })?;
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_err("write", &tmp))?;
        f.write_all(&data).map_err(io_err("write", &tmp))?;
        let dest = self.path.join(STATE_FILE);
        std::fs::rename(&tmp, &dest).map_err(io_err("rename", &dest))
    }

    /// Reads state.json.
    pub fn load(&self) -> Result<SavedState, StateError> {
        let p = self.path.join(STATE_FILE);
        let data = std::fs::read(&p).map_err(io_err("read", &p))?;
        serde_json::from_slice(&data).map_err(|e| StateError::Corrupt {
            id: self.id.clone(),
            message: e.to_string(),
        })
    }

    /// Removes the directory and everything in it.
    pub fn remove(self) -> Result<(), StateError> {
        std::fs::remove_dir_all(&self.path).map_err(io_err("remove", &self.path))
    }
}

/// The state root must be a real directory of ours: in a shared place
/// like /tmp someone else could have planted it.
fn check_root_owner(root: &Path) -> Result<(), StateError> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(root).map_err(io_err("stat", root))?;
    let (euid, _) = crate::sys::effective_ids();
    if !meta.is_dir() || meta.uid() != euid {
        return Err(StateError::Io {
            what: "use state root",
            path: root.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("not a directory owned by uid {euid}"),
            ),
        });
    }
    Ok(())
}

fn lock_dir(path: &Path) -> Result<File, StateError> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)
        .map_err(io_err("open state directory", path))?;
    f.lock().map_err(io_err("lock state directory", path))?;
    Ok(f)
}

/// Start time (field 22 of /proc/<pid>/stat) and the state letter of a
/// process, or None if it does not exist.
pub fn process_start_time(pid: i32) -> Option<(u64, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // rest starts at field 3 (state); start time is field 22.
    let start = fields.get(19)?.parse().ok()?;
    Some((start, state))
}

impl SavedState {
    /// Whether the recorded init process still exists (and is not a zombie).
    pub fn init_alive(&self) -> bool {
        if self.pid <= 0 {
            return false;
        }
        matches!(process_start_time(self.pid),
            Some((start, state)) if start == self.pid_start_time && state != 'Z' && state != 'X')
    }

    /// Whether init still holds `path` open (it keeps the exec FIFO until it
    /// execs): a FIFO left behind by a `start` that died after init went
    /// on must not make a running container look created.
    pub fn init_holds(&self, path: &Path) -> bool {
        use std::os::unix::fs::MetadataExt;
        let Ok(target) = std::fs::metadata(path) else {
            return false;
        };
        let Ok(fds) = std::fs::read_dir(format!("/proc/{}/fd", self.pid)) else {
            // Cannot look (not our process to inspect): trust the FIFO.
            return true;
        };
        fds.flatten().any(|fd| {
            std::fs::metadata(fd.path())
                .is_ok_and(|m| m.dev() == target.dev() && m.ino() == target.ino())
        })
    }

    /// Derives the status from the live process and the state directory.
    pub fn status(&self, dir: &Path) -> Status {
        if self.pid == 0 {
            return Status::Creating;
        }
        if !self.init_alive() {
            return Status::Stopped;
        }
        let fifo = dir.join(EXEC_FIFO);
        if fifo.exists() && self.init_holds(&fifo) {
            return Status::Created;
        }
        if crate::cgroups::is_frozen(&self.cgroup_paths) {
            return Status::Paused;
        }
        Status::Running
    }

    /// The report `berth state` prints.
    pub fn report(&self, status: Status) -> StateReport {
        StateReport {
            oci_version: crate::OCI_VERSION.to_string(),
            id: self.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status,
            bundle: self.bundle.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created.clone(),
            owner: self.owner.clone(),
            annotations: self.annotations.clone(),
        }
    }
}

/// Formats a time as RFC 3339 with nanoseconds in UTC, like runc's `created`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60,
        d.subsec_nanos()
    )
}

/// The user name owning `path` (its uid when /etc/passwd has no entry).
pub fn owner_of(path: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(uid) = std::fs::metadata(path).map(|m| m.uid()) else {
        return String::new();
    };
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2].parse::<u32>().ok()? == uid).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

/// Lists the IDs of the containers under `root`.
pub fn list_ids(root: &Path) -> Result<Vec<String>, StateError> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("read", root)(e)),
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|id| validate_id(id).is_ok())
        .collect();
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_runc_rules() {
        assert!(validate_id("abc-1_2.3+x").is_ok());
        for bad in ["", "a/b", "..", ".", "a b", "a\0b"] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_id(&"a".repeat(1024)).is_ok());
        assert!(validate_id(&"a".repeat(1025)).is_err());
    }

    #[test]
    fn rfc3339_formats_known_instant() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 5);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.000000005Z");
    }

    #[test]
    fn own_process_start_time_is_readable() {
        let (start, state) = process_start_time(std::process::id() as i32).unwrap();
        assert!(start > 0);
        assert!(state == 'R' || state == 'S');
    }
}
