//! Helpers for berth integration tests.
//!
//! The tests drive the real `berth` binary as root and start real containers
//! from a busybox bundle. Everything a test creates lives in one temporary
//! directory under /tmp (removed on drop) with its own `--root` state
//! directory, its own container IDs and its own cgroup paths
//! (`/berth-test/<id>`), so tests can run in parallel.
//!
//! Leak checks ([`Snapshot`]) look at process-wide state (our children, our
//! fds, our mount table), so tests that take snapshots must run alone: they
//! use [`Env::exclusive`], which holds a process-wide write lock, while all
//! other tests hold the same lock shared ([`Env::new`]).

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Default time limit for one `berth` invocation.
pub const BERTH_TIMEOUT: Duration = Duration::from_secs(30);

/// Skip the current test (with a printed reason) unless we run as root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::is_root() {
            eprintln!("SKIPPED: this test starts real containers and must run as root");
            return;
        }
    };
}

/// Are we uid 0?
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The berth binary under test: `$BERTH_BIN`, else `<workspace>/target/debug/berth`.
pub fn berth_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_BIN") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("integration-tests lives inside the workspace")
        .join("target/debug/berth")
}

/// Where the host's busybox-static lives.
pub const BUSYBOX: &str = "/bin/busybox";

fn busybox_applets() -> &'static [String] {
    static APPLETS: OnceLock<Vec<String>> = OnceLock::new();
    APPLETS.get_or_init(|| {
        assert!(
            Path::new(BUSYBOX).exists(),
            "{BUSYBOX} is missing: install busybox-static (scripts/deps.sh)"
        );
        let out = Command::new(BUSYBOX)
            .arg("--list")
            .output()
            .expect("run busybox --list");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            // `busybox --list` names busybox itself: never replace the binary by a symlink.
            .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/'))
            .map(String::from)
            .collect()
    })
}

// ---------------------------------------------------------------------------
// Temporary directories

/// A directory under /tmp that is removed (carefully) on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let path = PathBuf::from(format!("/tmp/{prefix}-{}-{n}", std::process::id()));
        if path.exists() {
            remove_tree(&path);
        }
        fs::create_dir_all(&path).expect("create temp dir");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        remove_tree(&self.path);
    }
}

/// Mount points (from our mountinfo) at or below `dir`, deepest first.
pub fn mounts_below(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().to_string();
    let mut v: Vec<String> = mountinfo()
        .iter()
        .filter_map(|l| l.split(' ').nth(4).map(unescape_mountinfo))
        .filter(|mp| mp == &dir || mp.starts_with(&format!("{dir}/")))
        .collect();
    v.sort_by_key(|m| std::cmp::Reverse(m.len()));
    v.dedup();
    v
}

fn unescape_mountinfo(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Remove a test directory. A buggy runtime could leave mounts in it: detach
/// them first (never recurse into a mounted filesystem), and leave the tree in
/// place if that does not work.
fn remove_tree(path: &Path) {
    for mp in mounts_below(path) {
        eprintln!("cleanup: detaching leftover mount {mp}");
        let c = CString::new(mp).unwrap();
        // SAFETY: plain syscall on a valid C string.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
    if !mounts_below(path).is_empty() {
        eprintln!("cleanup: {} still has mounts, leaving it", path.display());
        return;
    }
    let _ = fs::remove_dir_all(path);
}

// ---------------------------------------------------------------------------
// Per-test environment

static EXCLUSIVE: RwLock<()> = RwLock::new(());

enum Guard {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Exclusive(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

/// Output of one `berth` invocation.
#[derive(Debug, Clone)]
pub struct Out {
    /// Exit code; 128+N if berth itself was killed by signal N.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The file that received berth's stdout. After `create` the container
    /// keeps writing to it (stdio is passed through when terminal=false).
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
    pub args: Vec<String>,
}

impl Out {
    /// Panic (with everything berth printed) unless the exit code is 0.
    #[track_caller]
    pub fn ok(self) -> Out {
        assert_eq!(
            self.code,
            0,
            "berth {:?} failed:\n{}",
            self.args,
            self.describe()
        );
        self
    }

    pub fn describe(&self) -> String {
        format!(
            "exit code {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A `berth` process running in the background (e.g. a foreground `berth run`).
pub struct Running {
    child: Child,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    args: Vec<String>,
}

impl Running {
    /// Wait for berth to exit (killing it and panicking after `timeout`).
    #[track_caller]
    pub fn wait(mut self, timeout: Duration) -> Out {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("wait for berth") {
                break st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "berth {:?} did not exit within {:?}; stdout: {}; stderr: {}",
                    self.args,
                    timeout,
                    read_lossy(&self.stdout_path),
                    read_lossy(&self.stderr_path)
                );
            }
            sleep(Duration::from_millis(10));
        };
        use std::os::unix::process::ExitStatusExt;
        let code = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        Out {
            code,
            stdout: read_lossy(&self.stdout_path),
            stderr: read_lossy(&self.stderr_path),
            stdout_path: self.stdout_path.clone(),
            stderr_path: self.stderr_path.clone(),
            args: std::mem::take(&mut self.args),
        }
    }

    /// Like [`Running::wait`] but returns None (after killing berth) on
    /// timeout instead of panicking: safe to use in Drop.
    pub fn wait_quiet(mut self, timeout: Duration) -> Option<Out> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return Some(self.wait(Duration::ZERO)),
                Ok(None) if Instant::now() < deadline => sleep(Duration::from_millis(10)),
                _ => return None, // Drop kills and reaps it
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Only reached if a test panicked before waiting: reap our own child.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn read_lossy(p: &Path) -> String {
    String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned()
}

/// Everything one test needs: a temp dir, a private `--root`, unique IDs.
/// Containers still known to the root dir are force-deleted on drop.
pub struct Env {
    // Field order matters: cleanup in Drop, then the temp dir, then the lock.
    tmp: TempDir,
    root: PathBuf,
    token: String,
    ids: std::cell::RefCell<Vec<String>>,
    seq: AtomicUsize,
    exclusive: bool,
    _guard: Guard,
}

impl Env {
    /// An environment that may run in parallel with other tests.
    pub fn new(name: &str) -> Env {
        let g = EXCLUSIVE.read().unwrap_or_else(|e| e.into_inner());
        Env::build(name, Guard::Shared(g), false)
    }

    /// An environment that runs alone in this test binary (needed for
    /// [`Snapshot`], which looks at process-wide state).
    pub fn exclusive(name: &str) -> Env {
        let g = EXCLUSIVE.write().unwrap_or_else(|e| e.into_inner());
        Env::build(name, Guard::Exclusive(g), true)
    }

    fn build(name: &str, guard: Guard, exclusive: bool) -> Env {
        static ENV_SEQ: AtomicUsize = AtomicUsize::new(0);
        let n = ENV_SEQ.fetch_add(1, Ordering::SeqCst);
        let bin = berth_bin();
        assert!(
            bin.exists(),
            "berth binary {} not found: run `cargo build -p berth-runtime` or set BERTH_BIN",
            bin.display()
        );
        let tmp = TempDir::new("berth-it");
        let root = tmp.path().join("root");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(tmp.path().join("io")).unwrap();
        let short: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(12)
            .collect();
        Env {
            tmp,
            root,
            token: format!("{short}-{}-{n}-", std::process::id()),
            ids: Default::default(),
            seq: AtomicUsize::new(0),
            exclusive,
            _guard: guard,
        }
    }

    /// The `--root` state directory of this test.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// This test's temp directory.
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// Prefix shared by all container IDs of this test.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// A fresh, unique container ID.
    pub fn new_id(&self) -> String {
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        let id = format!("{}{n}", self.token);
        self.ids.borrow_mut().push(id.clone());
        id
    }

    fn io_paths(&self) -> (PathBuf, PathBuf) {
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        let io = self.tmp.path().join("io");
        (io.join(format!("{n}.out")), io.join(format!("{n}.err")))
    }

    fn command(&self, args: &[&str]) -> (Command, PathBuf, PathBuf, Vec<String>) {
        let (out, err) = self.io_paths();
        let mut cmd = Command::new(berth_bin());
        cmd.arg("--root").arg(&self.root).args(args);
        cmd.stdin(Stdio::null())
            .stdout(fs::File::create(&out).unwrap())
            .stderr(fs::File::create(&err).unwrap());
        let mut all = vec!["--root".to_string(), self.root.display().to_string()];
        all.extend(args.iter().map(|s| s.to_string()));
        (cmd, out, err, all)
    }

    /// Run `berth --root <root> ARGS...` and wait for it (stdio go to files,
    /// so a detached container holding them does not block us).
    #[track_caller]
    pub fn berth(&self, args: &[&str]) -> Out {
        self.berth_timeout(args, BERTH_TIMEOUT)
    }

    #[track_caller]
    pub fn berth_timeout(&self, args: &[&str], timeout: Duration) -> Out {
        self.spawn(args).wait(timeout)
    }

    /// Run `berth --root <root> ARGS...` with `input` on its stdin; returns
    /// (exit code, stdout, stderr).
    pub fn berth_stdin(&self, args: &[&str], input: &str) -> (i32, String, String) {
        let mut child = Command::new(berth_bin())
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn berth");
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes()).expect("write stdin");
        }
        let out = child.wait_with_output().expect("wait for berth");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Start `berth --root <root> ARGS...` without waiting.
    pub fn spawn(&self, args: &[&str]) -> Running {
        let (mut cmd, stdout_path, stderr_path, args) = self.command(args);
        let child = cmd.spawn().expect("spawn berth");
        Running {
            child,
            stdout_path,
            stderr_path,
            args,
        }
    }

    /// Give the bundle a cgroup path unique to `id`, write its config.json.
    pub fn prepare(&self, bundle: &mut Bundle, id: &str) {
        bundle.set_cgroups_path(&format!("/berth-test/{id}"));
        bundle.save();
    }

    /// `berth create --bundle B ID`.
    #[track_caller]
    pub fn create(&self, bundle: &mut Bundle, id: &str) -> Out {
        self.prepare(bundle, id);
        let b = bundle.path().display().to_string();
        self.berth(&["create", "--bundle", &b, id])
    }

    /// `berth run --bundle B ID` (foreground; returns the container's exit code).
    #[track_caller]
    pub fn run(&self, bundle: &mut Bundle, id: &str) -> Out {
        self.prepare(bundle, id);
        let b = bundle.path().display().to_string();
        self.berth(&["run", "--bundle", &b, id])
    }

    /// `berth state ID`, parsed. None if berth fails.
    pub fn state(&self, id: &str) -> Option<Value> {
        let out = self.berth(&["state", id]);
        if out.code != 0 {
            return None;
        }
        Some(serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "berth state {id} printed invalid JSON ({e}):\n{}",
                out.stdout
            )
        }))
    }

    /// The `status` field of `berth state ID` (panics if state fails).
    #[track_caller]
    pub fn status(&self, id: &str) -> String {
        let st = self.berth(&["state", id]).ok();
        let v: Value = serde_json::from_str(&st.stdout)
            .unwrap_or_else(|e| panic!("invalid state JSON ({e}): {}", st.stdout));
        v["status"].as_str().unwrap_or_default().to_string()
    }

    /// Poll `berth state` until the status is `want`.
    #[track_caller]
    pub fn wait_status(&self, id: &str, want: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut last = String::from("(state failed)");
        while Instant::now() < deadline {
            // The container may not exist yet (e.g. right after spawning `run`).
            if let Some(st) = self.state(id) {
                last = st["status"].as_str().unwrap_or_default().to_string();
                if last == want {
                    return;
                }
            }
            sleep(Duration::from_millis(20));
        }
        panic!("container {id}: status still {last:?} after {timeout:?}, wanted {want:?}");
    }

    /// Asserts that no container state and no cgroup of this test's
    /// containers are left (`what` says after what).
    #[track_caller]
    pub fn assert_nothing_left(&self, what: &str) {
        assert!(
            self.root_entries().is_empty(),
            "{what}: state left: {:?}",
            self.root_entries()
        );
        assert!(
            self.cgroup_dirs().is_empty(),
            "{what}: cgroups left: {:?}",
            self.cgroup_dirs()
        );
    }

    /// Names in the root dir (one per container known to berth).
    pub fn root_entries(&self) -> Vec<String> {
        dir_entries(&self.root)
    }

    /// Container processes of this test that still exist: any process whose
    /// /proc/PID/cgroup mentions `/berth-test/<token>` (not zombies).
    pub fn container_procs(&self) -> Vec<String> {
        let needle = format!("/berth-test/{}", self.token);
        let mut v = vec![];
        for pid in all_pids() {
            let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
            if cg.contains(&needle) {
                if let Some(st) = proc_stat(pid) {
                    if st.state != 'Z' {
                        v.push(format!("{pid} ({}) state {}", st.comm, st.state));
                    }
                }
            }
        }
        v
    }

    /// cgroup directories of this test's containers, in any hierarchy.
    pub fn cgroup_dirs(&self) -> Vec<String> {
        let mut v = vec![];
        for hier in dir_entries(Path::new("/sys/fs/cgroup")) {
            let parent = Path::new("/sys/fs/cgroup").join(&hier).join("berth-test");
            for e in dir_entries(&parent) {
                if e.starts_with(&self.token) {
                    v.push(parent.join(e).display().to_string());
                }
            }
        }
        v.sort();
        v
    }

    /// A host directory (mode 0777) bind-mounted into the bundle at `dest`.
    pub fn shared_dir(&self, bundle: &mut Bundle, dest: &str) -> PathBuf {
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        let dir = self.tmp.path().join(format!("shared{n}"));
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        bundle.add_bind_mount(&dir, dest, false);
        dir
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Best effort: force-delete what this test left behind.
        let left = self.root_entries();
        for id in self.ids.borrow().iter() {
            if left.contains(id) {
                let del = self.spawn(&["delete", "--force", id]);
                if del.wait_quiet(Duration::from_secs(20)).is_none() {
                    eprintln!("cleanup: berth delete --force {id} timed out");
                }
            }
        }
        // Cgroups a buggy runtime left behind (already reported by the leak
        // checks): remove the empty ones so they do not pile up.
        fn rmdir_tree(p: &Path) {
            for e in fs::read_dir(p).into_iter().flatten().flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    rmdir_tree(&e.path());
                }
            }
            let _ = fs::remove_dir(p);
        }
        for d in self.cgroup_dirs() {
            rmdir_tree(Path::new(&d));
        }
    }
}

/// Poll `path` until it contains `needle`; returns its content.
#[track_caller]
pub fn wait_for_file(path: &Path, needle: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let s = read_lossy(path);
        if s.contains(needle) {
            return s;
        }
        if Instant::now() > deadline {
            panic!(
                "{} does not contain {needle:?} after {timeout:?}; it has:\n{s}",
                path.display()
            );
        }
        sleep(Duration::from_millis(20));
    }
}

/// Does a process exist (and is not a zombie)?
pub fn pid_alive(pid: i64) -> bool {
    matches!(proc_stat(pid as u32), Some(st) if st.state != 'Z')
}

/// Poll until `pid` is gone (or a zombie). Returns false on timeout.
pub fn wait_pid_gone(pid: i64, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if !pid_alive(pid) {
            return true;
        }
        sleep(Duration::from_millis(20));
    }
    !pid_alive(pid)
}

pub fn dir_entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => vec![],
    };
    v.sort();
    v
}

// ---------------------------------------------------------------------------
// Bundles

/// A busybox bundle: `<dir>/rootfs` and `<dir>/config.json`.
///
/// The config starts as `berth spec` output with: terminal false, a writable
/// root (runc-style specs default to a read-only one), hostname "berth-test".
/// Edit it through the setters or [`Bundle::config_mut`]; it is written by
/// [`Bundle::save`] (which [`Env::create`] and [`Env::run`] call).
pub struct Bundle {
    dir: PathBuf,
    config: Value,
}

impl Bundle {
    /// A bundle inside the test's temp dir.
    pub fn new(env: &Env) -> Bundle {
        let n = env.seq.fetch_add(1, Ordering::SeqCst);
        let dir = env.tmp.path().join(format!("bundle{n}"));
        fs::create_dir_all(&dir).unwrap();
        make_rootfs(&dir.join("rootfs"));
        env.berth(&["spec", "--bundle", &dir.display().to_string()])
            .ok();
        let text = fs::read_to_string(dir.join("config.json"))
            .expect("berth spec did not write config.json");
        let config: Value = serde_json::from_str(&text).expect("berth spec wrote invalid JSON");
        let mut b = Bundle { dir, config };
        b.set_terminal(false);
        b.config["root"]["readonly"] = json!(false);
        b.config["hostname"] = json!("berth-test");
        b
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    pub fn config(&self) -> &Value {
        &self.config
    }

    pub fn config_mut(&mut self) -> &mut Value {
        &mut self.config
    }

    /// Write config.json.
    pub fn save(&self) {
        let text = serde_json::to_string_pretty(&self.config).unwrap();
        fs::write(self.dir.join("config.json"), text).unwrap();
    }

    pub fn set_args(&mut self, args: &[&str]) -> &mut Self {
        self.config["process"]["args"] = json!(args);
        self
    }

    /// `sh -c SCRIPT`.
    pub fn set_sh(&mut self, script: &str) -> &mut Self {
        self.set_args(&["sh", "-c", script])
    }

    pub fn set_env(&mut self, env: &[&str]) -> &mut Self {
        self.config["process"]["env"] = json!(env);
        self
    }

    pub fn set_terminal(&mut self, on: bool) -> &mut Self {
        self.config["process"]["terminal"] = json!(on);
        self
    }

    pub fn set_cwd(&mut self, cwd: &str) -> &mut Self {
        self.config["process"]["cwd"] = json!(cwd);
        self
    }

    pub fn set_user(&mut self, uid: u32, gid: u32, additional_gids: &[u32]) -> &mut Self {
        self.config["process"]["user"] = json!({
            "uid": uid, "gid": gid, "additionalGids": additional_gids
        });
        self
    }

    pub fn set_hostname(&mut self, name: &str) -> &mut Self {
        self.config["hostname"] = json!(name);
        self
    }

    pub fn set_readonly_root(&mut self, ro: bool) -> &mut Self {
        self.config["root"]["readonly"] = json!(ro);
        self
    }

    pub fn set_cgroups_path(&mut self, p: &str) -> &mut Self {
        self.config["linux"]["cgroupsPath"] = json!(p);
        self
    }

    pub fn namespaces(&self) -> Vec<String> {
        self.config["linux"]["namespaces"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|n| n["type"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Add `{"type": ty}` unless already present.
    pub fn add_namespace(&mut self, ty: &str) -> &mut Self {
        if !self.namespaces().iter().any(|n| n == ty) {
            let ns = &mut self.config["linux"]["namespaces"];
            if !ns.is_array() {
                *ns = json!([]);
            }
            ns.as_array_mut().unwrap().push(json!({ "type": ty }));
        }
        self
    }

    pub fn remove_namespace(&mut self, ty: &str) -> &mut Self {
        if let Some(a) = self.config["linux"]["namespaces"].as_array_mut() {
            a.retain(|n| n["type"] != ty);
        }
        self
    }

    /// Add a capability (e.g. "CAP_SYS_ADMIN") to the bounding, effective and
    /// permitted sets.
    pub fn add_capability(&mut self, cap: &str) -> &mut Self {
        for set in ["bounding", "effective", "permitted"] {
            let v = &mut self.config["process"]["capabilities"][set];
            if !v.is_array() {
                *v = json!([]);
            }
            let a = v.as_array_mut().unwrap();
            if !a.iter().any(|c| c == cap) {
                a.push(json!(cap));
            }
        }
        self
    }

    /// Replace the capability sets: bounding = effective = permitted = `caps`,
    /// no inheritable or ambient capabilities.
    pub fn set_capabilities(&mut self, caps: &[&str]) -> &mut Self {
        self.config["process"]["capabilities"] = json!({
            "bounding": caps, "effective": caps, "permitted": caps
        });
        self
    }

    pub fn add_bind_mount(&mut self, src: &Path, dest: &str, readonly: bool) -> &mut Self {
        let mut opts = vec!["rbind"];
        opts.push(if readonly { "ro" } else { "rw" });
        let m = json!({
            "destination": dest, "type": "bind",
            "source": src.display().to_string(), "options": opts
        });
        let mounts = &mut self.config["mounts"];
        if !mounts.is_array() {
            *mounts = json!([]);
        }
        mounts.as_array_mut().unwrap().push(m);
        self
    }

    pub fn set_rlimit(&mut self, ty: &str, soft: u64, hard: u64) -> &mut Self {
        let rl = &mut self.config["process"]["rlimits"];
        if !rl.is_array() {
            *rl = json!([]);
        }
        let a = rl.as_array_mut().unwrap();
        a.retain(|r| r["type"] != ty);
        a.push(json!({ "type": ty, "soft": soft, "hard": hard }));
        self
    }

    /// chown -R (without following symlinks) the rootfs, for user namespaces.
    pub fn chown_rootfs(&self, uid: u32, gid: u32) {
        fn walk(p: &Path, uid: u32, gid: u32) {
            std::os::unix::fs::lchown(p, Some(uid), Some(gid)).unwrap();
            let md = fs::symlink_metadata(p).unwrap();
            if md.is_dir() {
                for e in fs::read_dir(p).unwrap() {
                    walk(&e.unwrap().path(), uid, gid);
                }
            }
        }
        walk(&self.rootfs(), uid, gid);
    }
}

/// Fill `rootfs` with busybox, one symlink per applet, /etc files and the
/// empty mount-point directories.
pub fn make_rootfs(rootfs: &Path) {
    let bin = rootfs.join("bin");
    fs::create_dir_all(&bin).unwrap();
    fs::copy(BUSYBOX, bin.join("busybox")).expect("copy busybox");
    fs::set_permissions(bin.join("busybox"), fs::Permissions::from_mode(0o755)).unwrap();
    for applet in busybox_applets() {
        let _ = symlink("busybox", bin.join(applet));
    }
    for d in ["proc", "sys", "dev", "etc", "mnt", "root"] {
        fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    fs::create_dir_all(rootfs.join("tmp")).unwrap();
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    let mut f = fs::File::create(rootfs.join("etc/passwd")).unwrap();
    f.write_all(
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
}

// ---------------------------------------------------------------------------
// /proc helpers

pub struct ProcStat {
    pub pid: u32,
    pub comm: String,
    pub state: char,
    pub ppid: u32,
}

pub fn proc_stat(pid: u32) -> Option<ProcStat> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm is in parentheses and may contain spaces: split at the last ')'.
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s[open + 1..close].to_string();
    let mut rest = s[close + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some(ProcStat {
        pid,
        comm,
        state,
        ppid,
    })
}

pub fn all_pids() -> Vec<u32> {
    dir_entries(Path::new("/proc"))
        .iter()
        .filter_map(|e| e.parse().ok())
        .collect()
}

/// Lines of /proc/self/mountinfo without the engine lane's (see
/// [`engine_lane_mount`]).
pub fn mountinfo() -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .expect("read /proc/self/mountinfo")
        .lines()
        .filter(|line| !engine_lane_mount(line))
        .map(String::from)
        .collect()
}

/// Target of /proc/self/ns/<name> (e.g. "ipc:[4026531839]").
pub fn host_ns(name: &str) -> String {
    fs::read_link(format!("/proc/self/ns/{name}"))
        .unwrap()
        .display()
        .to_string()
}

/// A field of /proc/<pid>/status (e.g. "Uid"), whitespace-normalised.
pub fn status_field(status_text: &str, field: &str) -> Option<String> {
    status_text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
}

pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    assert_eq!(r, 0);
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

// ---------------------------------------------------------------------------
// Capabilities

pub const CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The /proc/PID/status hex mask ("CapEff: 00000000a80425fb") for a set of names.
pub fn cap_mask(names: &[&str]) -> String {
    let mut m: u64 = 0;
    for n in names {
        let i = CAPABILITIES
            .iter()
            .position(|c| c == n)
            .unwrap_or_else(|| panic!("unknown capability {n}"));
        m |= 1 << i;
    }
    format!("{m:016x}")
}

// ---------------------------------------------------------------------------
// Leak checks

/// Process-wide state that berth must leave as it found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Lines of /proc/self/mountinfo.
    pub mounts: BTreeSet<String>,
    /// Entries of the test's `--root` dir.
    pub root_entries: Vec<String>,
    /// Our children (alive or zombie): "pid comm state".
    pub children: Vec<String>,
    /// Live processes in this test's container cgroups.
    pub container_procs: Vec<String>,
    /// cgroup dirs of this test's containers.
    pub cgroup_dirs: Vec<String>,
    /// Number of our open fds, and where they point.
    pub fd_count: usize,
    pub fds: Vec<String>,
}

impl Snapshot {
    /// Take a snapshot. Only meaningful in an [`Env::exclusive`] test.
    pub fn take(env: &Env) -> Snapshot {
        assert!(
            env.exclusive,
            "Snapshot needs Env::exclusive (process-wide state)"
        );
        let me = std::process::id();
        let children = all_pids()
            .into_iter()
            .filter_map(proc_stat)
            .filter(|s| s.ppid == me && s.pid != me)
            .map(|s| format!("{} {} {}", s.pid, s.comm, s.state))
            .collect();
        let mut fds = vec![];
        for e in dir_entries(Path::new("/proc/self/fd")) {
            // The handle used to list /proc/self/fd is closed by now: skip it.
            if let Ok(target) = fs::read_link(format!("/proc/self/fd/{e}")) {
                fds.push(format!("{e} -> {}", target.display()));
            }
        }
        Snapshot {
            mounts: mountinfo().into_iter().collect(),
            root_entries: env.root_entries(),
            children,
            container_procs: env.container_procs(),
            cgroup_dirs: env.cgroup_dirs(),
            fd_count: fds.len(),
            fds,
        }
    }
}

/// Whether a mountinfo line is a mount of the engine lane
/// (conformance/engines keeps its daemons' roots in /tmp/eng.*): when it
/// runs beside the tests, its containers come and go in the same mount
/// namespace without being berth's doing.
fn engine_lane_mount(line: &str) -> bool {
    line.split(' ')
        .nth(4)
        .is_some_and(|point| point.starts_with("/tmp/eng."))
}

/// Panic with a readable list of everything that differs.
#[track_caller]
pub fn assert_no_leaks(before: &Snapshot, after: &Snapshot) {
    let mut problems = vec![];
    for m in after.mounts.difference(&before.mounts) {
        problems.push(format!("new mount: {m}"));
    }
    for m in before.mounts.difference(&after.mounts) {
        problems.push(format!("mount disappeared: {m}"));
    }
    for e in &after.root_entries {
        if !before.root_entries.contains(e) {
            problems.push(format!("new entry in the root dir: {e}"));
        }
    }
    for c in &after.children {
        if !before.children.contains(c) {
            problems.push(format!("child process left (alive or zombie): {c}"));
        }
    }
    for p in &after.container_procs {
        if !before.container_procs.contains(p) {
            problems.push(format!("container process left: {p}"));
        }
    }
    for d in &after.cgroup_dirs {
        if !before.cgroup_dirs.contains(d) {
            problems.push(format!("cgroup left: {d}"));
        }
    }
    if after.fd_count != before.fd_count {
        problems.push(format!(
            "open fds: {} before, {} after\nbefore: {:?}\nafter: {:?}",
            before.fd_count, after.fd_count, before.fds, after.fds
        ));
    }
    assert!(problems.is_empty(), "leaks:\n{}", problems.join("\n"));
}

/// Accepts one connection and receives the one fd sent on it (SCM_RIGHTS).
pub fn receive_fd(l: &std::os::unix::net::UnixListener) -> std::os::fd::OwnedFd {
    use std::os::fd::AsFd;
    l.set_nonblocking(false).unwrap();
    let (conn, _) = l.accept().expect("berth never connected");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    recv_with_fd(conn.as_fd()).1
}

/// Receives one message on `sock` with the fd it carries (SCM_RIGHTS, the
/// first control message), close-on-exec at once: other tests' processes
/// must not inherit it. Returns the message's bytes and the fd.
pub fn recv_with_fd(sock: std::os::fd::BorrowedFd<'_>) -> (Vec<u8>, std::os::fd::OwnedFd) {
    use std::os::fd::{AsRawFd, FromRawFd};
    let mut data = vec![0u8; 65536];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut cbuf = [0u64; 8];
    // SAFETY: an all-zero msghdr is valid; the pointers set next outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    // SAFETY: recvmsg fills the buffers msg describes.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    assert!(n >= 0, "recvmsg: {}", std::io::Error::last_os_error());
    data.truncate(n as usize);
    // SAFETY: the control buffer was filled by the kernel; CMSG_* walk it.
    let fd = unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        assert!(!cmsg.is_null(), "no fd received ({n} data bytes)");
        assert_eq!((*cmsg).cmsg_level, libc::SOL_SOCKET);
        assert_eq!((*cmsg).cmsg_type, libc::SCM_RIGHTS);
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const std::os::fd::RawFd);
        std::os::fd::OwnedFd::from_raw_fd(fd)
    };
    (data, fd)
}
