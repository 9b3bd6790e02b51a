//! Container life cycle through the berth CLI: create/start/state/kill/delete,
//! run exit codes, list.

use integration_tests::*;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

#[test]
fn status_walk_create_start_kill_delete() {
    require_root!();
    let env = Env::new("walk");
    let mut b = Bundle::new(&env);
    b.set_args(&["sleep", "30"]);
    b.config_mut()["annotations"] = serde_json::json!({ "org.berth.test": "walk" });
    let id = env.new_id();

    env.create(&mut b, &id).ok();
    let st = env.state(&id).expect("state after create");
    for key in [
        "ociVersion",
        "id",
        "pid",
        "status",
        "bundle",
        "rootfs",
        "created",
        "owner",
    ] {
        assert!(st.get(key).is_some(), "state lacks {key}: {st}");
    }
    assert_eq!(st["annotations"]["org.berth.test"], "walk", "state: {st}");
    assert_eq!(st["status"], "created", "state: {st}");
    assert_eq!(st["id"], id.as_str());
    assert_eq!(
        st["ociVersion"].as_str().map(|v| v.starts_with("1.")),
        Some(true),
        "{st}"
    );
    let bundle = st["bundle"].as_str().unwrap_or_default();
    assert_eq!(
        Path::new(bundle).canonicalize().ok(),
        b.path().canonicalize().ok(),
        "state.bundle: {st}"
    );
    let pid = st["pid"].as_i64().unwrap_or(0);
    assert!(pid > 0, "pid after create: {st}");
    assert!(pid_alive(pid), "/proc/{pid} does not exist after create");
    assert!(
        env.root_entries().contains(&id),
        "root dir: {:?}",
        env.root_entries()
    );

    env.berth(&["start", &id]).ok();
    env.wait_status(&id, "running", T);
    let st = env.state(&id).unwrap();
    assert_eq!(st["pid"].as_i64(), Some(pid), "pid changed by start: {st}");

    env.berth(&["kill", &id, "KILL"]).ok();
    env.wait_status(&id, "stopped", T);
    assert!(
        wait_pid_gone(pid, T),
        "container init {pid} still alive after KILL"
    );

    env.berth(&["delete", &id]).ok();
    let out = env.berth(&["state", &id]);
    assert_eq!(
        out.code,
        1,
        "state of a deleted container:\n{}",
        out.describe()
    );
    assert!(out.stderr.starts_with("berth: "), "stderr: {}", out.stderr);
    assert!(
        env.root_entries().is_empty(),
        "root dir not empty after delete: {:?}",
        env.root_entries()
    );
}

#[test]
fn run_returns_the_exit_code() {
    require_root!();
    let env = Env::new("exit3");
    let mut b = Bundle::new(&env);
    b.set_sh("echo out-line; echo err-line >&2; exit 3");
    let id = env.new_id();
    let out = env.run(&mut b, &id);
    assert_eq!(out.code, 3, "{}", out.describe());
    assert!(out.stdout.contains("out-line"), "{}", out.describe());
    assert!(out.stderr.contains("err-line"), "{}", out.describe());
    // run deletes the container when it exits.
    assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());

    let id = env.new_id();
    b.set_args(&["true"]);
    assert_eq!(env.run(&mut b, &id).code, 0);
    let id = env.new_id();
    b.set_args(&["false"]);
    assert_eq!(env.run(&mut b, &id).code, 1);
}

#[test]
fn run_killed_by_signal_exits_128_plus_n() {
    require_root!();
    let env = Env::new("run137");
    let mut b = Bundle::new(&env);
    b.set_args(&["sleep", "30"]);
    let id = env.new_id();
    env.prepare(&mut b, &id);
    let bdir = b.path().display().to_string();
    let run = env.spawn(&["run", "--bundle", &bdir, &id]);
    env.wait_status(&id, "running", T);
    env.berth(&["kill", &id, "KILL"]).ok();
    let out = run.wait(T);
    assert_eq!(
        out.code,
        137,
        "berth run of a KILLed container:\n{}",
        out.describe()
    );
    assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
}

#[test]
fn kill_delivers_the_named_signal() {
    require_root!();
    let env = Env::new("killusr1");
    let mut b = Bundle::new(&env);
    let shared = env.shared_dir(&mut b, "/shared");
    b.set_sh(
        "trap 'echo got-usr1 > /shared/sig; exit 0' USR1; \
         echo ready > /shared/ready; while true; do sleep 0.1; done",
    );
    let id = env.new_id();
    env.create(&mut b, &id).ok();
    env.berth(&["start", &id]).ok();
    wait_for_file(&shared.join("ready"), "ready", T);

    env.berth(&["kill", &id, "SIGUSR1"]).ok();
    wait_for_file(&shared.join("sig"), "got-usr1", T);
    env.wait_status(&id, "stopped", T);
    env.berth(&["delete", &id]).ok();

    // The same with the signal given as a number.
    let id = env.new_id();
    let _ = std::fs::remove_file(shared.join("sig"));
    let _ = std::fs::remove_file(shared.join("ready"));
    env.create(&mut b, &id).ok();
    env.berth(&["start", &id]).ok();
    wait_for_file(&shared.join("ready"), "ready", T);
    env.berth(&["kill", &id, &libc::SIGUSR1.to_string()]).ok();
    wait_for_file(&shared.join("sig"), "got-usr1", T);
    env.wait_status(&id, "stopped", T);
    env.berth(&["delete", &id]).ok();
}

#[test]
fn delete_removes_state_mounts_and_processes() {
    require_root!();
    let env = Env::exclusive("delete");
    let mut b = Bundle::new(&env);
    b.set_args(&["sleep", "30"]);
    let id = env.new_id();
    let before = Snapshot::take(&env);

    env.create(&mut b, &id).ok();
    let pid = env.state(&id).unwrap()["pid"].as_i64().unwrap_or(0);
    assert!(pid > 0);
    env.berth(&["start", &id]).ok();
    env.wait_status(&id, "running", T);
    // The leak check finds container processes through their cgroup.
    assert!(
        !env.container_procs().is_empty(),
        "no process in cgroup /berth-test/{id}; /proc/{pid}/cgroup:\n{}",
        std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default()
    );

    // delete without --force refuses a running container.
    let out = env.berth(&["delete", &id]);
    assert_eq!(
        out.code,
        1,
        "delete of a running container:\n{}",
        out.describe()
    );
    assert_eq!(env.status(&id), "running");

    env.berth(&["kill", &id, "KILL"]).ok();
    env.wait_status(&id, "stopped", T);
    env.berth(&["delete", &id]).ok();
    assert!(
        wait_pid_gone(pid, T),
        "container init {pid} survived delete"
    );
    assert!(env.state(&id).is_none());
    let after = Snapshot::take(&env);
    assert_no_leaks(&before, &after);
}

#[test]
fn delete_force_of_a_running_container() {
    require_root!();
    let env = Env::exclusive("delforce");
    let mut b = Bundle::new(&env);
    b.set_args(&["sleep", "30"]);
    let id = env.new_id();
    let before = Snapshot::take(&env);

    env.create(&mut b, &id).ok();
    env.berth(&["start", &id]).ok();
    env.wait_status(&id, "running", T);
    let pid = env.state(&id).unwrap()["pid"].as_i64().unwrap_or(0);

    env.berth(&["delete", "--force", &id]).ok();
    assert!(
        env.state(&id).is_none(),
        "state still works after delete --force"
    );
    assert!(
        wait_pid_gone(pid, T),
        "container init {pid} survived delete --force"
    );
    let after = Snapshot::take(&env);
    assert_no_leaks(&before, &after);

    // A created (never started) container can be force-deleted too.
    let id = env.new_id();
    env.create(&mut b, &id).ok();
    let pid = env.state(&id).unwrap()["pid"].as_i64().unwrap_or(0);
    env.berth(&["delete", "--force", &id]).ok();
    assert!(
        wait_pid_gone(pid, T),
        "created init {pid} survived delete --force"
    );
    assert_no_leaks(&before, &Snapshot::take(&env));
}

#[test]
fn list_shows_containers_as_table_and_json() {
    require_root!();
    let env = Env::new("list");
    let mut b = Bundle::new(&env);
    b.set_args(&["sleep", "30"]);
    let id = env.new_id();
    env.create(&mut b, &id).ok();

    let table = env.berth(&["list"]).ok().stdout;
    let header = table.lines().next().unwrap_or_default();
    for col in ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"] {
        assert!(header.contains(col), "list header lacks {col}:\n{table}");
    }
    let row = table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(id.as_str()))
        .unwrap_or_else(|| panic!("list has no row for {id}:\n{table}"));
    assert!(row.contains("created"), "row: {row}");

    let json = env.berth(&["list", "--format", "json"]).ok().stdout;
    let v: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let arr = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {json}"));
    let c = arr
        .iter()
        .find(|c| c["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} not in {json}"));
    assert_eq!(c["status"], "created", "{c}");
    assert!(c["pid"].as_i64().unwrap_or(0) > 0, "{c}");
    // Like runc, list names the owner of the container's state (we are root).
    assert_eq!(c["owner"], "root", "{c}");
    assert_eq!(row.split_whitespace().last(), Some("root"), "row: {row}");

    let q = env.berth(&["list", "-q"]).ok().stdout;
    assert_eq!(q.trim(), id, "list -q");

    env.berth(&["start", &id]).ok();
    env.wait_status(&id, "running", T);
    let table = env.berth(&["list"]).ok().stdout;
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(id.as_str()) && l.contains("running")),
        "{table}"
    );
    env.berth(&["delete", "--force", &id]).ok();
    let q = env.berth(&["list", "-q"]).ok().stdout;
    assert_eq!(q.trim(), "", "list -q after delete");
}
