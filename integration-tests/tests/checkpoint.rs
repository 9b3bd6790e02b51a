//! checkpoint and restore on this host. Debian 12's CRIU 3.17 cannot dump
//! anything on newer kernels ("vdso: Unexpected rt vDSO area bounds"):
//! then berth must say why, quoting CRIU's log and naming it, and leave
//! the container running as it was. Where CRIU works the same test does a
//! real round trip. The full round trips run in a guest with Debian's own
//! kernel (conformance/criu). Bad flags are refused before anything is
//! made.

use integration_tests::*;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Asked once: later callers wait for the first answer, so no test starts
/// `criu` while the exclusive test counts processes and fds.
fn criu_installed() -> bool {
    static INSTALLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *INSTALLED.get_or_init(|| {
        Command::new("criu")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

macro_rules! require_criu {
    () => {
        require_root!();
        if !criu_installed() {
            eprintln!("SKIPPED: criu is not installed (scripts/deps.sh installs it)");
            return;
        }
    };
}

/// A counter writing one number a line to /count, five a second.
fn counter(env: &Env) -> Bundle {
    let mut b = Bundle::new(env);
    b.set_sh("i=0; while true; do echo $i >> /count; i=$((i+1)); sleep 0.2; done");
    b
}

fn lines(rootfs: &Path) -> Vec<u64> {
    read_lossy(&rootfs.join("count"))
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[track_caller]
fn wait_lines(rootfs: &Path, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while lines(rootfs).len() < n {
        assert!(
            Instant::now() < deadline,
            "the counter wrote only {:?}",
            lines(rootfs)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start_counter(env: &Env) -> (Bundle, String, i64) {
    let mut b = counter(env);
    let id = env.new_id();
    env.prepare(&mut b, &id);
    let bp = b.path().display().to_string();
    env.berth(&["run", "-d", "--bundle", &bp, &id]).ok();
    wait_lines(&b.rootfs(), 3);
    let pid = env.state(&id).expect("state")["pid"].as_i64().unwrap_or(0);
    (b, id, pid)
}

fn cgroup_procs(id: &str) -> String {
    [
        "/sys/fs/cgroup/pids",
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup",
    ]
    .iter()
    .map(|m| {
        read_lossy(
            &Path::new(m)
                .join("berth-test")
                .join(id)
                .join("cgroup.procs"),
        )
    })
    .find(|s| !s.is_empty())
    .unwrap_or_default()
}

#[test]
fn checkpoint_reports_criu_failure_and_leaves_the_container_running() {
    require_criu!();
    let env = Env::new("ckptfail");
    let (b, id, pid) = start_counter(&env);
    let images = env.dir().join("images");
    let out = env.berth(&[
        "checkpoint",
        "--image-path",
        &images.display().to_string(),
        &id,
    ]);
    if out.code == 0 {
        // CRIU works on this host: the container is gone, and restores.
        assert!(
            wait_pid_gone(pid, Duration::from_secs(10)),
            "init {pid} survived the checkpoint"
        );
        assert!(
            env.state(&id).is_none(),
            "a checkpointed container stays listed"
        );
        let stopped_at = *lines(&b.rootfs()).last().unwrap_or(&0);
        let bp = b.path().display().to_string();
        env.berth(&[
            "restore",
            "-d",
            "--image-path",
            &images.display().to_string(),
            "--bundle",
            &bp,
            &id,
        ])
        .ok();
        assert_eq!(env.status(&id), "running");
        wait_lines(&b.rootfs(), stopped_at as usize + 4);
        let all = lines(&b.rootfs());
        assert_eq!(
            all[stopped_at as usize + 1],
            stopped_at + 1,
            "did not resume: {all:?}"
        );
        env.berth(&["delete", "-f", &id]).ok();
        return;
    }
    let shown = out.describe();
    assert_eq!(out.code, 1, "{shown}");
    assert_eq!(out.stderr.lines().count(), 1, "one line of error: {shown}");
    assert!(out.stderr.starts_with("berth: criu dump failed"), "{shown}");
    // It names CRIU's log, which exists and holds the quoted reason.
    let log = images.join("dump.log");
    assert!(
        out.stderr
            .contains(&format!("CRIU's log: {}", log.display())),
        "{shown}"
    );
    let log_text = read_lossy(&log);
    let quoted = out
        .stderr
        .split_once("): ")
        .and_then(|(_, rest)| rest.split("; CRIU's log").next())
        .unwrap_or_default()
        .trim();
    assert!(
        quoted.contains("Error"),
        "no CRIU error line quoted: {shown}"
    );
    for line in quoted.split(" … ") {
        assert!(
            log_text.contains(line),
            "{line:?} is not in {}",
            log.display()
        );
    }
    // The container is untouched: same init, running, in its cgroup, counting.
    let st = env.state(&id).expect("the container disappeared");
    assert_eq!(st["status"], "running", "{st}");
    assert_eq!(st["pid"].as_i64(), Some(pid), "{st}");
    assert!(pid_alive(pid));
    assert!(
        cgroup_procs(&id)
            .lines()
            .any(|l| l.trim() == pid.to_string()),
        "init left its cgroup: {:?}",
        cgroup_procs(&id)
    );
    let n = lines(&b.rootfs()).len();
    wait_lines(&b.rootfs(), n + 3);
    env.berth(&["delete", "-f", &id]).ok();
}

/// `berth ARGS` fails with exit 1 and one line naming `needle`.
#[track_caller]
fn expect_refused(env: &Env, args: &[&str], needle: &str) {
    let out = env.berth(args);
    let shown = format!("berth {}:\n{}", args.join(" "), out.describe());
    assert_eq!(out.code, 1, "{shown}");
    assert!(
        out.stderr.contains(needle),
        "the error does not name {needle:?}: {shown}"
    );
}

#[test]
fn checkpoint_refuses_bad_flags_before_touching_anything() {
    require_criu!();
    let env = Env::new("ckptflags");
    let (b, id, pid) = start_counter(&env);
    let images = env.dir().join("images");
    let img = images.display().to_string();
    let cases: &[(&[&str], &str)] = &[
        (&["--manage-cgroups-mode", "bogus"], "--manage-cgroups-mode"),
        (&["--empty-ns", "pid"], "--empty-ns"),
        (&["--parent-path", "/abs/olute"], "--parent-path"),
        (&["--parent-path", "../nowhere"], "--parent-path"),
        (&["--page-server", "nonsense"], "--page-server"),
        (&["--page-server", "host:99999"], "--page-server"),
        (&["--lazy-pages"], "--lazy-pages"),
        (&["--status-fd", "5"], "--status-fd"),
    ];
    for (flags, needle) in cases {
        let mut args = vec!["checkpoint", "--image-path", &img];
        args.extend_from_slice(flags);
        args.push(&id);
        expect_refused(&env, &args, needle);
        assert!(!images.exists(), "{flags:?} made {}", images.display());
        let st = env.state(&id).expect("state");
        assert_eq!(
            (st["status"].as_str(), st["pid"].as_i64()),
            (Some("running"), Some(pid))
        );
    }
    // A parent next to an image dir that does not exist yet is fine: what
    // happens next is CRIU's business (it fails on this host's kernel).
    let pre = env.dir().join("pre");
    fs::create_dir_all(&pre).unwrap();
    let fin = env.dir().join("final").display().to_string();
    let out = env.berth(&[
        "checkpoint",
        "--leave-running",
        "--image-path",
        &fin,
        "--parent-path",
        "../pre",
        &id,
    ]);
    assert!(!out.stderr.contains("--parent-path"), "{}", out.describe());
    assert_eq!(env.status(&id), "running");
    let missing = format!("{}-missing", env.token());
    expect_refused(
        &env,
        &["checkpoint", "--image-path", &img, &missing],
        "does not exist",
    );

    // A created container has nothing to checkpoint yet.
    let created = env.new_id();
    let mut b2 = counter(&env);
    env.create(&mut b2, &created).ok();
    expect_refused(
        &env,
        &["checkpoint", "--image-path", &img, &created],
        "created",
    );
    assert!(!images.exists());
    env.berth(&["delete", "-f", &created]).ok();
    env.berth(&["delete", "-f", &id]).ok();
    drop(b);
}

#[test]
fn restore_refuses_bad_input_and_leaves_nothing() {
    require_criu!();
    let env = Env::exclusive("restoreflags");
    let mut b = counter(&env);
    let id = env.new_id();
    env.prepare(&mut b, &id);
    let bp = b.path().display().to_string();
    // Something that looks like images, so the flags are what is refused.
    let images = env.dir().join("images");
    fs::create_dir_all(&images).unwrap();
    fs::write(images.join("inventory.img"), b"").unwrap();
    let img = images.display().to_string();
    let none = env.dir().join("no-images").display().to_string();
    let sock = env.dir().join("console.sock").display().to_string();
    let cases: &[(&[&str], &str)] = &[
        (&["--image-path", &none], "--image-path"),
        (&["--image-path", &img, "--no-pivot"], "--no-pivot"),
        (
            &["--image-path", &img, "--console-socket", &sock],
            "--console-socket",
        ),
        (
            &["--image-path", &img, "--manage-cgroups-mode", "nope"],
            "--manage-cgroups-mode",
        ),
        (&["--image-path", &img, "--empty-ns", "ipc"], "--empty-ns"),
        (&["--image-path", &img, "--lazy-pages"], "--lazy-pages"),
    ];
    for (flags, needle) in cases {
        let before = Snapshot::take(&env);
        let mut args = vec!["restore", "-d", "--bundle", &bp];
        args.extend_from_slice(flags);
        args.push(&id);
        expect_refused(&env, &args, needle);
        assert_no_leaks(&before, &Snapshot::take(&env));
    }
    // CRIU itself fails (on this host's kernel, or on these empty images):
    // its reason and log are named, and the state, the cgroup, the bind of
    // the rootfs and CRIU's processes are all gone.
    let before = Snapshot::take(&env);
    let out = env.berth(&["restore", "-d", "--bundle", &bp, "--image-path", &img, &id]);
    let shown = out.describe();
    assert_eq!(out.code, 1, "{shown}");
    assert!(out.stderr.contains("criu restore failed"), "{shown}");
    assert!(
        out.stderr.contains(&format!(
            "CRIU's log: {}",
            images.join("restore.log").display()
        )),
        "{shown}"
    );
    assert_no_leaks(&before, &Snapshot::take(&env));
    assert!(env.state(&id).is_none());
    // A terminal config cannot be restored (CRIU's RPC would be needed).
    b.set_terminal(true);
    b.save();
    let before = Snapshot::take(&env);
    expect_refused(
        &env,
        &["restore", "-d", "--bundle", &bp, "--image-path", &img, &id],
        "process.terminal",
    );
    assert_no_leaks(&before, &Snapshot::take(&env));
    b.set_terminal(false);
    b.save();
    // An ID that is taken is refused, and the container is left alone.
    env.create(&mut b, &id).ok();
    expect_refused(
        &env,
        &["restore", "-d", "--bundle", &bp, "--image-path", &img, &id],
        "already exists",
    );
    assert_eq!(env.status(&id), "created");
    env.berth(&["delete", "-f", &id]).ok();
}

#[test]
fn missing_criu_is_named_before_anything_is_made() {
    require_root!();
    let env = Env::new("nocriu");
    let (b, id, pid) = start_counter(&env);
    let images = env.dir().join("images");
    let out = Command::new(berth_bin())
        .env("BERTH_CRIU", "/nonexistent/criu")
        .arg("--root")
        .arg(env.root())
        .args(["checkpoint", "--image-path"])
        .arg(&images)
        .arg(&id)
        .output()
        .expect("run berth");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("/nonexistent/criu") && stderr.contains("install criu"),
        "{stderr}"
    );
    assert!(!images.exists(), "the image dir was made: {stderr}");
    let st = env.state(&id).expect("state");
    assert_eq!(
        (st["status"].as_str(), st["pid"].as_i64()),
        (Some("running"), Some(pid))
    );
    env.berth(&["delete", "-f", &id]).ok();
    drop(b);
}
