//! Cgroups on the v1 hierarchies: every limit is checked in the kernel's
//! own files under /sys/fs/cgroup/<controller>/berth-test/<id>/, never in
//! berth's report; update, pause/resume, ps, events (stats and OOM), pids
//! and device enforcement inside the container, and clear errors (with
//! nothing left behind) for the fields this host cannot apply.

use integration_tests::*;
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

/// The container's directory in one v1 hierarchy.
fn cg(ctrl: &str, id: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup")
        .join(ctrl)
        .join("berth-test")
        .join(id)
}

fn has_controller(ctrl: &str) -> bool {
    Path::new("/sys/fs/cgroup")
        .join(ctrl)
        .join("cgroup.procs")
        .exists()
}

/// A kernel control file of the container, trimmed.
#[track_caller]
fn kfile(ctrl: &str, id: &str, file: &str) -> String {
    let p = cg(ctrl, id).join(file);
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

/// `linux.resources.<key> = value`.
fn set_resource(b: &mut Bundle, key: &str, value: Value) {
    b.config_mut()["linux"]["resources"][key] = value;
}

/// Every cgroup directory of `id`, in any hierarchy.
fn dirs_of(env: &Env, id: &str) -> Vec<String> {
    env.cgroup_dirs()
        .into_iter()
        .filter(|d| d.ends_with(&format!("/{id}")))
        .collect()
}

/// Create and start; panics with berth's output on failure.
#[track_caller]
fn start(env: &Env, b: &mut Bundle, id: &str) -> Out {
    let out = env.create(b, id).ok();
    env.berth(&["start", id]).ok();
    out
}

#[track_caller]
fn delete(env: &Env, id: &str) {
    env.berth(&["delete", "--force", id]).ok();
    assert!(
        dirs_of(env, id).is_empty(),
        "cgroup dirs left after delete: {:?}",
        dirs_of(env, id)
    );
}

#[test]
fn memory_limits_are_written_and_updated() {
    require_root!();
    if !has_controller("memory") {
        eprintln!("SKIPPED: no v1 memory controller");
        return;
    }
    let env = Env::new("cgmem");
    let mut b = Bundle::new(&env);
    b.set_args(&["sleep", "60"]);
    set_resource(
        &mut b,
        "memory",
        json!({"limit": 33554432, "reservation": 16777216, "swappiness": 30,
               "kernelTCP": 67108864, "disableOOMKiller": false}),
    );
    let id = env.new_id();
    start(&env, &mut b, &id);
    assert_eq!(kfile("memory", &id, "memory.limit_in_bytes"), "33554432");
    assert_eq!(
        kfile("memory", &id, "memory.soft_limit_in_bytes"),
        "16777216"
    );
    assert_eq!(kfile("memory", &id, "memory.swappiness"), "30");
    assert_eq!(
        kfile("memory", &id, "memory.kmem.tcp.limit_in_bytes"),
        "67108864"
    );
    assert!(kfile("memory", &id, "memory.oom_control").contains("oom_kill_disable 0"));

    // runc's flags, with units.
    env.berth(&[
        "update",
        "--memory",
        "64m",
        "--memory-reservation",
        "32M",
        &id,
    ])
    .ok();
    assert_eq!(kfile("memory", &id, "memory.limit_in_bytes"), "67108864");
    assert_eq!(
        kfile("memory", &id, "memory.soft_limit_in_bytes"),
        "33554432"
    );

    // Raising limit and memory+swap together (the swap write goes first).
    if cg("memory", &id)
        .join("memory.memsw.limit_in_bytes")
        .exists()
    {
        env.berth(&["update", "--memory", "100m", "--memory-swap", "200m", &id])
            .ok();
        assert_eq!(kfile("memory", &id, "memory.limit_in_bytes"), "104857600");
        assert_eq!(
            kfile("memory", &id, "memory.memsw.limit_in_bytes"),
            "209715200"
        );
        // And lowering both again (the limit write goes first).
        env.berth(&["update", "--memory", "48m", "--memory-swap", "48m", &id])
            .ok();
        assert_eq!(kfile("memory", &id, "memory.limit_in_bytes"), "50331648");
        assert_eq!(
            kfile("memory", &id, "memory.memsw.limit_in_bytes"),
            "50331648"
        );
        // swap below the memory limit: the kernel would refuse; berth names it.
        let out = env.berth(&["update", "--memory-swap", "16m", &id]);
        assert_eq!(out.code, 1, "{}", out.describe());
        assert!(
            out.stderr.contains("linux.resources.memory.swap"),
            "{}",
            out.describe()
        );
        env.berth(&["update", "--memory", "-1", &id]).ok();
        let unlimited: u64 = kfile("memory", &id, "memory.limit_in_bytes")
            .parse()
            .unwrap();
        assert!(unlimited > 1 << 60, "memory -1 left {unlimited}");
    }

    // -r FILE and -r - (stdin) take a linux.resources object.
    let file = env.dir().join("res.json");
    fs::write(&file, r#"{"memory": {"limit": 41943040}}"#).unwrap();
    env.berth(&["update", "-r", &file.display().to_string(), &id])
        .ok();
    assert_eq!(kfile("memory", &id, "memory.limit_in_bytes"), "41943040");
    let (code, _, err) = env.berth_stdin(
        &["update", "--resources", "-", &id],
        r#"{"memory": {"limit": 46137344}}"#,
    );
    assert_eq!(code, 0, "update -r -: {err}");
    assert_eq!(kfile("memory", &id, "memory.limit_in_bytes"), "46137344");

    // Bad input names the field or flag, and changes nothing.
    let out = env.berth(&["update", "--memory", "lots", &id]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("--memory"), "{}", out.describe());
    let (code, _, err) =
        env.berth_stdin(&["update", "-r", "-", &id], r#"{"memory": {"limit": -5}}"#);
    assert_eq!(code, 1);
    assert!(
        err.contains("linux.resources.memory.limit: -5 is not a valid limit"),
        "{err}"
    );
    assert_eq!(kfile("memory", &id, "memory.limit_in_bytes"), "46137344");
    delete(&env, &id);
}

#[test]
fn cpu_and_cpuset_are_written_and_updated() {
    require_root!();
    if !has_controller("cpu") || !has_controller("cpuset") {
        eprintln!("SKIPPED: no v1 cpu/cpuset controllers");
        return;
    }
    let env = Env::new("cgcpu");
    let mut b = Bundle::new(&env);
    b.set_args(&["sleep", "60"]);
    let mut cpu = json!({"shares": 512, "quota": 50000, "period": 100000,
                         "cpus": "0", "mems": "0"});
    let has_burst = Path::new("/sys/fs/cgroup/cpu/cpu.cfs_burst_us").exists();
    if has_burst {
        cpu["burst"] = json!(10000);
    }
    set_resource(&mut b, "cpu", cpu);
    let id = env.new_id();
    start(&env, &mut b, &id);
    assert_eq!(kfile("cpu", &id, "cpu.shares"), "512");
    assert_eq!(kfile("cpu", &id, "cpu.cfs_quota_us"), "50000");
    assert_eq!(kfile("cpu", &id, "cpu.cfs_period_us"), "100000");
    if has_burst {
        assert_eq!(kfile("cpu", &id, "cpu.cfs_burst_us"), "10000");
    }
    assert_eq!(kfile("cpuset", &id, "cpuset.cpus"), "0");
    assert_eq!(kfile("cpuset", &id, "cpuset.mems"), "0");

    let cpus = if std::thread::available_parallelism().map_or(1, |n| n.get()) > 1 {
        "1"
    } else {
        "0"
    };
    env.berth(&[
        "update",
        "--cpu-shares",
        "256",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "50000",
        "--cpuset-cpus",
        cpus,
        &id,
    ])
    .ok();
    assert_eq!(kfile("cpu", &id, "cpu.shares"), "256");
    assert_eq!(kfile("cpu", &id, "cpu.cfs_quota_us"), "20000");
    assert_eq!(kfile("cpu", &id, "cpu.cfs_period_us"), "50000");
    assert_eq!(kfile("cpuset", &id, "cpuset.cpus"), cpus);
    env.berth(&["update", "--cpu-quota", "-1", &id]).ok();
    assert_eq!(kfile("cpu", &id, "cpu.cfs_quota_us"), "-1");

    // Values the kernel clamps or cannot place are errors naming the field.
    let out = env.berth(&["update", "--cpu-shares", "1", &id]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("linux.resources.cpu.shares: 1 is out of"),
        "{}",
        out.describe()
    );
    let out = env.berth(&["update", "--cpuset-cpus", "4000", &id]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("linux.resources.cpu.cpus"),
        "{}",
        out.describe()
    );
    assert_eq!(kfile("cpuset", &id, "cpuset.cpus"), cpus);
    delete(&env, &id);
}

#[test]
fn pids_limit_stops_a_fork_loop() {
    require_root!();
    if !has_controller("pids") {
        eprintln!("SKIPPED: no v1 pids controller");
        return;
    }
    let env = Env::new("cgpids");
    let mut b = Bundle::new(&env);
    let script = "for i in $(seq 20); do sleep 10 & echo started $i; done; echo all-started";

    // Without a tight limit all 20 start (the control).
    b.set_sh(script);
    set_resource(&mut b, "pids", json!({"limit": 100}));
    let id = env.new_id();
    let out = env.run(&mut b, &id);
    assert!(out.stdout.contains("all-started"), "{}", out.describe());

    // With 5 the shell and at most 4 children fit.
    b.set_sh(script);
    set_resource(&mut b, "pids", json!({"limit": 5}));
    let id = env.new_id();
    env.prepare(&mut b, &id);
    let bdir = b.path().display().to_string();
    let out = env.berth(&["create", "--bundle", &bdir, &id]).ok();
    assert_eq!(kfile("pids", &id, "pids.max"), "5");
    env.berth(&["start", &id]).ok();
    env.wait_status(&id, "stopped", T);
    let stdout = read_lossy(&out.stdout_path);
    let stderr = read_lossy(&out.stderr_path);
    let started = stdout.lines().filter(|l| l.starts_with("started")).count();
    assert!(
        started <= 4 && !stdout.contains("all-started"),
        "pids.max 5 let {started} children start:\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("fork") || stderr.contains("Resource temporarily unavailable"),
        "no fork failure reported:\n{stderr}"
    );
    let events = kfile("pids", &id, "pids.events");
    assert!(!events.ends_with(" 0"), "pids.events: {events}");
    delete(&env, &id);
}

#[test]
fn device_rules_deny_and_allow_inside() {
    require_root!();
    if !has_controller("devices") {
        eprintln!("SKIPPED: no v1 devices controller");
        return;
    }
    let env = Env::new("cgdev");
    let mut b = Bundle::new(&env);
    // Two devices exist in the container; only fuse is allowed.
    b.config_mut()["linux"]["devices"] = json!([
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438},
        {"path": "/dev/loop-control", "type": "c", "major": 10, "minor": 237, "fileMode": 438}
    ]);
    set_resource(
        &mut b,
        "devices",
        json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}
        ]),
    );
    b.set_sh(
        "if exec 3<>/dev/fuse; then echo fuse-opened; fi; exec 3>&-; \
         if exec 4<>/dev/loop-control; then echo loop-opened; fi; echo done",
    );
    let id = env.new_id();
    env.prepare(&mut b, &id);
    let bdir = b.path().display().to_string();
    let out = env.berth(&["create", "--bundle", &bdir, &id]).ok();
    let list = kfile("devices", &id, "devices.list");
    assert!(list.contains("c 10:229 rw"), "devices.list:\n{list}");
    assert!(!list.contains("10:237"), "devices.list:\n{list}");
    assert!(!list.contains("a *:* rwm"), "devices.list:\n{list}");
    env.berth(&["start", &id]).ok();
    env.wait_status(&id, "stopped", T);
    let stdout = read_lossy(&out.stdout_path);
    let stderr = read_lossy(&out.stderr_path);
    let host_fuse = Path::new("/dev/fuse").exists();
    if host_fuse {
        assert!(stdout.contains("fuse-opened"), "{stdout}\n{stderr}");
    }
    assert!(!stdout.contains("loop-opened"), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("loop-control") && stderr.contains("Operation not permitted"),
        "denied device error:\n{stderr}"
    );
    delete(&env, &id);
}

#[test]
fn pause_freezes_and_resume_thaws() {
    require_root!();
    if !has_controller("freezer") {
        eprintln!("SKIPPED: no v1 freezer controller");
        return;
    }
    let env = Env::new("cgfreeze");
    let mut b = Bundle::new(&env);
    let shared = env.shared_dir(&mut b, "/shared");
    b.set_sh("i=0; while true; do i=$((i+1)); echo $i > /shared/n; sleep 0.02; done");
    let id = env.new_id();
    start(&env, &mut b, &id);
    wait_for_file(&shared.join("n"), "1", T);

    env.berth(&["pause", &id]).ok();
    assert_eq!(kfile("freezer", &id, "freezer.state"), "FROZEN");
    assert_eq!(env.status(&id), "paused");
    let n1 = read_lossy(&shared.join("n"));
    std::thread::sleep(Duration::from_millis(300));
    let n2 = read_lossy(&shared.join("n"));
    assert_eq!(n1, n2, "the counter moved while paused");
    // Pausing twice is refused, as runc does.
    let out = env.berth(&["pause", &id]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(out.stderr.contains("paused"), "{}", out.describe());

    env.berth(&["resume", &id]).ok();
    assert_eq!(kfile("freezer", &id, "freezer.state"), "THAWED");
    assert_eq!(env.status(&id), "running");
    let deadline = Instant::now() + T;
    while read_lossy(&shared.join("n")) == n2 {
        assert!(
            Instant::now() < deadline,
            "the counter did not move after resume"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = env.berth(&["resume", &id]);
    assert_eq!(
        out.code,
        1,
        "resume of a running container:\n{}",
        out.describe()
    );

    // A paused container is deleted with --force (thawed so it can die).
    env.berth(&["pause", &id]).ok();
    let pid = env.state(&id).unwrap()["pid"].as_i64().unwrap_or(0);
    let out = env.berth(&["delete", &id]);
    assert_eq!(out.code, 1, "delete of a paused container without --force");
    delete(&env, &id);
    assert!(
        wait_pid_gone(pid, T),
        "init {pid} survived delete of a paused container"
    );
    assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
}

/// The first whole disk of the host, as "major:minor".
fn a_disk() -> Option<String> {
    let mut names: Vec<String> = fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("loop") && !n.starts_with("zram") && !n.starts_with("ram"))
        .collect();
    names.sort();
    let dev = fs::read_to_string(format!("/sys/block/{}/dev", names.first()?)).ok()?;
    Some(dev.trim().to_string())
}

#[test]
fn blkio_weight_and_throttles_are_written() {
    require_root!();
    if !has_controller("blkio") {
        eprintln!("SKIPPED: no v1 blkio controller");
        return;
    }
    let env = Env::new("cgblkio");
    let mut b = Bundle::new(&env);
    b.set_args(&["sleep", "60"]);
    // Which weight file the kernel offers is only known inside a cgroup.
    let probe = blkio_probe();
    let weight_file = ["blkio.weight", "blkio.bfq.weight"]
        .into_iter()
        .find(|f| probe.join(f).exists());
    let disk = a_disk();
    let mut blkio = json!({});
    if weight_file.is_some() {
        blkio["weight"] = json!(500);
    }
    if let Some(d) = &disk {
        let (major, minor) = d.split_once(':').unwrap();
        let (major, minor): (i64, i64) = (major.parse().unwrap(), minor.parse().unwrap());
        blkio["throttleReadBpsDevice"] = json!([{"major": major, "minor": minor, "rate": 1048576}]);
        blkio["throttleWriteIOPSDevice"] = json!([{"major": major, "minor": minor, "rate": 100}]);
    }
    set_resource(&mut b, "blockIO", blkio);
    let id = env.new_id();
    start(&env, &mut b, &id);
    match weight_file {
        Some(f) => {
            let w = kfile("blkio", &id, f);
            assert!(w == "500" || w.ends_with(" 500"), "{f}: {w}");
            env.berth(&["update", "--blkio-weight", "200", &id]).ok();
            let w = kfile("blkio", &id, f);
            assert!(w == "200" || w.ends_with(" 200"), "{f}: {w}");
        }
        None => {
            let out = env.berth(&["update", "--blkio-weight", "200", &id]);
            assert_eq!(out.code, 1);
            assert!(
                out.stderr.contains("linux.resources.blockIO.weight"),
                "{}",
                out.describe()
            );
        }
    }
    if let Some(d) = &disk {
        assert_eq!(
            kfile("blkio", &id, "blkio.throttle.read_bps_device"),
            format!("{d} 1048576")
        );
        assert_eq!(
            kfile("blkio", &id, "blkio.throttle.write_iops_device"),
            format!("{d} 100")
        );
    }
    // leafWeight belonged to CFQ: an error naming it where it is gone.
    if !cg("blkio", &id).join("blkio.leaf_weight").exists() {
        let (code, _, err) = env.berth_stdin(
            &["update", "-r", "-", &id],
            r#"{"blockIO": {"leafWeight": 300}}"#,
        );
        assert_eq!(code, 1);
        assert!(
            err.contains("linux.resources.blockIO.leafWeight: "),
            "{err}"
        );
    }
    delete(&env, &id);
}

#[test]
fn ps_lists_the_container_processes() {
    require_root!();
    let env = Env::new("cgps");
    let mut b = Bundle::new(&env);
    b.set_sh("sleep 101 & sleep 102 & exec sleep 103");
    let id = env.new_id();
    start(&env, &mut b, &id);
    let procs = cg("pids", &id).join("cgroup.procs");
    let procs = if procs.exists() {
        procs
    } else {
        cg("memory", &id).join("cgroup.procs")
    };
    let deadline = Instant::now() + T;
    let mut kernel: Vec<i64> = vec![];
    while Instant::now() < deadline {
        kernel = read_lossy(&procs)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        if kernel.len() == 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    kernel.sort();
    assert_eq!(kernel.len(), 3, "cgroup.procs: {kernel:?}");

    let out = env.berth(&["ps", "--format", "json", &id]).ok();
    let mut listed: Vec<i64> = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("ps json ({e}): {}", out.stdout));
    listed.sort();
    assert_eq!(listed, kernel);

    let out = env.berth(&["ps", &id]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].contains("PID"), "{}", out.stdout);
    assert_eq!(lines.len(), 4, "{}", out.stdout);
    for n in ["sleep 101", "sleep 102", "sleep 103"] {
        assert!(out.stdout.contains(n), "{}", out.stdout);
    }
    // Extra arguments go to ps(1).
    let out = env.berth(&["ps", &id, "-o", "pid,comm"]).ok();
    assert_eq!(out.stdout.lines().count(), 4, "{}", out.stdout);
    assert!(out
        .stdout
        .lines()
        .skip(1)
        .all(|l| l.trim_end().ends_with("sleep")));
    delete(&env, &id);
}

/// Poll `berth events` output for a line with `needle`; returns the JSON.
#[track_caller]
fn wait_event(path: &Path, needle: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let text = read_lossy(path);
        if let Some(line) = text.lines().find(|l| l.contains(needle)) {
            return serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("events printed invalid JSON ({e}): {line}"));
        }
        assert!(
            Instant::now() < deadline,
            "no {needle} event after {timeout:?}; events printed:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn events_report_stats_and_oom() {
    require_root!();
    if !has_controller("memory") {
        eprintln!("SKIPPED: no v1 memory controller");
        return;
    }
    let env = Env::new("cgoom");
    let mut b = Bundle::new(&env);
    let shared = env.shared_dir(&mut b, "/shared");
    // dd's 32M buffer cannot fit in 8M: the OOM killer ends dd, sh lives on.
    b.set_sh(
        "while [ ! -e /shared/go ]; do sleep 0.05; done; \
         dd if=/dev/zero of=/dev/null bs=32M count=1; echo dd-exit=$? > /shared/dd; \
         exec sleep 60",
    );
    let mem = if Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
        json!({"limit": 8388608, "swap": 8388608})
    } else {
        json!({"limit": 8388608})
    };
    set_resource(&mut b, "memory", mem);
    set_resource(&mut b, "pids", json!({"limit": 50}));
    let id = env.new_id();
    start(&env, &mut b, &id);

    // One-shot statistics in runc's shape, with the kernel's numbers.
    let out = env.berth(&["events", "--stats", &id]).ok();
    let ev: Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("events --stats ({e}): {}", out.stdout));
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["id"], id.as_str());
    let data = &ev["data"];
    assert_eq!(data["memory"]["usage"]["limit"], json!(8388608), "{ev}");
    assert!(
        data["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0,
        "{ev}"
    );
    assert!(data["memory"]["raw"]["rss"].is_u64(), "{ev}");
    assert_eq!(data["pids"]["limit"], json!(50), "{ev}");
    assert!(data["pids"]["current"].as_u64().unwrap_or(0) >= 1, "{ev}");
    if has_controller("cpuacct") {
        assert!(
            data["cpu"]["usage"]["total"].as_u64().unwrap_or(0) > 0,
            "{ev}"
        );
    }
    for key in ["cpu", "cpuset", "memory", "pids", "blkio", "hugetlb"] {
        assert!(data.get(key).is_some(), "no {key} in {ev}");
    }

    // The stream: stats every interval, then the OOM.
    let mut stream = Stream::spawn(&env, &["events", "--interval", "200ms", &id]);
    let path = stream.out.clone();
    wait_event(&path, "\"stats\"", T);
    fs::write(shared.join("go"), "").unwrap();
    let oom = wait_event(&path, "\"oom\"", T);
    assert_eq!(oom, json!({"type": "oom", "id": id}));
    wait_for_file(&shared.join("dd"), "dd-exit=", T);
    let ctl = kfile("memory", &id, "memory.oom_control");
    assert!(!ctl.contains("oom_kill 0"), "memory.oom_control:\n{ctl}");

    // The stream ends with the container.
    env.berth(&["kill", &id, "KILL"]).ok();
    assert_eq!(
        stream.wait(T),
        0,
        "berth events after the container stopped"
    );
    delete(&env, &id);
}

/// A background `berth events`, killed if the test fails before it ends.
struct Stream {
    child: std::process::Child,
    out: PathBuf,
}

impl Stream {
    fn spawn(env: &Env, args: &[&str]) -> Stream {
        let out = env.dir().join(format!("events-{}.out", env.new_id()));
        let child = Command::new(berth_bin())
            .arg("--root")
            .arg(env.root())
            .args(args)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn berth events");
        Stream { child, out }
    }

    /// Waits for the exit code.
    #[track_caller]
    fn wait(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().expect("wait for berth events") {
                return st.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "berth events did not end within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn fields_this_host_cannot_apply_are_clear_errors() {
    require_root!();
    let env = Env::new("cgunsup");
    let unified_has = |c: &str| {
        fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers")
            .unwrap_or_default()
            .split_whitespace()
            .any(|x| x == c)
    };
    let mut cases: Vec<(&str, Value, &str)> = vec![
        (
            "unified",
            json!({"memory.high": "64M"}),
            "linux.resources.unified.memory.high",
        ),
        (
            "memory",
            json!({"limit": -5}),
            "linux.resources.memory.limit: -5 is not a valid limit",
        ),
        (
            "cpu",
            json!({"quota": 500}),
            "linux.resources.cpu.quota: 500",
        ),
        (
            "pids",
            json!({"limit": -3}),
            "linux.resources.pids.limit: -3",
        ),
    ];
    if !has_controller("hugetlb") {
        cases.push((
            "hugepageLimits",
            json!([{"pageSize": "2MB", "limit": 2097152}]),
            "linux.resources.hugepageLimits[0]: the hugetlb controller is",
        ));
    }
    if !has_controller("net_cls") && !has_controller("net_cls,net_prio") {
        cases.push((
            "network",
            json!({"classID": 1048577}),
            "linux.resources.network.classID: the net_cls controller is",
        ));
    }
    if !has_controller("net_prio") && !has_controller("net_cls,net_prio") {
        cases.push((
            "network",
            json!({"priorities": [{"name": "eth0", "priority": 5}]}),
            "linux.resources.network.priorities[0]: the net_prio controller is",
        ));
    }
    if !has_controller("rdma") {
        cases.push((
            "rdma",
            json!({"mlx5_0": {"hcaHandles": 2}}),
            "linux.resources.rdma.mlx5_0: the rdma controller is",
        ));
    }
    for (key, value, want) in cases {
        let mut b = Bundle::new(&env);
        b.set_args(&["true"]);
        set_resource(&mut b, key, value.clone());
        let id = env.new_id();
        let out = env.create(&mut b, &id);
        assert_eq!(out.code, 1, "{key}={value}:\n{}", out.describe());
        assert!(
            out.stderr.contains(want),
            "{key}={value}: want {want:?}\n{}",
            out.describe()
        );
        assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
        assert!(dirs_of(&env, &id).is_empty(), "{:?}", dirs_of(&env, &id));
    }
    if !has_controller("hugetlb") && unified_has("hugetlb") {
        // The message says where the controller went.
        let mut b = Bundle::new(&env);
        set_resource(
            &mut b,
            "hugepageLimits",
            json!([{"pageSize": "2MB", "limit": 0}]),
        );
        let id = env.new_id();
        let out = env.create(&mut b, &id);
        assert!(out.stderr.contains("cgroup2"), "{}", out.describe());
    }

    // Fields only the kernel can judge fail at apply time: still nothing left.
    let mut late: Vec<(&str, Value, &str)> = vec![];
    let kmem = Path::new("/sys/fs/cgroup/memory/memory.kmem.limit_in_bytes");
    if kmem.exists() {
        late.push((
            "memory",
            json!({"kernel": 67108864}),
            "linux.resources.memory.kernel: ",
        ));
    }
    if !blkio_probe().join("blkio.leaf_weight").exists() {
        late.push((
            "blockIO",
            json!({"leafWeight": 300}),
            "linux.resources.blockIO.leafWeight: ",
        ));
    }
    late.push((
        "blockIO",
        json!({"throttleReadBpsDevice": [{"major": 4095, "minor": 4095, "rate": 1}]}),
        "linux.resources.blockIO.throttleReadBpsDevice[0]: there is no block device 4095:4095",
    ));
    late.push((
        "cpu",
        json!({"cpus": "4000"}),
        "linux.resources.cpu.cpus: \"4000\"",
    ));
    for (key, value, want) in late {
        let mut b = Bundle::new(&env);
        b.set_args(&["true"]);
        set_resource(&mut b, key, value.clone());
        let id = env.new_id();
        let out = env.create(&mut b, &id);
        if key == "memory" && out.code == 0 {
            // A kernel that still enforces kernel memory limits.
            assert_eq!(
                kfile("memory", &id, "memory.kmem.limit_in_bytes"),
                "67108864"
            );
            delete(&env, &id);
            continue;
        }
        assert_eq!(out.code, 1, "{key}={value}:\n{}", out.describe());
        assert!(
            out.stderr.contains(want),
            "{key}={value}: want {want:?}\n{}",
            out.describe()
        );
        assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
        assert!(dirs_of(&env, &id).is_empty(), "{:?}", dirs_of(&env, &id));
    }
}

#[test]
fn update_refuses_what_it_cannot_do() {
    require_root!();
    let env = Env::new("cgupdbad");
    let mut b = Bundle::new(&env);
    b.set_args(&["sleep", "60"]);
    let id = env.new_id();
    start(&env, &mut b, &id);
    for (flag, value) in [
        ("--l3-cache-schema", "L3:0=f"),
        ("--mem-bw-schema", "MB:0=70"),
    ] {
        let out = env.berth(&["update", flag, value, &id]);
        assert_eq!(out.code, 1);
        assert!(out.stderr.contains(flag), "{}", out.describe());
    }
    // containerd's CRI resends the config's device rules with each update.
    let (code, _, err) = env.berth_stdin(
        &["update", "-r", "-", &id],
        r#"{"devices":[{"allow":false,"access":"rwm"}],"memory":{"limit":134217728},"cpu":{}}"#,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(kfile("memory", &id, "memory.limit_in_bytes"), "134217728");
    let list = kfile("devices", &id, "devices.list");
    assert!(list.contains("c 1:3 rwm"), "default devices lost: {list}");
    assert!(!list.contains("a *:* rwm"), "deny-all not applied: {list}");
    let (code, _, err) = env.berth_stdin(&["update", "-r", "-", &id], "{not json");
    assert_eq!(code, 1);
    assert!(err.contains("--resources"), "{err}");
    let out = env.berth(&["update", "-r", "/nonexistent.json", "--memory", "1m", &id]);
    assert_eq!(out.code, 1);

    env.berth(&["kill", &id, "KILL"]).ok();
    env.wait_status(&id, "stopped", T);
    let out = env.berth(&["update", "--pids-limit", "10", &id]);
    assert_eq!(
        out.code,
        1,
        "update of a stopped container:\n{}",
        out.describe()
    );
    assert!(out.stderr.contains("stopped"), "{}", out.describe());
    let out = env.berth(&["pause", &id]);
    assert_eq!(out.code, 1);
    delete(&env, &id);
}

#[test]
fn relative_and_absolute_paths_follow_runc() {
    require_root!();
    // Absolute: from the hierarchy root (what every other test uses); the
    // state records the kernel's directories and delete removes them.
    let env = Env::new("cgpath");
    let mut b = Bundle::new(&env);
    b.set_args(&["sleep", "60"]);
    let id = env.new_id();
    start(&env, &mut b, &id);
    let pid = env.state(&id).unwrap()["pid"].as_i64().unwrap();
    let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
        if ctrls.is_empty() {
            continue; // cgroup2 is not managed on a hybrid host
        }
        assert_eq!(path, format!("/berth-test/{id}"), "{ctrls} in:\n{cgroup}");
    }
    delete(&env, &id);

    // ".." may not leave the hierarchy.
    let mut b = Bundle::new(&env);
    let id = env.new_id();
    b.set_cgroups_path("/berth-test/../../escape");
    b.save();
    let bdir = b.path().display().to_string();
    let out = env.berth(&["create", "--bundle", &bdir, &id]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(
        out.stderr.contains("linux.cgroupsPath"),
        "{}",
        out.describe()
    );
    assert!(env.root_entries().is_empty());
}

/// This host has no systemd as PID 1: `--systemd-cgroup` is a clear error
/// before anything exists (the driver itself is tested in the systemd
/// guest, conformance/systemd/).
#[test]
fn systemd_driver_without_systemd_is_a_clear_error() {
    if Path::new("/run/systemd/system").is_dir() {
        eprintln!("SKIP: systemd runs on this host; conformance/systemd/ tests the driver");
        return;
    }
    let env = Env::new("cgsd");
    let mut b = Bundle::new(&env);
    b.set_args(&["true"]);
    let id = env.new_id();
    let bundle = b.path().display().to_string();
    b.set_cgroups_path(&format!("system.slice:berth:{id}"));
    b.save();
    for cmd in ["create", "run"] {
        let out = env.berth(&["--systemd-cgroup", cmd, "--bundle", &bundle, &id]);
        assert_ne!(out.code, 0, "{}", out.describe());
        assert!(
            out.stderr
                .contains("--systemd-cgroup: systemd is not running on this host"),
            "{}",
            out.describe()
        );
        assert!(!env.root().join(&id).exists(), "state left behind by {cmd}");
        assert!(dirs_of(&env, &id).is_empty(), "cgroup left behind by {cmd}");
    }
}

/// A blkio cgroup of the tests' own (the parent of their containers'),
/// made if no container has made it yet: the kernel shows its per-cgroup
/// files only inside one.
fn blkio_probe() -> &'static Path {
    let probe = Path::new("/sys/fs/cgroup/blkio/berth-test");
    let _ = std::fs::create_dir_all(probe);
    probe
}
