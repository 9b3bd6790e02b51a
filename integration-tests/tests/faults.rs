//! Crash consistency: berth killed with SIGKILL at every fault point
//! (`_BERTH_FAULT_POINT`, see libcontainer/src/fault.rs) must leave a state
//! that `berth delete --force` cleans up completely, after which the same
//! ID can be created again, and in the end nothing is left behind.

use integration_tests::*;
use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SIGKILLED: i32 = 128 + libc::SIGKILL;

/// `berth --root <root> ARGS` with `_BERTH_FAULT_POINT=point`; returns the
/// exit code (128+N for a signal) and stderr.
fn berth_with_fault(env: &Env, point: &str, args: &[&str]) -> (i32, String) {
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let out = env.dir().join(format!("fault-{n}.out"));
    let err = env.dir().join(format!("fault-{n}.err"));
    let mut child = Command::new(berth_bin())
        .arg("--root")
        .arg(env.root())
        .args(args)
        .env("_BERTH_FAULT_POINT", point)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out).unwrap())
        .stderr(fs::File::create(&err).unwrap())
        .spawn()
        .expect("spawn berth");
    let deadline = Instant::now() + BERTH_TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("berth {args:?} with fault {point} hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    (code, read_lossy(&err))
}

/// How to get a container to the point where the faulty command runs.
#[derive(Clone, Copy, Debug)]
enum Stage {
    /// The faulty command is `create`.
    Create,
    /// After create: the faulty command is `start`.
    Start,
    /// After create + start: the faulty command is `exec`.
    Exec,
    /// After create + start: the faulty command is `delete --force`.
    Delete,
}

const POINTS: &[(&str, Stage)] = &[
    ("create:after-state-dir", Stage::Create),
    ("create:after-cgroup", Stage::Create),
    ("launch:after-init-pid", Stage::Create),
    ("create:after-init-ready", Stage::Create),
    ("create:after-state-saved", Stage::Create),
    ("start:after-fifo-read", Stage::Start),
    ("exec:before-launch", Stage::Exec),
    ("launch:after-init-pid", Stage::Exec),
    ("exec:after-launch", Stage::Exec),
    ("delete:after-kill", Stage::Delete),
    ("delete:after-reap", Stage::Delete),
    ("delete:after-cgroup-removal", Stage::Delete),
];

fn one_point(env: &Env, b: &mut Bundle, point: &str, stage: Stage) {
    let id = env.new_id();
    env.prepare(b, &id);
    let bp = b.path().display().to_string();
    let ctx = format!("fault {point} during {stage:?}");
    let (code, stderr) = match stage {
        Stage::Create => berth_with_fault(env, point, &["create", "--bundle", &bp, &id]),
        Stage::Start => {
            env.berth(&["create", "--bundle", &bp, &id]).ok();
            berth_with_fault(env, point, &["start", &id])
        }
        Stage::Exec => {
            env.berth(&["create", "--bundle", &bp, &id]).ok();
            env.berth(&["start", &id]).ok();
            berth_with_fault(env, point, &["exec", &id, "sleep", "100"])
        }
        Stage::Delete => {
            env.berth(&["create", "--bundle", &bp, &id]).ok();
            env.berth(&["start", &id]).ok();
            berth_with_fault(env, point, &["delete", "--force", &id])
        }
    };
    assert_eq!(
        code, SIGKILLED,
        "{ctx}: berth was not killed at the point (exit {code}): {stderr}"
    );
    // Whatever state the crash left must still be readable.
    let list = env.berth(&["list"]);
    assert_eq!(list.code, 0, "{ctx}: list fails:\n{}", list.describe());
    if env.root_entries().contains(&id) {
        let st = env.berth(&["state", &id]);
        assert_eq!(st.code, 0, "{ctx}: state fails:\n{}", st.describe());
        let v: serde_json::Value = serde_json::from_str(&st.stdout)
            .unwrap_or_else(|e| panic!("{ctx}: state JSON ({e}): {}", st.stdout));
        assert_eq!(v["id"], id.as_str(), "{ctx}: {v}");
        eprintln!(
            "{ctx}: left {} (pid {}), {} container processes, cgroups {:?}",
            v["status"],
            v["pid"],
            env.container_procs().len(),
            env.cgroup_dirs().len()
        );
    } else {
        eprintln!("{ctx}: no state dir left");
    }
    // delete --force cleans up whatever is there (or says it is gone).
    let del = env.berth(&["delete", "--force", &id]);
    let gone = env.root_entries().iter().all(|e| e != &id);
    assert!(
        del.code == 0 || (gone && del.stderr.contains("does not exist")),
        "{ctx}: delete --force:\n{}",
        del.describe()
    );
    assert!(gone, "{ctx}: state dir left after delete --force");
    assert!(
        env.container_procs().is_empty(),
        "{ctx}: processes left: {:?}",
        env.container_procs()
    );
    assert!(
        env.cgroup_dirs().is_empty(),
        "{ctx}: cgroups left: {:?}",
        env.cgroup_dirs()
    );
    // The ID is free again.
    env.berth(&["create", "--bundle", &bp, &id]).ok();
    assert_eq!(env.status(&id), "created", "{ctx}");
    env.berth(&["delete", "--force", &id]).ok();
}

#[test]
fn sigkill_at_every_fault_point_is_recoverable() {
    require_root!();
    let env = Env::exclusive("faults");
    let mut b = Bundle::new(&env);
    b.set_args(&["sleep", "100"]);
    let before = Snapshot::take(&env);
    for (point, stage) in POINTS {
        one_point(&env, &mut b, point, *stage);
    }
    let after = Snapshot::take(&env);
    assert_no_leaks(&before, &after);
    assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
}

/// The same for `run`, which creates, starts, waits and deletes in one
/// process: killed anywhere, it leaves something `delete --force` removes.
#[test]
fn sigkill_during_run_is_recoverable() {
    require_root!();
    let env = Env::exclusive("faultrun");
    let mut b = Bundle::new(&env);
    b.set_args(&["true"]);
    let before = Snapshot::take(&env);
    for point in [
        "create:after-state-dir",
        "create:after-cgroup",
        "launch:after-init-pid",
        "create:after-init-ready",
        "create:after-state-saved",
        "delete:after-reap",
        "delete:after-cgroup-removal",
    ] {
        let id = env.new_id();
        env.prepare(&mut b, &id);
        let bp = b.path().display().to_string();
        let (code, stderr) = berth_with_fault(&env, point, &["run", "--bundle", &bp, &id]);
        assert_eq!(code, SIGKILLED, "run with fault {point}: {stderr}");
        let del = env.berth(&["delete", "--force", &id]);
        assert!(
            del.code == 0 || del.stderr.contains("does not exist"),
            "{point}: {}",
            del.describe()
        );
        assert!(env.root_entries().is_empty(), "{point}: state dir left");
        env.run(&mut b, &id).ok();
    }
    let after = Snapshot::take(&env);
    assert_no_leaks(&before, &after);
}

/// A `start` killed after it read the exec FIFO's byte but before it removed
/// the FIFO leaves a running container that reads as "created"; a second
/// `start` must then fail (or succeed) at once, never wait forever.
#[test]
fn start_after_a_crashed_start_does_not_hang() {
    require_root!();
    let env = Env::exclusive("faultstart");
    let mut b = Bundle::new(&env);
    b.set_args(&["sleep", "100"]);
    let id = env.new_id();
    env.create(&mut b, &id).ok();
    let (code, _) = berth_with_fault(&env, "start:after-fifo-read", &["start", &id]);
    assert_eq!(code, SIGKILLED);
    // The container runs: the state says so despite the FIFO left behind.
    assert_eq!(env.status(&id), "running");
    let second = env
        .spawn(&["start", &id])
        .wait_quiet(Duration::from_secs(10));
    env.berth(&["delete", "--force", &id]).ok();
    let second = second.expect("the second start hung");
    assert_eq!(second.code, 1, "{}", second.describe());
}

/// Killed after the cgroup directories exist but before state.json records
/// them: `delete --force` must still remove them (the state has the
/// config, and with it linux.cgroupsPath).
#[test]
fn sigkill_before_the_cgroup_is_recorded_leaks_nothing() {
    require_root!();
    let env = Env::exclusive("faultcgroup");
    let mut b = Bundle::new(&env);
    b.set_args(&["sleep", "100"]);
    let id = env.new_id();
    env.prepare(&mut b, &id);
    let bp = b.path().display().to_string();
    let before = Snapshot::take(&env);
    let (code, stderr) = berth_with_fault(
        &env,
        "create:cgroup-not-yet-recorded",
        &["create", "--bundle", &bp, &id],
    );
    assert_eq!(code, SIGKILLED, "{stderr}");
    // The window this test is about: the directories exist.
    assert!(
        !env.cgroup_dirs().is_empty(),
        "no cgroup directory after the kill"
    );
    let del = env.berth(&["delete", "--force", &id]);
    assert_eq!(del.code, 0, "{}", del.describe());
    assert!(
        env.cgroup_dirs().is_empty(),
        "delete --force left {:?}",
        env.cgroup_dirs()
    );
    assert_no_leaks(&before, &Snapshot::take(&env));
}
