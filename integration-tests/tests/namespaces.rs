//! Namespaces: the container sees its own pid, uts, mount, network, ipc,
//! cgroup and user namespaces.

use integration_tests::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

#[test]
fn pid_namespace_container_is_pid_1() {
    require_root!();
    let env = Env::new("pidns");
    let mut b = Bundle::new(&env);
    b.set_sh("echo pid=$$; ps -o pid,comm");
    let out = env.run(&mut b, &env.new_id()).ok();
    assert!(out.stdout.contains("pid=1\n"), "{}", out.describe());
    // ps sees only the container: sh (PID 1) and ps itself.
    let rows: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("PID"))
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(
        (1..=2).contains(&rows.len()),
        "ps lists more than the container's own processes:\n{}",
        out.stdout
    );
    assert!(
        rows.iter().any(|r| r[0] == "1"),
        "no PID 1 in ps:\n{}",
        out.stdout
    );
    for r in &rows {
        let pid: u32 = r[0].parse().unwrap();
        assert!(pid < 10, "unexpected pid in ps:\n{}", out.stdout);
    }
}

#[test]
fn uts_namespace_hostname_from_config() {
    require_root!();
    let env = Env::new("utsns");
    let host_before = hostname();
    let mut b = Bundle::new(&env);
    let name = format!("h-{}", std::process::id());
    b.set_hostname(&name).set_args(&["hostname"]);
    let out = env.run(&mut b, &env.new_id()).ok();
    assert_eq!(out.stdout.trim(), name, "{}", out.describe());
    assert_eq!(hostname(), host_before, "the host's hostname changed");
    assert_ne!(
        out.stdout.trim(),
        host_before,
        "container hostname equals host's"
    );
}

#[test]
fn mount_namespace_hides_container_mounts() {
    require_root!();
    let env = Env::new("mntns");
    let mut b = Bundle::new(&env);
    let shared = env.shared_dir(&mut b, "/shared");
    let marker = format!("berthmark{}", std::process::id());
    b.add_capability("CAP_SYS_ADMIN").set_sh(&format!(
        "mount -t tmpfs -o size=1m {marker} /mnt && grep {marker} /proc/self/mountinfo > /shared/in \
         && readlink /proc/self/ns/mnt >> /shared/in && echo done >> /shared/in; sleep 30"
    ));
    let id = env.new_id();
    env.create(&mut b, &id).ok();
    env.berth(&["start", &id]).ok();
    let inside = wait_for_file(&shared.join("in"), "done", T);
    assert!(
        inside.contains(&marker),
        "mount not visible inside: {inside}"
    );
    assert!(
        !inside.contains(&host_ns("mnt")),
        "container shares the host mount ns: {inside}"
    );
    let host = mountinfo();
    assert!(
        !host.iter().any(|l| l.contains(&marker)),
        "a mount made inside the container is visible on the host"
    );
    // Nor does the container's rootfs show up on the host.
    assert!(
        mounts_below(b.path()).is_empty(),
        "host sees mounts in the bundle: {:?}",
        mounts_below(b.path())
    );
    env.berth(&["delete", "--force", &id]).ok();
}

#[test]
fn network_namespace_has_only_lo() {
    require_root!();
    let env = Env::new("netns");
    let mut b = Bundle::new(&env);
    b.set_sh(
        "ls /sys/class/net; echo ---; cat /proc/net/dev; echo ---; readlink /proc/self/ns/net",
    );
    let out = env.run(&mut b, &env.new_id()).ok();
    let parts: Vec<&str> = out.stdout.split("---\n").collect();
    assert_eq!(parts.len(), 3, "{}", out.describe());
    let ifaces: Vec<&str> = parts[0].split_whitespace().collect();
    assert_eq!(ifaces, ["lo"], "/sys/class/net in the container");
    let devs: Vec<&str> = parts[1]
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(
        devs,
        ["lo"],
        "/proc/net/dev in the container:\n{}",
        parts[1]
    );
    assert_ne!(parts[2].trim(), host_ns("net"));
}

#[test]
fn ipc_and_cgroup_namespaces_differ_from_host() {
    require_root!();
    let env = Env::new("ipccg");
    let mut b = Bundle::new(&env);
    b.add_namespace("cgroup").set_sh(
        "readlink /proc/self/ns/ipc; readlink /proc/self/ns/cgroup; readlink /proc/self/ns/uts",
    );
    let out = env.run(&mut b, &env.new_id()).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.describe());
    assert!(lines[0].starts_with("ipc:["), "{}", lines[0]);
    assert_ne!(lines[0], host_ns("ipc"), "same ipc namespace as the host");
    assert!(lines[1].starts_with("cgroup:["), "{}", lines[1]);
    assert_ne!(
        lines[1],
        host_ns("cgroup"),
        "same cgroup namespace as the host"
    );
    assert_ne!(lines[2], host_ns("uts"), "same uts namespace as the host");

    // Without "cgroup" in the config, the container keeps the host's.
    let mut b = Bundle::new(&env);
    b.remove_namespace("cgroup")
        .set_sh("readlink /proc/self/ns/cgroup");
    let out = env.run(&mut b, &env.new_id()).ok();
    assert_eq!(out.stdout.trim(), host_ns("cgroup"), "{}", out.describe());
}

#[test]
fn user_namespace_with_uid_mapping() {
    require_root!();
    let env = Env::new("userns");
    let mut b = Bundle::new(&env);
    b.chown_rootfs(100000, 100000);
    let shared = env.shared_dir(&mut b, "/shared");
    b.add_namespace("user");
    let map = serde_json::json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    b.config_mut()["linux"]["uidMappings"] = map.clone();
    b.config_mut()["linux"]["gidMappings"] = map;
    b.set_sh(
        "{ echo uid=$(id -u) gid=$(id -g); cat /proc/self/uid_map /proc/self/gid_map; \
         echo done; } > /shared/out 2>&1; sleep 30",
    );
    let id = env.new_id();
    env.create(&mut b, &id).ok();
    let pid = env.state(&id).unwrap()["pid"].as_i64().unwrap_or(0);
    assert!(pid > 0);
    env.berth(&["start", &id]).ok();
    let out = wait_for_file(&shared.join("out"), "done", T);
    assert!(out.contains("uid=0 gid=0"), "inside: {out}");
    let maps: Vec<Vec<&str>> = out
        .lines()
        .filter(|l| l.split_whitespace().count() == 3)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        maps,
        vec![vec!["0", "100000", "65536"], vec!["0", "100000", "65536"]],
        "uid_map/gid_map inside: {out}"
    );
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert_eq!(
        status_field(&status, "Uid").as_deref(),
        Some("100000 100000 100000 100000"),
        "host view of the container's uid"
    );
    assert_eq!(
        status_field(&status, "Gid").as_deref(),
        Some("100000 100000 100000 100000"),
        "host view of the container's gid"
    );
    let userns = std::fs::read_link(format!("/proc/{pid}/ns/user")).unwrap();
    assert_ne!(userns.display().to_string(), host_ns("user"));
    env.berth(&["delete", "--force", &id]).ok();
}
