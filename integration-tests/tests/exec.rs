//! `berth exec`: a new process in every namespace and the cgroup of a
//! running container.

use std::time::Duration;

use integration_tests::{pid_alive, read_lossy, require_root, wait_pid_gone, Bundle, Env};

fn running(env: &Env) -> (Bundle, String, i64) {
    let mut bundle = Bundle::new(env);
    bundle.set_args(&["sleep", "60"]);
    let id = env.new_id();
    env.create(&mut bundle, &id).ok();
    env.berth(&["start", &id]).ok();
    let pid = env.state(&id).expect("state")["pid"].as_i64().expect("pid");
    (bundle, id, pid)
}

#[test]
fn exec_joins_every_namespace_and_the_cgroup() {
    require_root!();
    let env = Env::new("execns");
    let (_bundle, id, init) = running(&env);
    let out = env.berth(&[
        "exec",
        &id,
        "sh",
        "-c",
        "echo pid=$$; for n in mnt pid net ipc uts cgroup; do readlink /proc/self/ns/$n; done; \
         sort /proc/self/cgroup > /tmp/self.cg; sort /proc/1/cgroup > /tmp/init.cg; \
         cmp /tmp/self.cg /tmp/init.cg && echo same-cgroups; exit 7",
    ]);
    assert_eq!(out.code, 7, "{}", out.describe());
    let mut expected = String::new();
    for n in ["mnt", "pid", "net", "ipc", "uts", "cgroup"] {
        let l = std::fs::read_link(format!("/proc/{init}/ns/{n}")).unwrap();
        expected.push_str(&format!("{}\n", l.display()));
    }
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("pid=") && lines[0] != "pid=1",
        "{}",
        out.describe()
    );
    assert_eq!(
        lines[1..7].join("\n") + "\n",
        expected,
        "{}",
        out.describe()
    );
    // Same cgroups as init, as the host sees them.
    let mut init_cg: Vec<String> =
        read_lossy(std::path::Path::new(&format!("/proc/{init}/cgroup")))
            .lines()
            .map(String::from)
            .collect();
    init_cg.sort();
    assert!(!init_cg.is_empty());
    env.berth(&["delete", "--force", &id]).ok();
}

#[test]
fn exec_applies_user_env_cwd_and_caps() {
    require_root!();
    let env = Env::new("execuser");
    let (_bundle, id, _) = running(&env);
    let out = env.berth(&[
        "exec",
        "--user",
        "1000:1001",
        "-g",
        "5",
        "--env",
        "FOO=bar",
        "--cwd",
        "/tmp",
        "--cap",
        "CAP_SYS_ADMIN",
        &id,
        "sh",
        "-c",
        "id; pwd; echo FOO=$FOO; grep CapBnd /proc/self/status",
    ]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(
        out.stdout.contains("uid=1000 gid=1001 groups=5"),
        "{}",
        out.describe()
    );
    assert!(out.stdout.contains("/tmp\n"), "{}", out.describe());
    assert!(out.stdout.contains("FOO=bar"), "{}", out.describe());
    let bnd = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .unwrap_or(0);
    assert_ne!(
        bnd & (1 << 21),
        0,
        "CAP_SYS_ADMIN not in the bounding set: {bnd:x}"
    );
    env.berth(&["delete", "--force", &id]).ok();
}

#[test]
fn exec_detached_with_pid_file_and_process_json() {
    require_root!();
    let env = Env::new("execdetach");
    let (_bundle, id, _) = running(&env);
    let pid_file = env.dir().join("exec.pid");
    let process = env.dir().join("process.json");
    std::fs::write(
        &process,
        serde_json::json!({
            "args": ["sleep", "30"], "cwd": "/", "user": {"uid": 0, "gid": 0},
            "env": ["PATH=/bin"]
        })
        .to_string(),
    )
    .unwrap();
    let (pf, pj) = (
        pid_file.display().to_string(),
        process.display().to_string(),
    );
    let out = env.berth(&["exec", "--detach", "--pid-file", &pf, "--process", &pj, &id]);
    assert_eq!(out.code, 0, "{}", out.describe());
    let pid: i64 = read_lossy(&pid_file)
        .trim()
        .parse()
        .expect("pid in pid file");
    assert!(pid_alive(pid));
    let cmdline = read_lossy(std::path::Path::new(&format!("/proc/{pid}/cmdline")));
    assert!(cmdline.starts_with("sleep"), "{cmdline:?}");
    env.berth(&["delete", "--force", &id]).ok();
    assert!(
        wait_pid_gone(pid, Duration::from_secs(5)),
        "exec'd process survived delete"
    );
}

#[test]
fn exec_errors_are_clear() {
    require_root!();
    let env = Env::new("execerr");
    let (_bundle, id, _) = running(&env);
    let out = env.berth(&["exec", &id, "no-such-program"]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(
        out.stderr.contains("executable file not found in $PATH"),
        "{}",
        out.describe()
    );
    env.berth(&["kill", &id, "KILL"]).ok();
    env.wait_status(&id, "stopped", Duration::from_secs(5));
    let out = env.berth(&["exec", &id, "true"]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(out.stderr.contains("stopped"), "{}", out.describe());
    let out = env.berth(&["exec", "no-such-container", "true"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("does not exist"), "{}", out.describe());
    env.berth(&["delete", &id]).ok();
}
