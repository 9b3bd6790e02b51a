//! The state directory `<root>/<id>/`: state.json, the exec FIFO, locking,
//! and the container status derived from the live process.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
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

/// Prefix of the directories `create` fills before they appear under the
/// container's ID. '@' cannot appear in an ID, so no command takes one for a
/// container.
const NEW_DIR_PREFIX: &str = "@new.";

impl StateDir {
    /// Creates `<root>/<id>` exclusively and locks it. The directory is
    /// made, locked and filled by `fill` under a temporary name, then
    /// renamed into place, so other commands see either no container or a
    /// locked one with its state.json, never an empty directory. Fails with
    /// [`StateError::Exists`] if the ID is taken.
    pub fn create(
        root: &Path,
        id: &str,
        fill: impl FnOnce(&StateDir) -> Result<(), StateError>,
    ) -> Result<StateDir, StateError> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        validate_id(id)?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(io_err("create root directory", root))?;
        check_root_owner(root)?;
        let path = root.join(id);
        // The common duplicate fails early; the rename below decides races.
        if std::fs::symlink_metadata(&path).is_ok() {
            return Err(StateError::Exists(id.to_string()));
        }
        sweep_abandoned(root);
        let tmp = root.join(format!(
            "{NEW_DIR_PREFIX}{}.{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::DirBuilder::new()
            .mode(0o711)
            .create(&tmp)
            .map_err(io_err("create state directory", &tmp))?;
        let lock = match lock_dir(&tmp) {
            Ok(l) => l,
            Err(e) => {
                let _ = std::fs::remove_dir(&tmp);
                return Err(e);
            }
        };
        let mut dir = StateDir {
            path: tmp,
            id: id.to_string(),
            _lock: lock,
        };
        if let Err(e) = fill(&dir).and_then(|()| publish(&dir.path, &path, id)) {
            let _ = std::fs::remove_dir_all(&dir.path);
            return Err(e);
        }
        dir.path = path;
        Ok(dir)
    }

    /// Opens and locks the state directory of an existing container.
    pub fn open(root: &Path, id: &str) -> Result<StateDir, StateError> {
        use std::os::unix::fs::MetadataExt;
        validate_id(id)?;
        let path = root.join(id);
        loop {
            let lock = match lock_dir(&path) {
                Ok(l) => l,
                Err(StateError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    return Err(StateError::NotFound(id.to_string()))
                }
                Err(e) => return Err(e),
            };
            // While we waited, a delete may have removed the directory we
            // locked, and a create may have put a new one in its place.
            let held = lock.metadata().map_err(io_err("stat", &path))?;
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.dev() == held.dev() && m.ino() == held.ino() => {
                    return Ok(StateDir {
                        path,
                        id: id.to_string(),
                        _lock: lock,
                    })
                }
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(StateError::NotFound(id.to_string()))
                }
                Err(e) => return Err(io_err("stat", &path)(e)),
            }
        }
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

/// Renames a filled state directory to its container's name, unless that
/// name is taken.
fn publish(tmp: &Path, path: &Path, id: &str) -> Result<(), StateError> {
    let exists = || StateError::Exists(id.to_string());
    let from = crate::rootfs::path::cstr(tmp).map_err(io_err("rename", tmp))?;
    let to = crate::rootfs::path::cstr(path).map_err(io_err("rename", path))?;
    match crate::sys::rename_noreplace(&from, &to) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Err(exists()),
        // A file system without RENAME_NOREPLACE: a plain rename fails on
        // a container's directory, which is never empty.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            if std::fs::symlink_metadata(path).is_ok() {
                return Err(exists());
            }
            match std::fs::rename(tmp, path) {
                Ok(()) => Ok(()),
                Err(e) if matches!(e.raw_os_error(), Some(libc::EEXIST | libc::ENOTEMPTY)) => {
                    Err(exists())
                }
                Err(e) => Err(io_err("rename", path)(e)),
            }
        }
        Err(e) => Err(io_err("rename", path)(e)),
    }
}

/// Removes the directories of creates killed before they renamed theirs
/// into place: `@new.<pid>.<n>` whose process is gone and whose lock is free
/// (a live creator in another pid namespace still holds its lock).
fn sweep_abandoned(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(NEW_DIR_PREFIX))
            .and_then(|rest| rest.split('.').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let p = e.path();
        let Ok(f) = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&p)
        else {
            continue;
        };
        if f.try_lock().is_ok() {
            tracing::debug!("removing {}, left by a create that died", p.display());
            let _ = std::fs::remove_dir_all(&p);
        }
    }
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

    fn temp_root(name: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("berth-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        root
    }

    #[test]
    fn a_state_dir_appears_filled_and_a_taken_id_is_refused() {
        let root = temp_root("publish");
        let dir = StateDir::create(&root, "one", |d| {
            // Not under its name yet: nobody can find it half made.
            assert!(!root.join("one").exists());
            d.save_config("{}")
        })
        .unwrap();
        assert_eq!(dir.path, root.join("one"));
        assert!(root.join("one").join(CONFIG_FILE).exists());
        let again = StateDir::create(&root, "one", |d| d.save_config("{}"));
        assert!(
            matches!(again, Err(StateError::Exists(_))),
            "{:?}",
            again.err()
        );
        // A fill that fails leaves nothing.
        let failed = StateDir::create(&root, "two", |_| Err(StateError::NotFound("two".into())));
        assert!(failed.is_err());
        assert_eq!(list_ids(&root).unwrap(), vec!["one".to_string()]);
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 1);
        drop(dir);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn directories_of_dead_creates_are_swept() {
        let root = temp_root("sweep");
        std::fs::create_dir_all(&root).unwrap();
        // No process has this pid (above the kernel's PID_MAX_LIMIT).
        let dead = root.join(format!("{NEW_DIR_PREFIX}4194305.0"));
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join(STATE_FILE), "{").unwrap();
        // Ours, and alive: kept.
        let alive = root.join(format!("{NEW_DIR_PREFIX}{}.999", std::process::id()));
        std::fs::create_dir(&alive).unwrap();
        let dir = StateDir::create(&root, "c", |_| Ok(())).unwrap();
        assert!(!dead.exists());
        assert!(alive.exists());
        drop(dir);
        std::fs::remove_dir_all(&root).unwrap();
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
